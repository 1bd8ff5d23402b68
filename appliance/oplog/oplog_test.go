package oplog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "operator.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	entries := []Entry{
		{Time: t0, Who: "dashboard login", From: "10.0.0.5", Action: "import", Target: "CPE.nbt", Change: "UCPhone/Polycom/CX700/A/ENU 4.0.7577.4066 pending"},
		{Time: t0.Add(time.Minute), Who: "admin token (tanjay cli, root@bench)", From: "127.0.0.1", Action: "approve", Target: "UCPhone/Polycom/CX700/A/ENU/CPE", Change: "approved 4.0.7577.4066"},
		{Time: t0.Add(2 * time.Minute), Who: "dashboard login", From: "10.0.0.5", Action: "testdevice-add", Target: "00049F000001"},
		{Time: t0.Add(3 * time.Minute), Who: "dashboard login", From: "10.0.0.5", Action: "restore", Target: "OCInterim/ENU/CPE", Error: "no restore version"},
	}
	for _, e := range entries {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// A torn last line, as a crash mid-write leaves it.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-12-06T09:04:00Z","who":"dash`)
	f.Close()
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	all, skipped, err := l.Read(Filter{}, 0)
	if err != nil || skipped != 1 || len(all) != 4 || all[0].Action != "restore" || all[3].Action != "import" {
		t.Fatalf("Read all: %d entries (newest %+v), %d skipped, %v; want 4 newest first and the torn line skipped", len(all), all[0], skipped, err)
	}
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{Text: "ROOT@bench"}, []string{"approve"}},
		{Filter{Text: "cx700"}, []string{"approve", "import"}},
		{Filter{Action: "testdevice-add"}, []string{"testdevice-add"}},
		{Filter{Text: "no restore"}, []string{"restore"}},
		{Filter{Text: "nothing like it"}, nil},
	} {
		got, _, _ := l.Read(tc.f, 0)
		var actions []string
		for _, e := range got {
			actions = append(actions, e.Action)
		}
		if strings.Join(actions, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: %q, want %q", tc.f, actions, tc.want)
		}
	}
	if got, _, _ := l.Read(Filter{}, 2); len(got) != 2 || got[0].Action != "restore" || got[1].Action != "testdevice-add" {
		t.Errorf("Read with limit 2: %+v, want the newest two", got)
	}
}

func TestScanSkipsLongLines(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"time":"2026-12-06T09:00:00Z","action":"approve","target":"a"}` + "\n")
	b.WriteString(strings.Repeat("x", maxLine+10) + "\n")
	b.WriteString(`{"time":"2026-12-06T09:01:00Z","action":"reject","target":"b"}` + "\n")
	b.WriteString(strings.Repeat("y", 3*maxLine)) // long and unterminated
	var got []string
	skipped, err := Scan(&b, func(e Entry) { got = append(got, e.Action) })
	if err != nil || skipped != 2 || strings.Join(got, ",") != "approve,reject" {
		t.Errorf("Scan: %q, %d skipped, %v; want approve,reject and 2 skipped", got, skipped, err)
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"time":"2026-12-06T09:00:00Z","who":"dashboard login","action":"approve","target":"a"}` + "\n"))
	f.Add([]byte("\n\n{}\n{\"time\":1}\n"))
	f.Add([]byte(`{"time":"2026-12-06T09:00:00Z","action":"x"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		skipped, err := Scan(bytes.NewReader(b), func(e Entry) {
			if e.Action == "" || e.Time.IsZero() {
				t.Fatalf("entry without action or time: %+v", e)
			}
			n++
		})
		if err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Count(b, []byte("\n")) + 1; n+skipped > lines {
			t.Fatalf("%d entries and %d skipped from %d lines", n, skipped, lines)
		}
	})
}
