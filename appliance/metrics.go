package appliance

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// counters are the appliance's own event counts, bumped on the request
// path with atomics only.
type counters struct {
	checkins, offers, downloadBytes, uploads atomic.Uint64
}

// dnsCounts is what the metrics read from the DNS responder (nil when off).
type dnsCounts interface{ Counts() map[string]uint64 }

// metricsCollector reads the store and the counters at scrape time, so
// nothing on the check-in path touches Prometheus types.
type metricsCollector struct {
	a   *app
	dns dnsCounts

	phones, checkins, offers, downloaded, uploads, dnsQueries *prometheus.Desc
	sipConns, sipEvents                                       *prometheus.Desc
}

func newMetricsCollector(a *app, dns dnsCounts) *metricsCollector {
	return &metricsCollector{
		a: a, dns: dns,
		phones:     prometheus.NewDesc("tanjay_phones", "Phones known to the appliance, by stage.", []string{"stage"}, nil),
		checkins:   prometheus.NewDesc("tanjay_checkins_total", "Check-ins answered.", nil, nil),
		offers:     prometheus.NewDesc("tanjay_offers_total", "Check-ins answered with an image to install.", nil, nil),
		downloaded: prometheus.NewDesc("tanjay_download_bytes_total", "Firmware bytes sent to phones.", nil, nil),
		uploads:    prometheus.NewDesc("tanjay_uploads_total", "Device logs phones uploaded.", nil, nil),
		dnsQueries: prometheus.NewDesc("tanjay_dns_queries_total", "DNS queries answered, by name class and rcode.", []string{"class", "rcode"}, nil),
		sipConns:   prometheus.NewDesc("tanjay_sip_endpoints", "SIP connections open and endpoints registered.", []string{"state"}, nil),
		sipEvents:  prometheus.NewDesc("tanjay_sip_events_total", "SIP sign-in outcomes: sign-ins, wrong passwords, bad signatures, provisioning answers, refused or cut connections, unsupported requests.", []string{"event"}, nil),
	}
}

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.phones, m.checkins, m.offers, m.downloaded, m.uploads, m.dnsQueries, m.sipConns, m.sipEvents} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	byStage := map[store.Stage]int{}
	for _, d := range m.a.store.Devices(nil) {
		byStage[d.Stage]++
	}
	for _, s := range store.Stages {
		ch <- prometheus.MustNewConstMetric(m.phones, prometheus.GaugeValue, float64(byStage[s]), string(s))
	}
	c := &m.a.counters
	ch <- prometheus.MustNewConstMetric(m.checkins, prometheus.CounterValue, float64(c.checkins.Load()))
	ch <- prometheus.MustNewConstMetric(m.offers, prometheus.CounterValue, float64(c.offers.Load()))
	ch <- prometheus.MustNewConstMetric(m.downloaded, prometheus.CounterValue, float64(c.downloadBytes.Load()))
	ch <- prometheus.MustNewConstMetric(m.uploads, prometheus.CounterValue, float64(c.uploads.Load()))
	if m.a.sip != nil {
		st := m.a.sip.Stats()
		ch <- prometheus.MustNewConstMetric(m.sipConns, prometheus.GaugeValue, float64(st.Conns), "connected")
		ch <- prometheus.MustNewConstMetric(m.sipConns, prometheus.GaugeValue, float64(st.Registered), "registered")
		for name, n := range map[string]uint64{
			"signed-in": st.SignIns, "wrong-password": st.AuthFailures, "bad-signature": st.SignatureFailures,
			"provisioned": st.Provisioned, "refused": st.Refused, "cut": st.Cut, "unsupported": st.Unsupported,
		} {
			ch <- prometheus.MustNewConstMetric(m.sipEvents, prometheus.CounterValue, float64(n), name)
		}
	}
	if m.dns == nil {
		return
	}
	for key, n := range m.dns.Counts() {
		class, rcode, _ := strings.Cut(key, "/")
		ch <- prometheus.MustNewConstMetric(m.dnsQueries, prometheus.CounterValue, float64(n), class, rcode)
	}
}

// metricsHandler serves /metrics: the appliance's collector plus the Go
// runtime and process collectors.
func metricsHandler(c prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
