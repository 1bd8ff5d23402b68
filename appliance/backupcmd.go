package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// runBackup is `tanjay backup`: from a running appliance's admin API
// (--server) or, with tanjay serve stopped, from its data directory.
// Either way the archive is verified (every checksum against the manifest)
// as it is written, to a temp file renamed into place only once whole.
func runBackup(ctx context.Context, e env, args []string) error {
	about := "Write one archive (.tar.gz) of the data directory: the state captured at one point, firmware files, test devices, leases, TLS keys and CA, the admin token and dashboard password, and the logs (leave logs/ and captures/ out with --no-logs), with a manifest holding each file's SHA-256 and the appliance version. With --server (or TANJAY_SERVER) it asks the running appliance (GET /api/v1/backup), which snapshots its state first; without, it reads --data directly and refuses while tanjay serve runs on it. The archive is verified as it is written and holds secrets: it is written 0600."
	fs := newFlagSet("backup", commands["backup"].synopsis, about, e.stderr)
	var c clientConfig
	clientFlags(fs, &c)
	fs.Lookup("data").Usage = "data directory: backed up directly without --server (tanjay serve stopped); with it, where the admin token is read from"
	fs.Lookup("timeout").Usage = "give up when the appliance has not started sending the archive after this long (the download itself takes as long as it takes)"
	out := fs.String("o", "", "archive to write, '-' for stdout (default: tanjay-backup-<UTC time>.tar.gz here); an existing file is never overwritten")
	noLogs := fs.Bool("no-logs", false, "leave logs/ and captures/ out (they can be most of the size)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("backup takes no arguments, got %q (name the archive with -o)", fs.Args())
	}
	fromServer := false
	fs.Visit(func(f *flag.Flag) { fromServer = fromServer || f.Name == "server" })
	if *out == "" {
		*out = backupFileName("", time.Now())
	}
	var src io.ReadCloser
	var err error
	if fromServer {
		src, err = backupFromServer(ctx, c, !*noLogs)
	} else {
		src, err = backupFromData(c.Data, !*noLogs)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	m, n, err := saveBackup(src, *out, e)
	if err != nil {
		return err
	}
	if len(m.Skipped) > 0 {
		fmt.Fprintf(e.stderr, "backup: left out %d %s (listed in the archive's manifest): %s\n", len(m.Skipped), plural(len(m.Skipped), "entry", "entries"), strings.Join(m.Skipped, ", "))
	}
	where := *out
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(e.stderr, "backup: wrote %s: %d entries, %s of files, %s archived, verified (tanjay %s, %s)\n",
		where, len(m.Files), byteSize(m.bytes()), byteSize(n), m.Version, m.Source)
	return nil
}

// backupFromServer asks the appliance at c.Server for the archive. The
// timeout bounds the wait for the answer to start, not the download.
func backupFromServer(ctx context.Context, c clientConfig, logs bool) (io.ReadCloser, error) {
	cl, err := newAPIClient(c)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/backup?logs=%t", cl.base, logs), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cl.token)
	hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: c.Timeout}}
	resp, err := hc.Do(req)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, cutShort(cl.base, err) // before the answer's headers
	}
	if err != nil {
		return nil, fmt.Errorf("appliance at %s: %w", cl.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var ae struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &ae) == nil && ae.Error != "" {
			return nil, errors.New(ae.Error)
		}
		return nil, fmt.Errorf("appliance at %s answered %s", cl.base, resp.Status)
	}
	return cutBody{resp.Body, cl.base}, nil
}

// cutShort says where to look when the appliance cut the connection: it
// does when its backup fails, and where the archive ends says nothing of
// what failed (it is compressed). Its log says.
func cutShort(base string, err error) error {
	return fmt.Errorf("the appliance at %s cut the transfer short (it does when its backup fails: its log says why, journalctl -u tanjay on the appliance): %w", base, err)
}

// cutBody is the archive as the appliance sends it.
type cutBody struct {
	io.ReadCloser
	base string
}

func (b cutBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = cutShort(b.base, err)
	}
	return n, err
}

// backupFromData archives data under the state's lock, so that it refuses
// while tanjay serve runs and nothing changes the state meanwhile.
func backupFromData(data string, logs bool) (io.ReadCloser, error) {
	if fi, err := os.Stat(filepath.Join(data, "state")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s holds no state/ folder: not a tanjay data directory (name it with --data)", data)
	}
	lock, err := lockState(data, true)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w; back it up through it instead: tanjay backup --server http://<its dashboard address>", err)
	}
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer lock.Close()
		_, err := writeBackup(pw, backupPlan{data: data, logs: logs, source: "data directory"})
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// saveBackup copies the archive from src to out (a temp file beside it,
// renamed once whole, or stdout for "-"), verifying it on the way, and
// reports progress on stderr.
func saveBackup(src io.Reader, out string, e env) (backupManifest, int64, error) {
	prog := newByteProgress(e.stderr, "backup")
	if out == "-" {
		cw := &countingWriter{w: e.stdout}
		m, err := verifyCopy(src, io.MultiWriter(cw, prog))
		return m, cw.n, err
	}
	if _, err := os.Lstat(out); err == nil {
		return backupManifest{}, 0, fmt.Errorf("%s exists: name another archive with -o", out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tanjay-backup-*.tmp")
	if err != nil {
		return backupManifest{}, 0, fmt.Errorf("archive: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return backupManifest{}, 0, err
	}
	cw := &countingWriter{w: tmp}
	m, err := verifyCopy(src, io.MultiWriter(cw, prog))
	if err != nil {
		return m, cw.n, err
	}
	if err := tmp.Sync(); err != nil {
		return m, cw.n, fmt.Errorf("archive %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return m, cw.n, fmt.Errorf("archive %s: %w", out, err)
	}
	if err := os.Link(tmp.Name(), out); err != nil { // never replaces an existing file
		return m, cw.n, fmt.Errorf("archive %s: %w", out, err)
	}
	return m, cw.n, syncDir(filepath.Dir(out))
}

// verifyCopy writes everything read from src to w while reading it as an
// archive: an archive cut short or damaged on the way is an error.
func verifyCopy(src io.Reader, w io.Writer) (backupManifest, error) {
	tee := io.TeeReader(src, w)
	m, err := readArchive(tee, nil)
	if err != nil {
		return m, fmt.Errorf("the archive received is not whole, nothing kept: %w", err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return m, err
	}
	return m, nil
}

// byteProgress prints the bytes so far at most once a second (the
// archive's size is not known ahead).
type byteProgress struct {
	w     io.Writer
	label string
	n     int64
	last  time.Time
}

func newByteProgress(w io.Writer, label string) *byteProgress {
	return &byteProgress{w: w, label: label, last: time.Now()}
}

func (p *byteProgress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= time.Second {
		p.last = now
		fmt.Fprintf(p.w, "%s: %s so far\n", p.label, byteSize(p.n))
	}
	return len(b), nil
}

// runRestore is `tanjay restore`: a backup restore when it is given a
// file (or --force), else the rule action of the same name.
func runRestore(ctx context.Context, e env, args []string) error {
	if !isBackupRestore(args) {
		return ruleAction("restore")(ctx, e, args)
	}
	about := "Restore a data directory from a tanjay backup. Every entry is checked (plain files and directories only, no name leaving the directory) and every file's SHA-256 compared with the manifest before anything is written; then it is unpacked into a temp directory beside DIR and renamed into place, with each file's permissions. It refuses while tanjay serve runs on DIR, and refuses a DIR that is not empty unless --force, which moves the old contents aside (DIR.replaced-<UTC time>; inside DIR when DIR is a mount point) and deletes nothing. (Without a file, tanjay restore RULE… is the rule action.)"
	fs := newFlagSet("restore", "--data DIR [--force] BACKUP.tar.gz", about, e.stderr)
	data := fs.String("data", DefaultConfig().Data, "data directory to restore into")
	force := fs.Bool("force", false, "restore over a data directory that is not empty, moving its contents aside")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one backup file, got %q", fs.Args())
	}
	r := restorer{archive: fs.Arg(0), data: *data, force: *force, stderr: e.stderr, now: time.Now()}
	m, err := r.run()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s into %s: %d entries, %s, backed up by tanjay %s at %s (%s)\n",
		r.archive, r.data, len(m.Files), byteSize(m.bytes()), m.Version, m.Created.Format(time.RFC3339), m.Source)
	if r.movedTo != "" {
		fmt.Fprintf(e.stdout, "the previous contents are in %s (delete it once the restored appliance runs)\n", r.movedTo)
	}
	return nil
}

// isBackupRestore tells tanjay restore BACKUP.tar.gz from tanjay restore
// RULE: a rule key (UCPhone/Polycom/CX700/A/ENU/CPE) never names a file.
func isBackupRestore(args []string) bool {
	for _, a := range args {
		if a == "--force" || a == "-force" || strings.HasPrefix(a, "--force=") {
			return true
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// restorer restores one archive into one data directory.
type restorer struct {
	archive string
	data    string
	force   bool
	stderr  io.Writer
	now     time.Time
	movedTo string
	// mountPoint is isMountPoint; tests stand in for a data disk.
	mountPoint func(dir string) (bool, error)
}

func (r *restorer) run() (backupManifest, error) {
	if real, err := filepath.EvalSymlinks(r.data); err == nil {
		r.data = real // the VM's /var/lib/tanjay is systemd's link to /var/lib/private/tanjay
	}
	lock, err := lockState(r.data, false)
	if errors.Is(err, store.ErrLocked) {
		return backupManifest{}, fmt.Errorf("%w: stop it first (systemctl stop tanjay)", err)
	}
	if err != nil {
		return backupManifest{}, err
	}
	if lock != nil {
		defer lock.Close()
	}
	empty, err := r.checkTarget()
	if err != nil {
		return backupManifest{}, err
	}
	m, err := r.read(nil, "checking")
	if err != nil {
		return m, err
	}
	if r.mountPoint == nil {
		r.mountPoint = isMountPoint
	}
	mount, err := r.mountPoint(r.data)
	if err != nil {
		return m, err
	}
	stage := filepath.Join(filepath.Dir(r.data), "."+filepath.Base(r.data)+".tanjay-restore-"+r.stamp())
	if mount {
		stage = filepath.Join(r.data, restoreLeftover+"restore-"+r.stamp())
	}
	if err := r.unpack(stage); err != nil {
		os.RemoveAll(stage)
		return m, err
	}
	if mount {
		return m, r.swapInside(stage, empty)
	}
	return m, r.swap(stage, empty)
}

func (r *restorer) stamp() string { return r.now.UTC().Format("20060102T150405Z") }

// checkTarget refuses a data directory that is not empty, unless --force.
// lost+found (a data disk's) does not count.
func (r *restorer) checkTarget() (empty bool, err error) {
	entries, err := os.ReadDir(r.data)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("data directory: %w", err)
	}
	var names []string
	for _, en := range entries {
		if en.Name() != "lost+found" {
			names = append(names, en.Name())
		}
	}
	if len(names) > 0 && !r.force {
		if len(names) > 4 {
			names = append(names[:4], "…")
		}
		return false, fmt.Errorf("%s is not empty (it holds %s): restore into an empty directory, or give --force to move its contents aside first", r.data, strings.Join(names, ", "))
	}
	return len(names) == 0, nil
}

// read reads the whole archive through visit.
func (r *restorer) read(visit func(archiveEntry, io.Reader) error, doing string) (backupManifest, error) {
	f, err := os.Open(r.archive)
	if err != nil {
		return backupManifest{}, err
	}
	defer f.Close()
	m, err := readArchive(io.TeeReader(f, newByteProgress(r.stderr, "restore: "+doing)), visit)
	if err != nil {
		return m, fmt.Errorf("%s refused, nothing written: %w", r.archive, err)
	}
	return m, nil
}

// unpack writes the archive's files into stage (new), checking them once
// more on the way, and syncs them.
func (r *restorer) unpack(stage string) error {
	if err := os.MkdirAll(filepath.Dir(stage), 0o755); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Mkdir(stage, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var dirs []archiveEntry
	_, err := r.read(func(e archiveEntry, body io.Reader) error {
		full := filepath.Join(stage, filepath.FromSlash(e.Rel))
		if e.Dir {
			dirs = append(dirs, e)
			return os.MkdirAll(full, 0o700)
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
			return err
		}
		return writeRestored(full, e.Mode, body)
	}, "unpacking")
	if err != nil {
		return err
	}
	// Directories get their modes last (a read-only one is still
	// written into), deepest first, and are synced.
	slices.Reverse(dirs)
	for _, d := range dirs {
		full := filepath.Join(stage, filepath.FromSlash(d.Rel))
		if err := os.Chmod(full, d.Mode); err != nil {
			return err
		}
		if err := syncDir(full); err != nil {
			return err
		}
	}
	return syncDir(stage)
}

func writeRestored(path string, mode fs.FileMode, body io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// swap puts stage in the data directory's place, moving a non-empty one
// aside.
func (r *restorer) swap(stage string, empty bool) error {
	if _, err := os.Lstat(r.data); err == nil {
		if empty {
			if err := os.Remove(r.data); err != nil {
				return fmt.Errorf("restore: %w (the restored files are in %s)", err, stage)
			}
		} else {
			aside := r.data + ".replaced-" + r.stamp()
			if err := os.Rename(r.data, aside); err != nil {
				return fmt.Errorf("move %s aside: %w (the restored files are in %s)", r.data, err, stage)
			}
			r.movedTo = aside
		}
	}
	if err := os.Rename(stage, r.data); err != nil {
		return fmt.Errorf("restore: %w (the restored files are in %s)", err, stage)
	}
	return syncDir(filepath.Dir(r.data))
}

// swapInside is swap for a data directory that is a mount point (the
// appliance's data disk), which cannot be renamed: its entries move
// instead, the old ones into DIR/.tanjay-replaced-<time>.
func (r *restorer) swapInside(stage string, empty bool) error {
	entries, err := os.ReadDir(r.data)
	if err != nil {
		return err
	}
	if !empty {
		aside := filepath.Join(r.data, restoreLeftover+"replaced-"+r.stamp())
		if err := os.Mkdir(aside, 0o700); err != nil {
			return err
		}
		for _, en := range entries {
			name := en.Name()
			if name == "lost+found" || strings.HasPrefix(name, restoreLeftover) {
				continue
			}
			if err := os.Rename(filepath.Join(r.data, name), filepath.Join(aside, name)); err != nil {
				return fmt.Errorf("move %s aside: %w (the restored files are in %s)", name, err, stage)
			}
		}
		r.movedTo = aside
	}
	restored, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	for _, en := range restored {
		if err := os.Rename(filepath.Join(stage, en.Name()), filepath.Join(r.data, en.Name())); err != nil {
			return fmt.Errorf("restore %s: %w (the rest is in %s)", en.Name(), err, stage)
		}
	}
	if err := os.Remove(stage); err != nil {
		return err
	}
	return syncDir(r.data)
}

// isMountPoint reports whether dir is on another file system than its
// parent (false when dir does not exist).
func isMountPoint(dir string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("data directory: %w", err)
	}
	if err := syscall.Stat(filepath.Dir(dir), &parent); err != nil {
		return false, fmt.Errorf("data directory: %w", err)
	}
	return st.Dev != parent.Dev, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
