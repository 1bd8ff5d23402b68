package dhcp

import (
	"errors"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Vendor classes (option 60) the appliance answers with option 43.
const (
	// VendorTanjay is what OCS 2007 / R2 phones (Polycom CX700, LG-Nortel
	// IP8540) send.
	VendorTanjay = "CPE-OCPHONE"
	// VendorLync is what Lync Phone Edition phones (CX600, Aastra 6725ip,
	// HP 4120, and CX700 on 4.0.x) send.
	VendorLync = "MS-UC-Client"
)

// Option 43 sub-options.
//
// MS-UC-Client: sub-options 1 to 5 are the layout Microsoft's DHCPUtil
// writes for Lync Phone Edition certificate provisioning: 1 the UC
// identifier "MS-UC-Client", 2 the URL scheme, 3 the web server's FQDN,
// 4 its port and 5 the certificate provisioning path, each an ASCII
// string (the port too, in decimal) [confirmed: sub-option numbers and
// meanings; inferred: the port as a decimal string].
//
// CPE-OCPHONE: sub-option 10, length 2, the voice VLAN ID big-endian
// [inferred: the Lync Phone Edition documents name option 43 sub-option
// 10 as the VLAN ID; its exact encoding was never published].
const (
	subUCIdentifier = 1
	subURLScheme    = 2
	subWebServer    = 3
	subWebPort      = 4
	subCertPath     = 5
	subVoiceVLAN    = 10
)

// vendorOptions returns the options a phone of vendor class vc gets besides
// the common ones: option 43 and, for Lync, option 120.
func (c Config) vendorOptions(vc string) []dhcpv4.Option {
	switch {
	case vc == VendorTanjay && c.VoiceVLAN > 0:
		vlan := []byte{byte(c.VoiceVLAN >> 8), byte(c.VoiceVLAN)}
		return []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, subOption(nil, subVoiceVLAN, vlan))}
	case vc == VendorLync:
		var b []byte
		b = subOption(b, subUCIdentifier, []byte(VendorLync))
		b = subOption(b, subURLScheme, []byte(c.LyncScheme))
		b = subOption(b, subWebServer, []byte(c.LyncHost))
		b = subOption(b, subWebPort, []byte(strconv.Itoa(c.LyncPort)))
		b = subOption(b, subCertPath, []byte(c.LyncCertPath))
		name, _ := encodeDomainName(c.LyncHost) // Validate checked it
		return []dhcpv4.Option{
			dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, b),
			dhcpv4.OptGeneric(dhcpv4.OptionSIPServers, append([]byte{0}, name...)), // RFC 3361 enc 0: domain names
		}
	}
	return nil
}

// subOption appends one type-length-value sub-option.
func subOption(b []byte, code byte, v []byte) []byte {
	return append(append(b, code, byte(len(v))), v...)
}

// encodeDomainName is name in RFC 1035 wire form (labels, a zero byte, no
// compression), as RFC 3361 encoding 0 wants it.
func encodeDomainName(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return nil, errors.New("want a domain name")
	}
	var b []byte
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return nil, errors.New("want a domain name (labels of 1 to 63 letters, digits, hyphens)")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return nil, errors.New("want a domain name (labels of 1 to 63 letters, digits, hyphens)")
			}
		}
		b = append(append(b, byte(len(label))), label...)
	}
	return append(b, 0), nil
}
