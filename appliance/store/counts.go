package store

import (
	"maps"

	"github.com/hashicorp/go-memdb"
)

// FleetCounts is how many phones there are, by stage and by model, kept
// up to date as phones are observed, so that a reader (the /metrics
// endpoint, the dashboard's summary) need not copy every device.
type FleetCounts struct {
	Devices int
	// Stages counts the phones in each stage; a stage no phone is in is
	// absent.
	Stages map[Stage]int
	// Models counts the phones of each DevicePath.Model ("CX700",
	// "IP8540"); phones that have not said theirs are counted under "".
	Models map[string]int
}

// fleetCounts is FleetCounts as the writer keeps it (in its view), in
// step with view.devices, and so, once the batch is committed, with
// memdb. Guarded by Store.mu.
type fleetCounts struct {
	devices int
	stages  map[Stage]int
	models  map[string]int
}

// replace counts new instead of old; either may be nil (a device added or
// removed).
func (c *fleetCounts) replace(old, new *Device) {
	if c.stages == nil {
		c.stages, c.models = map[Stage]int{}, map[string]int{}
	}
	if old != nil {
		c.devices--
		decrement(c.stages, old.Stage)
		decrement(c.models, old.DevicePath.Model)
	}
	if new != nil {
		c.devices++
		c.stages[new.Stage]++
		c.models[new.DevicePath.Model]++
	}
}

func decrement[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

// FleetCounts returns how many phones there are, by stage and by model,
// with every observation made so far (the maps are the caller's).
func (s *Store) FleetCounts() FleetCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitBatchLocked()
	s.view.aggregate()
	c := &s.view.counts
	return FleetCounts{Devices: c.devices, Stages: maps.Clone(c.stages), Models: maps.Clone(c.models)}
}

// StageCounts returns how many phones are in each stage (stages no phone
// is in are absent): what counting Devices by Stage gives, without the
// copy.
func (s *Store) StageCounts() map[Stage]int {
	c := s.FleetCounts().Stages
	if c == nil {
		c = map[Stage]int{}
	}
	return c
}

// viewOf is the writer's view of what txn holds. The addresses are not in
// memdb: each goes to the device seen there last of those that have it,
// which is what the view held unless the last one moved away since (only
// a bug gets here: see resetViewLocked).
func viewOf(txn *memdb.Txn) view {
	v := newView()
	if it, err := txn.Get(tableDevices, indexID); err == nil {
		for obj := it.Next(); obj != nil; obj = it.Next() {
			d := obj.(*deviceRow)
			v.devices[d.ID] = d
		}
	}
	for id, d := range v.devices {
		if d.IP == "" {
			continue
		}
		if o := v.devices[v.ips[d.IP]]; o == nil || d.LastSeen.After(o.LastSeen) || d.LastSeen.Equal(o.LastSeen) && id > o.ID {
			v.ips[d.IP] = id
		}
	}
	v.aggregate()
	return v
}

// resetViewLocked makes the writer's view (with its counts) and the
// unconfirmed devices those of memdb again, after a batch was thrown away. Called
// with mu held and no batch open.
func (s *Store) resetViewLocked() {
	s.view = viewOf(s.db.Txn(false))
	s.unconfirmed = unconfirmedTable{}
}
