package appliance

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tanjay-lab/tanjay/appliance/internal/connlimit"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/r2"
)

// counters are the appliance's own event counts, bumped on the request
// path with atomics only.
type counters struct {
	checkins, offers, downloadBytes, uploads atomic.Uint64
	// phoneConns caps the phone listeners; set in Run before they serve.
	phoneConns *connlimit.Limiter
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
	// The caps on the phone listeners (connlimit).
	phoneConns, phoneConnsRefused, phoneConnsCut *prometheus.Desc

	// The caps and the floor of what phones make the appliance keep.
	phoneFiles, phoneFileBytes, phoneFilesRefused, capturesDropped *prometheus.Desc
	diskFree, diskFloor, diskLow, diskCrossings, diskRefused       *prometheus.Desc

	// The logs the appliance writes on its own, and their write failures
	// (healthz.go).
	logWriteErrors, logFailing, logHeld, logDropped *prometheus.Desc

	// The dashboard's live feed falling behind the store.
	dashboardRebuilds *prometheus.Desc
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

		phoneConns:        prometheus.NewDesc("tanjay_phone_connections", "Connections open on the phone HTTP and HTTPS listeners.", nil, nil),
		phoneConnsRefused: prometheus.NewDesc("tanjay_phone_connections_refused_total", "Connections to the phone listeners closed at once, by the cap reached (per-address, total).", []string{"cap"}, nil),
		phoneConnsCut:     prometheus.NewDesc("tanjay_phone_connections_cut_total", "Phone-side requests cut for a body slower than --phone-body-min-rate (slow-body) and writes cut after --phone-write-stall (stalled-write).", []string{"reason"}, nil),

		phoneFiles:        prometheus.NewDesc("tanjay_phone_files", "Files phones made the appliance keep, by folder (uploads, captures).", []string{"folder"}, nil),
		phoneFileBytes:    prometheus.NewDesc("tanjay_phone_file_bytes", "Bytes of the files phones made the appliance keep, by folder.", []string{"folder"}, nil),
		phoneFilesRefused: prometheus.NewDesc("tanjay_phone_files_refused_total", "Uploads refused with 507 and captures not kept, by folder and the cap reached.", []string{"folder", "cap"}, nil),
		capturesDropped:   prometheus.NewDesc("tanjay_captures_dropped_total", "Oldest captures dropped to make room, by the cap reached.", []string{"cap"}, nil),
		diskFree:          prometheus.NewDesc("tanjay_data_free_bytes", "Free space of the data directory at the last reading.", nil, nil),
		diskFloor:         prometheus.NewDesc("tanjay_data_free_floor_bytes", "Free space below which phone uploads and captures stop.", nil, nil),
		diskLow:           prometheus.NewDesc("tanjay_data_below_floor", "1 while the data directory's free space is below the floor (or unreadable): phone uploads and captures stopped.", nil, nil),
		diskCrossings:     prometheus.NewDesc("tanjay_data_floor_crossings_total", "Times the free space crossed the floor, either way.", nil, nil),
		diskRefused:       prometheus.NewDesc("tanjay_data_floor_refused_total", "Uploads and captures refused for the free-space floor.", nil, nil),

		logWriteErrors: prometheus.NewDesc("tanjay_log_write_errors_total", "Failed writes (a full disk, an I/O error) of the journal, the audit log and the access log.", []string{"log"}, nil),
		logFailing:     prometheus.NewDesc("tanjay_log_write_failing", "1 while the log cannot be written (it is retried, 1 s doubling to 30 s).", []string{"log"}, nil),
		logHeld:        prometheus.NewDesc("tanjay_log_held", "What waits in memory to be written: observations for the journal, bytes for the audit and access logs.", []string{"log"}, nil),
		logDropped:     prometheus.NewDesc("tanjay_log_dropped_total", "Observations (journal) or lines (audit, access) dropped because the memory bound was reached while the log could not be written.", []string{"log"}, nil),

		dashboardRebuilds: prometheus.NewDesc("tanjay_dashboard_index_rebuilds_total", "Times the dashboard's live feed fell behind the store and its fleet index was rebuilt by walking every phone.", nil, nil),
	}
}

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.phones, m.checkins, m.offers, m.downloaded, m.uploads, m.dnsQueries, m.sipConns, m.sipEvents} {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{m.phoneConns, m.phoneConnsRefused, m.phoneConnsCut} {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{m.phoneFiles, m.phoneFileBytes, m.phoneFilesRefused, m.capturesDropped, m.diskFree, m.diskFloor, m.diskLow, m.diskCrossings, m.diskRefused} {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{m.logWriteErrors, m.logFailing, m.logHeld, m.logDropped, m.dashboardRebuilds} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	byStage := m.a.store.StageCounts() // kept as phones change: no copy of the fleet
	for _, s := range store.Stages {
		ch <- prometheus.MustNewConstMetric(m.phones, prometheus.GaugeValue, float64(byStage[s]), string(s))
	}
	m.collectPhoneFiles(ch)
	m.collectLogWrites(ch)
	if m.a.dashboard != nil {
		ch <- prometheus.MustNewConstMetric(m.dashboardRebuilds, prometheus.CounterValue, float64(m.a.dashboard.IndexRebuilds()))
	}
	c := &m.a.counters
	ch <- prometheus.MustNewConstMetric(m.checkins, prometheus.CounterValue, float64(c.checkins.Load()))
	ch <- prometheus.MustNewConstMetric(m.offers, prometheus.CounterValue, float64(c.offers.Load()))
	ch <- prometheus.MustNewConstMetric(m.downloaded, prometheus.CounterValue, float64(c.downloadBytes.Load()))
	ch <- prometheus.MustNewConstMetric(m.uploads, prometheus.CounterValue, float64(c.uploads.Load()))
	if c.phoneConns != nil {
		st := c.phoneConns.Stats()
		ch <- prometheus.MustNewConstMetric(m.phoneConns, prometheus.GaugeValue, float64(st.Open))
		ch <- prometheus.MustNewConstMetric(m.phoneConnsRefused, prometheus.CounterValue, float64(st.RefusedPerAddress), connlimit.ReasonPerAddress)
		ch <- prometheus.MustNewConstMetric(m.phoneConnsRefused, prometheus.CounterValue, float64(st.RefusedTotal), connlimit.ReasonTotal)
		ch <- prometheus.MustNewConstMetric(m.phoneConnsCut, prometheus.CounterValue, float64(st.SlowBodies), "slow-body")
		ch <- prometheus.MustNewConstMetric(m.phoneConnsCut, prometheus.CounterValue, float64(st.StalledWrites), "stalled-write")
	}
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

// collectPhoneFiles reports the caps and the floor (phonefiles.go).
func (m *metricsCollector) collectPhoneFiles(ch chan<- prometheus.Metric) {
	p := m.a.phoneFiles
	for folder, q := range map[string]*r2.Quota{"uploads": p.uploads, "captures": p.captures} {
		if q == nil {
			continue
		}
		st := q.Stats()
		ch <- prometheus.MustNewConstMetric(m.phoneFiles, prometheus.GaugeValue, float64(st.Files), folder)
		ch <- prometheus.MustNewConstMetric(m.phoneFileBytes, prometheus.GaugeValue, float64(st.Bytes), folder)
		for reason, n := range st.Refused {
			ch <- prometheus.MustNewConstMetric(m.phoneFilesRefused, prometheus.CounterValue, float64(n), folder, reason)
		}
		if folder == "captures" {
			for reason, n := range st.Dropped {
				ch <- prometheus.MustNewConstMetric(m.capturesDropped, prometheus.CounterValue, float64(n), reason)
			}
		}
	}
	if p.disk == nil {
		return
	}
	d := p.disk.Stats()
	low := 0.0
	if d.Low {
		low = 1
	}
	ch <- prometheus.MustNewConstMetric(m.diskFree, prometheus.GaugeValue, float64(d.Free))
	ch <- prometheus.MustNewConstMetric(m.diskFloor, prometheus.GaugeValue, float64(d.Floor))
	ch <- prometheus.MustNewConstMetric(m.diskLow, prometheus.GaugeValue, low)
	ch <- prometheus.MustNewConstMetric(m.diskCrossings, prometheus.CounterValue, float64(d.Crossings))
	ch <- prometheus.MustNewConstMetric(m.diskRefused, prometheus.CounterValue, float64(d.Refused))
}

// collectLogWrites reports the write failures of the journal, the audit
// log and the access log (healthz.go), labelled journal, audit, access.
func (m *metricsCollector) collectLogWrites(ch chan<- prometheus.Metric) {
	for _, h := range m.a.logHealths() {
		name, _, _ := strings.Cut(h.Name, " ")
		failing := 0.0
		if h.Failing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(m.logWriteErrors, prometheus.CounterValue, float64(h.Errors), name)
		ch <- prometheus.MustNewConstMetric(m.logFailing, prometheus.GaugeValue, failing, name)
		ch <- prometheus.MustNewConstMetric(m.logHeld, prometheus.GaugeValue, float64(h.Held), name)
		ch <- prometheus.MustNewConstMetric(m.logDropped, prometheus.CounterValue, float64(h.Dropped), name)
	}
}

// metricsHandler serves /metrics: the appliance's collector plus the Go
// runtime and process collectors.
func metricsHandler(c prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
