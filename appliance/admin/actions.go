package admin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// Config is what the actions work on. Every field but Logger is required.
type Config struct {
	// Store holds the rules, images, devices and test devices; an action
	// is on disk in it before it returns.
	Store *store.Store
	// Blobs is the content-addressed firmware store imports write to.
	Blobs *images.BlobStore
	// Oplog records who changed what.
	Oplog *oplog.Log
	// TmpDir holds uploaded packages while they are read (the cabinet
	// reader needs random access); SweepInterruptedImports empties it.
	TmpDir string
	// CatalogChanged is called after every change of the rules or images,
	// before the action returns: the appliance rebuilds the planner's
	// catalog there, so the next check-in sees the change.
	CatalogChanged func()
	// NormalizeMAC reads a MAC address the way phones and operators write
	// it (12 hex digits, any of - : . between them) as 12 upper-case hex
	// digits, "" when s is not one: r2.NormalizeMAC, plugged in by the
	// appliance because admin does not import the phone-facing packages.
	NormalizeMAC func(s string) string
	// Logger gets one line per change. Default: discarded.
	Logger *slog.Logger
}

// Actions are the operator actions. They are safe for concurrent use;
// imports run one at a time.
type Actions struct {
	store          *store.Store
	blobs          *images.BlobStore
	oplog          *oplog.Log
	tmpDir         string
	catalogChanged func()
	normalizeMAC   func(string) string
	log            *slog.Logger
	// importMu runs imports one at a time, so a failed import can take
	// back exactly the blobs it wrote.
	importMu sync.Mutex
}

// New checks cfg and returns the actions over it.
func New(cfg Config) (*Actions, error) {
	var missing []error
	for _, f := range []struct {
		name string
		nil  bool
	}{
		{"Store", cfg.Store == nil}, {"Blobs", cfg.Blobs == nil}, {"Oplog", cfg.Oplog == nil},
		{"TmpDir", cfg.TmpDir == ""}, {"CatalogChanged", cfg.CatalogChanged == nil}, {"NormalizeMAC", cfg.NormalizeMAC == nil},
	} {
		if f.nil {
			missing = append(missing, fmt.Errorf("admin: Config.%s is required", f.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Actions{store: cfg.Store, blobs: cfg.Blobs, oplog: cfg.Oplog, tmpDir: cfg.TmpDir,
		catalogChanged: cfg.CatalogChanged, normalizeMAC: cfg.NormalizeMAC, log: log}, nil
}

// ruleActions are the rule transitions RuleAction applies.
var ruleActions = map[string]func(*store.Store, images.RuleKey) (images.Rule, error){
	"approve": (*store.Store).Approve,
	"reject":  (*store.Store).Reject,
	"restore": (*store.Store).Restore,
}

func noRuleAction(action string) error {
	return Error{http.StatusNotFound, fmt.Sprintf("no rule action %q (want approve, reject or restore)", action)}
}

// RuleAction approves, rejects or restores one rule.
func (a *Actions) RuleAction(act oplog.Actor, action string, key images.RuleKey) (images.Rule, error) {
	do, ok := ruleActions[action]
	if !ok {
		return images.Rule{}, noRuleAction(action)
	}
	rule, err := do(a.store, key)
	if err != nil {
		a.Record(act, action, key.String(), "", err)
		return images.Rule{}, err
	}
	a.Record(act, action, rule.Key.String(), ruleChange(rule), nil)
	a.catalogChanged()
	a.log.Info("rule "+action, "rule", rule.Key.String(), "approved", rule.Approved, "pending", rule.Pending, "restore", rule.Restore)
	return rule, nil
}

// RuleActionAll applies action to every rule it applies to: approve and
// reject to every rule with a Pending version, restore to every rule with
// a Restore version. It stops at the first refusal, returning what
// changed before it.
func (a *Actions) RuleActionAll(act oplog.Actor, action string) ([]images.Rule, error) {
	if _, ok := ruleActions[action]; !ok {
		return nil, noRuleAction(action)
	}
	changed := []images.Rule{}
	for _, rule := range a.store.Rules(nil) {
		if action == "restore" && rule.Restore.IsZero() || action != "restore" && rule.Pending.IsZero() {
			continue
		}
		r, err := a.RuleAction(act, action, rule.Key)
		if err != nil {
			return changed, err
		}
		changed = append(changed, r)
	}
	return changed, nil
}

// MakePending makes an image the store has the rule's Pending version
// again (store.MakePending): after a Restore, the way back without
// importing the files again.
func (a *Actions) MakePending(act oplog.Actor, key images.RuleKey, v images.Version) (images.Rule, error) {
	rule, err := a.store.MakePending(key, v)
	if err != nil {
		a.Record(act, "pending", key.String()+" "+v.String(), "", err)
		return images.Rule{}, err
	}
	a.catalogChanged()
	a.Record(act, "pending", rule.Key.String(), ruleChange(rule), nil)
	a.log.Info("rule pending again", "rule", rule.Key.String(), "pending", rule.Pending)
	return rule, nil
}
