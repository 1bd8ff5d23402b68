package web

import (
	"testing"
	"time"
)

// BenchmarkAccessWrite is one access log line on the request path.
func BenchmarkAccessWrite(b *testing.B) {
	l, err := OpenAccessLog(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := Entry{Time: time.Now(), Method: "POST", URIStem: "/RequestHandler/ucdevice.upx", ClientIP: "10.0.0.7", UserAgent: "Polycom CX700", Status: 200, Taken: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Write(e); err != nil {
			b.Fatal(err)
		}
	}
}
