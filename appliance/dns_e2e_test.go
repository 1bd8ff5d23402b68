package appliance

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
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
	if d.Device.IP != "127.0.0.23" || d.Device.Stage != store.StageDone || d.Device.DNSName != "ucupdates-r2.lab.test" {
		t.Errorf("device: ip %s stage %s DNS name %q", d.Device.IP, d.Device.Stage, d.Device.DNSName)
	}
	if len(d.Events) == 0 || d.Events[0].Kind != store.EventDNS {
		t.Fatalf("first event is not the DNS query: %+v", d.Events)
	}
	if want := "A ucupdates-r2.lab.test → NOERROR"; d.Events[0].Detail != want {
		t.Errorf("DNS event detail %q, want %q", d.Events[0].Detail, want)
	}
}

// TestMetrics: /metrics on the dashboard listener counts DNS queries by
// name class and rcode, check-ins and phones by stage.
func TestMetrics(t *testing.T) {
	ta := startApp(t, nil)
	c := &dns.Client{Net: "udp"}
	for _, name := range []string{"ucupdates-r2.lab.local.", "ucupdates-r2.lab.local.", "old-pool.corp.example."} {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		if _, _, err := c.Exchange(q, ta.DNS); err != nil {
			t.Fatal(err)
		}
	}
	checkIn(t, ta.HTTP, "CX700", "00049F0000E1", "", "0.0.0.0")
	resp, err := http.Get("http://" + ta.Dashboard + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tanjay_dns_queries_total{class="appliance",rcode="NOERROR"} 2`,
		`tanjay_dns_queries_total{class="other",rcode="NOERROR"} 1`,
		`tanjay_checkins_total 1`,
		`tanjay_phones{stage="checked-in"} 1`,
		`tanjay_dashboard_index_rebuilds_total 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
