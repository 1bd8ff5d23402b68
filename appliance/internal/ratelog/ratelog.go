// Package ratelog keeps anonymous clients from flooding the appliance's
// log. Phone-facing listeners log what a client did wrong (a refused
// connection, a cut message, a failed sign-in) with a "client" attribute;
// anything on the lab switch can repeat that thousands of times a second.
// A Handler passes each such line at most once per interval per client and
// message, and when more clients misbehave within the interval than its
// table holds, it sums the rest up in one line per interval instead.
// Lines without a "client" attribute pass unchanged.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults: a minute between two lines about the same client and message,
// and 4096 clients remembered (about 400 KiB at most).
const (
	DefaultEvery = time.Minute
	DefaultMax   = 4096
)

// ClientKey is the attribute that names the client a line is about.
const ClientKey = "client"

// Config tunes a Handler. Zero fields take the defaults.
type Config struct {
	// Every is the least time between two lines about the same client and
	// message.
	Every time.Duration
	// Max bounds the clients remembered within Every; beyond it lines are
	// counted and summed up.
	Max int
	// Summary is the message of the summing-up line, e.g. "sip: refusing
	// or cutting clients from many addresses; not logging each".
	Summary string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

type key struct{ client, msg string }

// state is shared by a Handler and every Handler derived from it with
// WithAttrs or WithGroup.
type state struct {
	cfg       Config
	mu        sync.Mutex
	logged    map[key]time.Time
	unlogged  int
	summaryAt time.Time
}

// Handler wraps another slog.Handler. It is safe for concurrent use.
type Handler struct {
	next slog.Handler
	st   *state
	// client is the client named by WithAttrs, if any.
	client string
}

// New wraps next.
func New(next slog.Handler, cfg Config) *Handler {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Summary == "" {
		cfg.Summary = "too many clients misbehaving to log each"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{next: next, st: &state{cfg: cfg, logged: map[key]time.Time{}}}
}

// Enabled reports whether next logs at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r on unless a line about the same client and message
// passed within Every.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	client := h.client
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ClientKey {
			client = attrString(a.Value)
			return false
		}
		return true
	})
	if client == "" {
		return h.next.Handle(ctx, r)
	}
	pass, summary := h.st.admit(key{client, r.Message})
	if summary != nil {
		if err := h.next.Handle(ctx, *summary); err != nil {
			return err
		}
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func attrString(v slog.Value) string {
	v = v.Resolve()
	if v.Kind() == slog.KindString {
		return v.String()
	}
	if s, ok := v.Any().(fmt.Stringer); ok {
		return s.String()
	}
	return v.String()
}

// admit reports whether a line for k passes, and a summing-up record to
// log first when one is due.
func (st *state) admit(k key) (pass bool, summary *slog.Record) {
	now := st.cfg.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if at, ok := st.logged[k]; ok && now.Sub(at) < st.cfg.Every {
		return false, nil
	}
	if len(st.logged) >= st.cfg.Max {
		for k, at := range st.logged {
			if now.Sub(at) >= st.cfg.Every {
				delete(st.logged, k)
			}
		}
	}
	if len(st.logged) < st.cfg.Max {
		st.logged[k] = now
		return true, nil
	}
	st.unlogged++
	if now.Sub(st.summaryAt) < st.cfg.Every {
		return false, nil
	}
	r := slog.NewRecord(now, slog.LevelWarn, st.cfg.Summary, 0)
	r.AddAttrs(slog.Int("clients", len(st.logged)), slog.Int("unlogged", st.unlogged))
	st.summaryAt, st.unlogged = now, 0
	return false, &r
}

// Remembered is how many client and message pairs the table holds.
func (h *Handler) Remembered() int {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	return len(h.st.logged)
}

// WithAttrs keeps the rate limit shared; a "client" among attrs names the
// client of every line logged through the result.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := &Handler{next: h.next.WithAttrs(attrs), st: h.st, client: h.client}
	for _, a := range attrs {
		if a.Key == ClientKey {
			out.client = attrString(a.Value)
		}
	}
	return out
}

// WithGroup keeps the rate limit shared.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), st: h.st, client: h.client}
}
