package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// TestNewServerSetsEveryTimeout: a phone that opens a connection and sends
// nothing must not hold it forever.
func TestNewServerSetsEveryTimeout(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, d := range map[string]int64{
		"ReadHeaderTimeout": int64(s.ReadHeaderTimeout), "ReadTimeout": int64(s.ReadTimeout),
		"WriteTimeout": int64(s.WriteTimeout), "IdleTimeout": int64(s.IdleTimeout), "MaxHeaderBytes": int64(s.MaxHeaderBytes),
	} {
		if d <= 0 {
			t.Errorf("%s is not set", name)
		}
	}
	if s.BaseContext == nil {
		t.Error("BaseContext is not set: long responses would outlive shutdown")
	}
}
