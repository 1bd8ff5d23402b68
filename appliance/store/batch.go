package store

import "github.com/hashicorp/go-memdb"

// Every memdb write goes through one open write transaction, the batch,
// under Store.mu. A memdb write copies the radix nodes on its path; in one
// transaction the upper nodes are copied once for the whole batch, which
// makes Observe several times cheaper than a transaction each. The batch is
// committed when it is full, when anyone reads devices or events, when an
// operator change lands, and by the flusher every FlushInterval.

// maxBatch is how many observations share one transaction at most.
const maxBatch = 256

// view is the writer's index of what the batch transaction holds: the
// devices, who is at which address, and each device's timeline.
// observeTxn reads it instead of the transaction because a read inside a
// memdb write transaction throws away the transaction's cache of copied
// nodes (iradix Txn.Clone), and with it the point of batching. Guarded by
// Store.mu; the objects are the ones in memdb (see timeline for the one
// way the writer extends them).
type view struct {
	devices map[string]*deviceRow
	ips     map[string]string
	// shared are the addresses more than one device is at, with those
	// devices (see attribution.go).
	shared map[string]map[string]struct{}
	// counts are the devices by stage and model.
	counts fleetCounts
	// aggregated says shared and counts are built (aggregate).
	aggregated bool
}

func newView() view {
	return view{devices: map[string]*deviceRow{}, ips: map[string]string{}, shared: map[string]map[string]struct{}{}}
}

// batchTxnLocked is the open memdb write transaction every write goes
// through, opened if needed. It holds memdb's writer lock until
// commitBatchLocked; only code under mu writes memdb. Called with mu held.
func (s *Store) batchTxnLocked() *memdb.Txn {
	if s.batchTxn == nil {
		s.batchTxn = s.db.Txn(true)
		s.dirty.Store(true)
	}
	return s.batchTxn
}

// commitBatchLocked makes the batch visible and publishes its changes.
// Readers of devices and events call it (through readTxn) when a batch is
// open, as do the flusher, operator changes, rotation and Close. Called
// with mu held.
func (s *Store) commitBatchLocked() {
	if s.batchTxn == nil {
		return
	}
	s.batchTxn.Commit()
	s.batchTxn, s.batchLen = nil, 0
	s.dirty.Store(false)
	s.feed.publish(s.batchChanges)
	s.batchChanges = s.batchChanges[:0]
}

// abortBatchLocked throws the batch away, and with it what the writer's
// view learnt from it: the view is read back from memdb. Called with mu
// held.
func (s *Store) abortBatchLocked() {
	aborted := s.batchTxn != nil
	if aborted {
		s.batchTxn.Abort()
	}
	s.batchTxn, s.batchLen = nil, 0
	s.dirty.Store(false)
	s.batchChanges = s.batchChanges[:0]
	if aborted {
		s.resetViewLocked()
	}
}

// readTxn is a read transaction that sees every observation made so far.
func (s *Store) readTxn() *memdb.Txn {
	if s.dirty.Load() {
		s.mu.Lock()
		s.commitBatchLocked()
		s.mu.Unlock()
	}
	return s.db.Txn(false)
}
