package phone

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	testBase = "http://127.0.0.1:8080/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE"
	testExt  = "http://127.0.0.1:8080/DeviceUpdateFiles_Ext/OCInterim/ENU/1.0.522.103/CPE"
)

var sampleOffer = fmt.Sprintf(offerResponse, "1.0.522.103", testBase, testExt)

// wantOffer is sampleOffer as the phone understands it.
var wantOffer = response{
	NumOfFiles: 1, CurrentTime: "2009-05-04T17:23:39", LangList: "ENU",
	Version: "1.0.522.103", BaseURL: testBase, ExternalBaseURL: testExt,
	Files: []offeredFile{{UpdateType: "CPE", Version: "1.0.522.103", BaseURL: testBase, ExternalBaseURL: testExt,
		ImageFile: "CPE.nbt", SignatureFile: "CPE.cat", TimeStamp: "05.04.2009 20:09:14"}},
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want response
	}{
		{name: "nothing to do", body: nothingResponse,
			want: response{CurrentTime: "2009-05-04T17:23:39", LangList: "ENU"}},
		{name: "seed nothing, two languages",
			body: "<?xml version=\"1.0\" ?>\r\n<Response>\r\n  <NumOfFiles>0</NumOfFiles>\r\n  <CurrentTime>2009-05-04T17:23:39</CurrentTime>\r\n  <LangList>DEU|ENU</LangList>\r\n</Response>",
			want: response{CurrentTime: "2009-05-04T17:23:39", LangList: "DEU|ENU"}},
		{name: "offer", body: sampleOffer, want: wantOffer},
		{name: "offer with BOM", body: "\xEF\xBB\xBF" + sampleOffer, want: wantOffer},
		{name: "any case, any namespace",
			body: `<u:response xmlns:u="urn:x"><u:NUMOFFILES>1</u:NUMOFFILES><u:currenttime>2009-05-04T17:23:39</u:currenttime>
				<u:LangList>ENU</u:LangList><u:VERSION>1.0.522.103</u:VERSION><u:baseurl>` + testBase + `</u:baseurl>
				<ExternalBaseUrl>` + testExt + `</ExternalBaseUrl><u:files><u:file><u:updatetype>CPE</u:updatetype>
				<u:imagefilename>CPE.nbt</u:imagefilename><u:SignatureFileName>CPE.cat</u:SignatureFileName>
				<u:Timestamp>05.04.2009 20:09:14</u:Timestamp></u:file></u:files></u:response>`,
			want: wantOffer},
		{name: "wrapped in an envelope",
			body: `<Envelope><Body>` + strings.TrimPrefix(sampleOffer, `<?xml version="1.0" ?>`) + `</Body></Envelope>`,
			want: wantOffer},
		{name: "attributes",
			body: `<Response NumOfFiles="1" Version="1.0.522.103" BaseURL="` + testBase + `" ExternalBaseURL="` + testExt + `">
				<Files><File UpdateType="CPE" ImageFileName="CPE.nbt" SignatureFileName="CPE.cat" TimeStamp="05.04.2009 20:09:14"/></Files></Response>`,
			want: response{NumOfFiles: 1, Version: "1.0.522.103", BaseURL: testBase, ExternalBaseURL: testExt,
				Files: wantOffer.Files}},
		{name: "top level only: image defaults to CPE.nbt",
			body: `<Response><NumOfFiles>1</NumOfFiles><Version>1.0.522.103</Version><BaseURL>` + testBase + `</BaseURL></Response>`,
			want: response{NumOfFiles: 1, Version: "1.0.522.103", BaseURL: testBase,
				Files: []offeredFile{{Version: "1.0.522.103", BaseURL: testBase, ImageFile: "CPE.nbt"}}}},
		{name: "file only: top level from the file, no NumOfFiles",
			body: `<Response><Files><File><Version> 1.0.522.103 </Version><BaseURL>` + testBase + `</BaseURL></File></Files></Response>`,
			want: response{NumOfFiles: 1, Version: "1.0.522.103", BaseURL: testBase,
				Files: []offeredFile{{Version: "1.0.522.103", BaseURL: testBase, ImageFile: "CPE.nbt"}}}},
		{name: "Updates list of differently named entries",
			body: `<Response><NumOfFiles>1</NumOfFiles><Version>1.0.522.103</Version><BaseURL>` + testBase + `</BaseURL>
				<Updates><Image><ImageFile>cpe.nbt</ImageFile><CatalogFile>cpe.cat</CatalogFile></Image></Updates></Response>`,
			want: response{NumOfFiles: 1, Version: "1.0.522.103", BaseURL: testBase,
				Files: []offeredFile{{Version: "1.0.522.103", BaseURL: testBase, ImageFile: "cpe.nbt", SignatureFile: "cpe.cat"}}}},
		{name: "blank URLs (an OCS server never configured)",
			body: `<Response><NumOfFiles>1</NumOfFiles><Version>1.0.522.103</Version><BaseURL></BaseURL><ExternalBaseURL/></Response>`,
			want: response{NumOfFiles: 1, Version: "1.0.522.103",
				Files: []offeredFile{{Version: "1.0.522.103", ImageFile: "CPE.nbt"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseResponse([]byte(tt.body))
			if err != nil {
				t.Fatalf("parseResponse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseResponseErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", "", "no root element"},
		{"not XML", "<html><body>502 Bad Gateway", "not XML"},
		{"no count, no files", "<Response><CurrentTime>x</CurrentTime></Response>", "neither NumOfFiles"},
		{"count not a number", "<Response><NumOfFiles>one</NumOfFiles></Response>", `NumOfFiles "one"`},
		{"negative count", "<Response><NumOfFiles>-1</NumOfFiles></Response>", `NumOfFiles "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseResponse([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// FuzzParseResponse feeds the parser what a broken or hostile server might
// send. It must not panic, and what it accepts must be usable by the walk.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		nothingResponse, sampleOffer,
		`<Response NumOfFiles="2"><Files><File ImageFileName="a"/><File/></Files></Response>`,
		`<a:Response xmlns:a="x"><a:NumOfFiles>1</a:NumOfFiles><Updates><x/></Updates></a:Response>`,
		`<?xml version="1.0" encoding="utf-16"?><Response><NumOfFiles>0</NumOfFiles></Response>`,
		"<Response><NumOfFiles>1</NumOfFiles><BaseURL>&amp;&#0;</BaseURL>",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseResponse(body)
		if err != nil {
			return
		}
		if r.NumOfFiles < 0 {
			t.Fatalf("NumOfFiles %d", r.NumOfFiles)
		}
		if r.NumOfFiles > 0 && len(r.Files) == 0 {
			t.Fatalf("NumOfFiles %d without files", r.NumOfFiles)
		}
		for _, file := range r.Files {
			if file.ImageFile == "" {
				t.Fatalf("file without image name: %+v", file)
			}
		}
	})
}
