package appliance

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tanjay-lab/tanjay/images"
)

// BenchmarkCheckin is one whole check-in in process, as the phone-facing
// listener runs it: parse, plan with the legacy planner against the real
// store, render, audit row, event in the store. A beta phone is offered the
// interim. The budget is 50 µs/op on the 2-core lab machine.
func BenchmarkCheckin(b *testing.B) {
	h := benchPhoneHandler(b)
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
