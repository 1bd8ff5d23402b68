package appliance

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// TestPhoneFindsApplianceByDNS: a simulated phone on its own loopback
// address resolves ucupdates-r2.<domain> through the appliance's DNS
// responder, checks in at the name it got, and walks the chain; its DNS
// query lands on its timeline before its first check-in.
func TestPhoneFindsApplianceByDNS(t *testing.T) {
	ta := startApp(t, func(c *Config) { c.DNS.Domains = []string{"lab.test"} })
	ta.importBytes(t, "OCInterim/ENU", "1.0.522.103", true, randomBytes(64<<10, 1))
	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, randomBytes(64<<10, 2))
	for _, r := range []string{"OCInterim/ENU/CPE", "UCPhone/Polycom/CX700/A/ENU/CPE"} {
		if err := ta.ruleAction(t, "approve", r); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(ta.HTTP)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := phone.Run(ctx, phone.Config{
		Server:   "http://ucupdates-r2.lab.test:" + port,
		DNS:      ta.DNS,
		LocalIP:  netip.MustParseAddr("127.0.0.23"),
		Identity: phone.Identity{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU", MAC: "00049F0000D1"},
	})
	if w.Err != nil {
		t.Fatalf("walk: %v\n%s", w.Err, w)
	}
	if diff := cmp.Diff("0.0.0.0 1.0.522.103 3.5.6907.0", versions(w.Path)); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	d, ok := ta.api.deviceForTest(t, "00049F0000D1")
	if !ok {
		t.Fatal("phone not in the store")
	}
	if d.Device.IP != "127.0.0.23" || d.Device.Stage != store.StageDone {
		t.Errorf("device: ip %s stage %s", d.Device.IP, d.Device.Stage)
	}
	if len(d.Events) == 0 || d.Events[0].Kind != store.EventDNS {
		t.Fatalf("first event is not the DNS query: %+v", d.Events)
	}
	if want := "A ucupdates-r2.lab.test → NOERROR"; d.Events[0].Detail != want {
		t.Errorf("DNS event detail %q, want %q", d.Events[0].Detail, want)
	}
}
