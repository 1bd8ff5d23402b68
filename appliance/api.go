package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/cab"
	"github.com/tanjay-lab/tanjay/images/pkg"
	"github.com/tanjay-lab/tanjay/r2"
)

// apiError is an error the admin API answers with its own status.
type apiError struct {
	Status int
	Msg    string
}

func (e apiError) Error() string { return e.Msg }

func badRequest(format string, a ...any) error {
	return apiError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// apiFunc handles one admin API call: it returns the value to send as JSON,
// or an error that apiHandler maps to a status (the one place that does).
type apiFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// apiHandler authenticates the bearer token, runs h and writes its answer.
func (a *app) apiHandler(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.tokenAccepted(w, r) {
			return
		}
		v, err := h(w, r)
		if err != nil {
			status := errorStatus(err)
			if status == http.StatusInternalServerError {
				a.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// tokenAccepted reports whether r carries the admin token, answering 401
// itself when it does not.
func (a *app) tokenAccepted(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !tokenEqual(tok, a.token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tanjay"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong admin token"})
		return false
	}
	return true
}

func errorStatus(err error) int {
	var ae apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.Status
	case errors.As(err, &mbe), errors.Is(err, cab.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, pkg.ErrRefused):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, images.ErrNoPending), errors.Is(err, images.ErrNoRestore),
		errors.Is(err, images.ErrAlreadyCurrent), errors.Is(err, images.ErrZeroVersion):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
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

// ruleRequest names the rules of an approve, reject or restore.
type ruleRequest struct {
	Rule string `json:"rule,omitempty"`
	All  bool   `json:"all,omitempty"`
	// Version is, for /api/v1/rules/pending, the imported version to make
	// Pending again.
	Version string `json:"version,omitempty"`
}

type ruleResult struct {
	Changed []images.Rule `json:"changed"`
}

var ruleActions = map[string]func(*store.Store, images.RuleKey) (images.Rule, error){
	"approve": (*store.Store).Approve,
	"reject":  (*store.Store).Reject,
	"restore": (*store.Store).Restore,
}

// pendAction is POST /api/v1/rules/pending {rule, version}: an image the
// store has becomes the rule's Pending version again (store.MakePending).
func (a *app) pendAction(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req ruleRequest
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
	rule, err := a.makePending(apiActor(r), key, v)
	if err != nil {
		return nil, err
	}
	return ruleResult{Changed: []images.Rule{rule}}, nil
}

// makePending is the one path of "make an imported version Pending
// again", for the admin API and the dashboard.
func (a *app) makePending(act oplog.Actor, key images.RuleKey, v images.Version) (images.Rule, error) {
	rule, err := a.store.MakePending(key, v)
	if err != nil {
		a.record(act, "pending", key.String()+" "+v.String(), "", err)
		return images.Rule{}, err
	}
	a.refreshCatalog()
	a.record(act, "pending", rule.Key.String(), ruleChange(rule), nil)
	a.log.Info("rule pending again", "rule", rule.Key.String(), "pending", rule.Pending)
	return rule, nil
}

func (a *app) ruleAction(_ http.ResponseWriter, r *http.Request) (any, error) {
	action := r.PathValue("action")
	if _, ok := ruleActions[action]; !ok {
		return nil, apiError{http.StatusNotFound, fmt.Sprintf("no rule action %q (want approve, reject or restore)", action)}
	}
	var req ruleRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	var keys []images.RuleKey
	switch {
	case req.All && req.Rule != "":
		return nil, badRequest("name a rule or all, not both")
	case req.All:
		// approve and reject: every rule with a Pending version; restore:
		// every rule with a Restore version.
		for _, rule := range a.store.Rules(nil) {
			if action == "restore" && !rule.Restore.IsZero() || action != "restore" && !rule.Pending.IsZero() {
				keys = append(keys, rule.Key)
			}
		}
	default:
		k, err := images.ParseRuleKey(req.Rule)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		keys = append(keys, k)
	}
	res := ruleResult{Changed: []images.Rule{}}
	for _, k := range keys {
		rule, err := a.applyRuleAction(apiActor(r), action, k)
		if err != nil {
			return nil, err
		}
		res.Changed = append(res.Changed, rule)
	}
	return res, nil
}

// applyRuleAction approves, rejects or restores one rule, durably, and
// refreshes the planner's catalog. The admin API and the dashboard share it.
func (a *app) applyRuleAction(act oplog.Actor, action string, key images.RuleKey) (images.Rule, error) {
	do, ok := ruleActions[action]
	if !ok {
		return images.Rule{}, apiError{http.StatusNotFound, fmt.Sprintf("no rule action %q (want approve, reject or restore)", action)}
	}
	rule, err := do(a.store, key)
	if err != nil {
		a.record(act, action, key.String(), "", err)
		return images.Rule{}, err
	}
	a.record(act, action, rule.Key.String(), ruleChange(rule), nil)
	a.refreshCatalog()
	a.log.Info("rule "+action, "rule", rule.Key.String(), "approved", rule.Approved, "pending", rule.Pending, "restore", rule.Restore)
	return rule, nil
}

func (a *app) listRules(_ http.ResponseWriter, r *http.Request) (any, error) {
	return a.store.Rules(nil), nil
}

func (a *app) listImages(_ http.ResponseWriter, r *http.Request) (any, error) {
	return a.store.Images(nil), nil
}

// testDeviceRequest adds a test device by MAC or serial number.
type testDeviceRequest struct {
	ID string `json:"id"`
}

func (a *app) addTestDevice(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req testDeviceRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	td, warning, err := a.addTestDeviceID(apiActor(r), req.ID)
	if err != nil {
		return nil, err
	}
	return testDeviceAdded{TestDevice: td, Warning: warning}, nil
}

func (a *app) removeTestDevice(_ http.ResponseWriter, r *http.Request) (any, error) {
	return a.removeTestDeviceID(apiActor(r), r.PathValue("id"))
}

// addTestDeviceID adds a test device by MAC or serial, durably. The admin
// API and the dashboard share it.
// It also returns a warning when no phone with that ID has been seen.
func (a *app) addTestDeviceID(act oplog.Actor, id string) (store.TestDevice, string, error) {
	td, err := parseTestDevice(id)
	if err != nil {
		a.record(act, "testdevice-add", clip(id, 100), "", err)
		return td, "", err
	}
	warning := ""
	if d, seen := a.phoneNamed(td); !seen {
		warning = unseenWarning(td)
	} else if err := a.samePhone(td, d); err != nil {
		a.record(act, "testdevice-add", td.ID, "", err)
		return td, "", err
	}
	td.Added = time.Now()
	if err := a.store.AddTestDevice(td); err != nil {
		a.record(act, "testdevice-add", td.ID, "", err)
		return td, "", err
	}
	a.record(act, "testdevice-add", td.ID, "added ("+td.Kind+")", nil)
	a.log.Info("test device added", "id", td.ID, "kind", td.Kind)
	return td, warning, nil
}

func (a *app) removeTestDeviceID(act oplog.Actor, id string) (store.TestDevice, error) {
	td, err := parseTestDevice(id)
	if err != nil {
		a.record(act, "testdevice-remove", clip(id, 100), "", err)
		return td, err
	}
	if err := a.store.RemoveTestDevice(td.ID); err != nil {
		a.record(act, "testdevice-remove", td.ID, "", err)
		return td, err
	}
	a.record(act, "testdevice-remove", td.ID, "removed", nil)
	a.log.Info("test device removed", "id", td.ID)
	return td, nil
}

// parseTestDevice reads a MAC (12 hex digits, with or without - : .
// separators) or else a serial number.
func parseTestDevice(id string) (store.TestDevice, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return store.TestDevice{}, badRequest("a test device needs a MAC address or serial number")
	}
	if mac := r2.NormalizeMAC(id); mac != "" {
		return store.TestDevice{ID: mac, Kind: "mac"}, nil
	}
	if strings.ContainsAny(id, " \t\r\n/") {
		return store.TestDevice{}, badRequest("test device %q: neither a MAC address nor a serial number", id)
	}
	return store.TestDevice{ID: id, Kind: "serial"}, nil
}

// deviceDetail is one phone with its timeline.
type deviceDetail struct {
	Device store.Device  `json:"device"`
	Events []store.Event `json:"events"`
}

func (a *app) getDevice(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	d, ok := a.store.Device(id)
	if !ok {
		if mac := r2.NormalizeMAC(id); mac != "" {
			d, ok = a.store.Device(mac)
		}
	}
	if !ok {
		// An address: the phone last seen there, whatever its ID (its
		// MAC once DHCP or a check-in named it).
		if ip, err := netip.ParseAddr(id); err == nil {
			d, ok = a.store.DeviceByIP(ip.String())
		}
	}
	if !ok {
		return nil, apiError{http.StatusNotFound, fmt.Sprintf("no device %q", id)}
	}
	return deviceDetail{Device: d, Events: a.store.Events(nil, d.ID)}, nil
}
