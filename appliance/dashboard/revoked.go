package dashboard

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
)

// revokedFile in Config.DataDir is the durable list of sessions ended by a
// logout, so that a restart does not bring them back.
const revokedFile = "dashboard-revoked.txt"

// maxRevoked bounds the list. A logout that finds it full of unexpired
// entries ends every session issued until then (notBefore) and empties it:
// the bound fails closed, it never revives a session.
const maxRevoked = 1000

// revokedHeader is the first line of revokedFile. The file is text so an
// operator can read it:
//
//	tanjay dashboard revoked sessions v1
//	not-before 1765000000
//	<session nonce> <expiry, Unix seconds>
//	…
const revokedHeader = "tanjay dashboard revoked sessions v1"

// nonceLen is the length of a session nonce: randomToken(16).
const nonceLen = 22

// revocations is the content of revokedFile. Not safe for concurrent use:
// auth guards it.
type revocations struct {
	// notBefore: sessions issued at or before this Unix second are refused.
	notBefore int64
	// nonces maps a revoked session's nonce to the Unix second its cookie
	// expires; the entry goes once that has passed.
	nonces map[string]int64
}

// refuses reports whether the session nonce, issued at the Unix second
// issued, has been ended.
func (rv *revocations) refuses(nonce string, issued int64) bool {
	if issued <= rv.notBefore {
		return true
	}
	_, gone := rv.nonces[nonce]
	return gone
}

// add revokes nonce until expires, dropping entries that have expired by
// now; when the list is still full, it ends every session issued up to now
// instead.
func (rv *revocations) add(nonce string, expires, now int64) {
	rv.prune(now)
	if len(rv.nonces) >= maxRevoked {
		rv.notBefore = max(rv.notBefore, now)
		clear(rv.nonces)
		return
	}
	rv.nonces[nonce] = expires
}

// prune drops the entries whose cookies have expired by now.
func (rv *revocations) prune(now int64) {
	for n, exp := range rv.nonces {
		if exp <= now {
			delete(rv.nonces, n)
		}
	}
}

// encode is the file's content, entries sorted by nonce so that equal lists
// give equal bytes.
func (rv *revocations) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nnot-before %d\n", revokedHeader, rv.notBefore)
	for _, n := range slices.Sorted(maps.Keys(rv.nonces)) {
		fmt.Fprintf(&b, "%s %d\n", n, rv.nonces[n])
	}
	return b.Bytes()
}

// parseRevoked reads the content of revokedFile. It is strict: anything but
// what encode writes is an error naming the line.
func parseRevoked(data []byte) (*revocations, error) {
	text, ok := strings.CutSuffix(string(data), "\n")
	if !ok {
		return nil, errors.New("does not end with a newline (torn write?)")
	}
	lines := strings.Split(text, "\n")
	if lines[0] != revokedHeader {
		return nil, fmt.Errorf("line 1: want %q", revokedHeader)
	}
	if len(lines) < 2 {
		return nil, errors.New("line 2: missing not-before")
	}
	nb, ok := strings.CutPrefix(lines[1], "not-before ")
	if !ok {
		return nil, errors.New("line 2: want not-before <Unix seconds>")
	}
	rv := &revocations{nonces: map[string]int64{}}
	var err error
	if rv.notBefore, err = parseUnix(nb); err != nil {
		return nil, fmt.Errorf("line 2: not-before: %w", err)
	}
	if n := len(lines) - 2; n > maxRevoked {
		return nil, fmt.Errorf("%d entries, more than the %d ever written", n, maxRevoked)
	}
	for i, line := range lines[2:] {
		nonce, exp, err := parseRevokedEntry(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+3, err)
		}
		if _, dup := rv.nonces[nonce]; dup {
			return nil, fmt.Errorf("line %d: session %s listed twice", i+3, nonce)
		}
		rv.nonces[nonce] = exp
	}
	return rv, nil
}

// parseRevokedEntry reads "<nonce> <expiry>".
func parseRevokedEntry(line string) (string, int64, error) {
	nonce, exp, ok := strings.Cut(line, " ")
	if !ok {
		return "", 0, fmt.Errorf("want <session> <expiry>, got %q", line)
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(nonce); len(nonce) != nonceLen || err != nil || len(b) != 16 {
		return "", 0, fmt.Errorf("session %q is not a %d-character nonce", nonce, nonceLen)
	}
	unix, err := parseUnix(exp)
	if err != nil {
		return "", 0, fmt.Errorf("expiry: %w", err)
	}
	return nonce, unix, nil
}

// parseUnix reads a non-negative decimal Unix time without sign or leading
// zeros, as strconv.FormatInt writes it.
func parseUnix(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || strconv.FormatInt(v, 10) != s {
		return 0, fmt.Errorf("%q is not a Unix time", s)
	}
	return v, nil
}

// loadRevoked reads path. A missing file is an empty list. A file that does
// not parse (the writes are atomic, so only a damaged disk or a hand edit
// makes one) fails closed: it is kept as path+".corrupt", every session
// issued up to now is refused, and warn says why.
func loadRevoked(path string, now int64, warn func(msg string, args ...any)) (*revocations, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &revocations{nonces: map[string]int64{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revoked sessions: %w", err)
	}
	rv, perr := parseRevoked(data)
	if perr == nil {
		rv.prune(now)
		return rv, nil
	}
	kept := path + ".corrupt"
	if err := os.Rename(path, kept); err != nil {
		return nil, fmt.Errorf("revoked sessions: %s: %v; keeping a copy: %w", path, perr, err)
	}
	warn("dashboard: the revoked-sessions file does not parse; every existing session is ended, the file is kept",
		"file", path, "kept", kept, "err", perr)
	rv = &revocations{notBefore: now, nonces: map[string]int64{}}
	if err := atomicfile.Write(path, 0o600, rv.encode()); err != nil {
		return nil, fmt.Errorf("revoked sessions: %w", err)
	}
	return rv, nil
}
