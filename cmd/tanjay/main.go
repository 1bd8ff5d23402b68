// Since Go 1.25 a TLS 1.2 handshake fails when the client offers only
// RSA+SHA1 signature algorithms, as CX700 and Tanjay firmware does; the
// phone listener's legacy profile needs it back (appliance/web/README.md).

//go:debug tlssha1=1

// Command tanjay is the lab appliance that upgrades OCS 2007-era IP phones.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tanjay-lab/tanjay/appliance"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := appliance.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
