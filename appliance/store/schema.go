package store

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/images"
)

// Tables. They are also the Table of a Change.
const (
	tableRules       = "rules"
	tableImages      = "images"
	tableTestDevices = "testdevices"
	tableDevices     = "devices"
	// tableEvents is not a table: a phone's timeline is part of its
	// devices row (deviceRow). A Change names it when the timeline changes.
	tableEvents = "events"
	tableLeases = "leases"
)

// Indexes.
const (
	indexID  = "id"  // every table's primary key
	indexDir = "dir" // images by Image.Dir(), case-folded
)

// newDBSchema is the whole schema; each table has its own function.
func newDBSchema() *memdb.DBSchema {
	db := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, fn := range []func() *memdb.TableSchema{
		rulesTableSchema,
		imagesTableSchema,
		testDevicesTableSchema,
		devicesTableSchema,
		leasesTableSchema,
	} {
		t := fn()
		db.Tables[t.Name] = t
	}
	return db
}

// rulesTableSchema holds *images.Rule keyed by Key.ID() (the case-folded
// rule name: phones are not consistent about case).
func rulesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableRules,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: stringIndexer[images.Rule]{Of: "Key.ID()", Lowercase: true, of: func(r *images.Rule) string { return r.Key.ID() }},
			},
		},
	}
}

// imagesTableSchema holds *images.Image keyed by ID() (rule ID @ version),
// and by Dir(), the path below DeviceUpdateFiles_Int that file downloads
// name: that lookup is on the download hot path.
func imagesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableImages,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: stringIndexer[images.Image]{Of: "ID()", Lowercase: true, of: (*images.Image).ID},
			},
			indexDir: {
				Name:    indexDir,
				Unique:  true,
				Indexer: stringIndexer[images.Image]{Of: "Dir()", Lowercase: true, of: (*images.Image).Dir},
			},
		},
	}
}

// testDevicesTableSchema holds *TestDevice keyed by ID (a normalised MAC or a
// serial as given: serials are compared exactly).
func testDevicesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableTestDevices,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: stringIndexer[TestDevice]{Of: "ID", of: func(t *TestDevice) string { return t.ID }},
			},
		},
	}
}

// deviceRow is a row of the devices table: a phone and its timeline (its
// newest events, nil when none is kept), in one row so that an Observe
// rewrites one row of memdb, not two. Rows are never changed once inserted
// (readers hold them): a change is a new row.
type deviceRow struct {
	Device
	tl *timeline
}

// key is the row's index key when its timeline already holds it (made once
// per phone), else nil.
func (r *deviceRow) key() []byte {
	if r.tl != nil && r.tl.DeviceID == r.ID {
		return r.tl.key
	}
	return nil
}

// devicesTableSchema holds *deviceRow keyed by ID.
func devicesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableDevices,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: stringIndexer[deviceRow]{Of: "ID", of: func(r *deviceRow) string { return r.ID }, keyOf: (*deviceRow).key},
			},
		},
	}
}

// ipDevice says which device was seen last at an address, and is still
// there: a device that moves away takes it with it. The writer's view
// keeps them (view.ips), not memdb: the only reader asking by address is
// DeviceByIP, and a table of 100,000 addresses in memdb's radix tree took
// some 45 MB for that. Snapshots hold them as address records.
type ipDevice struct {
	IP       string `json:"ip"`
	DeviceID string `json:"device_id"`
}

// stringIndexer indexes a string derived from a *T, NUL-terminated like
// memdb's StringFieldIndex so that "A" is not a prefix match of "AB". It
// avoids reflection: Observe and ImageByDir are on the phones' hot path.
type stringIndexer[T any] struct {
	Of        string // what is indexed, for the schema golden file
	Lowercase bool   // fold case on write and on lookup
	of        func(*T) string
	// keyOf, when set, is the object's key as FromObject makes it, kept
	// in the object (nil: not kept), so that a row rewritten on every
	// Observe does not make its key again each time.
	keyOf func(*T) []byte
}

func (x stringIndexer[T]) FromObject(obj any) (bool, []byte, error) {
	o, ok := obj.(*T)
	if !ok {
		return false, nil, fmt.Errorf("index on %s: got %T, want *%T", x.Of, obj, *new(T))
	}
	s := x.of(o)
	if s == "" {
		return false, nil, nil
	}
	if x.keyOf != nil {
		if k := x.keyOf(o); k != nil {
			return true, k, nil
		}
	}
	return true, x.key(s), nil
}

func (x stringIndexer[T]) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("index on %s: got %d arguments, want 1", x.Of, len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("index on %s: got argument %T, want string", x.Of, args[0])
	}
	return x.key(s), nil
}

// key is s (case-folded when asked) and a NUL. Every index here is
// unique, so memdb keeps the key as it is (it appends the primary key to
// a non-unique index's values): no spare room, the leaf of every phone in
// every table holds one.
func (x stringIndexer[T]) key(s string) []byte {
	if x.Lowercase {
		s = strings.ToLower(s)
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}
