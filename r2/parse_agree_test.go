package r2

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The streaming parser must read every body exactly as the etree parser
// before it did (parse_dom_test.go): the same error or no error, the same
// Request field by field. Both of its paths are compared: ParseRequest
// (byte scanner, encoding/xml for what it declines) and the encoding/xml
// path alone.

// agreementBodies are extra bodies aimed at the corners of the two parsers:
// references, line ends, comments and instructions inside values, CDATA
// pieces, duplicate attributes, namespaces, embedded XML, nesting limits,
// names and encodings the byte scanner declines.
var agreementBodies = []string{
	`<Request><Vendor>Poly<!-- x -->com</Vendor><Model>CX<?pi?>700</Model><Locale>E<![CDATA[N]]>U</Locale></Request>`,
	"<Request><Vendor>a\r\nb\rc</Vendor><Model a='x\r\ny'>m</Model></Request>",
	`<Request><Vendor>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#xD800;&#x10FFFF;</Vendor></Request>`,
	`<Request><Vendor>&#x110000;</Vendor></Request>`,
	`<Request><Vendor>&#X41;</Vendor></Request>`,
	`<Request><Vendor>&#;</Vendor></Request>`,
	`<Request><Vendor>&lt</Vendor></Request>`,
	`<Request Vendor="" Vendor="Polycom" vendor="Aastra"><Vendor>LG-Nortel</Vendor></Request>`,
	`<Request Model="a" Model="b"/>`,
	`<r xmlns:x="http://www.w3.org/2001/XMLSchema-instance" x:type="UCPhone" y:type="RoundTable" xmlns:y="urn:y"/>`,
	`<r xmlns:x="urn:a"><c xmlns:x="http://www.w3.org/2001/XMLSchema-instance"><d x:Vendor="no" Vendor="yes"/></c></r>`,
	`<r><x:Module xmlns:x="urn:x" x:FileName="a.nbt" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:Version="9"/></r>`,
	`<r><Modules>&lt;Module FileName="a.nbt"/&gt;&lt;Module&gt;b.nbt&lt;/Module&gt;</Modules><Modules>c.nbt;1;2</Modules></r>`,
	`<r><Modules>&lt;Modules&gt;&lt;Vendor&gt;x&lt;/Vendor&gt;&lt;Modules&gt;&amp;lt;Module FileName="deep"/&amp;gt;&lt;/Modules&gt;&lt;/Modules&gt;</Modules></r>`,
	`<r><Modules>&lt;Modules&gt;&lt;Vendor&gt;x&lt;/Vendor&gt;&lt;/Model&gt;</Modules><Vendor>y</Vendor></r>`,
	`<r><Modules>&lt;Module Version="1"&gt;a;b&lt;/Module&gt;</Modules></r>`,
	`<r><Modules>&lt;FileName&gt;x.nbt&lt;/FileName&gt;</Modules></r>`,
	`<r><Modules>&lt;Files FileName="x.nbt" Vendor="v"/&gt;</Modules></r>`,
	`<r><Modules>&lt;Other FileName="x.nbt" Vendor="v"/&gt;</Modules></r>`,
	`<r><Modules>&lt;?xml version="1.0" encoding="latin1"?&gt;&lt;m FileName="x"/&gt;</Modules></r>`,
	`<r><Module Version="1"><Name>a</Name><Deeper><FileName>no</FileName></Deeper>text</Module></r>`,
	`<r><Module>lead<FileName/>trail</Module><Module>x.nbt<!-- c -->y</Module><Module>p<?pi?>q</Module></r>`,
	`<r><File><Sub><Name>a</Name></Sub></File><Image Name="n">t</Image></r>`,
	`<r><Device Type="UCPhone" FileName="f.nbt" Version="1"><Brand>Polycom</Brand></Device></r>`,
	`<r><Vendor Vendor="attr">text</Vendor><Model Model="attr"/></r>`,
	`<r><Modules a="b">x.nbt;1;2</Modules><ModuleList><Module FileName="y"/></ModuleList></r>`,
	`<r TimeStamp="t1"><TimeStamp>t2</TimeStamp></r>`,
	`<r TimeStamp="t1" FileName="f"/>`,
	`<r><RequestTime> </RequestTime><TimeStamp>t</TimeStamp></r>`,
	`<r><DevicePath>\UCPhone\\Polycom\CX700\A\ENU\extra</DevicePath></r>`,
	`<a:b:c/>`,
	`<:a/>`,
	`<a:/>`,
	`<r><a: Vendor="x"/></r>`,
	`<Réquest><Vendor>x</Vendor></Réquest>`,
	`<Request><Vendör>x</Vendör><Vendor>y</Vendor></Request>`,
	`<!DOCTYPE Request [<!ENTITY v "Polycom">]><Request><Vendor>x</Vendor></Request>`,
	`<!DOCTYPE Request><Request><Vendor>x</Vendor></Request>`,
	"<?xml version='1.0' encoding='windows-1252'?><Request><UserName>Ren\xE9</UserName></Request>",
	`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Request><Vendor>x</Vendor></Request>`,
	`<?xml version="1.0" encoding="ebcdic"?><Request/>`,
	`<?XML version="2"?><Request/>`,
	`<?x:y?><Request/>`,
	`<?1?><Request/>`,
	"text before<Request/>text after<!-- c --><Later><Vendor>no</Vendor></Later>",
	`<Request/><Request><Vendor>second</Vendor></Request>`,
	`<Request><Vendor>x</Vendor ></Request >`,
	`<Request ><Vendor	a = "1"b='2' >x</Vendor></Request>`,
	`<Request><Vendor a="<"/></Request>`,
	`<Request><Vendor a="]]>">x</Vendor></Request>`,
	`<Request><!--a--b--></Request>`,
	`<Request><!----></Request>`,
	`<Request><!---></Request>`,
	`<Request><![CDATA[a]]b]]></Request>`,
	`<Request><![CDATA[x</Request>`,
	`<Request><![cdata[x]]></Request>`,
	`<Request/ >`,
	`<Request/`,
	`<`,
	`<Request`,
	`<Request a`,
	"<Request>\xff</Request>",
	"<Request a='\xc3'/>",
	"<Request>\u00a0Polycom\u00a0<Vendor>\u2028v\u0085</Vendor></Request>",
	strings.Repeat("<a>", maxParseDepth) + strings.Repeat("</a>", maxParseDepth),
	strings.Repeat("<a>", maxParseDepth) + "<Module FileName='deep'/>" + strings.Repeat("</a>", maxParseDepth),
	"<r><Modules>" + strings.Repeat("&lt;a&gt;", maxParseDepth) + "&lt;Module FileName='x'/&gt;" + strings.Repeat("&lt;/a&gt;", maxParseDepth) + "</Modules></r>",
	"<r><Vendor>" + strings.Repeat("a<!---->&amp;<![CDATA[b\r\n]]>c\rd<!---->", 50) + "</Vendor><Module>" + strings.Repeat("&#x41;x<!---->", 20) + "</Module></r>",
	"\x00<\x00R\x00/\x00>\x00",
	"<\x00R\x00/\x00>\x00",
	"\xFE\xFF\x00<\x00R\x00 \x00M\x00o\x00d\x00e\x00l\x00=\x00'\x00x\x00'\x00/\x00>",
}

// agreementCorpus is every body the tests know: the parse cases, the error
// cases, the extra bodies above, the golden check-in fixtures and the
// simulator's golden request.
func agreementCorpus(tb testing.TB) []string {
	var bodies []string
	for _, tc := range parseCases {
		bodies = append(bodies, tc.body)
	}
	names := make([]string, 0, len(parseErrorCases))
	for name := range parseErrorCases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		bodies = append(bodies, parseErrorCases[name])
	}
	bodies = append(bodies, agreementBodies...)
	for _, req := range fixtureRequests(tb) {
		bodies = append(bodies, string(req))
	}
	golden, err := os.ReadFile(filepath.Join("phone", "testdata", "request.golden"))
	if err != nil {
		tb.Fatal(err)
	}
	return append(bodies, string(golden))
}

// fixtureRequests is the request.xml of every golden check-in fixture.
func fixtureRequests(tb testing.TB) [][]byte {
	names, err := filepath.Glob(filepath.Join("testdata", "checkin", "*.txtar"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no fixtures in testdata/checkin (%v)", err)
	}
	var out [][]byte
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		req := parseTxtar(data).file("request.xml")
		if req == nil {
			tb.Fatalf("%s has no request.xml", name)
		}
		out = append(out, req)
	}
	return out
}

// parseWithTokens is ParseRequest on encoding/xml's path alone.
func parseWithTokens(body []byte) (*Request, error) {
	req := new(requestWithModules)
	req.Modules = req.first[:0]
	w := &walker{}
	w.out = requestBuilder{req: &req.Request}
	if err := w.tokens(toUTF8(body)); err != nil {
		return nil, err
	}
	w.out.finish()
	return &req.Request, nil
}

// checkAgreement compares both streaming paths with the etree parser on
// one body.
func checkAgreement(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := parseRequestDOM(body)
	for _, p := range []struct {
		name  string
		parse func([]byte) (*Request, error)
	}{{"ParseRequest", ParseRequest}, {"encoding/xml path", parseWithTokens}} {
		got, err := p.parse(body)
		if (err == nil) != (wantErr == nil) {
			t.Errorf("%s(%q): error %v, etree parser: error %v", p.name, body, err, wantErr)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s(%q) differs from the etree parser (-etree +streaming):\n%s", p.name, body, diff)
		}
	}
}

func TestParsersAgreeOnCorpus(t *testing.T) {
	corpus := agreementCorpus(t)
	for _, body := range corpus {
		checkAgreement(t, []byte(body))
	}
	t.Logf("%d bodies compared", len(corpus))
}

// The byte scanner, not the fallback, must read what phones and the
// simulator send: otherwise the check-in is as slow as before.
func TestScannerReadsPhoneBodies(t *testing.T) {
	bodies := fixtureRequests(t)
	for _, tc := range parseCases {
		if !strings.Contains(tc.body, "ISO-8859-1") {
			bodies = append(bodies, []byte(tc.body))
		}
	}
	for _, body := range bodies {
		w := &walker{}
		w.out = requestBuilder{req: &Request{}}
		if err := w.scan(toUTF8(body)); err != nil {
			t.Errorf("byte scanner declined %q: %v", body, err)
		}
	}
}

// FuzzCheckinParsersAgree compares the streaming parser with the etree
// parser on arbitrary bodies.
//
//	go test -run '^$' -fuzz FuzzCheckinParsersAgree -fuzztime 5m ./r2
func FuzzCheckinParsersAgree(f *testing.F) {
	for _, body := range agreementCorpus(f) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAgreement(t, body)
	})
}

// BenchmarkParseRequestDOM is the etree parser on the simulator's body,
// for comparison with BenchmarkParseRequest.
func BenchmarkParseRequestDOM(b *testing.B) {
	body := []byte(simulatorBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseRequestDOM(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRequestTokens is the encoding/xml path alone on the
// simulator's body: what the byte scanner saves over it.
func BenchmarkParseRequestTokens(b *testing.B) {
	body := []byte(simulatorBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseWithTokens(body); err != nil {
			b.Fatal(err)
		}
	}
}
