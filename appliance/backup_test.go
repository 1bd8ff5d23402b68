package appliance

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// fakeData makes a data directory with a file of each kind a backup meets.
func fakeData(t testing.TB) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	files := map[string]struct {
		body string
		mode fs.FileMode
	}{
		"admin.token":                      {"secret-token\n", 0o600},
		"dashboard.password":               {"hash", 0o600},
		"blobs/ab/abcdef":                  {string(randomBytes(200<<10, 7)), 0o644},
		"state/snapshot-00000003.json":     {"snapshot bytes", 0o600},
		"state/journal-00000003.log":       {"journal bytes", 0o600},
		"state/LOCK":                       {"", 0o600},
		"state/snapshot-00000004.json.tmp": {"half a snapshot", 0o600},
		"tls/ca.key":                       {"-----BEGIN PRIVATE KEY-----", 0o600},
		"tls/ca.pem":                       {"-----BEGIN CERTIFICATE-----", 0o644},
		"logs/audit/audit.csv":             {"a,b,c\n", 0o640},
		"logs/client/00049F000001/a.log":   {"phone log", 0o640},
		"serve.json":                       {`{"dashboard":"127.0.0.1:8080"}`, 0o644},
		"captures/x.xml":                   {"<Request/>", 0o640},
		"tmp/import-1/CPE.nbt":             {"half an import", 0o600},
		".tanjay-replaced-20260101T000000Z/admin.token": {"old", 0o600},
	}
	for name, f := range files {
		p := filepath.Join(data, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(data, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	return data
}

// tree lists every file and directory under root with its mode and, for a
// file, its contents' SHA-256.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:8])
		}
		out[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func backupBytes(t testing.TB, data string, logs bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := writeBackup(&buf, backupPlan{data: data, logs: logs, source: "data directory"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	data := fakeData(t)
	want := tree(t, data)
	for name := range want {
		if name == "state/LOCK" || strings.HasSuffix(name, ".tmp") || strings.HasPrefix(name, "tmp") || strings.HasPrefix(name, ".tanjay-") || name == "serve.json" {
			delete(want, name)
		}
	}
	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(archive, backupBytes(t, data, true), 0o600); err != nil {
		t.Fatal(err)
	}
	into := filepath.Join(t.TempDir(), "restored")
	code, stdout, stderr := backupCmd("restore", "--data", into, archive)
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, stdout, stderr)
	}
	if diff := cmp.Diff(want, tree(t, into)); diff != "" {
		t.Errorf("restored tree (-want +got):\n%s", diff)
	}
	if !strings.Contains(stdout, "restored "+archive+" into "+into) {
		t.Errorf("restore said:\n%s", stdout)
	}
}

func TestBackupNoLogs(t *testing.T) {
	m, err := readArchive(bytes.NewReader(backupBytes(t, fakeData(t), false)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	sort.Strings(paths)
	want := []string{"admin.token", "blobs", "blobs/ab", "blobs/ab/abcdef", "dashboard.password", "state", "state/journal-00000003.log", "state/snapshot-00000003.json", "tls", "tls/ca.key", "tls/ca.pem"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("--no-logs archive (-want +got):\n%s", diff)
	}
	if m.Logs || m.Format != backupFormat || m.Version != Version || m.Source != "data directory" {
		t.Errorf("manifest: %+v", m)
	}
}

// entry is one entry of a hand-made archive.
type entry struct {
	name     string
	typeflag byte
	body     string
	linkname string
}

// craft makes an archive of entries and then a manifest listing files (nil:
// a manifest made from the data/ entries; skip it with noManifest).
func craft(t testing.TB, entries []entry, files []manifestFile, noManifest bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	var listed []manifestFile
	for _, e := range entries {
		tf := e.typeflag
		if tf == 0 {
			tf = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: tf, Mode: 0o600, Size: int64(len(e.body)), Linkname: e.linkname}
		if tf != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if tf == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
		if rel, ok := strings.CutPrefix(e.name, backupDataPrefix); ok {
			sum := sha256.Sum256([]byte(e.body))
			mf := manifestFile{Path: strings.TrimSuffix(rel, "/"), Mode: 0o600, Size: hdr.Size, SHA256: hex.EncodeToString(sum[:])}
			if tf == tar.TypeDir {
				mf.Dir, mf.SHA256 = true, ""
			}
			listed = append(listed, mf)
		}
	}
	if files == nil {
		files = listed
	}
	if !noManifest {
		b, _ := json.Marshal(backupManifest{Format: backupFormat, Version: "test", Files: files})
		tw.WriteHeader(&tar.Header{Name: backupManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestReadArchiveRefuses(t *testing.T) {
	good := backupBytes(t, fakeData(t), true)
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"not gzip", []byte("PK\x03\x04 a zip file"), "not a tanjay backup"},
		{"parent directory", craft(t, []entry{{name: "data/../escape", body: "x"}}, nil, false), `"data/../escape"`},
		{"parent directory inside", craft(t, []entry{{name: "data/a/../../escape", body: "x"}}, nil, false), "leaves the data directory"},
		{"absolute", craft(t, []entry{{name: "/etc/passwd", body: "x"}}, nil, false), "not under data/"},
		{"absolute under data", craft(t, []entry{{name: "data//etc/passwd", body: "x"}}, nil, false), "leaves the data directory"},
		{"symlink", craft(t, []entry{{name: "data/link", typeflag: tar.TypeSymlink, linkname: "/etc"}}, nil, false), "a link or a special file"},
		{"hard link", craft(t, []entry{{name: "data/link", typeflag: tar.TypeLink, linkname: "/etc/passwd"}}, nil, false), "a link or a special file"},
		{"device", craft(t, []entry{{name: "data/dev", typeflag: tar.TypeChar}}, nil, false), "a link or a special file"},
		{"twice", craft(t, []entry{{name: "data/a", body: "1"}, {name: "data/a", body: "2"}}, nil, false), "a: in the archive twice"},
		{"checksum", craft(t, []entry{{name: "data/blobs/x", body: "firmware"}}, []manifestFile{{Path: "blobs/x", Mode: 0o600, Size: 8, SHA256: sum("firmwarE")}}, false), "blobs/x: SHA-256"},
		{"size", craft(t, []entry{{name: "data/blobs/x", body: "firmware"}}, []manifestFile{{Path: "blobs/x", Mode: 0o600, Size: 9, SHA256: sum("firmware")}}, false), "blobs/x: 8 bytes, the manifest says 9"},
		{"not in manifest", craft(t, []entry{{name: "data/a", body: "1"}, {name: "data/b", body: "2"}}, []manifestFile{{Path: "a", Mode: 0o600, Size: 1, SHA256: sum("1")}}, false), "b: in the archive but not in the manifest"},
		{"not in archive", craft(t, []entry{{name: "data/a", body: "1"}}, []manifestFile{{Path: "a", Mode: 0o600, Size: 1, SHA256: sum("1")}, {Path: "state/snapshot-1.json", Mode: 0o600}}, false), "state/snapshot-1.json: in the manifest but not in the archive"},
		{"manifest path escapes", craft(t, []entry{}, []manifestFile{{Path: "../x"}}, false), "leaves the data directory"},
		{"no manifest", craft(t, []entry{{name: "data/a", body: "1"}}, nil, true), "no manifest"},
		{"entry after manifest", craftAfterManifest(t), "after the manifest"},
		{"cut short in a file", good[:len(good)/3], "cut short"},
		{"cut short at the end", good[:len(good)-6], "archive damaged at its end"},
		{"a flipped bit", flipped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readArchive(bytes.NewReader(tt.archive), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readArchive: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func craftAfterManifest(t testing.TB) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	b, _ := json.Marshal(backupManifest{Format: backupFormat})
	tw.WriteHeader(&tar.Header{Name: backupManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b))})
	tw.Write(b)
	tw.WriteHeader(&tar.Header{Name: "data/late", Typeflag: tar.TypeReg, Mode: 0o600})
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// TestReadArchiveNamesTheCutFile: a download cut in the middle of a
// firmware file names it.
func TestReadArchiveNamesTheCutFile(t *testing.T) {
	good := craft(t, []entry{{name: "data/admin.token", body: "x"}, {name: "data/blobs/big", body: string(randomBytes(1<<20, 3))}}, nil, false)
	_, err := readArchive(bytes.NewReader(good[:len(good)/2]), nil)
	if err == nil || !strings.Contains(err.Error(), "blobs/big: archive cut short") {
		t.Errorf("readArchive of half an archive: %v, want it to name blobs/big", err)
	}
}

func backupCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	return code, stdout.String(), stderr.String()
}

func TestRestoreRefusals(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.tar.gz")
	if err := os.WriteFile(good, backupBytes(t, fakeData(t), true), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	corrupt := filepath.Join(t.TempDir(), "corrupt.tar.gz")
	os.WriteFile(corrupt, craft(t, []entry{{name: "data/admin.token", body: "x"}, {name: "data/../../etc/cron.d/evil", body: "x"}}, nil, false), 0o600)
	cut := filepath.Join(t.TempDir(), "cut.tar.gz")
	os.WriteFile(cut, b[:len(b)/2], 0o600)

	t.Run("non-empty directory", func(t *testing.T) {
		dir := fakeData(t)
		before := tree(t, dir)
		code, _, stderr := backupCmd("restore", "--data", dir, good)
		if code != 1 || !strings.Contains(stderr, "is not empty") || !strings.Contains(stderr, "--force") {
			t.Errorf("restore into a full directory: exit %d\n%s", code, stderr)
		}
		if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
			t.Errorf("the directory changed:\n%s", diff)
		}
	})
	for _, bad := range []struct{ name, archive, want string }{
		{"traversal", corrupt, `"data/../../etc/cron.d/evil"`},
		{"cut short", cut, "cut short"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "data")
			code, _, stderr := backupCmd("restore", "--data", dir, bad.archive)
			if code != 1 || !strings.Contains(stderr, bad.want) || !strings.Contains(stderr, "nothing written") {
				t.Errorf("restore %s: exit %d\n%s", bad.name, code, stderr)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("restore of a bad archive left %v", entries)
			}
		})
	}
	t.Run("force moves the old directory aside", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		os.MkdirAll(dir, 0o750)
		os.WriteFile(filepath.Join(dir, "admin.token"), []byte("old"), 0o600)
		code, stdout, stderr := backupCmd("restore", "--data", dir, "--force", good)
		if code != 0 {
			t.Fatalf("restore --force: exit %d\n%s", code, stderr)
		}
		m := movedAside(t, stdout)
		if old, err := os.ReadFile(filepath.Join(m, "admin.token")); err != nil || string(old) != "old" {
			t.Errorf("old contents in %s: %q, %v", m, old, err)
		}
		if tok, _ := os.ReadFile(filepath.Join(dir, "admin.token")); string(tok) != "secret-token\n" {
			t.Errorf("restored token %q", tok)
		}
	})
	t.Run("serve running", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		st, err := store.Open(filepath.Join(dir, "state"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		code, _, stderr := backupCmd("restore", "--data", dir, "--force", good)
		if code != 1 || !strings.Contains(stderr, "tanjay serve is running on") {
			t.Errorf("restore while the state is open: exit %d\n%s", code, stderr)
		}
		code, _, stderr = backupCmd("backup", "--data", dir, "-o", filepath.Join(t.TempDir(), "b.tar.gz"))
		if code != 1 || !strings.Contains(stderr, "tanjay serve is running on") || !strings.Contains(stderr, "--server") {
			t.Errorf("backup --data while the state is open: exit %d\n%s", code, stderr)
		}
	})
}

// movedAside is where restore said it moved the previous contents.
func movedAside(t *testing.T, stdout string) string {
	t.Helper()
	_, after, ok := strings.Cut(stdout, "previous contents are in ")
	if !ok {
		t.Fatalf("restore did not say where the previous contents went:\n%s", stdout)
	}
	return strings.Fields(after)[0]
}

func TestBackupCommandFromData(t *testing.T) {
	data := fakeData(t)
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	code, _, stderr := backupCmd("backup", "--data", data, "-o", out)
	if code != 0 || !strings.Contains(stderr, "verified") {
		t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("archive: %v, mode %v; want 0600 (it holds secrets)", err, fi.Mode())
	}
	code, _, stderr = backupCmd("backup", "--data", data, "-o", out)
	if code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("backup over an existing archive: exit %d\n%s", code, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("left beside the archive: %v", entries)
	}
}

func TestRestoreIsTheRuleActionWithoutAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	os.WriteFile(file, nil, 0o600)
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"UCPhone/Polycom/CX700/A/ENU/CPE"}, false},
		{[]string{"--all"}, false},
		{[]string{"--data", t.TempDir(), "--all"}, false},
		{[]string{"--data", "/x", file}, true},
		{[]string{"--force", "nothing"}, true},
	} {
		if got := isBackupRestore(tt.args); got != tt.want {
			t.Errorf("isBackupRestore(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// TestRestoreIntoAMountPoint: a data directory that is a mount point (the
// appliance's data disk) cannot be renamed; restore moves its entries
// instead, keeping lost+found and the old contents inside it.
func TestRestoreIntoAMountPoint(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(archive, backupBytes(t, fakeData(t), true), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if code, _, stderr := backupCmd("restore", "--data", plain, archive); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, stderr)
	}
	want := tree(t, plain)
	disk := filepath.Join(t.TempDir(), "disk")
	os.MkdirAll(filepath.Join(disk, "lost+found"), 0o700)
	os.MkdirAll(filepath.Join(disk, "blobs"), 0o750)
	os.WriteFile(filepath.Join(disk, "admin.token"), []byte("old"), 0o600)
	r := restorer{archive: archive, data: disk, force: true, stderr: io.Discard, now: time.Now(),
		mountPoint: func(string) (bool, error) { return true, nil }}
	if _, err := r.run(); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(r.movedTo) != disk || !strings.HasPrefix(filepath.Base(r.movedTo), restoreLeftover+"replaced-") {
		t.Fatalf("old contents moved to %q, want inside %s", r.movedTo, disk)
	}
	got := tree(t, disk)
	for name := range got {
		if strings.HasPrefix(name, filepath.Base(r.movedTo)) {
			delete(got, name)
		}
	}
	want["lost+found"] = got["lost+found"]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data disk after restore (-want +got):\n%s", diff)
	}
	if old, _ := os.ReadFile(filepath.Join(r.movedTo, "admin.token")); string(old) != "old" {
		t.Errorf("old admin token %q", old)
	}
}

// TestBackupThroughASymlink: a data directory given as a symbolic link
// (the VM's /var/lib/tanjay) is backed up whole, and a directory with no
// state is refused rather than archived empty.
func TestBackupThroughASymlink(t *testing.T) {
	data := fakeData(t)
	link := filepath.Join(t.TempDir(), "tanjay")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	direct, _ := readArchive(bytes.NewReader(backupBytes(t, data, true)), nil)
	linked, err := readArchive(bytes.NewReader(backupBytes(t, link, true)), nil)
	if err != nil || len(linked.Files) == 0 || len(linked.Files) != len(direct.Files) {
		t.Errorf("through a symlink: %d files (%v), directly: %d", len(linked.Files), err, len(direct.Files))
	}
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "admin.token"), []byte("x\n"), 0o600)
	var buf bytes.Buffer
	if _, err := writeBackup(&buf, backupPlan{data: empty, logs: true, source: "data directory"}); err == nil || !strings.Contains(err.Error(), "holds no state") {
		t.Errorf("backup of a directory without state: %v, want refused", err)
	}
}
