package appliance

import (
	"net"
	"net/netip"
	"testing"

	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
)

// TestAdvertiseForms: every place that takes the host of the advertised
// address (the HTTPS base, the certificate's IP, the DNS answer) reads it
// the same way, brackets and port dropped.
func TestAdvertiseForms(t *testing.T) {
	https := func(port int) net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }
	for _, tt := range []struct {
		name, advertise string
		httpsPort       int
		wantHTTPS       string
		wantCertIP      string // "" when the certificate names no IP
		wantDNS         string // "" when the DNS answer keeps its default
	}{
		{"IPv4", "10.77.0.1", 443, "10.77.0.1", "10.77.0.1", "10.77.0.1"},
		{"IPv4 with port, HTTPS elsewhere", "10.77.0.1:8080", 8443, "10.77.0.1:8443", "10.77.0.1", "10.77.0.1"},
		{"name", "tanjay.lab.local:80", 443, "tanjay.lab.local", "", ""},
		{"bracketed IPv6 with port", "[fd00::1]:8080", 443, "[fd00::1]", "fd00::1", ""},
		{"bracketed IPv6", "[fd00::1]", 443, "[fd00::1]", "fd00::1", ""},
		{"bare IPv6, HTTPS elsewhere", "fd00::1", 8443, "[fd00::1]:8443", "fd00::1", ""},
		{"empty", "", 443, "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := httpsAdvertise(tt.advertise, https(tt.httpsPort)); got != tt.wantHTTPS {
				t.Errorf("httpsAdvertise = %q, want %q", got, tt.wantHTTPS)
			}
			cfg := DefaultConfig()
			cfg.Data = t.TempDir()
			ips := cfg.tlsConfig(tt.advertise).IPs
			switch {
			case tt.wantCertIP == "" && len(ips) != 0:
				t.Errorf("certificate IPs %v, want none", ips)
			case tt.wantCertIP != "" && (len(ips) != 1 || !ips[0].Equal(net.ParseIP(tt.wantCertIP))):
				t.Errorf("certificate IPs %v, want %s", ips, tt.wantCertIP)
			}
			var want netip.Addr
			if tt.wantDNS != "" {
				want = netip.MustParseAddr(tt.wantDNS)
			}
			if got := cfg.dnsConfig(tt.advertise).Advertise; got != want {
				t.Errorf("DNS answer %v, want %v", got, want)
			}
		})
	}
}

// TestAdvertiseDefault: with no --advertise, a wildcard listener
// advertises the first LAN address (never a link-local one), with the
// listener's port unless it is 80.
func TestAdvertiseDefault(t *testing.T) {
	lan := netaddr.FirstLANAddress().String()
	for _, tt := range []struct {
		name  string
		bound net.Addr
		want  string
	}{
		{"wildcard on 80", &net.TCPAddr{IP: net.IPv4zero, Port: 80}, lan},
		{"wildcard elsewhere", &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, net.JoinHostPort(lan, "8080")},
		{"named address", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 8080}, "127.0.0.2:8080"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Config{}).advertiseFor(tt.bound); got != tt.want {
				t.Errorf("advertiseFor(%v) = %q, want %q", tt.bound, got, tt.want)
			}
		})
	}
	if got := (Config{Advertise: "tanjay.lab:81"}).advertiseFor(&net.TCPAddr{Port: 80}); got != "tanjay.lab:81" {
		t.Errorf("--advertise not kept: %q", got)
	}
}
