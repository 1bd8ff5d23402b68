// Package store is the appliance's state: the firmware rules and images the
// operator imported, the test devices, and every phone with its timeline.
//
// The state lives in go-memdb and is rebuilt at Open from the newest
// snapshot plus the journal segments written after it.
//
// Durability. Operator changes (ImportImage, Approve, Reject, Restore,
// AddTestDevice, RemoveTestDevice) are written and fsynced, after every
// observation made before them, before they return; only then are they
// visible. Phone observations (Observe) are group-committed: a background
// goroutine writes and fsyncs them every Options.FlushInterval, so a crash
// loses at most that much of them and never an operator change. A torn or
// corrupt journal tail is cut at the last good record (RecoveredTail).
//
// Visibility. Observe applies observations to memdb in batches. Any read of
// devices or events sees every observation made before it; WatchSets and
// the change feed hear of them when the batch is committed: at the next
// such read, operator change or flush, so within FlushInterval.
//
// Readers take no lock, except briefly to commit a pending batch of
// observations. Getters take a memdb.WatchSet (nil allowed) and return
// values nobody mutates, slices included (callers must not modify them
// either). Subscribe gives a change feed that never blocks writers: a slow
// subscriber loses changes and is told so (Change.Lagged).
//
// On disk, in the state directory:
//
//	LOCK                    flock'ed while a Store has the directory open
//	journal-<seq>.log       records: [len u32 LE][CRC-32C u32 LE][JSON payload]
//	snapshot-<seq>.json     the state before journal-<seq> started, one JSON
//	                        value per line (header, objects, trailer)
//
// The package imports neither net/http nor the DNS or XML packages.
package store
