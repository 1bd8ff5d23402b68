package sip

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// The shapes of the ServerConfiguration group (Config.Variant). Lync
// clients read the update server settings as flat child elements
// (SIGNIN.md §5.2, UCMA-PROV); other groups use a propertyEntryList of
// property elements, and what a 2007 beta client expects was never
// published, so both are here and each phone's timeline says which one it
// got.
const (
	VariantFlat         = "flat"          // <updatesServerEnabled>true</updatesServerEnabled>…
	VariantPropertyList = "property-list" // <propertyEntryList><property name="updatesServerEnabled">true</property>…
)

// Variants are the ServerConfiguration shapes, the default first.
var Variants = []string{VariantFlat, VariantPropertyList}

// UpdateURLs are what provisioning hands a phone: the Internal and External
// UpdatesDownloadURL (the ucdevice.upx handlers). Both are always set: old
// firmware refuses to update when the external one is empty.
type UpdateURLs struct {
	Internal, External string
}

// Content types of the provisioning answers.
const (
	contentTypeProvisioningV2 = "application/vnd-microsoft-roaming-provisioning-v2+xml"
	contentTypeProvisioningV1 = "application/vnd-microsoft-roaming-provisioning+xml"
)

// serverConfigurationGroup is always answered, asked for or not.
const serverConfigurationGroup = "ServerConfiguration"

// maxGroups bounds how many group names a request may make us echo.
const maxGroups = 32

// requestedGroups lists the provisioningGroup names of a provisioning
// SUBSCRIBE body (MS-SIPREGE 2.2.2.4), any namespace, any case of the
// element name. ok is false when the body was not well-formed XML or
// named no group: the caller keeps it as a capture.
func requestedGroups(body []byte) (groups []string, ok bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, true
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	seen := map[string]bool{}
	for len(groups) < maxGroups {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return groups, false
		}
		se, isStart := tok.(xml.StartElement)
		if !isStart || !strings.EqualFold(se.Name.Local, "provisioningGroup") {
			continue
		}
		for _, a := range se.Attr {
			if a.Name.Local == "name" && a.Value != "" && !seen[a.Value] {
				seen[a.Value] = true
				groups = append(groups, a.Value)
			}
		}
	}
	return groups, len(groups) > 0
}

// renderProvisioning is the provisioning answer (MS-SIPREGE 2.2.2.5,
// 4.2.2): ServerConfiguration first with the update server settings in
// variant's shape, then every other group the phone named, empty, so
// the client finds each one it asked for and stays on its defaults.
func renderProvisioning(groups []string, urls UpdateURLs, variant string) []byte {
	var b bytes.Buffer
	b.WriteString(`<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">` + "\r\n")
	b.WriteString(`<provisionGroup name="ServerConfiguration">` + "\r\n")
	settings := [][2]string{
		{"updatesServerEnabled", "true"},
		{"updatesServerInternalUrl", urls.Internal},
		{"updatesServerExternalUrl", urls.External},
	}
	if variant == VariantPropertyList {
		b.WriteString("<propertyEntryList>\r\n")
		for _, s := range settings {
			fmt.Fprintf(&b, "<property name=\"%s\">%s</property>\r\n", s[0], escape(s[1]))
		}
		b.WriteString("</propertyEntryList>\r\n")
	} else {
		for _, s := range settings {
			fmt.Fprintf(&b, "<%s>%s</%s>\r\n", s[0], escape(s[1]), s[0])
		}
	}
	b.WriteString("</provisionGroup>\r\n")
	for _, g := range groups {
		if !strings.EqualFold(g, serverConfigurationGroup) {
			fmt.Fprintf(&b, "<provisionGroup name=\"%s\"/>\r\n", escape(g))
		}
	}
	b.WriteString("</provisionGroupList>\r\n")
	return b.Bytes()
}

// escape is XML character data or attribute text.
func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// handed is the one line a timeline shows for a provisioning answer.
func handed(urls UpdateURLs, variant string) string {
	return urls.Internal + ", " + urls.External + " (" + variant + ")"
}
