package store

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/images"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestSchemaGolden pins the schema: a change to a table or an index shows up
// in review as a change to testdata/schema.golden. Regenerate with
// go test ./appliance/store -run TestSchemaGolden -update.
func TestSchemaGolden(t *testing.T) {
	schema := newDBSchema()
	if err := schema.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := memdb.NewMemDB(schema); err != nil {
		t.Fatal(err)
	}
	got := schemaRepr(schema)
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("schema differs from %s (-golden +now); run with -update if intended:\n%s", golden, diff)
	}
}

// schemaRepr prints tables and indexes sorted by name, with each indexer's
// type and exported fields.
func schemaRepr(schema *memdb.DBSchema) string {
	var b strings.Builder
	for _, name := range sortedKeys(schema.Tables) {
		fmt.Fprintf(&b, "table=%s\n", name)
		table := schema.Tables[name]
		for _, iname := range sortedKeys(table.Indexes) {
			index := table.Indexes[iname]
			fmt.Fprintf(&b, "  index=%s", iname)
			if index.Unique {
				b.WriteString(" unique")
			}
			if index.AllowMissing {
				b.WriteString(" allow-missing")
			}
			fmt.Fprintf(&b, "\n    indexer=%s\n", indexerRepr(index.Indexer))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func indexerRepr(x memdb.Indexer) string {
	v := reflect.ValueOf(x)
	typ := strings.ReplaceAll(v.Type().String(), "github.com/tanjay-lab/tanjay/", "")
	var fields []string
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() {
			fields = append(fields, fmt.Sprintf("%s=%v", f.Name, v.Field(i).Interface()))
		}
	}
	return strings.TrimSpace(typ + " " + strings.Join(fields, " "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestIndexers checks what each index writes for an object and looks up for
// arguments, as hashicorp/consul's indexer tests do.
func TestIndexers(t *testing.T) {
	img := &images.Image{Key: images.RuleKey{DevicePath: cx700, UpdateType: "CPE"}, Version: vInterim}
	tests := []struct {
		table, index string
		obj          any
		args         []any
		want         []byte // both from obj and from args
		missing      bool   // obj yields no value
	}{
		{tableRules, indexID, &images.Rule{Key: img.Key}, []any{"UCPhone/Polycom/CX700/A/ENU/CPE"}, []byte("ucphone/polycom/cx700/a/enu/cpe\x00"), false},
		{tableImages, indexID, img, []any{"ucphone/polycom/cx700/a/enu/cpe@1.0.522.103"}, []byte("ucphone/polycom/cx700/a/enu/cpe@1.0.522.103\x00"), false},
		{tableImages, indexDir, img, []any{"UCPHONE/Polycom/CX700/A/ENU/1.0.522.103/cpe"}, []byte("ucphone/polycom/cx700/a/enu/1.0.522.103/cpe\x00"), false},
		{tableTestDevices, indexID, &TestDevice{ID: "Ab12"}, []any{"Ab12"}, []byte("Ab12\x00"), false},
		{tableDevices, indexID, &deviceRow{Device: Device{ID: mac}}, []any{mac}, []byte(mac + "\x00"), false},
		{tableDevices, indexID, &deviceRow{}, nil, nil, true},
		// The key the timeline keeps is used when it is the device's,
		// and only then (a placeholder's timeline merged into a phone).
		{tableDevices, indexID, &deviceRow{Device: Device{ID: mac}, tl: &timeline{DeviceID: mac, key: []byte(mac + "\x00")}}, []any{mac}, []byte(mac + "\x00"), false},
		{tableDevices, indexID, &deviceRow{Device: Device{ID: mac}, tl: &timeline{DeviceID: "IP:10.0.0.5", key: []byte("IP:10.0.0.5\x00")}}, []any{mac}, []byte(mac + "\x00"), false},
	}
	schema := newDBSchema()
	for _, tt := range tests {
		t.Run(tt.table+"/"+tt.index, func(t *testing.T) {
			indexer := schema.Tables[tt.table].Indexes[tt.index].Indexer
			ok, got, err := indexer.(memdb.SingleIndexer).FromObject(tt.obj)
			if err != nil || ok == tt.missing || !bytes.Equal(got, tt.want) {
				t.Errorf("FromObject = %v, %q, %v; want %v, %q", ok, got, err, !tt.missing, tt.want)
			}
			if tt.args == nil {
				return
			}
			got, err = indexer.FromArgs(tt.args...)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("FromArgs = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestIndexersRefuseWrongTypes(t *testing.T) {
	schema := newDBSchema()
	for _, table := range schema.Tables {
		for _, index := range table.Indexes {
			if _, _, err := index.Indexer.(memdb.SingleIndexer).FromObject(struct{}{}); err == nil {
				t.Errorf("%s/%s FromObject(struct{}{}) did not fail", table.Name, index.Name)
			}
			if _, err := index.Indexer.FromArgs(1.5); err == nil {
				t.Errorf("%s/%s FromArgs(1.5) did not fail", table.Name, index.Name)
			}
			if _, err := index.Indexer.FromArgs(); err == nil {
				t.Errorf("%s/%s FromArgs() did not fail", table.Name, index.Name)
			}
		}
	}
}
