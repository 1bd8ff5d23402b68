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
// loses at most that much of them and never an operator change. A write
// the disk refuses (full) is cut back out of the segment and retried, 1 s
// doubling to 30 s; observations wait in memory meanwhile (at most
// Options.MaxHeldObservations) and operator changes fail with the error.
//
// Damage. A torn tail (a bad record at the end of the newest segment with
// no valid record after it: a write a crash cut short) is cut at Open and
// logged (RecoveredTail). Any other bad record, in any segment or in the
// snapshot, is corruption: Open refuses with a *CorruptError naming the
// file, the offset and the valid records after it, and changes nothing.
// Check reports every damaged file; Repair keeps every valid record, and a
// copy of each file it rewrites.
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
//	snapshot-<seq>.json     the state before journal-<seq> started: a magic
//	                        line, then records framed as the journal's
//	                        (header, objects, trailer), a phone's device
//	                        and timeline in one binary record (format 3,
//	                        snapshot3.go); formats 1 and 2 (JSON lines)
//	                        still load
//	*.corrupt-<UTC time>    originals Repair replaced, kept for the operator
//
// The package imports neither net/http nor the DNS or XML packages.
package store
