package dashboard

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// authAt makes the auth a dashboard over dir with password would have: a
// start of the appliance.
func authAt(t *testing.T, dir, password string) *auth {
	t.Helper()
	cfg := DefaultConfig(dir)
	cfg.AdminPassword = password
	a, err := newAuth(cfg.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func withCookie(value string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	return r
}

func TestSessionsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	a := authAt(t, dir, "first password")
	kept, _ := a.newSession()
	ended, _ := a.newSession()
	endedNonce, ok := a.session(withCookie(ended))
	if !ok {
		t.Fatal("a new session is refused")
	}
	if err := a.revoke(endedNonce); err != nil {
		t.Fatal(err)
	}

	a = authAt(t, dir, "first password") // restart, same password
	if _, ok := a.session(withCookie(kept)); !ok {
		t.Error("a session is refused after a restart with the same password")
	}
	if _, ok := a.session(withCookie(ended)); ok {
		t.Error("a logged-out session is accepted after a restart")
	}

	a = authAt(t, dir, "second password") // restart, new password
	if _, ok := a.session(withCookie(kept)); ok {
		t.Error("a session from before the password change is accepted")
	}
	fresh, _ := a.newSession()
	if _, ok := a.session(withCookie(fresh)); !ok {
		t.Error("a session under the new password is refused")
	}
	a = authAt(t, dir, "first password") // and back: the old sessions stay ended
	if _, ok := a.session(withCookie(kept)); ok {
		t.Error("a session from before two password changes is accepted")
	}
}

// TestGeneratedPasswordChangeEndsSessions: without TANJAY_ADMIN_PASSWORD,
// removing the stored hash makes a new password, and that ends sessions.
func TestGeneratedPasswordChangeEndsSessions(t *testing.T) {
	dir := t.TempDir()
	a := authAt(t, dir, "")
	s, _ := a.newSession()
	if _, ok := authAt(t, dir, "").session(withCookie(s)); !ok {
		t.Fatal("a session is refused after a restart with the generated password")
	}
	if err := os.Remove(filepath.Join(dir, passwordHashFile)); err != nil {
		t.Fatal(err)
	}
	if _, ok := authAt(t, dir, "").session(withCookie(s)); ok {
		t.Error("a session from before a new generated password is accepted")
	}
}

func TestSessionCookieTampering(t *testing.T) {
	a := authAt(t, t.TempDir(), "pw")
	s, _ := a.newSession()
	nonce, exp, _ := strings.Cut(s, ".")
	exp, sig, _ := strings.Cut(exp, ".")
	later := time.Now().Add(48 * time.Hour).Unix()
	for name, v := range map[string]string{
		"later expiry":   nonce + "." + itoa(later) + "." + sig,
		"other nonce":    "AAAAAAAAAAAAAAAAAAAAAA." + exp + "." + sig,
		"no signature":   nonce + "." + exp,
		"empty":          "",
		"signature only": sig,
	} {
		if _, ok := a.session(withCookie(v)); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestLogoutPersistenceFailure: when the list cannot be written the logout
// says so, and the session is still ended for this run.
func TestLogoutPersistenceFailure(t *testing.T) {
	dir := t.TempDir()
	a := authAt(t, dir, "pw")
	s, _ := a.newSession()
	nonce, _ := a.session(withCookie(s))
	a.revokedPath = filepath.Join(dir, "missing-dir", revokedFile)
	err := a.revoke(nonce)
	if err == nil || !strings.Contains(err.Error(), "saving the logout failed") || !strings.Contains(err.Error(), "missing-dir") {
		t.Errorf("revoke: %v, want an error naming the file", err)
	}
	if _, ok := a.session(withCookie(s)); ok {
		t.Error("the session is accepted after a logout whose save failed")
	}
}
