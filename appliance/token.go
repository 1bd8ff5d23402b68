package appliance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
)

// loadOrCreateToken returns the admin API token: given (from TANJAY_TOKEN)
// when set, else the one in path, else a new random one written to path
// with mode 0600 (temp file + fsync + rename).
func loadOrCreateToken(path, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(path, 0o600, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}

// readToken is how the admin commands find the token: TANJAY_TOKEN or
// --token first, then the data directory's file.
func readToken(c clientConfig) (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(tokenPath(c.Data))
	if err != nil {
		return "", fmt.Errorf("no admin token: set TANJAY_TOKEN or --token, or point --data at the appliance's data directory (%w)", err)
	}
	return strings.TrimSpace(string(b)), nil
}
