package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// ErrOtherServer is wrapped by Listen's error when another DHCP server
// answered the guard's DISCOVER and Config.Force is not set.
var ErrOtherServer = errors.New("another DHCP server answers on this network")

// findOtherServer sends one DISCOVER on iface, from the interface's own
// MAC, and waits up to wait for an OFFER. It returns the address of the
// server that answered (its server identifier, else the OFFER's siaddr),
// or the zero Addr when none did.
func findOtherServer(ctx context.Context, iface string, wait time.Duration) (netip.Addr, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(wait), nclient4.WithRetry(1))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--dhcp-interface %s: rogue-server check: %w", iface, err)
	}
	defer c.Close()
	offer, err := c.DiscoverOffer(ctx, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("tanjay-guard")))
	switch {
	case errors.Is(err, nclient4.ErrNoResponse):
		return netip.Addr{}, nil
	case err != nil && ctx.Err() != nil:
		return netip.Addr{}, ctx.Err()
	case err != nil:
		return netip.Addr{}, fmt.Errorf("--dhcp-interface %s: rogue-server check: %w", iface, err)
	}
	if sid := addr4(offer.ServerIdentifier()); sid.IsValid() {
		return sid, nil
	}
	if sip := addr4(offer.ServerIPAddr); sip.IsValid() {
		return sip, nil
	}
	return netip.IPv4Unspecified(), nil // answered, without saying who it is
}
