package web

import (
	"context"
	"time"
)

// renewCheckInterval is how often Run looks at the certificates.
var renewCheckInterval = time.Hour

// Run keeps the certificates fresh until ctx ends, without a restart:
// self-signed mode reissues a leaf when less than RenewBefore remains (or
// the names changed); files mode reloads the operator's files when they
// change on disk (a bad new pair is logged and the old one kept); acme
// mode orders each name's certificate at once when none is cached,
// retrying failed orders, and logs a renewal autocert has not managed in
// time (autocert renews by itself when less than RenewBefore remains).
// Run returns nil when ctx ends; failures are logged, never fatal, so the
// appliance keeps serving what it has.
func (c *Certs) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		wait := c.refresh(ctx)
		if wait <= 0 {
			wait = renewCheckInterval
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refresh runs one renewal check and returns how long to wait before the
// next (0: the regular interval).
func (c *Certs) refresh(ctx context.Context) time.Duration {
	switch c.cfg.Mode {
	case ModeSelfSigned:
		if _, err := c.renewDue(); err != nil {
			c.log.Error("tls: renewing the self-signed certificates", "err", err)
		}
	case ModeFiles:
		if changed, err := c.reloadFilesIfChanged(); err != nil {
			c.log.Error("tls: reloading --tls-cert/--tls-key; still serving the previous pair", "err", err)
		} else if changed {
			c.log.Info("tls: reloaded --tls-cert and --tls-key", "file", c.cfg.CertFile)
		}
	case ModeACME:
		return c.refreshACME(ctx)
	}
	return 0
}
