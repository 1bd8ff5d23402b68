package sipetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Account is what the client signs in with.
type Account struct {
	SignIn    string // sign-in address, e.g. alice@lab.test
	Login     string // optional DOMAIN\user (account add sipe <signin>,<login> <password>)
	Password  string
	Server    string // host:port of the SIP server (127.0.0.1:PORT)
	Transport string // "tcp" or "tls"
	CAPEM     []byte // for tls: PEM CA certificate the client must trust (the only trust anchor)
}

// SignInError is what [Client.WaitLoggedIn] returns when bitlbee reports
// that the sign-in failed.
type SignInError struct {
	Reason string // bitlbee's text after "Login error: " or "Error: "
	Tail   string // the last lines of the transcript
}

func (e *SignInError) Error() string {
	return "sipetest: sign-in failed: " + e.Reason + "\n--- bitlbee transcript (tail) ---\n" + e.Tail
}

// Client is one running bitlbee+sipe instance signing in one account.
type Client struct {
	dir     string
	rmDir   bool // dir was made by Start
	cmd     *exec.Cmd
	conn    net.Conn
	stderr  string // path of bitlbee's stderr log
	tag     string
	exited  chan struct{} // closed when bitlbee has exited (not yet reaped)
	readEnd chan struct{} // closed when the reader goroutine stops

	wmu sync.Mutex // serialises writes to conn

	mu         sync.Mutex
	transcript []string      // raw lines from bitlbee, plus "> command" lines we sent
	msgs       []string      // texts of root's messages, in order
	changed    chan struct{} // closed and replaced whenever msgs/transcript grow
	readErr    error         // why the reader stopped
	pongs      map[string]bool
	certAsks   []string // certificate questions libpurple asked (and we refused)
	inRequest  bool
	closeOnce  sync.Once
	closeErr   error
	pingSerial int
}

const nick = "sipetest"

// Limits used when the caller's context has no deadline. Generous: on a
// busy two-CPU machine starting bitlbee (libpurple loads all its plugins)
// has been seen to take over ten seconds; normally it takes well under one.
const (
	startTimeout  = 60 * time.Second
	signInTimeout = 60 * time.Second
)

// Available reports why pidgin-sipe cannot be driven here (bitlbee or the
// sipe plugin missing), or nil.
func Available() error {
	availOnce.Do(func() { availErr = available() })
	return availErr
}

var (
	availOnce sync.Once
	availErr  error
)

func available() error {
	bin, err := bitlbeePath()
	if err != nil {
		return err
	}
	// "bitlbee -V" prints the version and configure arguments, then exits 1.
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if !bytes.Contains(out, []byte("BitlBee")) {
		return fmt.Errorf("sipetest: %s -V: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	if !bytes.Contains(out, []byte("--purple=1")) {
		return fmt.Errorf("sipetest: %s is not built with libpurple (install bitlbee-libpurple): %s", bin, bytes.TrimSpace(out))
	}
	if _, err := sipePlugin(); err != nil {
		return err
	}
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		return fmt.Errorf("sipetest: no /bin/sh: %v", err)
	}
	return nil
}

func bitlbeePath() (string, error) {
	if p, err := exec.LookPath("bitlbee"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/bitlbee", "/usr/local/sbin/bitlbee", "/usr/bin/bitlbee", "/usr/local/bin/bitlbee"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("sipetest: bitlbee not found (install bitlbee-libpurple)")
}

func sipePlugin() (string, error) {
	cands := []string{"/usr/lib/purple-2/libsipe.so", "/usr/local/lib/purple-2/libsipe.so", "/usr/lib64/purple-2/libsipe.so"}
	if m, _ := filepath.Glob("/usr/lib/*/purple-2/libsipe.so"); len(m) > 0 {
		cands = append(cands, m...)
	}
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("sipetest: the sipe libpurple plugin (libsipe.so) is not installed (install pidgin-sipe)")
}

// Directories libpurple loads its CA pool from (SSL_CERTIFICATES_DIR and
// DATADIR/purple/ca-certs in libpurple's build).
var caPoolDirs = []string{"/etc/ssl/certs", "/usr/share/purple/ca-certs"}

// The shell run inside the private mount namespace: make every mount
// private (so nothing propagates to the host), lay the CA directory over
// the CA pool directories that exist, then exec the command.
// $1 = mount binary, $2 = CA directory, $3... = command.
var nsScript = `set -e
m="$1"; ca="$2"; shift 2
"$m" --make-rprivate /
n=0
for d in ` + strings.Join(caPoolDirs, " ") + `; do
	if [ -d "$d" ]; then "$m" --bind "$ca" "$d"; n=$((n+1)); fi
done
if [ "$n" = 0 ]; then echo "sipetest: no CA pool directory to replace" >&2; exit 97; fi
exec "$@"
`

// TLSAvailable reports why a "tls" client cannot be started here (no way to
// make the private mount namespace that pins the trust anchor), or nil.
func TLSAvailable() error {
	if err := Available(); err != nil {
		return err
	}
	nsOnce.Do(probeNamespace)
	return nsErr
}

var (
	nsOnce  sync.Once
	nsErr   error
	nsAttr  func() *syscall.SysProcAttr
	mountBn string
)

func probeNamespace() {
	m, err := exec.LookPath("mount")
	if err != nil {
		for _, p := range []string{"/usr/bin/mount", "/bin/mount", "/sbin/mount", "/usr/sbin/mount"} {
			if _, e := os.Stat(p); e == nil {
				m, err = p, nil
				break
			}
		}
	}
	if err != nil {
		nsErr = errors.New("sipetest: mount(8) not found; needed to pin the TLS trust anchor")
		return
	}
	mountBn = m
	tmp, err := os.MkdirTemp("", "sipetest-probe-")
	if err != nil {
		nsErr = err
		return
	}
	defer os.RemoveAll(tmp)
	variants := []func() *syscall.SysProcAttr{}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		variants = append(variants, func() *syscall.SysProcAttr {
			return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		})
	}
	variants = append(variants, func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{
			Cloneflags:                 syscall.CLONE_NEWNS | syscall.CLONE_NEWUSER,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
			GidMappingsEnableSetgroups: false,
		}
	})
	var errs []string
	for _, v := range variants {
		// The probe lays tmp over the CA pool and checks that it sees it.
		marker := filepath.Join(tmp, "probe.pem")
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			nsErr = err
			return
		}
		cmd := exec.Command("/bin/sh", "-c", nsScript, "sh", m, tmp, "/bin/sh", "-c",
			`for d in `+strings.Join(caPoolDirs, " ")+`; do [ ! -d "$d" ] || [ -e "$d/probe.pem" ] || exit 1; done`)
		cmd.SysProcAttr = v()
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		out, err := cmd.CombinedOutput()
		if err == nil {
			nsAttr = v
			return
		}
		errs = append(errs, fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out)))
	}
	nsErr = fmt.Errorf("sipetest: cannot make a private mount namespace to pin the TLS trust anchor (needs root or unprivileged user namespaces): %s", strings.Join(errs, "; "))
}

// Start starts bitlbee -I on a socketpair in a fresh temporary config dir
// (dir, e.g. t.TempDir(); if dir is "", Start makes one with os.MkdirTemp
// and Close removes it), registers on the IRC side, adds the account, sets
// server and transport, and turns it on. Start clears the bitlbee/, home/
// and ca/ subdirectories of dir first, so no certificate libpurple cached
// in an earlier run can bypass the CA check. ctx bounds the start-up only
// (at most a minute if it has no deadline); the client lives until Close.
func Start(ctx context.Context, dir string, acct Account) (*Client, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := checkAccount(acct); err != nil {
		return nil, err
	}
	var caCert *x509.Certificate
	if acct.Transport == "tls" {
		var err error
		if caCert, err = parseCA(acct.CAPEM); err != nil {
			return nil, err
		}
		if err := TLSAvailable(); err != nil {
			return nil, err
		}
	}
	bin, _ := bitlbeePath()

	c := &Client{
		dir:     dir,
		exited:  make(chan struct{}),
		readEnd: make(chan struct{}),
		changed: make(chan struct{}),
		pongs:   map[string]bool{},
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "sipetest-")
		if err != nil {
			return nil, err
		}
		c.dir, c.rmDir = d, true
	}
	dirAbs, err := filepath.Abs(c.dir)
	if err != nil {
		return nil, err
	}
	c.dir = dirAbs
	started := false
	defer func() {
		if !started && c.rmDir {
			os.RemoveAll(c.dir)
		}
	}()
	cfgDir := filepath.Join(c.dir, "bitlbee")
	home := filepath.Join(c.dir, "home")
	caDir := filepath.Join(c.dir, "ca")
	for _, d := range []string{cfgDir, home, caDir} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(c.dir, "bitlbee.conf")
	confText := "[settings]\nRunMode = Inetd\nAuthMode = Open\nConfigDir = " + cfgDir +
		"\nMotdFile = /dev/null\nPingInterval = 0\nPingTimeOut = 0\n[defaults]\n"
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		return nil, err
	}
	c.stderr = filepath.Join(c.dir, "bitlbee.stderr")
	errf, err := os.Create(c.stderr)
	if err != nil {
		return nil, err
	}
	defer errf.Close()

	args := []string{bin, "-I", "-c", conf, "-d", cfgDir}
	var cmd *exec.Cmd
	if caCert != nil {
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
		if err := os.WriteFile(filepath.Join(caDir, "sipetest-ca.pem"), pemBytes, 0o644); err != nil {
			return nil, err
		}
		// Inside a user namespace the caller is root, so its 0700 dirs stay
		// readable there.
		cmd = exec.Command("/bin/sh", append([]string{"-c", nsScript, "sh", mountBn, caDir}, args...)...)
		cmd.SysProcAttr = nsAttr()
	} else {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Dir = c.dir
	cmd.Env = childEnv(home)

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sipetest: socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "sipetest-irc")
	theirs := os.NewFile(uintptr(fds[1]), "bitlbee-irc")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, errf
	if err := cmd.Start(); err != nil {
		ours.Close()
		theirs.Close()
		return nil, fmt.Errorf("sipetest: start bitlbee: %w", err)
	}
	theirs.Close()
	c.cmd = cmd
	go c.watchExit()
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		c.kill()
		return nil, fmt.Errorf("sipetest: socket: %w", err)
	}
	c.conn = conn
	go c.read()

	if err := c.setup(ctx, acct); err != nil {
		c.Close()
		return nil, err
	}
	started = true
	return c, nil
}

func childEnv(home string) []string {
	env := []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_RUNTIME_DIR=" + home,
		"LC_ALL=C",
		"LANG=C",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	if t := os.Getenv("TMPDIR"); t != "" {
		env = append(env, "TMPDIR="+t)
	}
	return env
}

func checkAccount(a Account) error {
	for name, v := range map[string]string{"SignIn": a.SignIn, "Login": a.Login, "Password": a.Password, "Server": a.Server} {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("sipetest: Account.%s contains a line break or NUL", name)
		}
	}
	if a.SignIn == "" || !strings.Contains(a.SignIn, "@") {
		return fmt.Errorf("sipetest: Account.SignIn %q is not an address like alice@lab.test", a.SignIn)
	}
	if a.Password == "" {
		// With no password libpurple silently waits for one to be typed in:
		// "account on" then does nothing at all.
		return errors.New("sipetest: Account.Password is empty (sipe would not even connect)")
	}
	if strings.Contains(a.SignIn, ",") || strings.Contains(a.Login, ",") {
		return errors.New("sipetest: SignIn and Login must not contain a comma (sipe joins them with one)")
	}
	if _, _, err := net.SplitHostPort(a.Server); err != nil {
		return fmt.Errorf("sipetest: Account.Server %q: %v", a.Server, err)
	}
	switch a.Transport {
	case "tcp":
	case "tls":
		if len(a.CAPEM) == 0 {
			return errors.New("sipetest: transport tls needs Account.CAPEM (the only CA the client will trust)")
		}
	default:
		return fmt.Errorf("sipetest: Account.Transport %q: want \"tcp\" or \"tls\"", a.Transport)
	}
	return nil
}

func parseCA(pemBytes []byte) (*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sipetest: CAPEM: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("sipetest: CAPEM must hold exactly one CERTIFICATE block, found %d", len(certs))
	}
	// libpurple refuses to register a non-CA certificate as a trusted CA.
	if !certs[0].BasicConstraintsValid || !certs[0].IsCA {
		return nil, errors.New("sipetest: CAPEM is not a CA certificate (basicConstraints CA:TRUE)")
	}
	return certs[0], nil
}

// quoteArg escapes s for bitlbee's root command parser: outside quotes a
// backslash escapes the next character, and spaces separate arguments.
func quoteArg(s string) string {
	if s == "" {
		return `""`
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', ' ', '"', '\'':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (c *Client) setup(ctx context.Context, acct Account) error {
	ctx, cancel := withDefaultTimeout(ctx, startTimeout)
	defer cancel()
	if err := c.send("NICK "+nick, "USER "+nick+" 0 * :sipetest"); err != nil {
		return err
	}
	// The control channel is joined automatically; 366 ends its NAMES list.
	if _, err := c.waitLine(ctx, 0, func(l string) bool {
		f := strings.Fields(l)
		return len(f) >= 4 && f[1] == "366" && f[3] == "&bitlbee"
	}); err != nil {
		return c.startErr("waiting for the control channel", err)
	}

	user := acct.SignIn
	if acct.Login != "" {
		user += "," + acct.Login
	}
	replies, err := c.command(ctx, "account add sipe "+quoteArg(user)+" "+quoteArg(acct.Password),
		"account add sipe "+quoteArg(user)+" ********")
	if err != nil {
		return c.startErr("account add", err)
	}
	for _, r := range replies {
		if t, ok := strings.CutPrefix(r, "Account successfully added with tag "); ok {
			c.tag = strings.TrimSpace(t)
		}
	}
	if c.tag == "" {
		return c.startErr("account add", fmt.Errorf("unexpected reply %q", replies))
	}
	if err := c.expectSetting(ctx, "username", user, false); err != nil {
		return err
	}
	settings := []struct {
		key, val string
		optional bool
	}{
		{"server", acct.Server, false},
		{"transport", acct.Transport, false},
		{"authentication", "ntlm", true}, // only NTLM is offered; absent in old sipe
		{"auto_reconnect", "false", false},
	}
	for _, s := range settings {
		if err := c.expectSetting(ctx, s.key, s.val, true); err != nil {
			if s.optional && strings.Contains(err.Error(), "does not exist") {
				continue
			}
			return err
		}
	}
	if _, err := c.command(ctx, "account "+c.tag+" on", ""); err != nil {
		return c.startErr("account on", err)
	}
	return nil
}

// expectSetting sets key to val (or, with set false, only reads it) and
// checks bitlbee's echo "key = `val'".
func (c *Client) expectSetting(ctx context.Context, key, val string, set bool) error {
	line := "account " + c.tag + " set " + key
	if set {
		line += " " + quoteArg(val)
	}
	replies, err := c.command(ctx, line, "")
	if err != nil {
		return c.startErr(line, err)
	}
	want := key + " = `" + val + "'"
	for _, r := range replies {
		if r == want {
			return nil
		}
	}
	return c.startErr(line, fmt.Errorf("bitlbee answered %q, want %q", replies, want))
}

func (c *Client) startErr(what string, err error) error {
	tail := c.tail(40)
	if b, e := os.ReadFile(c.stderr); e == nil && len(bytes.TrimSpace(b)) > 0 {
		tail += "\n--- bitlbee stderr ---\n" + strings.TrimRight(string(b), "\n")
	}
	return fmt.Errorf("sipetest: start: %s: %w\n--- bitlbee transcript (tail) ---\n%s", what, err, tail)
}

// command sends a root command (logged as shown, if not empty) and returns
// root's replies, collected up to the PONG of a PING sent right after it.
func (c *Client) command(ctx context.Context, cmd, shown string) ([]string, error) {
	c.mu.Lock()
	c.pingSerial++
	token := "sipetest-" + strconv.Itoa(c.pingSerial)
	from := len(c.msgs)
	c.mu.Unlock()
	if shown == "" {
		shown = cmd
	}
	if err := c.sendShown(shown, "PRIVMSG &bitlbee :"+cmd, "PING :"+token); err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		done, ch, rerr := c.pongs[token], c.changed, c.readErr
		var replies []string
		if done {
			delete(c.pongs, token)
			replies = append(replies, c.msgs[from:]...)
		}
		c.mu.Unlock()
		if done {
			return replies, nil
		}
		if rerr != nil {
			return nil, rerr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitLine waits for a raw transcript line (from index from on) matching f.
func (c *Client) waitLine(ctx context.Context, from int, f func(string) bool) (int, error) {
	for {
		c.mu.Lock()
		for i := from; i < len(c.transcript); i++ {
			if f(c.transcript[i]) {
				c.mu.Unlock()
				return i, nil
			}
		}
		from = len(c.transcript)
		ch, rerr := c.changed, c.readErr
		c.mu.Unlock()
		if rerr != nil {
			return 0, rerr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func (c *Client) send(lines ...string) error { return c.sendShown("", lines...) }

// sendShown writes IRC lines; shown, if set, replaces the first line in the
// transcript (to keep the password out of it).
func (c *Client) sendShown(shown string, lines ...string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l + "\r\n")
		if i == 0 && shown != "" {
			l = shown
		}
		if strings.HasPrefix(l, "PING :sipetest-") || strings.HasPrefix(l, "PONG ") {
			continue
		}
		c.appendLine("> " + l)
	}
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write([]byte(b.String()))
	if err != nil {
		return fmt.Errorf("sipetest: write to bitlbee: %w", err)
	}
	return nil
}

func (c *Client) appendLine(l string) {
	c.mu.Lock()
	c.transcript = append(c.transcript, l)
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// read consumes bitlbee's output: it records every line, answers PINGs,
// notes PONGs, collects root's messages and refuses certificate questions.
func (c *Client) read() {
	defer close(c.readEnd)
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		prefix, command, params := parseIRC(line)
		c.mu.Lock()
		c.transcript = append(c.transcript, line)
		var reply []string
		switch command {
		case "PING":
			if len(params) > 0 {
				reply = append(reply, "PONG :"+params[len(params)-1])
			}
		case "PONG":
			if len(params) > 0 {
				c.pongs[params[len(params)-1]] = true
			}
		case "PRIVMSG", "NOTICE":
			if strings.HasPrefix(prefix, "root!") && len(params) == 2 {
				text := stripFormatting(params[1])
				c.msgs = append(c.msgs, text)
				// libpurple asks whether to accept a certificate it could not
				// verify against the pinned CA: always refuse.
				if strings.HasPrefix(text, "New request: ") && strings.Contains(text, "Certificate") {
					c.inRequest = true
					c.certAsks = append(c.certAsks, "")
				} else if c.inRequest {
					if strings.HasPrefix(text, "You can use the yes/no commands") {
						c.inRequest = false
						reply = append(reply, "PRIVMSG &bitlbee :no")
					} else if t := strings.TrimSpace(text); t != "" {
						i := len(c.certAsks) - 1
						c.certAsks[i] = strings.TrimSpace(c.certAsks[i] + " " + t)
					}
				}
			}
		}
		c.notifyLocked()
		c.mu.Unlock()
		if len(reply) > 0 {
			c.send(reply...)
		}
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("bitlbee closed the connection")
	}
	c.mu.Lock()
	c.readErr = fmt.Errorf("sipetest: %w", err)
	c.notifyLocked()
	c.mu.Unlock()
}

// stripFormatting removes IRC formatting codes (bitlbee writes "\x02yes\x02").
func stripFormatting(s string) string {
	if !strings.ContainsAny(s, "\x02\x03\x0f\x11\x16\x1d\x1e\x1f") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x02, 0x0f, 0x11, 0x16, 0x1d, 0x1e, 0x1f:
		case 0x03: // colour: ^C[fg[,bg]] with up to two digits each
			j := i + 1
			for k := 0; k < 2 && j < len(s) && s[j] >= '0' && s[j] <= '9'; k++ {
				j++
			}
			if j > i+1 && j+1 < len(s) && s[j] == ',' && s[j+1] >= '0' && s[j+1] <= '9' {
				j++
				for k := 0; k < 2 && j < len(s) && s[j] >= '0' && s[j] <= '9'; k++ {
					j++
				}
			}
			i = j - 1
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// parseIRC splits ":prefix COMMAND p1 p2 :trailing".
func parseIRC(line string) (prefix, command string, params []string) {
	if strings.HasPrefix(line, ":") {
		var ok bool
		prefix, line, ok = strings.Cut(line[1:], " ")
		if !ok {
			return prefix, "", nil
		}
	}
	command, line, _ = strings.Cut(line, " ")
	for line != "" {
		if strings.HasPrefix(line, ":") {
			params = append(params, line[1:])
			break
		}
		var p string
		p, line, _ = strings.Cut(line, " ")
		if p != "" {
			params = append(params, p)
		}
	}
	return prefix, command, params
}

// WaitLoggedIn waits until the control channel says the account logged in,
// or returns a *SignInError carrying the error bitlbee/sipe printed (e.g.
// "You have been rejected by the server: no reason given"), or a timeout
// error with the transcript tail. Without a deadline on ctx it waits at most
// a minute.
func (c *Client) WaitLoggedIn(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, signInTimeout)
	defer cancel()
	p := c.tag + " - "
	for from := 0; ; {
		c.mu.Lock()
		for ; from < len(c.msgs); from++ {
			m := c.msgs[from]
			rest, ok := strings.CutPrefix(m, p)
			if !ok {
				continue
			}
			if rest == "Logging in: Logged in" {
				c.mu.Unlock()
				return nil
			}
			var reason string
			if r, ok := strings.CutPrefix(rest, "Login error: "); ok {
				reason = r
			} else if r, ok := strings.CutPrefix(rest, "Error: "); ok {
				reason = r
			} else if strings.HasSuffix(rest, "Signing off..") {
				reason = "signed off before logging in"
			}
			if reason != "" {
				if len(c.certAsks) > 0 {
					reason += " (refused certificate: " + c.certAsks[len(c.certAsks)-1] + ")"
				}
				tail := c.tailLocked(30)
				c.mu.Unlock()
				return &SignInError{Reason: reason, Tail: tail}
			}
		}
		ch, rerr := c.changed, c.readErr
		c.mu.Unlock()
		if rerr != nil {
			return fmt.Errorf("sipetest: waiting for sign-in: %w\n--- bitlbee transcript (tail) ---\n%s", rerr, c.tail(30))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sipetest: timed out waiting for %q: %w\n--- bitlbee transcript (tail) ---\n%s",
				p+"Logging in: Logged in", ctx.Err(), c.tail(30))
		}
	}
}

// Transcript is everything bitlbee said so far (for test failure messages):
// the raw IRC lines, the commands sent (prefixed "> ", password masked) and,
// at the end, bitlbee's standard error if it wrote any.
func (c *Client) Transcript() string {
	c.mu.Lock()
	s := strings.Join(c.transcript, "\n")
	c.mu.Unlock()
	if b, err := os.ReadFile(c.stderr); err == nil && len(bytes.TrimSpace(b)) > 0 {
		s += "\n--- bitlbee stderr ---\n" + strings.TrimRight(string(b), "\n")
	}
	return s
}

// tail returns the last n transcript lines.
func (c *Client) tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tailLocked(n)
}

func (c *Client) tailLocked(n int) string {
	lines := c.transcript
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// watchExit waits (without reaping) for bitlbee to exit, so that Close can
// still kill what is left of its process group while the group id is
// reserved by the unreaped leader.
func (c *Client) watchExit() {
	defer close(c.exited)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, c.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

func (c *Client) kill() {
	pid := c.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGKILL) // the whole group (Setpgid: pgid == pid)
	<-c.exited
	c.cmd.Wait()
}

// Close turns the account off, stops bitlbee and waits for it (no orphan
// processes). It removes dir if Start made it.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.tag != "" {
			c.send("PRIVMSG &bitlbee :account " + c.tag + " off")
		}
		c.send("QUIT :sipetest done")
		select {
		case <-c.exited:
		case <-time.After(3 * time.Second):
			c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(2 * time.Second):
			}
		}
		// Leftovers in bitlbee's process group (libpurple forks DNS helper
		// processes for host names) go too; the group id stays ours until
		// Wait reaps the leader.
		pid := c.cmd.Process.Pid
		syscall.Kill(-pid, syscall.SIGKILL)
		<-c.exited
		if err := c.cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				c.closeErr = err
			}
		}
		c.conn.Close()
		<-c.readEnd
		if c.rmDir {
			os.RemoveAll(c.dir)
		}
	})
	return c.closeErr
}
