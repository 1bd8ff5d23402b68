package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// RuleRequest names the rules of an approve, reject or restore (POST
// /api/v1/rules/{action}), or the rule and version of POST
// /api/v1/rules/pending.
type RuleRequest struct {
	Rule string `json:"rule,omitempty"`
	All  bool   `json:"all,omitempty"`
	// Version is, for /api/v1/rules/pending, the imported version to make
	// Pending again.
	Version string `json:"version,omitempty"`
}

// RuleResult is what a rule action changed.
type RuleResult struct {
	Changed []images.Rule `json:"changed"`
}

// TestDeviceRequest adds a test device by MAC or serial number (POST
// /api/v1/testdevices).
type TestDeviceRequest struct {
	ID string `json:"id"`
}

// TestDeviceAdded is what POST /api/v1/testdevices answers: the test
// device, and a warning when no phone with that ID has been seen.
type TestDeviceAdded struct {
	store.TestDevice
	Warning string `json:"warning,omitempty"`
}

// DeviceDetail is one phone with its timeline (GET /api/v1/devices/{id}).
type DeviceDetail struct {
	Device store.Device  `json:"device"`
	Events []store.Event `json:"events"`
}

// API is the admin API over the actions: JSON under /api/v1/, every route
// behind the bearer token.
type API struct {
	actions  *Actions
	token    string
	settings func() any
	log      *slog.Logger
}

// NewAPI is the admin API over a, accepting token; settings is what GET
// /api/v1/settings answers (what the appliance runs with).
func NewAPI(a *Actions, token string, settings func() any) (*API, error) {
	if token == "" {
		return nil, errors.New("admin API: the token is empty (it would accept any caller)")
	}
	if settings == nil {
		return nil, errors.New("admin API: no settings to answer GET /api/v1/settings with")
	}
	return &API{actions: a, token: token, settings: settings, log: a.log}, nil
}

// Register adds the admin API's routes to mux, the appliance's one route
// table of the dashboard listener.
func (api *API) Register(mux *http.ServeMux) {
	st := api.actions.store
	route := func(pattern string, h apiFunc) { mux.Handle(pattern, api.handler(h)) }
	route("GET /api/v1/rules", func(*http.Request) (any, error) { return st.Rules(nil), nil })
	route("POST /api/v1/rules/{action}", api.ruleAction)
	route("POST /api/v1/rules/pending", api.makePending)
	route("GET /api/v1/images", func(*http.Request) (any, error) { return st.Images(nil), nil })
	route("POST /api/v1/images", func(r *http.Request) (any, error) { return api.actions.ImportRequest(RequestActor(r), r) })
	route("GET /api/v1/testdevices", func(*http.Request) (any, error) { return st.TestDevices(nil), nil })
	route("POST /api/v1/testdevices", api.addTestDevice)
	route("DELETE /api/v1/testdevices/{id}", func(r *http.Request) (any, error) {
		return api.actions.RemoveTestDevice(RequestActor(r), r.PathValue("id"))
	})
	route("GET /api/v1/devices", func(*http.Request) (any, error) { return st.Devices(nil), nil })
	route("GET /api/v1/devices/{id}", api.device)
	route("GET /api/v1/settings", func(*http.Request) (any, error) { return api.settings(), nil })
	route("GET /api/v1/operator-log", api.operatorLog)
}

// apiFunc handles one admin API call: it returns the value to send as
// JSON, or an error that handler maps to a status (the one place that
// does, through Status).
type apiFunc func(r *http.Request) (any, error)

// handler authenticates the bearer token, runs h and writes its answer.
func (api *API) handler(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !api.TokenAccepted(w, r) {
			return
		}
		v, err := h(r)
		if err != nil {
			status := Status(err)
			if status == http.StatusInternalServerError {
				api.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			WriteJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		WriteJSON(w, http.StatusOK, v)
	})
}

// TokenAccepted reports whether r carries the admin token, answering 401
// itself when it does not. Routes that do not answer JSON (the backup
// archive) authenticate with it.
func (api *API) TokenAccepted(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(api.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tanjay"`)
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong admin token"})
		return false
	}
	return true
}

// WriteJSON writes v as the indented JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decodeJSON reads a small JSON request body.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// ruleAction is POST /api/v1/rules/{approve,reject,restore} {rule} or
// {all: true}.
func (api *API) ruleAction(r *http.Request) (any, error) {
	action := r.PathValue("action")
	if _, ok := ruleActions[action]; !ok {
		return nil, noRuleAction(action)
	}
	var req RuleRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	switch {
	case req.All && req.Rule != "":
		return nil, badRequest("name a rule or all, not both")
	case req.All:
		changed, err := api.actions.RuleActionAll(RequestActor(r), action)
		if err != nil {
			return nil, err
		}
		return RuleResult{Changed: changed}, nil
	}
	key, err := images.ParseRuleKey(req.Rule)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	rule, err := api.actions.RuleAction(RequestActor(r), action, key)
	if err != nil {
		return nil, err
	}
	return RuleResult{Changed: []images.Rule{rule}}, nil
}

// makePending is POST /api/v1/rules/pending {rule, version}: an image the
// store has becomes the rule's Pending version again.
func (api *API) makePending(r *http.Request) (any, error) {
	var req RuleRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	key, err := images.ParseRuleKey(req.Rule)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	v, err := images.ParseVersion(req.Version)
	if err != nil {
		return nil, badRequest("version %q: %v", req.Version, err)
	}
	rule, err := api.actions.MakePending(RequestActor(r), key, v)
	if err != nil {
		return nil, err
	}
	return RuleResult{Changed: []images.Rule{rule}}, nil
}

func (api *API) addTestDevice(r *http.Request) (any, error) {
	var req TestDeviceRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	td, warning, err := api.actions.AddTestDevice(RequestActor(r), req.ID)
	if err != nil {
		return nil, err
	}
	return TestDeviceAdded{TestDevice: td, Warning: warning}, nil
}

// device is GET /api/v1/devices/{id}: a phone by its ID, its MAC in any
// form, or the address it was last seen at.
func (api *API) device(r *http.Request) (any, error) {
	st := api.actions.store
	id := r.PathValue("id")
	d, ok := st.Device(id)
	if !ok {
		if mac := api.actions.normalizeMAC(id); mac != "" {
			d, ok = st.Device(mac)
		}
	}
	if !ok {
		// An address: the phone last seen there, whatever its ID (its
		// MAC once DHCP or a check-in named it).
		if ip, err := netip.ParseAddr(id); err == nil {
			d, ok = st.DeviceByIP(ip.String())
		}
	}
	if !ok {
		return nil, Error{http.StatusNotFound, fmt.Sprintf("no device %q", id)}
	}
	return DeviceDetail{Device: d, Events: st.Events(nil, d.ID)}, nil
}

// operatorLog is GET /api/v1/operator-log?q=&action=&limit=: the newest
// actions first (default 200, at most 10,000).
func (api *API) operatorLog(r *http.Request) (any, error) {
	limit := 200
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return nil, badRequest("limit %q: want 1 to 10000", s)
		}
		limit = n
	}
	entries, err := api.actions.OperatorLog(oplog.Filter{Text: r.URL.Query().Get("q"), Action: r.URL.Query().Get("action")}, limit)
	if entries == nil {
		entries = []oplog.Entry{}
	}
	return entries, err
}
