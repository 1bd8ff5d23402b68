package r2

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// simulatorBody is what r2/phone sends: the shape every other case varies.
const simulatorBody = `<?xml version="1.0" encoding="utf-8"?>
<Request><DeviceType>UCPhone</DeviceType><MacAddress>001B9E4B5B10</MacAddress><SerialNumber>1108015382</SerialNumber><Vendor>LG-Nortel</Vendor><Model>IP8540</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules><Module><FileName>cpe.nbt</FileName><Version>0.0.0.0</Version><TimeStamp>01.01.1601 00:00:00</TimeStamp></Module></Modules></Request>`

func mod(name, version, stamp string) Module {
	v, _ := images.ParseVersion(version)
	return Module{FileName: name, Version: v, VersionText: version, TimeStamp: stamp}
}

// tanjay is the simulator's phone as ParseRequest should see it; cases
// derive from it.
func tanjay(edit func(r *Request)) *Request {
	r := &Request{
		DeviceType: "UCPhone", MAC: "001B9E4B5B10", RawMAC: "001B9E4B5B10", Serial: "1108015382",
		Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU",
		RequestTime: "04.05.2009 07:30:04",
		Modules:     []Module{mod("cpe.nbt", "0.0.0.0", "01.01.1601 00:00:00")},
		RawModules:  "cpe.nbt;0.0.0.0;01.01.1601 00:00:00",
	}
	if edit != nil {
		edit(r)
	}
	return r
}

func utf16LE(s string) string {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

var parseCases = []struct {
	name string
	body string
	want *Request
}{
	{"simulator", simulatorBody, tanjay(nil)},
	{
		"namespaced root and prefixed children",
		`<d:DeviceUpdateRequest xmlns:d="urn:schemas-microsoft-com:ucdevice" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="d:Req">
		<d:DeviceType>UCPhone</d:DeviceType><d:MacAddress>001B9E4B5B10</d:MacAddress><d:SerialNumber>1108015382</d:SerialNumber>
		<d:Vendor>LG-Nortel</d:Vendor><d:Model>IP8540</d:Model><d:Revision>A</d:Revision><d:Locale>ENU</d:Locale>
		<d:RequestTime>04.05.2009 07:30:04</d:RequestTime>
		<d:Modules><d:Module><d:FileName>cpe.nbt</d:FileName><d:Version>0.0.0.0</d:Version><d:TimeStamp>01.01.1601 00:00:00</d:TimeStamp></d:Module></d:Modules>
		</d:DeviceUpdateRequest>`,
		tanjay(nil),
	},
	{
		"default namespace",
		`<Request xmlns="http://schemas.microsoft.com/2007/ucdevice"><DeviceType>UCPhone</DeviceType><MacAddress>001B9E4B5B10</MacAddress><SerialNumber>1108015382</SerialNumber><Vendor>LG-Nortel</Vendor><Model>IP8540</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules>cpe.nbt;0.0.0.0;01.01.1601 00:00:00</Modules></Request>`,
		tanjay(nil),
	},
	{
		"attributes only",
		`<Request DeviceType="UCPhone" MacAddress="001B9E4B5B10" SerialNumber="1108015382" Vendor="LG-Nortel" Model="IP8540" Revision="A" Locale="ENU" RequestTime="04.05.2009 07:30:04"><Module FileName="cpe.nbt" Version="0.0.0.0" TimeStamp="01.01.1601 00:00:00"/></Request>`,
		tanjay(nil),
	},
	{
		"mixed case names and aliases",
		`<REQUEST><type>UCPhone</type><MAC>001b9e4b5b10</MAC><sn>1108015382</sn><BRAND>LG-Nortel</BRAND><devicemodel>IP8540</devicemodel><HwRevision>A</HwRevision><LANGUAGE>ENU</LANGUAGE><requestDATETIME>04.05.2009 07:30:04</requestDATETIME><modules><FILE><name>cpe.nbt</name><VERSION>0.0.0.0</VERSION><timestamp>01.01.1601 00:00:00</timestamp></FILE></modules></REQUEST>`,
		tanjay(func(r *Request) { r.RawMAC = "001b9e4b5b10" }),
	},
	{
		"device path form",
		`<Request><DevicePath>UCPhone/LG-Nortel/IP8540/A/ENU/</DevicePath><DeviceMacAddress>00-1B-9E-4B-5B-10</DeviceMacAddress><SerialNumber>1108015382</SerialNumber><RequestTime>04.05.2009 07:30:04</RequestTime><RequestedModules>cpe.nbt;0.0.0.0;01.01.1601 00:00:00</RequestedModules></Request>`,
		tanjay(func(r *Request) { r.RawMAC = "00-1B-9E-4B-5B-10" }),
	},
	{
		"separate parts win over device path",
		`<Request DevicePath="/UCPhone/Polycom/CX700/B/DEU/"><Model>IP8540</Model><Vendor>LG-Nortel</Vendor><Locale>ENU</Locale></Request>`,
		&Request{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "B", Locale: "ENU"},
	},
	{
		"short device path is ignored",
		`<Request><DevicePath>OCInterim/ENU</DevicePath></Request>`,
		&Request{},
	},
	{
		"text modules with several parts",
		`<Request><DeviceType>UCPhone</DeviceType><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>DEU</Locale><ModuleList> cpe.nbt;1.0.522.101;03.12.2008 10:11:12# lang.nbt ; 1.0.522.101 ;03.12.2008 10:11:13##bad;x.y;</ModuleList></Request>`,
		&Request{
			DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "DEU",
			Modules: []Module{
				mod("cpe.nbt", "1.0.522.101", "03.12.2008 10:11:12"),
				mod("lang.nbt", "1.0.522.101", "03.12.2008 10:11:13"),
				{FileName: "bad", VersionText: "x.y"},
			},
			RawModules: "cpe.nbt;1.0.522.101;03.12.2008 10:11:12#lang.nbt;1.0.522.101;03.12.2008 10:11:13#bad;x.y;",
		},
	},
	{
		"module attributes with Name alias and text-named module",
		`<Request DeviceType="RoundTable" Vendor="Polycom" Model="RoundTable" Revision="A" Locale="ENU"><Images><Image Name="cpe.nbt" FileVersion="1.0.522.73" Timestamp="11.20.2007 01:02:03"/><Module Version="1.0.0.1" TimeStamp="01.01.2008 00:00:00">cam.nbt</Module></Images></Request>`,
		&Request{
			DeviceType: "RoundTable", Vendor: "Polycom", Model: "RoundTable", Revision: "A", Locale: "ENU",
			Modules: []Module{
				mod("cpe.nbt", "1.0.522.73", "11.20.2007 01:02:03"),
				mod("cam.nbt", "1.0.0.1", "01.01.2008 00:00:00"),
			},
			RawModules: "cpe.nbt;1.0.522.73;11.20.2007 01:02:03#cam.nbt;1.0.0.1;01.01.2008 00:00:00",
		},
	},
	{
		"MAC with colons",
		`<Request><MacAddress>00:1b:9e:4b:5b:10</MacAddress></Request>`,
		&Request{MAC: "001B9E4B5B10", RawMAC: "00:1b:9e:4b:5b:10"},
	},
	{
		"MAC with dots and spaces",
		`<Request><HardwareAddress> 001B.9E4B.5B10 </HardwareAddress></Request>`,
		&Request{MAC: "001B9E4B5B10", RawMAC: "001B.9E4B.5B10"},
	},
	{
		"malformed MAC kept raw",
		`<Request><MacAddress>00-1B-9E-4B-5B-1G</MacAddress><SerialNumber>42</SerialNumber></Request>`,
		&Request{RawMAC: "00-1B-9E-4B-5B-1G", Serial: "42"},
	},
	{
		"MAC of wrong length kept raw",
		`<Request><MacAddress>001B9E4B5B1</MacAddress></Request>`,
		&Request{RawMAC: "001B9E4B5B1"},
	},
	{
		"blank MAC and missing optional items",
		`<Request><DeviceType>UCPhone</DeviceType><MacAddress/><SerialNumber>  </SerialNumber><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale></Request>`,
		&Request{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"},
	},
	{
		"unknown root name",
		`<Whatever><DeviceType>UCPhone</DeviceType><Vendor>Polycom</Vendor></Whatever>`,
		&Request{DeviceType: "UCPhone", Vendor: "Polycom"},
	},
	{
		"root named like a module",
		`<Image Type="UCPhone" Vendor="Polycom" Model="CX700" Revision="A" Locale="ENU"><FileName>cpe.nbt</FileName><Version>1.0.522.101</Version></Image>`,
		&Request{
			DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU",
			Modules:    []Module{mod("cpe.nbt", "1.0.522.101", "")},
			RawModules: "cpe.nbt;1.0.522.101;",
		},
	},
	{"UTF-8 BOM", "\xEF\xBB\xBF" + simulatorBody, tanjay(nil)},
	{"UTF-16 with BOM", utf16LE(strings.Replace(simulatorBody, "utf-8", "utf-16", 1)), tanjay(nil)},
	{"UTF-16 declared, UTF-8 sent", strings.Replace(simulatorBody, "utf-8", "utf-16", 1), tanjay(nil)},
	{
		"Latin-1 declared",
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Request><UserName>Ren\xE9</UserName></Request>",
		&Request{UserID: "René"},
	},
	{
		"whitespace, CRLF and trailing NULs",
		"\r\n  <?xml version=\"1.0\"?>\r\n<Request>\r\n\t<DeviceType>\r\n\t\tUCPhone\r\n\t</DeviceType>\r\n\t<Vendor> LG-Nortel </Vendor>\r\n</Request>\r\n\x00\x00\x00",
		&Request{DeviceType: "UCPhone", Vendor: "LG-Nortel"},
	},
	{
		"extra unknown elements, comments and instructions",
		`<Request><!-- hello --><?pi x?><Header><Protocol>2</Protocol><Version>3</Version></Header><Device Type="UCPhone" Brand="Polycom"><Hardware><DeviceModel>CX700</DeviceModel><HardwareRevision>A</HardwareRevision></Hardware></Device><Lang>ENU</Lang><Unknown a="b"><c/></Unknown><SipUri>sip:alice@lab.local</SipUri></Request>`,
		&Request{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU", UserID: "sip:alice@lab.local"},
	},
	{
		"CDATA values",
		`<Request><DeviceType><![CDATA[UCPhone]]></DeviceType><Vendor> <![CDATA[LG-Nortel]]> </Vendor><Modules><![CDATA[cpe.nbt;0.0.0.0;01.01.1601 00:00:00]]></Modules></Request>`,
		&Request{
			DeviceType: "UCPhone", Vendor: "LG-Nortel",
			Modules:    []Module{mod("cpe.nbt", "0.0.0.0", "01.01.1601 00:00:00")},
			RawModules: "cpe.nbt;0.0.0.0;01.01.1601 00:00:00",
		},
	},
	{
		"embedded module XML",
		`<Request><RequestedModuleXml>&lt;Modules&gt;&lt;Module FileName="cpe.nbt" Version="3.5.6907.37" TimeStamp="06.01.2009 12:00:00"/&gt;&lt;/Modules&gt;</RequestedModuleXml></Request>`,
		&Request{
			Modules:    []Module{mod("cpe.nbt", "3.5.6907.37", "06.01.2009 12:00:00")},
			RawModules: "cpe.nbt;3.5.6907.37;06.01.2009 12:00:00",
		},
	},
	{
		"root-level TimeStamp is the request time",
		`<Request TimeStamp="04.05.2009 07:30:04"><Modules>cpe.nbt;0.0.0.0;01.01.1601 00:00:00</Modules></Request>`,
		&Request{
			RequestTime: "04.05.2009 07:30:04",
			Modules:     []Module{mod("cpe.nbt", "0.0.0.0", "01.01.1601 00:00:00")},
			RawModules:  "cpe.nbt;0.0.0.0;01.01.1601 00:00:00",
		},
	},
	{
		"module flattened into the root keeps its TimeStamp",
		`<Request><DeviceType>UCPhone</DeviceType><FileName>cpe.nbt</FileName><Version>1.0.522.103</Version><TimeStamp>05.04.2009 20:09:14</TimeStamp></Request>`,
		&Request{
			DeviceType: "UCPhone",
			Modules:    []Module{mod("cpe.nbt", "1.0.522.103", "05.04.2009 20:09:14")},
			RawModules: "cpe.nbt;1.0.522.103;05.04.2009 20:09:14",
		},
	},
	{
		"first non-empty value wins; xmlns and xsi attributes ignored",
		`<Request xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Foo" Vendor=""><Vendor>Polycom</Vendor><Brand>Aastra</Brand><DeviceType xsi:nil="false">UCPhone</DeviceType></Request>`,
		&Request{DeviceType: "UCPhone", Vendor: "Polycom"},
	},
}

func TestParseRequest(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseRequest mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// parseErrorCases are bodies ParseRequest must refuse.
var parseErrorCases = map[string]string{
	"empty":                   "",
	"only white space":        " \r\n\t",
	"only a declaration":      `<?xml version="1.0"?>`,
	"text":                    "DeviceType=UCPhone",
	"unclosed":                "<Request><DeviceType>UCPhone</DeviceType>",
	"mismatched":              "<Request><Vendor>x</Model></Request>",
	"undefined entity":        "<Request>&nbsp;</Request>",
	"NUL inside":              "<Request>a\x00b</Request>",
	"only a comment":          "<!-- x -->",
	"UTF-16 BOM, no root":     "\xFF\xFE",
	"too deep":                strings.Repeat("<a>", maxParseDepth+1) + strings.Repeat("</a>", maxParseDepth+1),
	"second root unclosed":    "<Request/><Other>",
	"end tag at top level":    "<Request/></Request>",
	"bad character reference": "<Request>&#xD800;&#1;</Request>",
	"unquoted attribute":      "<Request Vendor=Polycom/>",
	"]]> in text":             "<Request>a]]>b</Request>",
	"version 1.1":             `<?xml version="1.1"?><Request/>`,
}

func TestParseRequestErrors(t *testing.T) {
	for name, body := range parseErrorCases {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseRequest([]byte(body)); err == nil {
				t.Errorf("ParseRequest(%q) = %+v, want an error", body, got)
			}
		})
	}
}

func TestIdentified(t *testing.T) {
	r, err := ParseRequest([]byte(simulatorBody))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Identified() {
		t.Errorf("simulator request not identified: %+v", r)
	}
	if got, want := r.DevicePath().String(), "UCPhone/LG-Nortel/IP8540/A/ENU"; got != want {
		t.Errorf("DevicePath = %q, want %q", got, want)
	}
	if got := r.Modules[0].UpdateType(); got != "CPE" {
		t.Errorf("UpdateType = %q, want CPE", got)
	}
}

func TestNormalizeMAC(t *testing.T) {
	for in, want := range map[string]string{
		"001B9E4B5B10":      "001B9E4B5B10",
		"00-1b-9e-4b-5b-10": "001B9E4B5B10",
		"00:1B:9E:4B:5B:10": "001B9E4B5B10",
		"001b.9e4b.5b10":    "001B9E4B5B10",
		"00 1B 9E 4B 5B 10": "001B9E4B5B10",
		"":                  "",
		"001B9E4B5B":        "",
		"001B9E4B5B1011":    "",
		"001B9E4B5B1G":      "",
		"00_1B_9E_4B_5B_10": "",
	} {
		if got := NormalizeMAC(in); got != want {
			t.Errorf("NormalizeMAC(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, body := range agreementCorpus(f) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		for _, s := range []string{r.DeviceType, r.RawMAC, r.Serial, r.Vendor, r.Model, r.Revision, r.Locale, r.RequestTime, r.UserID} {
			if strings.TrimSpace(s) != s {
				t.Errorf("item %q is not trimmed", s)
			}
		}
		for _, m := range r.Modules {
			if m.FileName == "" && m.VersionText == "" && m.TimeStamp == "" {
				t.Errorf("empty module kept: %+v", r.Modules)
			}
		}
		if got := rawModules(r.Modules); r.RawModules != got {
			t.Errorf("RawModules = %q, modules say %q", r.RawModules, got)
		}
		if r.MAC != "" && NormalizeMAC(r.MAC) != r.MAC {
			t.Errorf("MAC %q is not 12 upper-case hex digits", r.MAC)
		}
		if len(r.MAC) != 0 && len(r.MAC) != 12 {
			t.Errorf("MAC %q has length %d", r.MAC, len(r.MAC))
		}
		for _, c := range []byte(r.MAC) {
			if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
				t.Errorf("MAC %q has %q", r.MAC, c)
			}
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	body := []byte(simulatorBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
