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
