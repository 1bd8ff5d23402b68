package appliance

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime/multipart"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// demoFirmware is the synthetic firmware the demo imports: the interim
// every beta phone passes through, a release per model, and a newer build
// left Pending so only the test device takes it.
var demoFirmware = []struct {
	path, version string
	interim       bool
	approve       bool
}{
	{"OCInterim/ENU", "1.0.522.103", true, true},
	{"UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4066", false, true},
	{"UCPhone/LG-Nortel/IP8540/A/ENU", "3.5.6907.37", false, true},
	{"UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4100", false, false},
}

// demoStarts are the versions demo phones start on, in turn.
var demoStarts = []string{"0.0.0.0", demoSignInBuild, "1.0.522.103", "3.5.6907.0"}

// demoSignInBuild is the beta build that never asks DNS for ucupdates: the
// demo's phones on it sign in over SIP and check in where provisioning
// sends them.
const demoSignInBuild = "1.0.199.123"

type demoFlags struct {
	data, httpAddr, dashAddr, dnsAddr string
	httpsAddr, sipAddr, sipTLSAddr    string
	phones                            int
	imageSize                         int64
	duration                          time.Duration
	once, keep                        bool
}

func runDemo(ctx context.Context, e env, args []string) error {
	cmd := commands["demo"]
	fs := newFlagSet("demo", cmd.synopsis, cmd.about, e.stderr)
	var f demoFlags
	fs.StringVar(&f.data, "data", "", "data directory (default: a new temporary one, removed at exit)")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:0", "phone-facing listener")
	fs.StringVar(&f.httpsAddr, "https-addr", "127.0.0.1:0", `phone-facing HTTPS listener ("off" to run none)`)
	fs.StringVar(&f.dashAddr, "dashboard-addr", demoDashboardAddr, "dashboard and admin API listener (by default a free port when 8080 is taken)")
	fs.StringVar(&f.dnsAddr, "dns-addr", "127.0.0.1:0", "DNS responder the simulated phones find the appliance through")
	fs.StringVar(&f.sipAddr, "sip-addr", "127.0.0.1:0", `SIP front end over TCP the beta phones sign in to ("off" to run none)`)
	fs.StringVar(&f.sipTLSAddr, "sip-tls-addr", "127.0.0.1:0", `SIP front end over TLS the beta phones sign in to ("off" to run none)`)
	fs.IntVar(&f.phones, "phones", 25, "simulated phones")
	fs.Int64Var(&f.imageSize, "image-size", 4<<20, "bytes of each synthetic firmware image")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (default: until interrupted)")
	fs.BoolVar(&f.once, "once", false, "walk the fleet once and stop, instead of resetting the phones and walking again")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary data directory")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if f.phones < 1 || f.imageSize < 1 {
		return usagef("--phones and --image-size must be positive")
	}
	if f.dashAddr == demoDashboardAddr && !portFree(f.dashAddr) {
		// Another demo (or anything else) has 8080: a second demo still
		// runs, on a free port it prints.
		f.dashAddr = "127.0.0.1:0"
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	dataGiven := f.data != ""
	if f.data == "" {
		dir, err := os.MkdirTemp("", "tanjay-demo-")
		if err != nil {
			return err
		}
		f.data = dir
		if !f.keep {
			defer os.RemoveAll(dir)
		}
	}
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTPAddr, cfg.HTTPSAddr, cfg.DashboardAddr = f.data, f.httpAddr, f.httpsAddr, f.dashAddr
	cfg.DNS.Addr = f.dnsAddr
	cfg.SIPAddr, cfg.SIPTLSAddr, cfg.SIPPassword = f.sipAddr, f.sipTLSAddr, generateSIPPassword()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addrs := make(chan Addrs, 1)
	served := make(chan error, 1)
	go func() { served <- Run(ctx, cfg, log, e.stdout, func(a Addrs) { addrs <- a }) }()
	var a Addrs
	select {
	case err := <-served:
		if err != nil {
			return fmt.Errorf("%w (the demo's listeners are set with --http-addr, --https-addr, --dashboard-addr, --dns-addr, --sip-addr and --sip-tls-addr; 127.0.0.1:0 picks a free port)", err)
		}
		return nil
	case a = <-addrs:
	}
	tally := &demoTally{start: time.Now()}
	err := demoFleet(ctx, e, f, cfg, a, tally)
	cancel()
	if serr := <-served; serr != nil && err == nil {
		err = serr
	}
	tally.summary(e.stdout, cfg.Data, f.keep || dataGiven)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// demoDashboardAddr is the demo's dashboard unless told otherwise.
const demoDashboardAddr = "127.0.0.1:8080"

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// demoTally is what the demo's phones did, for the closing summary.
type demoTally struct {
	start               time.Time
	rounds, walks, done int
	checkIns            int
}

func (t *demoTally) add(sum phone.Summary) {
	t.rounds++
	t.walks += sum.Phones
	t.done += sum.Done
	t.checkIns += sum.CheckIns
}

// summary is the demo's last words: what ran, for how long, and where the
// data went.
func (t *demoTally) summary(w io.Writer, data string, kept bool) {
	fmt.Fprintf(w, "\ntanjay demo stopped after %s: %d round(s) finished, %d of %d walks reached their target, %d check-ins.\n",
		time.Since(t.start).Round(time.Second), t.rounds, t.done, t.walks, t.checkIns)
	if kept {
		fmt.Fprintf(w, "  data kept in %s\n", data)
	} else {
		fmt.Fprintf(w, "  data directory %s removed (--keep keeps it)\n", data)
	}
}

// demoFleet imports the synthetic firmware through the admin API, as an
// operator would, and runs the fleet until ctx ends.
func demoFleet(ctx context.Context, e env, f demoFlags, cfg Config, a Addrs, tally *demoTally) error {
	c, err := newAPIClient(clientConfig{Server: "http://" + a.Dashboard, Data: cfg.Data, Timeout: time.Minute})
	if err != nil {
		return err
	}
	if err := demoImport(ctx, c, f.imageSize); err != nil {
		return fmt.Errorf("importing the synthetic firmware: %w", err)
	}
	domain := strings.TrimSuffix(cfg.DNS.Domains[0], ".")
	_, port, _ := net.SplitHostPort(a.HTTP)
	signIn, err := newDemoSignIn(domain, cfg.SIPPassword, a)
	if err != nil {
		return err
	}
	phones := demoPhones("http://ucupdates-r2."+domain+":"+port, a.DNS, f.phones, signIn)
	if err := c.postJSON(ctx, "/api/v1/testdevices", testDeviceRequest{ID: phones[0].Identity.MAC}, nil); err != nil {
		return err
	}
	except := ""
	if len(signingIn(phones)) > 0 {
		except = " (except the beta phones below)"
	}
	fmt.Fprintf(e.stdout, "tanjay demo: %d simulated phones walking beta → interim 1.0.522.103 → release\n", len(phones))
	fmt.Fprintf(e.stdout, "  dashboard: http://%s/ (read-only without a login; log in with the password above to approve)\n  phones resolve %s through the DNS responder on %s, each from its own 127.1.x.y address%s\n",
		a.Dashboard, phones[0].Server, a.DNS, except)
	signIn.describe(e.stdout, phones)
	fmt.Fprintf(e.stdout, "  data: %s\n", cfg.Data)
	fmt.Fprintf(e.stdout, "  admin: %s rules --server http://%s --data %s\n", selfCommand(), a.Dashboard, cfg.Data)
	fmt.Fprintf(e.stdout, "  phone %s is a test device: it takes the Pending 4.0.7577.4100. Ctrl-C stops the demo.\n", phones[0].Identity.MAC)
	// On a terminal the rounds rewrite one status line, so the password
	// and the addresses above stay on screen; elsewhere each is a line.
	status := newStatusLine(e.stdout)
	defer status.done()
	for round := 1; ; round++ {
		status.set(fmt.Sprintf("round %d: %d phones walking…", round, len(phones)))
		sum := phone.RunFleet(ctx, phone.FleetConfig{Phones: phones})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tally.add(sum)
		line := fmt.Sprintf("round %d: %d of %d phones reached their target in %s (%d check-ins, p99 %s)",
			round, sum.Done, sum.Phones, sum.Elapsed.Round(time.Second/10), sum.CheckIns, sum.P99.Round(time.Millisecond))
		for _, w := range sum.Walks {
			if w.Err != nil {
				status.println(fmt.Sprint("   ", w)) // failures stay on screen
			}
		}
		if f.once {
			status.set(line)
			return nil
		}
		status.set(line + "; walking again in 10 s")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
}

// statusLine is one line that rewrites itself on a terminal; on anything
// else (a pipe, a log) every update is a line of its own.
type statusLine struct {
	w     io.Writer
	tty   bool
	shown bool
}

func newStatusLine(w io.Writer) *statusLine {
	s := &statusLine{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			s.tty = true
		}
	}
	return s
}

func (s *statusLine) set(line string) {
	if !s.tty {
		fmt.Fprintln(s.w, line)
		return
	}
	fmt.Fprintf(s.w, "\r\x1b[K%s", line)
	s.shown = true
}

// println writes a line that stays, above the status line.
func (s *statusLine) println(line string) {
	if s.tty && s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.shown = false
	}
	fmt.Fprintln(s.w, line)
}

func (s *statusLine) done() {
	if s.tty && s.shown {
		fmt.Fprintln(s.w)
		s.shown = false
	}
}

// selfCommand is how to run this program again, for hints: "go run
// ./cmd/tanjay" under go run (whose binary lives in a go-build temporary
// directory), else the name it was started by.
func selfCommand() string {
	exe := os.Args[0]
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/tanjay"
	}
	return exe
}

func demoImport(ctx context.Context, c *apiClient, size int64) error {
	for _, fw := range demoFirmware {
		nbt := make([]byte, size)
		rand.Read(nbt)
		cat := make([]byte, 4096)
		rand.Read(cat)
		fields := map[string]string{"device_path": fw.path, "version": fw.version, "update_type": images.DefaultUpdateType,
			"interim": strconv.FormatBool(fw.interim), "min_from": ""}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		files := []uploadFile{memoryFile("CPE.nbt", nbt), memoryFile("CPE.cat", cat)}
		if err := writeImportBody(mw, fields, files, newProgress(io.Discard, 0)); err != nil {
			return err
		}
		var res importResult
		if err := c.do(ctx, "POST", "/api/v1/images", mw.FormDataContentType(), &body, &res); err != nil {
			return err
		}
		if fw.approve {
			if err := c.postJSON(ctx, "/api/v1/rules/approve", ruleRequest{Rule: res.Rules[0].Key.String()}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// demoPhones is a mixed fleet: CX700s and IP8540s starting on each of the
// demo's versions, some with cut-off downloads that resume. Each phone
// finds the server through dnsAddr and has its own loopback address, so
// every phone has its own timeline. The phones on demoSignInBuild sign in
// with signIn instead, taking its transports in turn, when it has any.
func demoPhones(server, dnsAddr string, n int, signIn demoSignIn) []phone.Config {
	models := []phone.Identity{
		{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"},
		{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"},
	}
	out := make([]phone.Config, n)
	signIns := 0
	for i := range out {
		id := models[i%len(models)]
		id.MAC = phone.NewMAC(i)
		id.Serial = serialFor(id.MAC)
		cfg := phone.Config{
			Server:       server,
			DNS:          dnsAddr,
			LocalIP:      netip.AddrFrom4([4]byte{127, 1, byte(i / 200), byte(10 + i%200)}),
			Identity:     id,
			Version:      images.MustParseVersion(demoStarts[(i/len(models))%len(demoStarts)]),
			FetchDelay:   jitter(time.Second, 3*time.Second),
			InstallDelay: jitter(3*time.Second, 8*time.Second),
		}
		if i%3 == 0 {
			cfg.CutAt = 0.4
		}
		if cfg.Version.String() == demoSignInBuild && len(signIn.transports) > 0 {
			s := signIn.phone
			s.Transport, s.LocalIP = signIn.transports[signIns%len(signIn.transports)], cfg.LocalIP
			cfg.Server, cfg.SignIn = "", s.SignIn
			signIns++
		}
		out[i] = cfg
	}
	return out
}

func jitter(lo, hi time.Duration) time.Duration {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(hi-lo)))
	return lo + time.Duration(n.Int64())
}

// demoSignIn is how the demo's beta phones sign in: a technician's account
// under the lab domain, the lab password, and the SIP listeners that are
// on, each found through the DNS responder as a phone finds it.
type demoSignIn struct {
	phone            phoneSignIn
	transports       []string // signInTCP, signInTLS: those whose listener is on
	tcpAddr, tlsAddr string
}

func newDemoSignIn(domain, password string, a Addrs) (demoSignIn, error) {
	d := demoSignIn{phone: phoneSignIn{Address: "tech@" + domain, Password: password, DNS: a.DNS}, tcpAddr: a.SIP, tlsAddr: a.SIPTLS}
	if a.DNS == "" {
		return d, nil // nothing to find the SIP server with
	}
	if a.SIP != "" {
		d.transports = append(d.transports, signInTCP)
	}
	if a.SIPTLS != "" && len(a.CAPEM) > 0 {
		roots, err := parseSignInRoots(a.CAPEM)
		if err != nil {
			return d, fmt.Errorf("the appliance CA: %w", err)
		}
		d.phone.Roots = roots
		d.transports = append(d.transports, signInTLS)
	}
	return d, nil
}

// demoSignInListed is how many signing-in phones the demo names.
const demoSignInListed = 4

// signingIn are the MACs of the phones that sign in.
func signingIn(phones []phone.Config) []string {
	var macs []string
	for _, p := range phones {
		if p.SignIn != nil {
			macs = append(macs, p.Identity.MAC)
		}
	}
	return macs
}

// describe says which phones sign in, and with what.
func (d demoSignIn) describe(w io.Writer, phones []phone.Config) {
	macs := signingIn(phones)
	if len(macs) == 0 {
		return
	}
	if len(macs) > demoSignInListed {
		macs = append(macs[:demoSignInListed], "…")
	}
	var over []string
	for _, t := range d.transports {
		if t == signInTCP {
			over = append(over, "TCP "+d.tcpAddr)
		} else {
			over = append(over, "TLS "+d.tlsAddr+" (trusting the appliance CA)")
		}
	}
	fmt.Fprintf(w, "  beta phones on %s (%s) never ask DNS for ucupdates: they find the SIP server by SRV records and sign in as %s, user %s, password %s, over %s in turn, then check in where provisioning sends them\n",
		demoSignInBuild, strings.Join(macs, ", "), d.phone.Address, signInDefaultUser(d.phone.Address), d.phone.Password, strings.Join(over, " and "))
}
