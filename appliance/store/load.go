package store

import (
	"maps"
	"slices"

	"github.com/hashicorp/go-memdb"
)

// rows is where observeTxn, the unconfirmed bound and operator records
// write memdb rows: the open write transaction (*memdb.Txn), or while a
// state is being loaded a *fleetLoad.
type rows interface {
	Insert(table string, obj any) error
	Delete(table string, obj any) error
	DeleteAll(table, index string, args ...any) (int, error)
}

// fleetLoad is the write transaction a snapshot and the journal after it
// are loaded into (Open, repair, check). Rules, images, test devices and
// leases go to memdb as they are read; the fleet's tables (devices with
// their timelines, their addresses) only to the view, which holds the same rows
// and is what observeTxn reads, and commitLoad inserts each of those rows
// once at the end. Replaying a journal otherwise rewrites a device and its
// timeline in memdb's trees for every event: at 100,000 phones that was
// most of a restart's time.
type fleetLoad struct {
	txn *memdb.Txn
}

// beginLoad starts loading into s, whose view must be empty.
func (s *Store) beginLoad() *fleetLoad {
	return &fleetLoad{txn: s.db.Txn(true)}
}

// fleetTable reports whether table's rows are the view's during a load.
func fleetTable(table string) bool {
	return table == tableDevices
}

func (l *fleetLoad) Insert(table string, obj any) error {
	if fleetTable(table) {
		return nil
	}
	return l.txn.Insert(table, obj)
}

func (l *fleetLoad) Delete(table string, obj any) error {
	if fleetTable(table) {
		return nil
	}
	return l.txn.Delete(table, obj)
}

func (l *fleetLoad) DeleteAll(table, index string, args ...any) (int, error) {
	return l.txn.DeleteAll(table, index, args...)
}

// abort drops what was loaded into memdb (the view is the caller's to
// throw away).
func (l *fleetLoad) abort() { l.txn.Abort() }

// commitLoad inserts the view's devices (with their timelines) and
// addresses into memdb, one write each, and commits everything loaded.
// Rows go in in key order: each insert then copies the tree nodes its
// predecessor already copied in this transaction, which the radix tree's
// cache of written nodes still holds, instead of a fresh path of nodes.
func (s *Store) commitLoad(l *fleetLoad) error {
	txn := l.txn
	for _, id := range slices.Sorted(maps.Keys(s.view.devices)) {
		if err := txn.Insert(tableDevices, s.view.devices[id]); err != nil {
			return err
		}
	}
	txn.Commit()
	return nil
}
