package appliance

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// `tanjay bench` measures the appliance against the least a Device Update
// Service can be: a Go net/http server that answers every check-in with
// one fixed offer and serves the firmware with bare http.ServeContent. Each
// runs as its own process (the baseline is this binary re-run as
// `tanjay bench serve-baseline`), and the same client (r2/phone) drives
// them in alternating rounds, so the noise of a shared 2-core machine
// falls on both alike. It prints ratios, never fails on them. Beside the
// rates it prints the CPU time each server process spent per check-in
// (from /proc), the work behind the rates, which the machine's other load
// sways far less. With --noise a second baseline stands in for the
// appliance: the ratios then show what the machine's noise alone does.

// benchBaselineArg is the hidden first argument that makes `tanjay bench`
// the baseline server instead.
const benchBaselineArg = "serve-baseline"

// The goals of issue 14, printed beside the measured ratios.
const (
	goalCheckIns = 0.8  // check-ins/s, appliance/baseline, at least
	goalP99      = 1.5  // p99 check-in latency, appliance/baseline, at most
	goalDownload = 0.95 // download throughput, appliance/baseline, at least, every round
)

// The firmware the bench imports: beta phones are offered the interim
// (the image the downloads fetch) on the way to the release.
const (
	benchInterimPath  = "OCInterim/ENU"
	benchInterim      = "1.0.522.103"
	benchReleasePath  = "UCPhone/Polycom/CX700/A/ENU"
	benchRelease      = "4.0.7577.4066"
	benchCatalogBytes = 4096
)

type benchFlags struct {
	rounds, concurrency, downloads int
	duration, warmup               time.Duration
	downloadSize                   int64
	noise                          bool
}

func runBench(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == benchBaselineArg {
		return runBenchBaseline(ctx, e, args[1:])
	}
	cmd := commands["bench"]
	fs := newFlagSet("bench", cmd.synopsis, cmd.about, e.stderr)
	var f benchFlags
	fs.IntVar(&f.rounds, "rounds", 9, "rounds; each runs the check-in load and the downloads against both servers, alternating which goes first")
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "length of each check-in load run (one per server per round)")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "check-in load against each server before the first round, not counted")
	fs.IntVar(&f.concurrency, "concurrency", 64, "phones checking in at once, each from its own loopback address over its own keep-alive connection")
	fs.IntVar(&f.downloads, "downloads", 6, "downloads of the firmware image from each server per round, one from each in turn, the order swapped every pair (throughput is over all of them)")
	fs.Int64Var(&f.downloadSize, "download-size", 32<<20, "bytes of the firmware image the downloads fetch")
	fs.BoolVar(&f.noise, "noise", false, "run a second fixed-answer baseline in the appliance's place: the ratios show the machine's noise alone")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments, got %q", fs.Args())
	}
	if err := f.validate(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the tanjay binary to run the servers: %w", err)
	}
	dir, err := os.MkdirTemp("", "tanjay-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return f.run(ctx, e.stdout, exe, dir)
}

func (f benchFlags) validate() error {
	switch {
	case f.rounds < 1:
		return usagef("--rounds %d: want at least 1", f.rounds)
	case f.duration <= 0:
		return usagef("--duration %s: want a positive duration", f.duration)
	case f.warmup < 0:
		return usagef("--warmup %s: must not be negative", f.warmup)
	case f.concurrency < 1 || f.concurrency > 10000:
		return usagef("--concurrency %d: want 1 to 10000 phones", f.concurrency)
	case f.downloads < 1:
		return usagef("--downloads %d: want at least 1", f.downloads)
	case f.downloadSize < 1:
		return usagef("--download-size %d: want at least 1 byte", f.downloadSize)
	}
	return nil
}

// benchTarget is one server under test.
type benchTarget struct {
	name   string // appliance, baseline (baseline2 stands in for the appliance with --noise)
	server string // base URL phones check in at
	proc   *benchProcess
}

// The name of the second baseline --noise runs in the appliance's place.
const benchNoiseName = "baseline2"

// benchRoundResult is what one round measured of both targets, the
// appliance (or baseline2) first.
type benchRoundResult struct {
	first      string
	checkIns   [2]phone.Summary
	cpu        [2]time.Duration // server CPU time per check-in
	throughput [2]float64       // bytes/s, of the median download
	dlCPU      [2]time.Duration // server CPU time per MiB downloaded
}

func (f benchFlags) run(ctx context.Context, out io.Writer, exe, dir string) error {
	loadStart := loadAverage()
	targets, sum, err := startBenchTargets(ctx, exe, dir, f.downloadSize, f.noise)
	for _, t := range targets {
		if t != nil {
			defer t.proc.stop()
		}
	}
	if err != nil {
		return err
	}
	downloader, err := benchDownloader(f.concurrency)
	if err != nil {
		return err
	}
	var answers [2]int
	for i, t := range targets {
		if answers[i], err = t.answerBytes(ctx, downloader); err != nil {
			return err
		}
	}
	if f.noise {
		fmt.Fprintf(out, "tanjay bench --noise: a fixed-answer net/http baseline (pid %d) against another (pid %d), both on loopback: the noise of this machine\n",
			targets[0].proc.cmd.Process.Pid, targets[1].proc.cmd.Process.Pid)
	} else {
		fmt.Fprintf(out, "tanjay bench: tanjay serve (pid %d) against a fixed-answer net/http baseline (pid %d), both on loopback\n",
			targets[0].proc.cmd.Process.Pid, targets[1].proc.cmd.Process.Pid)
	}
	fmt.Fprintf(out, "  %d %s, alternating which server goes first; per server and round: %s of check-ins by %d phones at once, %d %s of a %s image, one from each server in turn\n",
		f.rounds, plural(f.rounds, "round", "rounds"), f.duration, f.concurrency, f.downloads, plural(f.downloads, "download", "downloads"), byteSize(f.downloadSize))
	fmt.Fprintf(out, "  a check-in is answered with an offer of the interim: %d bytes from the %s, %d from the %s\n", answers[0], targets[0].name, answers[1], targets[1].name)
	fmt.Fprintf(out, "  load average at start: %s\n\n", loadStart)
	rounds, err := f.measure(ctx, targets, downloader, sum)
	if err != nil {
		return err
	}
	printBenchTable(out, [2]string{targets[0].name, targets[1].name}, rounds)
	fmt.Fprintf(out, "\nload average at end: %s\n", loadAverage())
	return nil
}

// startBenchTargets writes the firmware, starts the appliance and imports
// the firmware into it (with noise, a second baseline instead), then
// starts the baseline. It returns the targets started so far (to be
// stopped) and the image's SHA-256.
func startBenchTargets(ctx context.Context, exe, dir string, size int64, noise bool) ([2]*benchTarget, string, error) {
	var targets [2]*benchTarget
	nbt, cat, sum, err := writeBenchFirmware(dir, size)
	if err != nil {
		return targets, "", err
	}
	if noise {
		targets[0], err = startBenchBaseline(ctx, exe, nbt, cat, filepath.Join(dir, "baseline2.log"))
		if err != nil {
			return targets, "", err
		}
		targets[0].name = benchNoiseName
	} else {
		data := filepath.Join(dir, "data")
		if targets[0], err = startBenchAppliance(ctx, exe, data, filepath.Join(dir, "serve.log")); err != nil {
			return targets, "", err
		}
		if err := importBenchFirmware(ctx, targets[0].proc.dashboard, data, nbt, cat); err != nil {
			return targets, "", fmt.Errorf("importing the bench firmware into the appliance: %w%s", err, targets[0].proc.logTail())
		}
	}
	targets[1], err = startBenchBaseline(ctx, exe, nbt, cat, filepath.Join(dir, "baseline.log"))
	return targets, sum, err
}

// measure warms both targets up, then runs the rounds: in each, the
// check-in load against both, the one that goes first alternating from
// round to round, then the downloads, one from each target in turn, the
// order swapped every pair, so that both see the same moments of the
// machine's other load.
func (f benchFlags) measure(ctx context.Context, targets [2]*benchTarget, downloader phone.Config, sum string) ([]benchRoundResult, error) {
	phones, err := benchPhones(f.concurrency)
	if err != nil {
		return nil, err
	}
	if f.warmup > 0 {
		for _, t := range targets {
			if _, _, err := t.checkIns(ctx, phones, f.warmup); err != nil {
				return nil, fmt.Errorf("warming up: %w", err)
			}
		}
	}
	rounds := make([]benchRoundResult, f.rounds)
	for r := range rounds {
		order := benchOrder(r)
		rounds[r].first = targets[order[0]].name
		for _, i := range order {
			if rounds[r].checkIns[i], rounds[r].cpu[i], err = targets[i].checkIns(ctx, phones, f.duration); err != nil {
				return nil, fmt.Errorf("round %d: %w", r+1, err)
			}
		}
		if rounds[r].throughput, rounds[r].dlCPU, err = f.downloadRound(ctx, targets, downloader, r, sum); err != nil {
			return nil, fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	return rounds, nil
}

// benchOrder is the order the targets go in at step k: the appliance
// first at even steps.
func benchOrder(k int) [2]int {
	if k%2 == 1 {
		return [2]int{1, 0}
	}
	return [2]int{0, 1}
}

// downloadRound fetches the image f.downloads times from each target, one
// from each in turn, the order swapped every pair (starting as round r's
// check-ins did). It returns each target's throughput in bytes/s, from
// its median download (one stalled by the machine's other load does not
// swing the round), and the CPU time each target's process spent per MiB
// sent.
func (f benchFlags) downloadRound(ctx context.Context, targets [2]*benchTarget, cfg phone.Config, r int, sum string) (throughput [2]float64, cpuPerMiB [2]time.Duration, err error) {
	var dls [2]*benchDownload
	for i, t := range targets {
		d, err := t.startDownloads(ctx, cfg)
		if err != nil {
			return throughput, cpuPerMiB, err
		}
		defer d.close()
		dls[i] = d
	}
	var took [2][]float64
	var cpu [2]time.Duration
	for k := range f.downloads {
		for _, i := range benchOrder(r + k) {
			d, c, err := dls[i].fetch(ctx, f.downloadSize, sum)
			if err != nil {
				return throughput, cpuPerMiB, err
			}
			took[i] = append(took[i], d.Seconds())
			cpu[i] += c
		}
	}
	mib := float64(f.downloadSize) * float64(f.downloads) / (1 << 20)
	for i := range throughput {
		_, med, _ := minMedianMax(took[i])
		throughput[i] = float64(f.downloadSize) / med
		cpuPerMiB[i] = time.Duration(float64(cpu[i]) / mib)
	}
	return throughput, cpuPerMiB, nil
}

// benchPhones are the check-in load: beta CX700s, each offered the interim
// at every check-in (the appliance's whole path: parse, plan, render,
// audit row, event), each from its own loopback address from 127.0.0.2.
func benchPhones(n int) ([]phone.Config, error) {
	ips, err := phone.LoopbackAddrs(netip.Addr{}, n)
	if err != nil {
		return nil, err
	}
	out := make([]phone.Config, n)
	for i := range out {
		mac := phone.NewMAC(i)
		out[i] = phone.Config{LocalIP: ips[i], Identity: phone.Identity{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700",
			Revision: "A", Locale: "ENU", MAC: mac, Serial: serialFor(mac)}}
	}
	return out, nil
}

// benchDownloader is the phone that downloads: the one after the load
// phones, on an address of its own.
func benchDownloader(n int) (phone.Config, error) {
	phones, err := benchPhones(n + 1)
	if err != nil {
		return phone.Config{}, err
	}
	return phones[n], nil
}

// checkIns runs the check-in load against t for d. It returns the load's
// summary and the CPU time t's process spent per check-in meanwhile.
func (t *benchTarget) checkIns(ctx context.Context, phones []phone.Config, d time.Duration) (phone.Summary, time.Duration, error) {
	lc := phone.LoadConfig{Phones: slices.Clone(phones), Duration: d}
	for i := range lc.Phones {
		lc.Phones[i].Server = t.server
	}
	cpu0, err := processCPU(t.proc.cmd.Process.Pid)
	if err != nil {
		return phone.Summary{}, 0, err
	}
	s := phone.RunLoad(ctx, lc)
	cpu1, err := processCPU(t.proc.cmd.Process.Pid)
	if err != nil {
		return phone.Summary{}, 0, err
	}
	if s.Failed > 0 {
		return s, 0, fmt.Errorf("check-ins against the %s: %d of %d phones failed, first: %s%s", t.name, s.Failed, s.Phones, firstFailure(s), t.proc.logTail())
	}
	if s.CheckIns == 0 {
		return s, 0, fmt.Errorf("check-ins against the %s: none answered in %s", t.name, d)
	}
	return s, (cpu1 - cpu0) / time.Duration(s.CheckIns), nil
}

// processCPU is the CPU time process pid has used so far, all its threads
// together, in nanoseconds: the first field of each thread's
// /proc/PID/task/TID/schedstat. (/proc/PID/stat counts in 10 ms ticks, too
// coarse for one download.) A thread that ended takes its time along; Go's
// runtime keeps its threads, so the difference of two readings is what
// the process spent between them.
func processCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of a bench server: %w", err)
	}
	var total time.Duration
	for _, t := range tasks {
		path := filepath.Join(dir, t.Name(), "schedstat")
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended since the listing
		}
		if err != nil {
			return 0, fmt.Errorf("reading the CPU time of a bench server: %w", err)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("reading the CPU time of a bench server: %s is empty", path)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading the CPU time of a bench server: %s: %w", path, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

func firstFailure(s phone.Summary) string {
	for _, w := range s.Walks {
		if w.Err != nil {
			return w.String()
		}
	}
	return ""
}

// answerBytes is the length of t's answer to a beta phone's check-in,
// which must be an offer.
func (t *benchTarget) answerBytes(ctx context.Context, cfg phone.Config) (int, error) {
	cfg.Server = t.server
	offer, err := phone.CheckIn(ctx, cfg)
	switch {
	case err != nil:
		return 0, fmt.Errorf("the %s's answer to a beta phone: %w%s", t.name, err, t.proc.logTail())
	case len(offer.URLs) == 0:
		return 0, fmt.Errorf("the %s offered a beta phone nothing%s", t.name, t.proc.logTail())
	}
	return offer.AnswerBytes, nil
}

// benchDownload is one round's downloads from one target: the phone, with
// a keep-alive connection of its own, and the image it was offered.
type benchDownload struct {
	t   *benchTarget
	cfg phone.Config
	url string
}

// startDownloads checks in once as a beta phone (so the appliance knows
// which phone fetches) and keeps the offered image's URL.
func (t *benchTarget) startDownloads(ctx context.Context, cfg phone.Config) (*benchDownload, error) {
	cfg.Server = t.server
	cfg.Client = &http.Client{Transport: phone.PhoneTransport("", cfg.LocalIP)}
	offer, err := phone.CheckIn(ctx, cfg)
	if err != nil {
		cfg.Client.CloseIdleConnections()
		return nil, fmt.Errorf("download from the %s: %w", t.name, err)
	}
	if len(offer.URLs) == 0 {
		cfg.Client.CloseIdleConnections()
		return nil, fmt.Errorf("download from the %s: a beta phone was offered nothing", t.name)
	}
	return &benchDownload{t: t, cfg: cfg, url: offer.URLs[0]}, nil
}

// fetch downloads the image once and returns how long it took and the CPU
// time the target's process spent meanwhile; the download must be whole
// and match the image's SHA-256.
func (d *benchDownload) fetch(ctx context.Context, size int64, sum string) (time.Duration, time.Duration, error) {
	pid := d.t.proc.cmd.Process.Pid
	cpu0, err := processCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	got, gotSum, err := phone.Fetch(ctx, d.cfg, d.url)
	took := time.Since(start)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("download from the %s: %w", d.t.name, err)
	case got != size || gotSum != sum:
		return 0, 0, fmt.Errorf("download from the %s: %s is %d bytes with SHA-256 %s, want %d bytes with %s", d.t.name, d.url, got, gotSum, size, sum)
	}
	cpu1, err := processCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	return took, cpu1 - cpu0, nil
}

func (d *benchDownload) close() { d.cfg.Client.CloseIdleConnections() }

// printBenchTable prints every round, then the ratios against the goals.
// names are the two targets', the appliance (or baseline2) first.
func printBenchTable(out io.Writer, names [2]string, rounds []benchRoundResult) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tfirst\tcheck-ins/s %[1]s\t%[2]s\tratio\tp99 %[1]s\t%[2]s\tratio\tCPU/check-in %[1]s\t%[2]s\tratio\tdownload MiB/s %[1]s\t%[2]s\tratio\tCPU/MiB %[1]s\t%[2]s\tratio\t\n", names[0], names[1])
	var ci, p99, cpu, dl, dlCPU []float64
	for i, r := range rounds {
		a, b := r.checkIns[0], r.checkIns[1]
		ci = append(ci, a.CheckInsPerSec/b.CheckInsPerSec)
		p99 = append(p99, float64(a.P99)/float64(b.P99))
		cpu = append(cpu, float64(r.cpu[0])/float64(r.cpu[1]))
		dl = append(dl, r.throughput[0]/r.throughput[1])
		dlCPU = append(dlCPU, float64(r.dlCPU[0])/float64(max(r.dlCPU[1], 1)))
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.2f\t\n", i+1, r.first,
			a.CheckInsPerSec, b.CheckInsPerSec, ci[i], roundDuration(a.P99), roundDuration(b.P99), p99[i],
			r.cpu[0].Round(100*time.Nanosecond), r.cpu[1].Round(100*time.Nanosecond), cpu[i],
			r.throughput[0]/(1<<20), r.throughput[1]/(1<<20), dl[i],
			roundDuration(r.dlCPU[0]), roundDuration(r.dlCPU[1]), dlCPU[i])
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s/%s\tmin\tmedian\tmax\tgoal\tmet\n", names[0], names[1])
	row := func(name string, xs []float64, goal string, met string) {
		lo, med, hi := minMedianMax(xs)
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%s\t%s\n", name, lo, med, hi, goal, met)
	}
	_, ciMed, _ := minMedianMax(ci)
	_, p99Med, _ := minMedianMax(p99)
	dlMin, _, _ := minMedianMax(dl)
	row("check-ins/s", ci, fmt.Sprintf("≥ %.2f (median)", goalCheckIns), yesNo(ciMed >= goalCheckIns))
	row("p99 latency", p99, fmt.Sprintf("≤ %.2f (median)", goalP99), yesNo(p99Med <= goalP99))
	row("server CPU/check-in", cpu, "none: the work behind check-ins/s", "-")
	row("download throughput", dl, fmt.Sprintf("≥ %.2f (every round)", goalDownload), yesNo(dlMin >= goalDownload))
	row("server CPU/MiB", dlCPU, "none: the work behind downloads", "-")
	tw.Flush()
}

// minMedianMax of xs, which is not empty; the median of an even count is
// the mean of the middle two.
func minMedianMax(xs []float64) (lo, med, hi float64) {
	s := slices.Sorted(slices.Values(xs))
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[0], med, s[len(s)-1]
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// loadAverage is the 1, 5 and 15 minute load averages of the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return fmt.Sprintf("unknown (/proc/loadavg reads %q)", b)
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}

// writeBenchFirmware writes a random image of size bytes and a catalog
// under dir and returns their paths and the image's SHA-256. The image is
// written in the pieces the appliance's blob store writes
// (images.PutWriteSize), so that both servers send it from the same shape
// of page cache (the kernel sizes a file's cached folios by the writes
// that filled it, and sendfile's cost per MiB follows): the bench compares
// serving, not how each file was written.
func writeBenchFirmware(dir string, size int64) (nbt, cat, sum string, err error) {
	nbt, cat = filepath.Join(dir, "firmware", "CPE.nbt"), filepath.Join(dir, "firmware", "CPE.cat")
	if err := os.MkdirAll(filepath.Dir(nbt), 0o755); err != nil {
		return "", "", "", err
	}
	fw, err := os.Create(nbt)
	if err != nil {
		return "", "", "", err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(fw, images.PutWriteSize)
	_, err = io.CopyN(io.MultiWriter(bw, h), rand.Reader, size)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := fw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", "", fmt.Errorf("writing the bench image: %w", err)
	}
	if err := os.WriteFile(cat, []byte(strings.Repeat("catalog\n", benchCatalogBytes/8)), 0o644); err != nil {
		return "", "", "", err
	}
	return nbt, cat, hex.EncodeToString(h.Sum(nil)), nil
}

// importBenchFirmware imports and approves the interim (the bench image)
// and a CX700 release through the admin API, as an operator would.
func importBenchFirmware(ctx context.Context, dashboard, data, nbt, cat string) error {
	c, err := newAPIClient(clientConfig{Server: "http://" + dashboard, Data: data, Timeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	release := memoryFile("CPE.nbt", bytes.Repeat([]byte("release\n"), 8192))
	for _, fw := range []struct {
		path, version string
		interim       bool
		files         []uploadFile
	}{
		{benchInterimPath, benchInterim, true, diskFiles([]string{nbt, cat})},
		{benchReleasePath, benchRelease, false, []uploadFile{release, memoryFile("CPE.cat", []byte("catalog\n"))}},
	} {
		fields := map[string]string{"device_path": fw.path, "version": fw.version, "update_type": images.DefaultUpdateType,
			"interim": fmt.Sprint(fw.interim), "min_from": ""}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() { pw.CloseWithError(writeImportBody(mw, fields, fw.files, newProgress(io.Discard, 0))) }()
		var res importResult
		err := c.do(ctx, "POST", "/api/v1/images", mw.FormDataContentType(), pr, &res)
		pr.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", fw.path, fw.version, err)
		}
		if len(res.Rules) == 0 {
			return fmt.Errorf("%s %s: the import made no rule", fw.path, fw.version)
		}
		if err := c.postJSON(ctx, "/api/v1/rules/approve", ruleRequest{Rule: res.Rules[0].Key.String()}, nil); err != nil {
			return fmt.Errorf("approving %s: %w", res.Rules[0].Key, err)
		}
	}
	return nil
}

// benchProcess is a server the bench started: tanjay serve or the
// baseline.
type benchProcess struct {
	cmd       *exec.Cmd
	log       string // its stderr
	phones    string // host:port of its phone-facing listener
	dashboard string // host:port of its dashboard (the appliance only)
	waited    chan error
}

// benchAddrLine is how both servers print where they listen.
var benchAddrLine = regexp.MustCompile(`^\s*(phones|dashboard|baseline):\s+http://(\S+)`)

// startBenchProcess runs exe with args, its stderr to logPath, and waits
// until it has printed the addresses in want.
func startBenchProcess(ctx context.Context, exe string, args []string, logPath string, want ...string) (*benchProcess, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	// A bench that dies (killed, or its output piped into head) takes its
	// servers along: SIGTERM shuts them down as Ctrl-C does. (Pdeathsig
	// fires when the thread that started the child ends, which Go does
	// only under a goroutine that locked its thread.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// The appliance reads its admin token from the data directory, where
	// the bench's API client finds it too.
	cmd.Env = append(os.Environ(), "TANJAY_TOKEN=")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &benchProcess{cmd: cmd, log: logPath, waited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", exe, args[0], err)
	}
	addrs := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for len(addrs) < len(want) && sc.Scan() {
		if m := benchAddrLine.FindStringSubmatch(sc.Text()); m != nil {
			addrs[m[1]] = m[2]
		}
	}
	go io.Copy(io.Discard, stdout)
	go func() { p.waited <- cmd.Wait() }()
	for _, w := range want {
		if addrs[w] == "" {
			err := <-p.waited
			return nil, fmt.Errorf("tanjay %s did not start (%v)%s", args[0], err, p.logTail())
		}
	}
	p.phones, p.dashboard = cmp.Or(addrs["phones"], addrs["baseline"]), addrs["dashboard"]
	return p, nil
}

// stop interrupts the process, as Ctrl-C does, and waits for it.
func (p *benchProcess) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.waited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.waited
	}
}

// logTail is the end of the process's stderr, for error messages.
func (p *benchProcess) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return fmt.Sprintf("\n%s said:\n%s", filepath.Base(p.log), bytes.TrimSpace(b))
}

// startBenchAppliance runs `tanjay serve` on loopback with only what phones
// and the admin API need: no DNS, HTTPS or SIP.
func startBenchAppliance(ctx context.Context, exe, data, logPath string) (*benchTarget, error) {
	p, err := startBenchProcess(ctx, exe, []string{"serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0",
		"--https-addr", "off", "--dns-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off", "--host", "bench"}, logPath, "phones", "dashboard")
	if err != nil {
		return nil, err
	}
	return &benchTarget{name: "appliance", server: "http://" + p.phones, proc: p}, nil
}

func startBenchBaseline(ctx context.Context, exe, nbt, cat, logPath string) (*benchTarget, error) {
	p, err := startBenchProcess(ctx, exe, []string{"bench", benchBaselineArg, "--image", nbt, "--catalog", cat}, logPath, "baseline")
	if err != nil {
		return nil, err
	}
	return &benchTarget{name: "baseline", server: "http://" + p.phones, proc: p}, nil
}

// runBenchBaseline is the baseline server: every POST is answered with
// one fixed offer of the interim (about 600 bytes, the shape the appliance
// renders), every GET of CPE.nbt or CPE.cat with the file through bare
// http.ServeContent. It prints "baseline: http://ADDR" once listening and
// serves until interrupted.
func runBenchBaseline(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("bench "+benchBaselineArg, "--image FILE --catalog FILE", "The fixed-answer baseline tanjay bench runs.", e.stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listener")
	image := fs.String("image", "", "the image served as CPE.nbt")
	catalog := fs.String("catalog", "", "the catalog served as CPE.cat")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if *image == "" || *catalog == "" {
		return usagef("bench %s needs --image and --catalog", benchBaselineArg)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: baselineHandler(ln.Addr().String(), *image, *catalog), ReadHeaderTimeout: time.Minute}
	fmt.Fprintf(e.stdout, "baseline: http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// baselineOffer is the baseline's one answer, in the shape the appliance
// renders an offer of the interim (PROTOCOL.md §2): %[1]s is the base URL.
const baselineOffer = `<?xml version="1.0" encoding="utf-8"?>
<Response>
  <NumOfFiles>1</NumOfFiles>
  <CurrentTime>2009-05-04T17:23:39</CurrentTime>
  <LangList>ENU</LangList>
  <Version>` + benchInterim + `</Version>
  <BaseURL>%[1]s</BaseURL>
  <ExternalBaseURL>%[1]s</ExternalBaseURL>
  <Files>
    <File>
      <UpdateType>CPE</UpdateType>
      <Version>` + benchInterim + `</Version>
      <ImageFileName>CPE.nbt</ImageFileName>
      <SignatureFileName>CPE.cat</SignatureFileName>
      <TimeStamp>05.04.2009 20:09:14</TimeStamp>
    </File>
  </Files>
</Response>
`

func baselineHandler(addr, image, catalog string) http.Handler {
	answer := []byte(fmt.Sprintf(baselineOffer, "http://"+addr+"/DeviceUpdateFiles_Int/"+benchInterimPath+"/"+benchInterim+"/CPE"))
	files := map[string]string{"CPE.nbt": image, "CPE.cat": catalog}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.Write(answer)
		case http.MethodGet, http.MethodHead:
			name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			path, ok := files[name]
			if !ok {
				http.NotFound(w, r)
				return
			}
			f, err := os.Open(path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			http.ServeContent(w, r, name, fi.ModTime(), f)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
