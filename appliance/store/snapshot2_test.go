package store

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/hashicorp/go-memdb"
)

// snapshot2Tables is the order format 2 wrote tables in. The events table
// (now part of the devices rows) is written last, as single events;
// loading rebuilds the timelines from them. The ips table is now the
// addresses the writer's view keeps.
var snapshot2Tables = []string{tableRules, tableImages, tableTestDevices, tableDevices, "ips", tableLeases, tableEvents}

// writeSnapshot2 writes a format 2 snapshot, as the appliance did before
// format 3: one checksummed JSON value per line: a header,
// every object, and a trailer with their count, so that a cut-short file is
// never taken for a whole one. It returns how many objects it wrote.
func writeSnapshot2(w io.Writer, txn *memdb.Txn, addrs map[string]string, lastSeq uint64) (int, error) {
	sw := snapshot2Writer{w: w}
	if err := sw.record(record{Op: opSnapshot, Format: snapshotFormat, LastSeq: lastSeq}); err != nil {
		return 0, err
	}
	for _, table := range snapshot2Tables {
		if table == "ips" {
			for _, ip := range slices.Sorted(maps.Keys(addrs)) {
				if err := sw.row(table, &ipDevice{IP: ip, DeviceID: addrs[ip]}); err != nil {
					return sw.count, err
				}
			}
			continue
		}
		rows := table
		if table == tableEvents {
			rows = tableDevices
		}
		it, err := txn.Get(rows, indexID)
		if err != nil {
			return sw.count, err
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			if table == tableEvents {
				obj = obj.(*deviceRow).tl
			}
			if err := sw.row(table, obj); err != nil {
				return sw.count, err
			}
		}
	}
	return sw.count, sw.record(record{Op: opEnd, Count: sw.count})
}

// snapshot2Writer writes rows as records and counts them.
type snapshot2Writer struct {
	w     io.Writer
	buf   []byte
	line  []byte
	count int
}

// row writes one row; a timeline as its events, one per line, in the
// journal's fast encoding (there are hundreds of thousands).
func (sw *snapshot2Writer) row(table string, obj any) error {
	if tl, ok := obj.(*timeline); ok {
		var err error
		tl.all(func(e *Event) {
			if err == nil {
				err = sw.event(e)
			}
		})
		return err
	}
	rec, ok := rowRecord(obj)
	if !ok {
		return fmt.Errorf("table %s holds a %T", table, obj)
	}
	sw.count++
	return sw.record(rec)
}

// record writes rec as one line; only rows count.
func (sw *snapshot2Writer) record(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return sw.write(b)
}

func (sw *snapshot2Writer) event(e *Event) error {
	b, err := appendEventRecord(sw.buf[:0], e)
	if err != nil {
		return err
	}
	sw.buf = b
	sw.count++
	return sw.write(b)
}

func (sw *snapshot2Writer) write(payload []byte) error {
	sw.line = appendSnapshotLine(sw.line[:0], payload)
	_, err := sw.w.Write(sw.line)
	return err
}
