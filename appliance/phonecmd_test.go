package appliance

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// TestPhoneFleetOwnAddresses: `tanjay phone --count N` against a real
// `tanjay serve` on loopback, without --local-ip, sends each phone from
// its own 127.0.0.0/8 address, so the appliance puts every download on the
// timeline of the phone that made it: each phone shows the four files it
// fetched, once each and whole, and its own address.
func TestPhoneFleetOwnAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs tanjay serve")
	}
	p := startServe(t, t.TempDir())
	dir := t.TempDir()
	// Sizes differ per file, so a download put on the wrong file or phone
	// shows.
	files := []struct{ devicePath, version, interim string }{
		{"OCInterim/ENU", "1.0.522.103", "--interim"},
		{"UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", ""},
	}
	var want []string // the complete downloads each phone makes: "file bytes"
	for i, f := range files {
		nbt := writeFile(t, dir, fmt.Sprintf("%d/CPE.nbt", i), randomBytes(96<<10+i*4096, byte(i)))
		cat := writeFile(t, dir, fmt.Sprintf("%d/CPE.cat", i), randomBytes(3000+i*100, byte(10+i)))
		args := []string{"import", "--device-path", f.devicePath, "--version", f.version}
		if f.interim != "" {
			args = append(args, f.interim)
		}
		p.tanjay(t, append(args, nbt, cat)...)
		want = append(want, fmt.Sprintf("CPE.nbt %d", 96<<10+i*4096), fmt.Sprintf("CPE.cat %d", 3000+i*100))
	}
	p.tanjay(t, "approve", "--all")

	const phones = 12
	cmd := exec.Command(tanjayBinary(t), "phone", "--server", "http://"+p.addrs.HTTP, "--count", fmt.Sprint(phones))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tanjay phone: %v\n%s", err, out)
	}
	ips, err := phone.LoopbackAddrs(netip.Addr{}, phones, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if line := "phones send from 127.0.0.2 … 127.0.0.13, one loopback address each"; !strings.Contains(string(out), line) {
		t.Errorf("output lacks %q:\n%s", line, out)
	}
	for i, ip := range ips {
		mac := phone.NewMAC(i)
		d, ok := p.device(t, mac)
		if !ok {
			t.Errorf("phone %s not in the store", mac)
			continue
		}
		if d.Device.IP != ip.String() || d.Device.Stage != store.StageDone || d.Device.Version.String() != "3.5.6907.0" {
			t.Errorf("%s: ip %s stage %s version %s; want %s, done, 3.5.6907.0", mac, d.Device.IP, d.Device.Stage, d.Device.Version, ip)
		}
		if release := int64(96<<10 + 4096); d.Device.DownloadBytes != release || d.Device.DownloadTotal != release {
			t.Errorf("%s: download progress %d of %d, want %d of %d", mac, d.Device.DownloadBytes, d.Device.DownloadTotal, release, release)
		}
		var got, seen []string
		for _, ev := range d.Events {
			if ev.Kind != store.EventDownload {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %d/%d complete=%v", ev.File, ev.Bytes, ev.Total, ev.Complete))
			if ev.Complete {
				got = append(got, fmt.Sprintf("%s %d", ev.File, ev.Bytes))
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: complete downloads (-want +got):\n%s\ndownload events:\n%s", mac, diff, strings.Join(seen, "\n"))
		}
	}
}
