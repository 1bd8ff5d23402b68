package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
	"github.com/tanjay-lab/tanjay/appliance/oplog"

	"golang.org/x/crypto/bcrypt"
)

// Files in Config.DataDir.
const (
	passwordHashFile = "dashboard-password.bcrypt" // bcrypt hash of the admin password
	passwordFile     = "dashboard-password.txt"    // a generated password, 0600, for the operator to read once
	sessionKeyFile   = "dashboard-session.key"     // the installation's secret the session key is derived from
)

const (
	sessionCookie = "tanjay_session"
	loginCookie   = "tanjay_login" // double-submit CSRF token of the login form
	sessionTTL    = 12 * time.Hour
)

// bcryptCost is the hash cost; tests lower it.
var bcryptCost = bcrypt.DefaultCost

// auth holds the admin password hash, the session key, revoked sessions and
// the login rate limiter.
type auth struct {
	hash []byte
	// key signs session cookies and CSRF tokens. It is derived from the
	// installation's secret and the password hash, so a new password (a
	// new hash) ends every session issued under the old one.
	key     []byte
	now     func() time.Time
	limiter *loginLimiter

	revokedPath string
	saveMu      sync.Mutex // serialises writes of revokedPath
	mu          sync.Mutex // guards revoked
	revoked     *revocations
}

func newAuth(cfg Config) (*auth, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	secret, err := loadOrCreateKey(filepath.Join(cfg.DataDir, sessionKeyFile))
	if err != nil {
		return nil, err
	}
	hash, err := passwordHash(cfg)
	if err != nil {
		return nil, err
	}
	revokedPath := filepath.Join(cfg.DataDir, revokedFile)
	revoked, err := loadRevoked(revokedPath, cfg.Now().Unix(), cfg.Logger.Warn)
	if err != nil {
		return nil, err
	}
	return &auth{hash: hash, key: sessionKey(secret, hash), now: cfg.Now, limiter: newLoginLimiter(cfg.Now),
		revokedPath: revokedPath, revoked: revoked}, nil
}

// sessionKey derives the signing key from the installation's secret and
// the admin password's hash.
func sessionKey(secret, hash []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("tanjay dashboard session key v1|"))
	m.Write(hash)
	return m.Sum(nil)
}

// passwordHash hashes cfg.AdminPassword (and stores the hash), or loads the
// stored hash, or generates a password, shows it once and stores its hash.
func passwordHash(cfg Config) ([]byte, error) {
	hashPath := filepath.Join(cfg.DataDir, passwordHashFile)
	if cfg.AdminPassword != "" {
		if old, err := os.ReadFile(hashPath); err == nil && bcrypt.CompareHashAndPassword(old, []byte(cfg.AdminPassword)) == nil {
			return old, nil
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(cfg.AdminPassword), bcryptCost)
		if err != nil {
			return nil, fmt.Errorf("hash admin password: %w", err)
		}
		return hash, atomicfile.Write(hashPath, 0o600, hash)
	}
	if hash, err := os.ReadFile(hashPath); err == nil {
		return hash, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin password hash: %w", err)
	}
	password := randomToken(18)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash admin password: %w", err)
	}
	pwPath := filepath.Join(cfg.DataDir, passwordFile)
	if err := atomicfile.Write(pwPath, 0o600, []byte(password+"\n")); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(hashPath, 0o600, hash); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "dashboard admin password (shown once, also in %s): %s\n", pwPath, password)
	cfg.Logger.Info("generated the dashboard admin password", "file", pwPath)
	return hash, nil
}

func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("session key: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	return key, atomicfile.Write(path, 0o600, key)
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *auth) mac(parts ...string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkPassword compares in constant time (bcrypt).
func (a *auth) checkPassword(pw string) bool {
	return bcrypt.CompareHashAndPassword(a.hash, []byte(pw)) == nil
}

// allowLogin takes one login attempt for the client at addr.
func (a *auth) allowLogin(addr string) bool { return a.limiter.allow(addr) }

// loginSucceeded gives back the attempt of a login with the right password:
// the limits count failures.
func (a *auth) loginSucceeded(addr string) { a.limiter.succeeded(addr) }

// newSession returns a cookie value: nonce.expiry.mac.
func (a *auth) newSession() (value string, expires time.Time) {
	expires = a.now().Add(sessionTTL)
	nonce := randomToken(16)
	exp := strconv.FormatInt(expires.Unix(), 10)
	return nonce + "." + exp + "." + a.mac("session", nonce, exp), expires
}

// session returns the session nonce of a valid, unexpired, unrevoked cookie.
func (a *auth) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	nonce, rest, ok1 := strings.Cut(c.Value, ".")
	exp, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !hmac.Equal([]byte(sig), []byte(a.mac("session", nonce, exp))) {
		return "", false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || a.now().Unix() >= unix {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.revoked.refuses(nonce, unix-int64(sessionTTL/time.Second)) {
		return "", false
	}
	return nonce, true
}

// revoke ends a session (logout) until its cookie would have expired, and
// writes the list to disk before it returns. When the write fails the
// session stays ended until the appliance stops, and the error says so.
func (a *auth) revoke(nonce string) error {
	now := a.now()
	a.mu.Lock()
	a.revoked.add(nonce, now.Add(sessionTTL).Unix(), now.Unix())
	a.mu.Unlock()
	// Each write takes the latest list, so whichever of two concurrent
	// logouts writes last writes both.
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mu.Lock()
	data := a.revoked.encode()
	a.mu.Unlock()
	if err := atomicfile.Write(a.revokedPath, 0o600, data); err != nil {
		return fmt.Errorf("logged out until the appliance restarts, but saving the logout failed: %w", err)
	}
	return nil
}

// csrfToken is the token forms of a session carry.
func (a *auth) csrfToken(nonce string) string { return a.mac("csrf", nonce) }

func (a *auth) validCSRF(nonce, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(a.csrfToken(nonce)))
}

// actor is who a logged-in dashboard request acts as, for the operator
// log. There is one admin password, so the login is all there is to name.
func actor(r *http.Request) oplog.Actor {
	return oplog.Actor{Who: "dashboard login", From: clientAddr(r)}
}

// clientAddr is the remote host without port: the rate limiter's key.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}
