package dashboard

import (
	"net/url"
	"testing"
	"time"
)

// FuzzParseFleetQuery: any query string either is refused with an error
// or gives a query whose own links parse back to it, and whose page of a
// small fleet is at most the page size, in range.
func FuzzParseFleetQuery(f *testing.F) {
	for _, s := range []string{"", "q=CX700&stage=signed-in&sort=seen&dir=desc&offset=400", "offset=99999999999999999999",
		"stage=done&stage=failed", "q=%00%ff", "sort=stage&dir=asc&offset=3", "q=" + string(make([]byte, 120))} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ix := newFleetIndex()
	ix.rebuild(seqOf(makeFleet(30, now)), now)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseFleetQuery(v)
		if err != nil {
			return
		}
		link := q.url("/", q.Offset)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatalf("link %q does not parse: %v", link, err)
		}
		back, err := parseFleetQuery(u.Query())
		if err != nil || back != q {
			t.Fatalf("%q: link %q parses to %+v, %v; want %+v", raw, link, back, err, q)
		}
		res := ix.page(q, 7)
		if len(res.IDs) > 7 || res.Matched > res.Total || res.Total != 30 {
			t.Fatalf("%q: page %+v", raw, res)
		}
	})
}
