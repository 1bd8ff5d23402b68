package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/images"
)

// ErrNotFound is wrapped by operator changes naming a rule or test device
// the store does not have.
var ErrNotFound = errors.New("not found")

// Test device kinds.
const (
	TestDeviceMAC    = "mac"
	TestDeviceSerial = "serial"
)

// ImportImage stores img (replacing an image of the same rule and version)
// and makes its version the rule's Pending one, creating the rule if it is
// new. When images.Import refuses the version nothing changes.
func (s *Store) ImportImage(img images.Image) (images.Rule, error) {
	rules, err := s.ImportImages([]images.Image{img})
	if err != nil {
		return images.Rule{}, err
	}
	return rules[0], nil
}

// ImportImages lands every image of one import (a vendor package holds the
// interim and the release) in one journal record: after a crash either all
// of them are there or none. Each image's rule gets it as Pending, in
// version order, so a rule given two versions ends Pending on the higher.
// It returns each image's rule after the import, in the order given. Any
// refused transition refuses the whole import.
func (s *Store) ImportImages(imgs []images.Image) ([]images.Rule, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("import: no images")
	}
	order := make([]int, len(imgs))
	for i := range imgs {
		if _, err := images.ParseRuleKey(imgs[i].Key.String()); err != nil {
			return nil, fmt.Errorf("import image: %w", err)
		}
		imgs[i].Files = slices.Clone(imgs[i].Files)
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return imgs[a].Version.Compare(imgs[b].Version) })
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	rules := map[string]images.Rule{}
	for _, i := range order {
		id := imgs[i].Key.ID()
		r, ok := rules[id]
		if !ok {
			if r, ok = s.Rule(imgs[i].Key); !ok {
				r = images.Rule{Key: imgs[i].Key}
			}
		}
		r, err := images.Import(r, imgs[i].Version)
		if err != nil {
			return nil, err
		}
		rules[id] = r
	}
	rec := record{Op: opImport, Images: slices.Clone(imgs)}
	for _, r := range rules {
		rec.Rules = append(rec.Rules, r)
	}
	slices.SortFunc(rec.Rules, func(a, b images.Rule) int { return strings.Compare(a.Key.ID(), b.Key.ID()) })
	if err := s.commit(rec); err != nil {
		return nil, err
	}
	out := make([]images.Rule, len(imgs))
	for i, im := range imgs {
		out[i] = rules[im.Key.ID()]
	}
	return out, nil
}

// Approve makes the rule's Pending version the Approved one.
func (s *Store) Approve(key images.RuleKey) (images.Rule, error) {
	return s.transition(key, images.Approve)
}

// Reject drops the rule's Pending version.
func (s *Store) Reject(key images.RuleKey) (images.Rule, error) {
	return s.transition(key, images.Reject)
}

// Restore puts the rule's Restore version back as the Approved one.
func (s *Store) Restore(key images.RuleKey) (images.Rule, error) {
	return s.transition(key, images.Restore)
}

// MakePending makes an image the store already has the rule's Pending
// version again — after a Restore, the way back to the version restored
// away from, without importing its files again.
func (s *Store) MakePending(key images.RuleKey, v images.Version) (images.Rule, error) {
	if _, ok := s.Image(key, v); !ok {
		return images.Rule{}, fmt.Errorf("rule %s has no image of version %s (import it): %w", key, v, ErrNotFound)
	}
	return s.transition(key, func(r images.Rule) (images.Rule, error) { return images.Import(r, v) })
}

func (s *Store) transition(key images.RuleKey, fn func(images.Rule) (images.Rule, error)) (images.Rule, error) {
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	r, ok := s.Rule(key)
	if !ok {
		return images.Rule{}, fmt.Errorf("rule %s: %w", key, ErrNotFound)
	}
	r, err := fn(r)
	if err != nil {
		return images.Rule{}, err
	}
	if err := s.commit(record{Op: opRule, Rule: &r}); err != nil {
		return images.Rule{}, err
	}
	return r, nil
}

// AddTestDevice stores td, replacing one with the same ID. The ID is a
// normalised MAC (Kind "mac") or a serial (Kind "serial"), trimmed; Added
// defaults to now.
func (s *Store) AddTestDevice(td TestDevice) error {
	td.ID = strings.TrimSpace(td.ID)
	if td.ID == "" {
		return errors.New("test device: empty ID")
	}
	if td.Kind != TestDeviceMAC && td.Kind != TestDeviceSerial {
		return fmt.Errorf("test device %s: kind %q, want %q or %q", td.ID, td.Kind, TestDeviceMAC, TestDeviceSerial)
	}
	if td.Added.IsZero() {
		td.Added = s.opt.Now().UTC()
	}
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	return s.commit(record{Op: opTestDevice, TestDevice: &td})
}

// RemoveTestDevice deletes the test device with that ID.
func (s *Store) RemoveTestDevice(id string) error {
	id = strings.TrimSpace(id)
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	if obj, _ := s.db.Txn(false).First(tableTestDevices, indexID, id); obj == nil {
		return fmt.Errorf("test device %s: %w", id, ErrNotFound)
	}
	return s.commit(record{Op: opTestDeviceDelete, ID: id})
}

// commit makes an operator change durable, then visible: rec goes into the
// journal after every pending observation and is fsynced, and only then
// applied to memdb. The caller holds journalMu (so no other operator change
// or rotation can come between its read and this write) and computed rec
// from the state it read under it. mu is not held while the disk works, so
// Observe goes on meanwhile; the record then joins the observations' memdb
// batch, which is committed at once.
func (s *Store) commit(rec record) error {
	s.mu.Lock()
	s.pending = append(s.pending, rec)
	recs := s.takePendingLocked()
	s.mu.Unlock()
	if err := s.writeJournal(recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.applyRecord(s.batchTxnLocked(), rec); err != nil {
		s.abortBatchLocked()
		return s.fail(fmt.Errorf("apply journaled %s record: %w", rec.Op, err))
	}
	s.batchChanges = append(s.batchChanges, rec.changes()...)
	s.commitBatchLocked()
	return nil
}

// Rule returns the rule for key, matched case-insensitively.
func (s *Store) Rule(key images.RuleKey) (images.Rule, bool) {
	obj, _ := s.db.Txn(false).First(tableRules, indexID, key.ID())
	if obj == nil {
		return images.Rule{}, false
	}
	return *obj.(*images.Rule), true
}

// Rules returns every rule, sorted by Key.String().
func (s *Store) Rules(ws memdb.WatchSet) []images.Rule {
	it, err := s.db.Txn(false).Get(tableRules, indexID)
	if err != nil {
		return nil
	}
	ws.Add(it.WatchCh())
	var out []images.Rule
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, *obj.(*images.Rule))
	}
	slices.SortFunc(out, func(a, b images.Rule) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out
}

// Image returns the image of that rule and version.
func (s *Store) Image(key images.RuleKey, v images.Version) (images.Image, bool) {
	obj, _ := s.db.Txn(false).First(tableImages, indexID, images.Image{Key: key, Version: v}.ID())
	if obj == nil {
		return images.Image{}, false
	}
	return *obj.(*images.Image), true
}

// ImageByDir returns the image whose files live at dir below
// DeviceUpdateFiles_Int (see images.Image.Dir), matched case-insensitively:
// phones do not keep the case of the URLs they were given.
func (s *Store) ImageByDir(dir string) (images.Image, bool) {
	obj, _ := s.db.Txn(false).First(tableImages, indexDir, strings.Trim(dir, "/"))
	if obj == nil {
		return images.Image{}, false
	}
	return *obj.(*images.Image), true
}

// Images returns every image, sorted by rule name, then version.
func (s *Store) Images(ws memdb.WatchSet) []images.Image {
	it, err := s.db.Txn(false).Get(tableImages, indexID)
	if err != nil {
		return nil
	}
	ws.Add(it.WatchCh())
	var out []images.Image
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, *obj.(*images.Image))
	}
	slices.SortFunc(out, func(a, b images.Image) int {
		if c := strings.Compare(a.Key.String(), b.Key.String()); c != 0 {
			return c
		}
		return a.Version.Compare(b.Version)
	})
	return out
}

// IsTestDevice reports whether the phone is a test device by its MAC
// (already normalised) or its serial (compared exactly, trimmed). Empty
// values never match.
func (s *Store) IsTestDevice(mac, serial string) bool {
	set := s.testDeviceSet()
	return (mac != "" && set[mac]) || (serial != "" && set[strings.TrimSpace(serial)])
}

// testIDs is the test devices' IDs as of the table state whose watch
// channel is watch: every check-in asks, so it is read without a memdb
// transaction, and rebuilt only after the table changed.
type testIDs struct {
	set   map[string]bool
	watch <-chan struct{}
}

func (s *Store) testDeviceSet() map[string]bool {
	if c := s.testIDs.Load(); c != nil {
		select {
		case <-c.watch:
		default:
			return c.set
		}
	}
	it, err := s.db.Txn(false).Get(tableTestDevices, indexID)
	if err != nil {
		return nil
	}
	c := &testIDs{set: map[string]bool{}, watch: it.WatchCh()}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		c.set[obj.(*TestDevice).ID] = true
	}
	s.testIDs.Store(c)
	return c.set
}

// TestDevices returns every test device, sorted by ID.
func (s *Store) TestDevices(ws memdb.WatchSet) []TestDevice {
	it, err := s.db.Txn(false).Get(tableTestDevices, indexID)
	if err != nil {
		return nil
	}
	ws.Add(it.WatchCh())
	var out []TestDevice
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, *obj.(*TestDevice))
	}
	return out
}
