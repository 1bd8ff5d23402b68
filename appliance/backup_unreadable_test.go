package appliance

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupOfAnApplianceThatMayNotReadEverything backs up a real tanjay
// serve whose data directory is laid out as on the VM: a symbolic link to
// the directory on the data disk, which also holds what the unprivileged
// service may not read (the lab domain controller's state, root's alone;
// the data disk's lost+found). The archive leaves those out, says so, and
// restores into a fresh appliance; a firmware file it may not read fails
// the backup, and the client names the appliance's log. (Before, the
// first unreadable directory cut the archive short and the client blamed
// a firmware file: "archive cut short or damaged: unexpected EOF".)
func TestBackupOfAnApplianceThatMayNotReadEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	// As root, tanjay serve runs without the capabilities that read past
	// file permissions, as the VM's unprivileged service does.
	var wrap []string
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root without setpriv (util-linux): cannot take away root's right to read every file")
		}
		wrap = []string{setpriv, "--bounding-set", "-dac_override,-dac_read_search"}
	}
	top := t.TempDir()
	real := filepath.Join(top, "private", "tanjay")
	data := filepath.Join(top, "tanjay")
	if err := os.MkdirAll(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("private/tanjay", data); err != nil {
		t.Fatal(err)
	}
	srv := startServeWrapped(t, wrap, data)
	fw := t.TempDir()
	interim, release := randomBytes(200<<10, 20), randomBytes(300<<10, 21)
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", writeFile(t, fw, "i/CPE.nbt", interim))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.37", writeFile(t, fw, "r/CPE.nbt", release))
	srv.tanjay(t, "approve", "--all")
	checkIn(t, srv.addrs.HTTP, "CX700", "0004F2770050", "", "1.0.199.0")

	// Samba's state (directory-provision leaves it 0711, root's), a data
	// disk's lost+found (0700, root's), a log another program writes.
	// Owner bits without read stand for "another user's" to a non-root
	// test and to root without its capabilities alike.
	writeFile(t, real, "directory/private/secrets.ldb", []byte("samba's"))
	writeFile(t, real, "directory/dc-records.txt", []byte("records"))
	writeFile(t, real, "logs/other.log", []byte("someone else's"))
	if err := os.Mkdir(filepath.Join(real, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	unreadable := map[string]os.FileMode{"directory": 0o311, "lost+found": 0o300, "logs/other.log": 0o200}
	for rel, mode := range unreadable {
		chmod(t, filepath.Join(real, rel), mode)
	}
	t.Cleanup(func() { // t.TempDir's removal needs to list them
		for rel := range unreadable {
			os.Chmod(filepath.Join(real, rel), 0o700)
		}
	})

	archive := filepath.Join(t.TempDir(), "appliance.tar.gz")
	out, err := srv.tanjayErr("backup", "-o", archive)
	if err != nil || !strings.Contains(out, "verified") {
		srv.kill()
		t.Fatalf("tanjay backup --server of a data directory with entries it may not read: %v\n%s\ntanjay serve's log:\n%s", err, out, srv.stderr)
	}
	for rel := range unreadable {
		if !strings.Contains(out, rel+" (a ") || !strings.Contains(out, "permission denied") {
			t.Errorf("tanjay backup does not say it left %s out:\n%s", rel, out)
		}
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readArchive(f, nil)
	f.Close()
	if err != nil {
		t.Fatalf("the archive does not verify: %v", err)
	}
	for rel := range unreadable {
		if !strings.Contains(strings.Join(m.Skipped, "\n"), rel+" (a ") {
			t.Errorf("the manifest does not list %s as left out: %q", rel, m.Skipped)
		}
	}
	for _, mf := range m.Files {
		top, _, _ := strings.Cut(mf.Path, "/")
		if _, ok := unreadable[mf.Path]; ok || top == "directory" || top == "lost+found" {
			t.Errorf("%s is in the archive", mf.Path)
		}
	}

	fresh := filepath.Join(t.TempDir(), "data")
	if out, err := srv.run(t, "restore", "--data", fresh, archive); err != nil {
		t.Fatalf("tanjay restore: %v\n%s", err, out)
	}
	again := startServe(t, fresh)
	if got := again.tanjay(t, "rules"); !strings.Contains(got, "3.5.6907.37") {
		t.Errorf("the restored appliance lacks the approved release:\n%s", got)
	}
	if got := again.tanjay(t, "devices"); !strings.Contains(got, "0004F2770050") {
		t.Errorf("the restored appliance lacks the phone:\n%s", got)
	}
	if got := fetch(t, "http://"+again.addrs.HTTP+"/DeviceUpdateFiles_Int/UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.nbt"); !bytes.Equal(got, release) {
		t.Errorf("the restored appliance serves %d bytes of the release, not the %d imported", len(got), len(release))
	}

	// A firmware file it may not read is a backup it cannot make: the
	// transfer is cut, and the client says where to look. The first
	// firmware file fails before the answer starts, the last one in the
	// middle of the archive (as the VM's first backup did).
	blobs, err := filepath.Glob(filepath.Join(real, "blobs", "*", "*")) // in the order of the archive
	if err != nil || len(blobs) != 2 {
		t.Fatalf("blobs: %q, %v; want the two imported", blobs, err)
	}
	for _, blob := range []string{blobs[0], blobs[1]} {
		chmod(t, blob, 0o200)
		out, err = srv.tanjayErr("backup", "-o", filepath.Join(t.TempDir(), "cut.tar.gz"))
		if err == nil || !strings.Contains(out, "cut the transfer short") || !strings.Contains(out, "journalctl -u tanjay") {
			t.Errorf("tanjay backup with the firmware file %s the appliance may not read: %v, want the cut transfer and where to look:\n%s", filepath.Base(blob), err, out)
		}
		chmod(t, blob, 0o600)
	}
	srv.interrupt(t) // its log is whole once it has exited
	for _, blob := range blobs {
		if log := srv.stderr.String(); !strings.Contains(log, filepath.Base(blob)+": permission denied") {
			t.Errorf("tanjay serve's log does not name the firmware file %s it could not read:\n%s", filepath.Base(blob), log)
		}
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// startServeWrapped is startServe with the command run through wrap (a
// program and its arguments, which execs the rest), nil for none.
func startServeWrapped(t *testing.T, wrap []string, data string) *serveProcess {
	t.Helper()
	args := append(wrap, tanjayBinary(t), "serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0", "--dns-addr", "off",
		"--https-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off", "--host", "e2e")
	return startServeCommand(t, data, args)
}
