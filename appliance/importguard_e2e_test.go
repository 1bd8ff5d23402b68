package appliance

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestImportWarningsNeedForce: an import that looks like a mistake — a
// version below the approved one, a second Pending replacing another, a
// model no phone has reported and no rule serves — is refused from the
// command line with the reason and what to do, imports with --force, and
// lands nothing meanwhile; a model a phone has reported needs no force.
// The Firmware page's form says the same and imports with "Import anyway";
// its bare-image fields take the device path and version.
func TestImportWarningsNeedForce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	t.Setenv("TANJAY_ADMIN_PASSWORD", "guard-Pa55word")
	srv := startServe(t, t.TempDir())
	fw := t.TempDir()
	n := byte(0)
	bare := func(dir string) []string {
		n += 2
		return []string{writeFile(t, fw, dir+"/CPE.nbt", randomBytes(50<<10, n)), writeFile(t, fw, dir+"/CPE.cat", randomBytes(500, n+1))}
	}
	imp := func(path, version string, extra ...string) (string, error) {
		args := append([]string{"import", "--device-path", path, "--version", version}, extra...)
		return srv.tanjayErr(append(args, bare(path+version)...)...)
	}
	const cx700 = "UCPhone/Polycom/CX700/A/ENU"
	if out, err := imp(cx700, "3.5.6907.0"); err != nil {
		t.Fatalf("first import of a known model, no phone yet: %v\n%s", err, out)
	}
	srv.tanjay(t, "approve", "--all")

	for _, tc := range []struct {
		name, path, version, want string
	}{
		{"lower than approved", cx700, "3.5.6000.0", "3.5.6000.0 is lower than the approved 3.5.6907.0"},
		{"a typo in the device path", "UCPhone/Polycom/CX-700/A/ENU", "4.0.7577.4066", "no phone has reported UCPhone/Polycom/CX-700/A/ENU and no rule serves it"},
	} {
		out, err := imp(tc.path, tc.version)
		if err == nil || !strings.Contains(out, tc.want) || !strings.Contains(out, "--force") {
			t.Errorf("%s without --force: %v\n%s\nwant a refusal saying %q and naming --force", tc.name, err, out, tc.want)
		}
		if rules := srv.tanjay(t, "rules"); strings.Contains(rules, tc.version) {
			t.Errorf("%s: refused, yet the rules show %s:\n%s", tc.name, tc.version, rules)
		}
		if out, err := imp(tc.path, tc.version, "--force"); err != nil || !strings.Contains(out, "warning: ") {
			t.Errorf("%s with --force: %v\n%s\nwant it imported with a warning", tc.name, err, out)
		}
	}
	// 3.5.6000.0 is Pending now: another build would replace it.
	if out, err := imp(cx700, "4.0.7577.4066"); err == nil || !strings.Contains(out, "would replace the Pending 3.5.6000.0") {
		t.Errorf("second Pending without --force: %v\n%s", err, out)
	}
	// A model a phone reported needs no force.
	checkIn(t, srv.addrs.HTTP, "IP8540", "0004F2000B01", "SN-B01", "1.0.522.103")
	if out, err := imp("UCPhone/LG-Nortel/IP8540/A/ENU", "3.5.6907.37"); err != nil {
		t.Errorf("import for a reported model: %v\n%s", err, out)
	}
	if out, err := imp("UCPhone/Acme/X1/A/ENU", "1.2.3.4"); err == nil {
		t.Errorf("import for a model nobody knows: no refusal\n%s", out)
	}

	// The Firmware page: a bare image with its fields, refused, then forced.
	c := newDashClient(t, srv.addrs.Dashboard, "")
	cookie, csrf := c.login("guard-Pa55word")
	upload := func(force bool) *http.Response {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("device_path", "UCPhone/Polycom/CX-750/A/ENU")
		mw.WriteField("version", "4.0.7577.4100")
		if force {
			mw.WriteField("force", "true")
		}
		fwr, _ := mw.CreateFormFile("file", "CPE.nbt")
		fwr.Write(randomBytes(10<<10, 9))
		mw.Close()
		req, _ := http.NewRequest("POST", c.base+"/firmware/upload?csrf="+url.QueryEscape(csrf), &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Cookie", cookie)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	flash := func(resp *http.Response) string {
		_, page := c.do("GET", resp.Header.Get("Location"), cookie+"; "+cookieHeader(resp), nil)
		return page
	}
	if page := flash(upload(false)); !strings.Contains(page, "no phone has reported UCPhone/Polycom/CX-750/A/ENU") || !strings.Contains(page, "Import anyway") {
		t.Errorf("web upload of a typo: the page does not say why it was refused:\n%.3000s", page)
	}
	if page := flash(upload(true)); !strings.Contains(page, "imported 1 image(s): UCPhone/Polycom/CX-750/A/ENU/CPE 4.0.7577.4100") {
		t.Errorf("web upload with Import anyway:\n%.3000s", page)
	}
	srv.interrupt(t)
}

// cookieHeader is the Set-Cookie values of resp as one Cookie header.
func cookieHeader(resp *http.Response) string {
	var parts []string
	for _, ck := range resp.Cookies() {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}
