package appliance

// A backup is one gzip'd tar of the data directory:
//
//	data/<path>          every directory and plain file, with its permission
//	                     bits (secrets stay 0600)
//	tanjay-backup.json   the manifest, last: format, appliance version, time,
//	                     and each entry's size and SHA-256
//
// The state is captured at one point: a running appliance writes a fresh
// snapshot and the archive holds that snapshot alone (it is the whole state
// at that instant; journal records after it are left out); a stopped one is
// copied as it is, under the state's lock. Everything else is copied after
// the state, so every firmware file the state names is in the archive. Logs
// still being written are copied up to their length when the copy starts.
//
// What the backup may not read is left out and listed in the manifest
// (Skipped), except the state and the firmware files, which it cannot go
// without. On the VM, tanjay serve runs as its own unprivileged user and
// the data directory also holds what is root's alone: the lab domain
// controller's state (directory/, Samba's secrets: after a restore,
// /usr/local/lib/tanjay/directory-provision makes it anew) and the data
// disk's lost+found. A backup taken as root with tanjay serve stopped
// (tanjay backup --data) has them too.

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/admin"
	"github.com/tanjay-lab/tanjay/appliance/dashboard"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

const (
	// backupFormat is the archive layout this tanjay writes and reads.
	backupFormat = 1
	// backupManifestName is the manifest's entry, the archive's last.
	backupManifestName = "tanjay-backup.json"
	// backupDataPrefix leads every entry of the data directory.
	backupDataPrefix = "data/"
	// maxManifestBytes bounds the manifest read from an archive (a data
	// directory of a million files has a manifest of about 150 MB; the
	// appliance holds thousands).
	maxManifestBytes = 64 << 20
	// restoreLeftover leads the names restore uses inside a data
	// directory that is a mount point; backups leave them out.
	restoreLeftover = ".tanjay-"
)

// backupManifest describes an archive.
type backupManifest struct {
	Format  int       `json:"format"`
	Version string    `json:"version"` // of the tanjay that wrote it
	Created time.Time `json:"created"`
	// Source is "serve" (the running appliance snapshotted its state) or
	// "data directory" (copied with tanjay serve stopped).
	Source string `json:"source"`
	// Logs says whether logs/ and captures/ are in (tanjay backup
	// --no-logs leaves them out).
	Logs  bool           `json:"logs"`
	Files []manifestFile `json:"files"`
	// Skipped names what was not archived, each with why: sockets and
	// other special files, which a restore could not make anyway, and
	// what the backup was not allowed to read (permission denied).
	Skipped []string `json:"skipped,omitempty"`
}

// manifestFile is one entry: a directory, or a file with its checksum.
type manifestFile struct {
	Path   string `json:"path"` // relative to the data directory, slash-separated
	Dir    bool   `json:"dir,omitempty"`
	Mode   uint32 `json:"mode"` // permission bits
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// bytes is the total size of the manifest's files.
func (m backupManifest) bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// backupPlan is what one backup archives.
type backupPlan struct {
	data   string
	logs   bool
	source string
	// state, when set, is the consistent set of state files to archive
	// (already open) in place of what <data>/state holds.
	state []openedFile
}

// openedFile is a file held open for the archive, named relative to the
// data directory.
type openedFile struct {
	rel  string
	f    *os.File
	info fs.FileInfo
}

func (p backupPlan) close() {
	for _, o := range p.state {
		o.f.Close()
	}
}

// skipped reports whether rel (slash-separated, relative to the data
// directory) is left out of the plan's archive, with its whole subtree.
func (p backupPlan) skipped(rel string) bool {
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case strings.HasPrefix(top, restoreLeftover):
		return true
	case top == "tmp": // imports in progress (Config.tmpDir)
		return true
	case rel == serveInfoFile: // where this appliance listens: the restored one writes its own
		return true
	case rel == "state/LOCK":
		return true
	case top == "state" && strings.HasSuffix(rel, ".tmp"): // a snapshot being written
		return true
	case !p.logs && (top == "logs" || top == "captures"):
		return true
	}
	return false
}

// writeBackup writes the plan's archive to w.
func writeBackup(w io.Writer, p backupPlan) (backupManifest, error) {
	aw := newArchiveWriter(w, backupManifest{Format: backupFormat, Version: Version, Created: time.Now().UTC(), Source: p.source, Logs: p.logs})
	// The data directory may be a symbolic link (the VM's /var/lib/tanjay
	// is one, to systemd's /var/lib/private/tanjay): WalkDir does not
	// follow a link, not even the root, so walk where it points.
	root, err := filepath.EvalSymlinks(p.data)
	if err != nil {
		return aw.m, fmt.Errorf("back up %s: %w", p.data, err)
	}
	haveState := false
	err = filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && full != root {
				return nil // removed meanwhile (a capture or upload the quota evicted)
			}
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if p.skipped(rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel == "state" && p.state != nil {
			if err := aw.addDir(rel, d); err != nil {
				return err
			}
			for _, o := range p.state {
				if err := aw.addFile(o.rel, o.info, o.f); err != nil {
					return err
				}
			}
			haveState = haveState || len(p.state) > 0
			return fs.SkipDir
		}
		switch {
		case d.IsDir():
			if err := canList(full); errors.Is(err, fs.ErrPermission) && !backupNeeds(rel) {
				aw.leaveOut(rel, "a directory this backup may not read: permission denied")
				return fs.SkipDir
			}
			return aw.addDir(rel, d)
		case d.Type().IsRegular():
			f, err := os.Open(full)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return nil // removed meanwhile
			case errors.Is(err, fs.ErrPermission) && !backupNeeds(rel):
				aw.leaveOut(rel, "a file this backup may not read: permission denied")
				return nil
			case err != nil:
				return err
			}
			defer f.Close()
			haveState = haveState || strings.HasPrefix(rel, "state/")
			return aw.addOpen(rel, f)
		default:
			aw.leaveOut(rel, d.Type().String())
			return nil
		}
	})
	if err != nil {
		return aw.m, fmt.Errorf("back up %s: %w", p.data, err)
	}
	if !haveState {
		// An archive without the state restores an empty appliance: never
		// call that a backup.
		return aw.m, fmt.Errorf("back up %s: it holds no state (no snapshot or journal under state/): is it a data directory?", p.data)
	}
	return aw.m, aw.close()
}

// backupNeeds reports whether rel is one a backup cannot go without, readable
// or not: the state and the firmware files.
func backupNeeds(rel string) bool {
	top, _, _ := strings.Cut(rel, "/")
	return top == "state" || top == "blobs"
}

// canList opens the directory full: WalkDir, which reads it next, fails on
// one it may not read (open: permission denied) after its entry is written.
func canList(full string) error {
	d, err := os.Open(full)
	if err != nil {
		return err
	}
	return d.Close()
}

// archiveWriter writes entries and keeps the manifest.
type archiveWriter struct {
	gz *gzip.Writer
	tw *tar.Writer
	m  backupManifest
}

func newArchiveWriter(w io.Writer, m backupManifest) *archiveWriter {
	// Firmware files are compressed already: the fastest level costs the
	// appliance's two cores least for about the same size.
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return &archiveWriter{gz: gz, tw: tar.NewWriter(gz), m: m}
}

func (aw *archiveWriter) addDir(rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	mode := uint32(info.Mode().Perm())
	aw.m.Files = append(aw.m.Files, manifestFile{Path: rel, Dir: true, Mode: mode})
	return aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: backupDataPrefix + rel + "/", Mode: int64(mode), ModTime: info.ModTime(), Format: tar.FormatPAX})
}

// leaveOut lists rel in the manifest as not archived, and why.
func (aw *archiveWriter) leaveOut(rel, why string) {
	aw.m.Skipped = append(aw.m.Skipped, rel+" ("+why+")")
}

// addOpen archives the open file f.
func (aw *archiveWriter) addOpen(rel string, f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return aw.addFile(rel, info, f)
}

// addFile archives the first info.Size() bytes of r: a log that grows
// while it is copied is archived as long as it was when the copy started.
func (aw *archiveWriter) addFile(rel string, info fs.FileInfo, r io.Reader) error {
	size, mode := info.Size(), uint32(info.Mode().Perm())
	if err := aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: backupDataPrefix + rel, Mode: int64(mode), Size: size, ModTime: info.ModTime(), Format: tar.FormatPAX}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(aw.tw, io.TeeReader(io.LimitReader(r, size), h))
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if n != size {
		return fmt.Errorf("%s: shrank from %d to %d bytes while it was copied", rel, size, n)
	}
	aw.m.Files = append(aw.m.Files, manifestFile{Path: rel, Mode: mode, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// close writes the manifest and ends the archive.
func (aw *archiveWriter) close() error {
	b, err := json.MarshalIndent(aw.m, "", " ")
	if err != nil {
		return err
	}
	if err := aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: backupManifestName, Mode: 0o600, Size: int64(len(b)), ModTime: aw.m.Created, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := aw.tw.Write(b); err != nil {
		return err
	}
	if err := aw.tw.Close(); err != nil {
		return err
	}
	return aw.gz.Close()
}

// archiveEntry is one data entry of an archive, its name checked.
type archiveEntry struct {
	Rel  string // slash-separated, local (no .., not absolute)
	Dir  bool
	Mode fs.FileMode // permission bits only
	Size int64
}

// readArchive reads a backup archive from r and verifies it: every entry a
// plain file or directory under data/ with a local name (no .., not
// absolute; links and devices are refused), none twice, the manifest last,
// and every file's size and SHA-256 as the manifest says, nothing more and
// nothing less. visit, when not nil, gets each data entry as it is read
// (the body of a file, to read once); an archive is only good once
// readArchive returns nil. Each error names the entry it is about.
func readArchive(r io.Reader, visit func(e archiveEntry, body io.Reader) error) (backupManifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return backupManifest{}, fmt.Errorf("not a tanjay backup (a .tar.gz): %w", err)
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	seen := map[string]manifestFile{}
	var m *backupManifest
	last := "its start"
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return backupManifest{}, fmt.Errorf("archive damaged or cut short after %s: %w", last, err)
		}
		if m != nil {
			return backupManifest{}, fmt.Errorf("entry %q after the manifest: not a tanjay backup", hdr.Name)
		}
		if hdr.Name == backupManifestName {
			if m, err = readManifest(tr, hdr); err != nil {
				return backupManifest{}, err
			}
			continue
		}
		e, err := checkEntry(hdr)
		if err != nil {
			return backupManifest{}, err
		}
		if _, dup := seen[e.Rel]; dup {
			return backupManifest{}, fmt.Errorf("%s: in the archive twice", e.Rel)
		}
		last = e.Rel
		sum, err := readEntry(tr, e, visit)
		if err != nil {
			return backupManifest{}, err
		}
		seen[e.Rel] = sum
	}
	// The gzip checksum covers everything up to here: read to its end.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return backupManifest{}, fmt.Errorf("archive damaged at its end (after %s): %w", last, err)
	}
	if m == nil {
		return backupManifest{}, fmt.Errorf("no manifest (%s): the archive is cut short or is not a tanjay backup", backupManifestName)
	}
	return *m, matchManifest(*m, seen)
}

func readManifest(tr *tar.Reader, hdr *tar.Header) (*backupManifest, error) {
	if hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifestBytes {
		return nil, fmt.Errorf("%s: not a manifest (type %q, %d bytes)", backupManifestName, hdr.Typeflag, hdr.Size)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("%s: archive cut short: %w", backupManifestName, err)
	}
	var m backupManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", backupManifestName, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%s: archive format %d; this tanjay (%s) reads format %d", backupManifestName, m.Format, Version, backupFormat)
	}
	return &m, nil
}

// checkEntry refuses an entry a restore must not write: anything but a
// plain file or directory, and any name that is not under data/ or would
// leave the data directory.
func checkEntry(hdr *tar.Header) (archiveEntry, error) {
	rel, ok := strings.CutPrefix(hdr.Name, backupDataPrefix)
	if !ok {
		return archiveEntry{}, fmt.Errorf("entry %q: not under %s: not a tanjay backup", hdr.Name, backupDataPrefix)
	}
	e := archiveEntry{Mode: fs.FileMode(hdr.Mode).Perm(), Size: hdr.Size}
	switch hdr.Typeflag {
	case tar.TypeDir:
		e.Dir, rel = true, strings.TrimSuffix(rel, "/")
	case tar.TypeReg:
	default:
		return archiveEntry{}, fmt.Errorf("entry %q: type %q (a link or a special file): a backup holds only files and directories", hdr.Name, hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			// A few bytes could stand for terabytes of zeros.
			return archiveEntry{}, fmt.Errorf("entry %q: a sparse file: a backup holds only plain files", hdr.Name)
		}
	}
	if err := checkRel(rel); err != nil {
		return archiveEntry{}, fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	e.Rel = rel
	return e, nil
}

// checkRel accepts a clean, local, slash-separated relative path.
func checkRel(rel string) error {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || !filepath.IsLocal(rel) || strings.ContainsRune(rel, 0) || strings.Contains(rel, "\\") {
		return fmt.Errorf("path %q leaves the data directory or is not clean", rel)
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("path %q leaves the data directory", rel)
	}
	return nil
}

// readEntry reads one data entry through visit and returns what the
// manifest must say of it.
func readEntry(tr *tar.Reader, e archiveEntry, visit func(archiveEntry, io.Reader) error) (manifestFile, error) {
	mf := manifestFile{Path: e.Rel, Dir: e.Dir, Mode: uint32(e.Mode), Size: e.Size}
	h := sha256.New()
	body := io.TeeReader(tr, h)
	if visit != nil {
		if err := visit(e, body); err != nil {
			return mf, err
		}
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return mf, fmt.Errorf("%s: archive cut short or damaged: %w", e.Rel, err)
	}
	if !e.Dir {
		mf.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return mf, nil
}

// matchManifest checks that the entries read are exactly the manifest's.
func matchManifest(m backupManifest, seen map[string]manifestFile) error {
	listed := make(map[string]bool, len(m.Files))
	for _, want := range m.Files {
		if err := checkRel(want.Path); err != nil {
			return fmt.Errorf("%s: %w", backupManifestName, err)
		}
		if listed[want.Path] {
			return fmt.Errorf("%s: %s listed twice", backupManifestName, want.Path)
		}
		listed[want.Path] = true
		got, ok := seen[want.Path]
		switch {
		case !ok:
			return fmt.Errorf("%s: in the manifest but not in the archive", want.Path)
		case got.Dir != want.Dir:
			return fmt.Errorf("%s: a directory in one of the archive and the manifest, a file in the other", want.Path)
		case got.Size != want.Size:
			return fmt.Errorf("%s: %d bytes, the manifest says %d: the file is damaged", want.Path, got.Size, want.Size)
		case got.SHA256 != want.SHA256:
			return fmt.Errorf("%s: SHA-256 %s, the manifest says %s: the file is damaged", want.Path, got.SHA256, want.SHA256)
		case got.Mode != want.Mode:
			return fmt.Errorf("%s: mode %o, the manifest says %o", want.Path, got.Mode, want.Mode)
		}
	}
	var extra []string
	for rel := range seen {
		if !listed[rel] {
			extra = append(extra, rel)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("%s: in the archive but not in the manifest", extra[0])
	}
	return nil
}

// lockState takes the state's lock in data (the one tanjay serve holds
// while it runs), so that nothing writes the state meanwhile. With create
// false a data directory without one is not locked: nothing can be using
// it (serve makes the file when it opens the state). The error wraps
// store.ErrLocked when tanjay serve runs.
func lockState(data string, create bool) (*os.File, error) {
	p := filepath.Join(data, "state", "LOCK")
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flags, 0o600)
	if !create && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("tanjay serve is running on %s (it holds %s): %w", data, p, store.ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return f, nil
}

// liveBackup is a running appliance's backup, its state captured: what
// the admin API and the dashboard stream.
type liveBackup struct {
	a    *app
	plan backupPlan
	name string
}

// startBackup writes a fresh snapshot of the state and holds it open, so
// that the archive has the state as it was at this instant.
func (a *app) startBackup(logs bool) (*liveBackup, error) {
	if err := a.store.Snapshot(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	// A compaction may replace the new snapshot at any time: whichever
	// snapshot is newest once open holds at least everything ours does.
	var last error
	for range 5 {
		o, err := openNewestSnapshot(a.cfg.stateDir())
		if err == nil {
			return &liveBackup{a: a, plan: backupPlan{data: a.cfg.Data, logs: logs, source: "serve", state: []openedFile{o}},
				name: backupFileName(a.cfg.Host, time.Now())}, nil
		}
		if last = err; !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, fmt.Errorf("backup: open the snapshot: %w", last)
}

func openNewestSnapshot(dir string) (openedFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return openedFile{}, err
	}
	var newest string
	var seq uint64
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), "snapshot-")
		if digits, ok2 := strings.CutSuffix(digits, ".json"); ok && ok2 {
			if n, err := strconv.ParseUint(digits, 10, 64); err == nil && (newest == "" || n > seq) {
				newest, seq = e.Name(), n
			}
		}
	}
	if newest == "" {
		return openedFile{}, fmt.Errorf("no snapshot in %s: %w", dir, fs.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(dir, newest))
	if err != nil {
		return openedFile{}, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return openedFile{}, err
	}
	return openedFile{rel: "state/" + newest, f: f, info: info}, nil
}

// Name is the archive's file name: tanjay-backup-<host>-<UTC time>.tar.gz.
func (b *liveBackup) Name() string { return b.name }

// WriteTo writes the archive.
func (b *liveBackup) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	m, err := writeBackup(cw, b.plan)
	if err == nil {
		b.a.log.Info("backup written", "files", len(m.Files), "bytes", cw.n, "logs", b.plan.logs, "left_out", len(m.Skipped))
		if len(m.Skipped) > 0 {
			b.a.log.Warn("backup: left out what it may not read or a restore could not make", "entries", strings.Join(m.Skipped, ", "))
		}
	}
	return cw.n, err
}

// Close lets go of the state snapshot.
func (b *liveBackup) Close() error {
	b.plan.close()
	return nil
}

func backupFileName(host string, t time.Time) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, host)
	if clean != "" {
		clean += "-"
	}
	return "tanjay-backup-" + clean + t.UTC().Format("20060102T150405Z") + ".tar.gz"
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// backupAPI is GET /api/v1/backup[?logs=false]: the archive, streamed. It
// authenticates as the admin API does (admin.API.TokenAccepted); it is not a JSON route because its
// answer is not JSON. A failure once the archive has started aborts the
// connection, so the client sees a cut transfer, never a short archive
// that looks whole.
func (a *app) backupAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.api.TokenAccepted(w, r) {
			return
		}
		logs := true
		if v := r.URL.Query().Get("logs"); v != "" {
			var err error
			if logs, err = strconv.ParseBool(v); err != nil {
				admin.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("logs=%q: want true or false", v)})
				return
			}
		}
		b, err := a.startBackup(logs)
		if err != nil {
			a.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
			admin.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		defer b.Close()
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+b.Name()+`"`)
		w.Header().Set("Cache-Control", "no-store")
		if _, err := b.WriteTo(w); err != nil {
			a.log.Error("backup", "err", err)
			panic(http.ErrAbortHandler) // net/http's way to cut the response
		}
	})
}

// Backup gives the dashboard's Settings page the same archive.
func (d dashboardActions) Backup(logs bool) (dashboard.BackupArchive, error) {
	return d.a.startBackup(logs)
}
