package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/admin"
)

// The admin API's requests and answers, as the commands name them:
// appliance/admin defines them once, for the server and its clients.
type (
	ruleRequest       = admin.RuleRequest
	ruleResult        = admin.RuleResult
	testDeviceRequest = admin.TestDeviceRequest
	testDeviceAdded   = admin.TestDeviceAdded
	deviceDetail      = admin.DeviceDetail
	importResult      = admin.ImportResult
)

// apiClient talks to a running appliance's admin API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
	agent string // User-Agent: who the operator log says acted
}

func newAPIClient(c clientConfig) (*apiClient, error) {
	tok, err := readToken(c)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(c.Server, "http://") && !strings.HasPrefix(c.Server, "https://") {
		return nil, usagef("--server %q: want http://host:port", c.Server)
	}
	return &apiClient{base: strings.TrimRight(c.Server, "/"), token: tok, http: &http.Client{Timeout: c.Timeout}, agent: cliUserAgent}, nil
}

// do sends a request and decodes the JSON answer into out (when non-nil).
// An error answer becomes an error carrying the server's message.
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.agent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("appliance at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("appliance at %s answered %s", c.base, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("appliance at %s: bad answer: %w", c.base, err)
	}
	return nil
}

func (c *apiClient) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}
