package store

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// fullDevice has every field of Device set, by reflection, so that a field
// added to Device and forgotten in the decoder fails the test.
func fullDevice(t testing.TB) Device {
	var d Device
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2024, 5, 1, 9, 0, i, 1000*i, time.UTC)))
		case images.Version:
			f.Set(reflect.ValueOf(images.Version{uint32(i), 0, 522, 103}))
		case []images.Version:
			f.Set(reflect.ValueOf([]images.Version{{1, 0, 522, 103}, {4, 0, 7577, 4398}}))
		case images.DevicePath:
			f.Set(reflect.ValueOf(images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}))
		case []Hop:
			f.Set(reflect.ValueOf([]Hop{{Version: images.Version{1, 0, 199, 0}, At: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)}, {Version: images.Version{1, 0, 522, 103}}}))
		default:
			switch f.Kind() {
			case reflect.String:
				f.SetString(v.Type().Field(i).Name)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Int, reflect.Int64:
				f.SetInt(int64(1000 + i))
			default:
				t.Fatalf("Device.%s is a %s: teach fullDevice and the record decoder about it", v.Type().Field(i).Name, f.Type())
			}
		}
	}
	return d
}

// writtenRecords are records as the journal and snapshot writers make
// them, one of each kind the fast decoder reads.
func writtenRecords(t testing.TB) map[string][]byte {
	ev := fullEvent(t)
	ev.Time = ev.Time.UTC() // as Observe stores it
	evRec, err := appendEventRecord(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	d := fullDevice(t)
	out := map[string][]byte{"event with every field": evRec}
	for name, rec := range map[string]record{
		"device with every field": {Op: opDevice, Device: &d},
		"zero device":             {Op: opDevice, Device: &Device{ID: "IP:10.0.0.1"}},
		"address row":             {Op: opIP, IPDevice: &ipDevice{IP: "10.0.0.1", DeviceID: "0004F2000001"}},
		"header":                  {Op: opSnapshot, Format: snapshotFormat, LastSeq: 1 << 40},
		"trailer":                 {Op: opEnd, Count: 123456},
		"test device removed":     {Op: opTestDeviceDelete, ID: "SN-1"},
	} {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// TestFastDecoderReadsWhatIsWritten: every record kind the writers make
// for phones is read by the fast path, to what encoding/json reads.
func TestFastDecoderReadsWhatIsWritten(t *testing.T) {
	for name, b := range writtenRecords(t) {
		t.Run(name, func(t *testing.T) {
			var d recordDecoder
			var got record
			if err := d.fast(b, &got); err != nil {
				t.Fatalf("the fast path refused %s", b)
			}
			var want record
			noErr(t, json.Unmarshal(b, &want))
			if !reflect.DeepEqual(want, got) {
				t.Errorf("fast decoder differs from encoding/json (-json +fast):\n%s", cmp.Diff(want, got))
			}
		})
	}
}

// TestDecoderFallsBack: what the fast path does not read, encoding/json
// does, with the same result or the same refusal.
func TestDecoderFallsBack(t *testing.T) {
	tests := map[string]string{
		"operator record":      `{"op":"testdevice","testdevice":{"id":"SN-1","kind":"serial","added":"2024-05-01T09:00:00Z"}}`,
		"key in another case":  `{"Op":"event","EVENT":{"Seq":3,"kind":"dns"}}`,
		"escaped string":       `{"op":"event","event":{"seq":3,"kind":"dns","detail":"a \"quoted\" \u00e9"}}`,
		"unknown field":        `{"op":"event","event":{"seq":3,"kind":"dns","gone":[1,{"a":null}]}}`,
		"null event":           `{"op":"event","event":null}`,
		"repeated key":         `{"op":"event","event":{"seq":3,"seq":4}}`,
		"repeated object":      `{"op":"event","event":{"device_path":{"model":"CX700"},"device_path":{"locale":"ENU"}}}`,
		"time with an offset":  `{"op":"event","event":{"time":"2024-05-01T09:00:00+02:00"}}`,
		"version with spaces":  `{"op":"event","event":{"reported":" 1.0.522.103 "}}`,
		"empty version":        `{"op":"event","event":{"reported":""}}`,
		"invalid UTF-8":        "{\"op\":\"event\",\"event\":{\"detail\":\"\xff\"}}",
		"white space":          " {\n\t\"op\" : \"ip\" ,\r\"ip_device\":{ \"ip\":\"10.0.0.1\" , \"device_id\":\"X\" } } ",
		"negative zero":        `{"op":"event","event":{"offset":-0}}`,
		"biggest numbers":      `{"op":"event","event":{"seq":18446744073709551615,"offset":-9223372036854775808,"bytes":9223372036854775807}}`,
		"empty path and hops":  `{"op":"device","device":{"path":[],"hops":[]}}`,
		"null path":            `{"op":"device","device":{"path":null}}`,
		"not a record":         `{"op":5}`,
		"exponent":             `{"op":"end","count":1e3}`,
		"fraction":             `{"op":"end","count":1.0}`,
		"leading zero":         `{"op":"end","count":01}`,
		"too big for uint64":   `{"op":"event","event":{"seq":18446744073709551616}}`,
		"negative seq":         `{"op":"event","event":{"seq":-1}}`,
		"bad version":          `{"op":"event","event":{"reported":"1.0.522"}}`,
		"bad time":             `{"op":"event","event":{"time":"2024-02-30T09:00:00Z"}}`,
		"string for a bool":    `{"op":"event","event":{"interim":"true"}}`,
		"trailing garbage":     `{"op":"end","count":1}x`,
		"two values":           `{"op":"end"}{"op":"end"}`,
		"cut short":            `{"op":"event","event":{"seq":3`,
		"control character":    "{\"op\":\"event\",\"event\":{\"detail\":\"a\tb\"}}",
		"hop with extra field": `{"op":"device","device":{"hops":[{"version":"1.0.522.103","at":"2024-05-01T09:00:00Z","by":"x"}]}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var want record
			wantErr := json.Unmarshal([]byte(in), &want)
			var d recordDecoder
			got, err := d.decode([]byte(in))
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("decode: %v, encoding/json: %v", err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(want, got) {
				t.Errorf("decode differs from encoding/json (-json +decode):\n%s", cmp.Diff(want, got))
			}
		})
	}
}

// TestDecoderSharesRepeatedStrings: a phone's ID in consecutive records
// is one string.
func TestDecoderSharesRepeatedStrings(t *testing.T) {
	var d recordDecoder
	var recs []record
	for _, seq := range []string{"1", "2"} {
		rec, err := d.decode([]byte(`{"op":"event","event":{"seq":` + seq + `,"device_id":"0004F2000001","kind":"dns"}}`))
		noErr(t, err)
		recs = append(recs, rec)
	}
	a, b := recs[0].Event.DeviceID, recs[1].Event.DeviceID
	if a != "0004F2000001" || strings.Clone(a) != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("device IDs %q and %q are two strings", a, b)
	}
}

// FuzzRecordDecoder: whatever the bytes, the fast path either refuses
// them or reads exactly what encoding/json reads, and decode (fast path or
// fallback) always agrees with encoding/json.
func FuzzRecordDecoder(f *testing.F) {
	for _, b := range writtenRecords(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"op":"event","event":{"seq":1,"time":"2024-05-01T09:00:00Z","device_id":"IP:10.0.0.5","kind":"dns","ip":"10.0.0.5","detail":"ucupdates-r2.lab"}}`))
	f.Add([]byte(`{"op":"device","device":{"path":[],"hops":[{"version":"1.0.522.103","at":"2024-05-01T09:00:00Z"}]}}`))
	f.Add([]byte(`{"op":"testdevice","testdevice":{"id":"SN-1","kind":"serial"}}`))
	f.Add([]byte(`{"op":"event","event":{"offset":-0,"reported":" 1.0.522.103"}}`))
	for _, b := range olderRecords(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want record
		wantErr := json.Unmarshal(b, &want)
		var d recordDecoder
		var fast record
		if d.fast(b, &fast) == nil {
			if wantErr != nil {
				t.Fatalf("the fast path read %q, which encoding/json refuses: %v", b, wantErr)
			}
			if !reflect.DeepEqual(want, fast) {
				t.Fatalf("fast path differs from encoding/json on %q (-json +fast):\n%s", b, cmp.Diff(want, fast))
			}
		}
		// Again with the strings of the first pass remembered.
		got, err := d.decode(b)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decode %q: %v, encoding/json: %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("decode differs from encoding/json on %q (-json +decode):\n%s", b, cmp.Diff(want, got))
		}
	})
}

// TestOlderRecordsDecodeFast: every record in the older state files is
// either read by the fast decoder exactly as by encoding/json, or left to
// encoding/json; and the phones' records (events, devices, address rows)
// are read by the fast path.
func TestOlderRecordsDecodeFast(t *testing.T) {
	recs := olderRecords(t)
	fast := 0
	for _, b := range recs {
		var want record
		noErr(t, json.Unmarshal(b, &want))
		var d recordDecoder
		var got record
		if d.fast(b, &got) != nil {
			if want.Op == opEvent || want.Op == opDevice || want.Op == opIP {
				if json.Valid(b) && !containsEscape(b) {
					t.Errorf("the fast path refused a %s record: %s", want.Op, b)
				}
			}
			continue
		}
		fast++
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("fast decoder differs from encoding/json on %s (-json +fast):\n%s", b, diff)
		}
	}
	if len(recs) < 100 || fast < len(recs)/2 {
		t.Errorf("%d of %d older records read by the fast path", fast, len(recs))
	}
}

// containsEscape reports whether a JSON text holds a backslash escape,
// which the fast path leaves to encoding/json.
func containsEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// olderRecords is the payload of every record in testdata/state: journal
// frames and snapshot lines.
func olderRecords(t testing.TB) [][]byte {
	var out [][]byte
	journals, err := filepath.Glob(filepath.Join("testdata", "state", "*", "journal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range journals {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		scanFrames(b, func(off, n int) { out = append(out, b[off+frameHeader:off+n]) })
	}
	snapshots, err := filepath.Glob(filepath.Join("testdata", "state", "*", "snapshot-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range snapshots {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := snapshotLines{br: bufio.NewReader(f)}
		format := 0
		for {
			line, err := lines.next()
			if len(line) > 1 {
				payload, ok := snapshotLine(line[:len(line)-1], format)
				if !ok {
					t.Fatalf("%s: a damaged line", path)
				}
				if format == 0 {
					var hdr record
					if json.Unmarshal(payload, &hdr) == nil {
						format = hdr.Format
					}
				}
				out = append(out, append([]byte(nil), payload...))
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return out
}

// BenchmarkRecordDecoder decodes the snapshot lines of a 1,000-phone fleet
// with the record decoder and with encoding/json alone.
func BenchmarkRecordDecoder(b *testing.B) {
	dir := b.TempDir()
	buildFleet(b, dir, 1000)
	st, err := listState(dir)
	noErr(b, err)
	f, err := os.Open(snapshotPath(dir, st.snapshots[len(st.snapshots)-1]))
	noErr(b, err)
	defer f.Close()
	var payloads [][]byte
	var size int64
	lines := snapshotLines{br: bufio.NewReader(f)}
	for {
		line, err := lines.next()
		if len(line) > crcPrefix {
			payloads = append(payloads, append([]byte(nil), line[crcPrefix:len(line)-1]...))
			size += int64(len(line))
		}
		if err != nil {
			break
		}
	}
	b.Run("decoder=fast", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			var d recordDecoder
			for _, p := range payloads {
				if _, err := d.decode(p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("decoder=encoding-json", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range payloads {
				var rec record
				if err := json.Unmarshal(p, &rec); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
