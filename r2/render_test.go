package r2

import (
	"bytes"
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// seedNow is the CurrentTime of the confirmed "nothing to do" sample.
var seedNow = time.Date(2009, 5, 4, 17, 23, 39, 0, time.UTC)

// confirmedNothingToDo is PROTOCOL.md §2's sample, plus our final newline.
const confirmedNothingToDo = `<?xml version="1.0" ?>
<Response>
  <NumOfFiles>0</NumOfFiles>
  <CurrentTime>2009-05-04T17:23:39</CurrentTime>
  <LangList>DEU|ENU</LangList>
</Response>
`

func interimUpdate() OfferedUpdate {
	return OfferedUpdate{
		UpdateType:      "CPE",
		Version:         images.MustParseVersion("1.0.522.103"),
		BaseURL:         "http://192.168.7.81/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE",
		ExternalBaseURL: "https://192.168.7.81/DeviceUpdateFiles_Ext/OCInterim/ENU/1.0.522.103/CPE",
		ImageFile:       "CPE.nbt",
		SignatureFile:   "CPE.cat",
		TimeStamp:       time.Date(2009, 5, 4, 20, 9, 14, 0, time.UTC),
	}
}

func TestRenderResponse(t *testing.T) {
	second := interimUpdate()
	second.UpdateType, second.ImageFile, second.SignatureFile = "", "Lang&<x>.nbt", ""
	second.TimeStamp = time.Time{}
	for _, tc := range []struct {
		name  string
		offer Offer
		want  string
	}{
		{"nothing to do (confirmed)", Offer{LangList: []string{"DEU", "ENU"}}, confirmedNothingToDo},
		{"unidentified: empty LangList", Offer{}, `<?xml version="1.0" ?>
<Response>
  <NumOfFiles>0</NumOfFiles>
  <CurrentTime>2009-05-04T17:23:39</CurrentTime>
  <LangList></LangList>
</Response>
`},
		{"two updates, defaults and escaping", Offer{LangList: []string{"ENU"}, Updates: []OfferedUpdate{interimUpdate(), second}}, `<?xml version="1.0" ?>
<Response>
  <NumOfFiles>2</NumOfFiles>
  <CurrentTime>2009-05-04T17:23:39</CurrentTime>
  <LangList>ENU</LangList>
  <Version>1.0.522.103</Version>
  <BaseURL>http://192.168.7.81/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE</BaseURL>
  <ExternalBaseURL>https://192.168.7.81/DeviceUpdateFiles_Ext/OCInterim/ENU/1.0.522.103/CPE</ExternalBaseURL>
  <Files>
    <File>
      <UpdateType>CPE</UpdateType>
      <Version>1.0.522.103</Version>
      <BaseURL>http://192.168.7.81/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE</BaseURL>
      <ExternalBaseURL>https://192.168.7.81/DeviceUpdateFiles_Ext/OCInterim/ENU/1.0.522.103/CPE</ExternalBaseURL>
      <ImageFileName>CPE.nbt</ImageFileName>
      <SignatureFileName>CPE.cat</SignatureFileName>
      <TimeStamp>05.04.2009 20:09:14</TimeStamp>
    </File>
    <File>
      <UpdateType>CPE</UpdateType>
      <Version>1.0.522.103</Version>
      <BaseURL>http://192.168.7.81/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE</BaseURL>
      <ExternalBaseURL>https://192.168.7.81/DeviceUpdateFiles_Ext/OCInterim/ENU/1.0.522.103/CPE</ExternalBaseURL>
      <ImageFileName>Lang&amp;&lt;x&gt;.nbt</ImageFileName>
      <TimeStamp>01.01.1601 00:00:00</TimeStamp>
    </File>
  </Files>
</Response>
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RenderResponse(&buf, tc.offer, seedNow); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, buf.String()); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			if err := xml.Unmarshal(buf.Bytes(), new(struct{})); err != nil {
				t.Errorf("response is not well-formed: %v", err)
			}
		})
	}
}

func TestRenderRefusesBlankURLs(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*OfferedUpdate)
		want error
	}{
		{"blank BaseURL", func(u *OfferedUpdate) { u.BaseURL = "" }, ErrBlankURL},
		{"blank ExternalBaseURL", func(u *OfferedUpdate) { u.ExternalBaseURL = "" }, ErrBlankURL},
		{"no image file", func(u *OfferedUpdate) { u.ImageFile = "" }, ErrNoImageFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := interimUpdate()
			tc.edit(&bad)
			offer := Offer{Updates: []OfferedUpdate{interimUpdate(), bad}}
			out, err := AppendResponse([]byte("keep"), offer, seedNow)
			if !errors.Is(err, tc.want) {
				t.Errorf("AppendResponse error = %v, want %v", err, tc.want)
			}
			if string(out) != "keep" {
				t.Errorf("AppendResponse appended %q on error", out)
			}
		})
	}
}

func TestAppendEscaped(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		`a&b<c>d"e'f`:     "a&amp;b&lt;c&gt;d&#34;e&#39;f",
		"tab\tnl\ncr\r":   "tab&#x9;nl&#xA;cr&#xD;",
		"bell\x07":        "bell\uFFFD",
		"bad\xffutf8":     "bad\uFFFDutf8",
		"größe 日本":        "größe 日本",
		"nonchar\uFFFEx":  "nonchar\uFFFDx",
		"http://a/b?c=1&": "http://a/b?c=1&amp;",
	} {
		if got := string(appendEscaped(nil, in)); got != want {
			t.Errorf("appendEscaped(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	offer := Offer{LangList: []string{"DEU", "ENU"}, Updates: []OfferedUpdate{interimUpdate()}}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = AppendResponse(buf[:0], offer, seedNow); err != nil {
			b.Fatal(err)
		}
	}
}

// The hand-written time formats must write what time.Format writes, for
// any time and location, including years Format writes otherwise.
func TestTimeFormatsMatchLayouts(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -8*3600)}
	times := []time.Time{
		seedNow, {}, time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 7, 8, 9, 10, 0, time.UTC), time.Date(999, 2, 3, 4, 5, 6, 0, time.UTC),
	}
	for i := int64(0); i < 2000; i++ {
		times = append(times, time.Unix(i*i*7919+i*104729, 0))
	}
	for _, base := range times {
		for _, z := range zones {
			tm := base.In(z)
			if got, want := string(appendCurrentTime(nil, tm)), tm.Format(CurrentTimeLayout); got != want {
				t.Errorf("appendCurrentTime(%v) = %q, want %q", tm, got, want)
			}
			if got, want := string(appendFileTimeLayout(nil, tm)), tm.Format(FileTimeLayout); got != want {
				t.Errorf("appendFileTimeLayout(%v) = %q, want %q", tm, got, want)
			}
			if got, want := string(appendFileTimeLayout(nil, tm)), tm.Format(AuditTimeLayout); got != want {
				t.Errorf("appendFileTimeLayout(%v) = %q, want the audit layout's %q", tm, got, want)
			}
			if got, want := string(appendFileDate(nil, tm)), tm.Format(auditFileDateLayout); got != want {
				t.Errorf("appendFileDate(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}
