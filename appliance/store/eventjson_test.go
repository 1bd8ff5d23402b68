package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// fullEvent has every field of Event set, by reflection, so that a field
// added to Event and forgotten in appendEventRecord fails the test.
func fullEvent(t testing.TB) Event {
	var ev Event
	v := reflect.ValueOf(&ev).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2024, 5, 1, 9, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))))
		case images.Version:
			f.Set(reflect.ValueOf(images.Version{uint32(i), 0, 522, 103}))
		case []images.Version:
			f.Set(reflect.ValueOf([]images.Version{vInterim, vRelease}))
		case images.DevicePath:
			f.Set(reflect.ValueOf(cx700))
		default:
			switch f.Kind() {
			case reflect.String:
				f.SetString(v.Type().Field(i).Name)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Int64:
				f.SetInt(int64(1000 + i))
			case reflect.Uint64:
				f.SetUint(uint64(2000 + i))
			default:
				t.Fatalf("Event.%s is a %s: teach fullEvent and appendEventRecord about it", v.Type().Field(i).Name, f.Type())
			}
		}
	}
	return ev
}

func TestEventRecordMatchesEncodingJSON(t *testing.T) {
	tests := map[string]Event{
		"every field": fullEvent(t),
		"dns query":   {Seq: 1, Time: t0, DeviceID: "IP:10.0.0.5", Kind: EventDNS, IP: "10.0.0.5"},
		"zero":        {},
		"interim device path": {Seq: 2, Time: t1, Kind: EventCheckIn,
			DevicePath: images.DevicePath{DeviceType: images.InterimDeviceType, Locale: "ENU"}, Path: []images.Version{}},
		"strings to escape": {Detail: "a \"quoted\" <b>&\\ line\n\ttab\x01 é \u2028 \xff", File: "CPE.nbt"},
	}
	for name, ev := range tests {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(record{Op: opEvent, Event: &ev})
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendEventRecord(nil, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("appendEventRecord differs from encoding/json (-json +ours):\n%s", diff)
			}
		})
	}
}

func TestEventRecordRefusesYear10000(t *testing.T) {
	ev := Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := appendEventRecord(nil, &ev); err == nil {
		t.Error("appendEventRecord encoded a year encoding/json refuses")
	}
}
