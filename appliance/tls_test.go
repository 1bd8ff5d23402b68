package appliance

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCheckInOverHTTPS: the phone listener also serves HTTPS with the
// legacy profile (a TLS 1.0 client limited to 3DES gets through), the
// external URLs point at it, and the CA is offered where CX700s fetch it.
func TestCheckInOverHTTPS(t *testing.T) {
	ta := startApp(t, func(c *Config) { c.HTTPSAddr = "127.0.0.1:0" })
	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, randomBytes(1000, 1))
	if err := ta.ruleAction(t, "approve", "UCPhone/Polycom/CX700/A/ENU/CPE"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/certsrv/certnew.p7b", "/ca.cer"} {
		resp, err := http.Get("http://" + ta.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) < 200 {
			t.Errorf("%s: %s, %d bytes", path, resp.Status, len(b))
		}
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10,
		CipherSuites:       []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA},
		InsecureSkipVerify: true, // the chain is checked in appliance/web's tests
	}}}
	body := `<Request><DeviceType>UCPhone</DeviceType><MacAddress>00049F0000F1</MacAddress><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale><Modules><Module><FileName>cpe.nbt</FileName><Version>1.0.522.103</Version></Module></Modules></Request>`
	resp, err := old.Post("https://"+ta.HTTPS+"/RequestHandlerExt/ucdevice.upx", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS10 {
		t.Errorf("not a TLS 1.0 connection: %+v", resp.TLS)
	}
	want := "<ExternalBaseURL>https://" + ta.HTTPS + "/DeviceUpdateFiles_Ext/UCPhone/Polycom/CX700/A/ENU/3.5.6907.0/CPE</ExternalBaseURL>"
	if !strings.Contains(string(b), want) {
		t.Errorf("response lacks %s:\n%s", want, b)
	}
}
