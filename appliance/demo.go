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
	sipAddr, sipTLSAddr               string
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
	fs.StringVar(&f.dashAddr, "dashboard-addr", "127.0.0.1:8080", "dashboard and admin API listener")
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
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
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
	cfg.Data, cfg.HTTPAddr, cfg.DashboardAddr = f.data, f.httpAddr, f.dashAddr
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
			return fmt.Errorf("%w (the demo's ports are set with --http-addr and --dashboard-addr; 127.0.0.1:0 picks a free one)", err)
		}
		return nil
	case a = <-addrs:
	}
	err := demoFleet(ctx, e, f, cfg, a)
	cancel()
	if serr := <-served; serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// demoFleet imports the synthetic firmware through the admin API, as an
// operator would, and runs the fleet until ctx ends.
func demoFleet(ctx context.Context, e env, f demoFlags, cfg Config, a Addrs) error {
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
	fmt.Fprintf(e.stdout, "  admin: tanjay rules --server http://%s --data %s\n", a.Dashboard, cfg.Data)
	fmt.Fprintf(e.stdout, "  phone %s is a test device: it takes the Pending 4.0.7577.4100. Ctrl-C stops the demo.\n", phones[0].Identity.MAC)
	for round := 1; ; round++ {
		sum := phone.RunFleet(ctx, phone.FleetConfig{Phones: phones})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(e.stdout, "round %d: %d of %d phones reached their target in %s (%d check-ins, p99 %s)\n",
			round, sum.Done, sum.Phones, sum.Elapsed.Round(time.Second/10), sum.CheckIns, sum.P99)
		for _, w := range sum.Walks {
			if w.Err != nil {
				fmt.Fprintln(e.stdout, "  ", w)
			}
		}
		if f.once {
			return nil
		}
		fmt.Fprintln(e.stdout, "resetting the phones to their starting firmware in 10 s")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
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
