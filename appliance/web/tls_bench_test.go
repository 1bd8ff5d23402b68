package web

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// BenchmarkLegacyHandshake is full handshakes (no resumption) per second
// on the phone profile, client and server in this process.
func BenchmarkLegacyHandshake(b *testing.B) {
	certs := newTestCerts(b, selfSignedConfig(b))
	addr := handshakeServer(b, certs.PhoneTLS())
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS1.0/RSA-3DES", tls.VersionTLS10, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA},
		{"TLS1.0/RSA-AES128", tls.VersionTLS10, tls.TLS_RSA_WITH_AES_128_CBC_SHA},
		{"TLS1.0/ECDHE-RSA-AES128", tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tc.version, MaxVersion: tc.version, CipherSuites: []uint16{tc.suite}}
			for b.Loop() {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkCheckinKeepAlive is check-ins per second over kept-alive
// HTTPS connections on the phone profile (the r2 handler with a planner
// that offers nothing), one connection per parallel client.
func BenchmarkCheckinKeepAlive(b *testing.B) {
	certs := newTestCerts(b, selfSignedConfig(b))
	addr := serve(b, phoneMux(certs), certs.PhoneTLS())
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS1.0/RSA-3DES", tls.VersionTLS10, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA},
		{"TLS1.0/RSA-AES128", tls.VersionTLS10, tls.TLS_RSA_WITH_AES_128_CBC_SHA},
		{"TLS1.2/ECDHE-RSA-AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64, TLSClientConfig: &tls.Config{
				InsecureSkipVerify: true, MinVersion: tc.version, MaxVersion: tc.version, CipherSuites: []uint16{tc.suite}}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			url := "https://" + addr + "/RequestHandlerExt/ucdevice.upx"
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, _, err := postCheckin(client, url)
					if err != nil || resp.StatusCode != 200 {
						b.Errorf("check-in: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
		})
	}
}
