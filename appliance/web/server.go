package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts applied to every server the appliance runs. Phones send small
// requests; the write timeout is generous because a phone on a slow lab link
// may take minutes to fetch a 30 MiB image.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 30 * time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 32 << 10
)

// NewServer returns an http.Server with the appliance's timeouts and limits.
// base is the context every request's context derives from, so long-lived
// responses (event streams, downloads) end when the appliance stops.
func NewServer(h http.Handler, base context.Context, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
