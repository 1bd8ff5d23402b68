package appliance

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
	"github.com/tanjay-lab/tanjay/r2"
)

// BenchmarkCheckin is one whole check-in in process, as the phone-facing
// listener runs it: parse, plan with the legacy planner against the real
// store, render, audit row, event in the store. A beta phone is offered the
// interim. The budget is 50 µs/op on the 2-core lab machine.
func BenchmarkCheckin(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Data = b.TempDir()
	st, err := store.Open(cfg.stateDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := &app{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), store: st}
	if a.urls, err = legacy.DeriveURLs("http://192.0.2.10", "", legacy.URLs{}); err != nil {
		b.Fatal(err)
	}
	for _, im := range []images.Image{
		{Key: mustKey("OCInterim/ENU/CPE"), Version: images.MustParseVersion("1.0.522.103"), Interim: true, Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}},
		{Key: mustKey("UCPhone/Polycom/CX700/A/ENU/CPE"), Version: images.MustParseVersion("3.5.6907.0"), Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}},
	} {
		if _, err := st.ImportImage(im); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Approve(im.Key); err != nil {
			b.Fatal(err)
		}
	}
	a.refreshCatalog()
	audit, err := r2.OpenAuditLog(cfg.auditDir(), "bench", time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer audit.Close()
	h := a.phoneRoutes(audit)
	body := `<?xml version="1.0" encoding="utf-8"?><Request><DeviceType>UCPhone</DeviceType><MacAddress>001B9E4B5B10</MacAddress><SerialNumber>1108015382</SerialNumber><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules><Module><FileName>cpe.nbt</FileName><Version>0.0.0.0</Version><TimeStamp>01.01.1601 00:00:00</TimeStamp></Module></Modules></Request>`
	rd := strings.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, "/RequestHandler/ucdevice.upx", rd)
	req.RemoteAddr = "192.0.2.50:49152"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

func mustKey(s string) images.RuleKey {
	k, err := images.ParseRuleKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
