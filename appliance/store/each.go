package store

import "github.com/hashicorp/go-memdb"

// EachDevice calls fn with every phone, in ID order, until fn returns
// false, without copying the fleet: where Devices allocates a Device for
// every phone (some 50 MB at 100,000), EachDevice allocates nothing per
// phone. It is for readers that aggregate or index the fleet.
//
// It sees what Devices sees: one consistent snapshot that holds every
// observation made before the call (the open batch is committed first),
// and nothing of a batch applied halfway. The snapshot is read outside the
// store's lock, so observations go on while fn runs; fn may call the
// store's readers but sees them at their own, later, moment.
//
// The *Device is the store's own, read-only: fn must not modify it (nor
// the Hops and Path it holds, which a copy made by Devices shares too),
// and must not keep the pointer past its return, but copy the Device if it
// needs it later. Its strings may be kept: they are never written to.
func (s *Store) EachDevice(ws memdb.WatchSet, fn func(*Device) bool) {
	it, err := s.readTxn().Get(tableDevices, indexID)
	if err != nil {
		return // only for an unknown table or index, and those are constants
	}
	ws.Add(it.WatchCh())
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if !fn(&obj.(*deviceRow).Device) {
			return
		}
	}
}
