package r2

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// seedRow is the confirmed sample row of PROTOCOL.md §5.
const seedRow = `05.04.2009 16:30:13,,192.168.102.34,UCPhone,04.05.2009 07:30:04,"001B9E4B5B10","1108015382","LG-Nortel","IP8540","A","ENU",cpe.nbt;0.0.0.0;01.01.1601 00:00:00,http://SERVER/DeviceUpdateFiles_Int/OCInterim/ENU/CPE.nbt;1.0.522.103;05.04.2009 20:09:14`

func seedEntry() AuditEntry {
	return AuditEntry{
		At:       time.Date(2009, 5, 4, 16, 30, 13, 0, time.UTC),
		UserHost: "192.168.102.34",
		Request:  tanjay(nil),
		Updates: []OfferedUpdate{{
			UpdateType:      "CPE",
			Version:         images.MustParseVersion("1.0.522.103"),
			BaseURL:         "http://SERVER/DeviceUpdateFiles_Int/OCInterim/ENU",
			ExternalBaseURL: "http://SERVER/DeviceUpdateFiles_Ext/OCInterim/ENU",
			ImageFile:       "CPE.nbt",
			TimeStamp:       time.Date(2009, 5, 4, 20, 9, 14, 0, time.UTC),
		}},
	}
}

func TestAuditRow(t *testing.T) {
	nothing := seedEntry()
	nothing.Updates = nil
	odd := seedEntry()
	odd.Request = tanjay(func(r *Request) {
		r.MAC, r.RawMAC = "", "00-1B-9E-4B-5B-1G"
		r.Vendor = `Say "hi"`
		r.UserID = "Doe, John"
		r.Modules, r.RawModules = nil, ""
	})
	odd.Updates = append(odd.Updates, odd.Updates[0])
	odd.Updates[1].BaseURL += "/"
	for _, tc := range []struct {
		name  string
		entry AuditEntry
		want  string
	}{
		{"confirmed sample", seedEntry(), seedRow},
		{"nothing offered", nothing, strings.TrimSuffix(seedRow, "http://SERVER/DeviceUpdateFiles_Int/OCInterim/ENU/CPE.nbt;1.0.522.103;05.04.2009 20:09:14")},
		{"raw MAC, quotes, commas, two updates", odd, `05.04.2009 16:30:13,"Doe, John",192.168.102.34,UCPhone,04.05.2009 07:30:04,"00-1B-9E-4B-5B-1G","1108015382","Say ""hi""","IP8540","A","ENU",,http://SERVER/DeviceUpdateFiles_Int/OCInterim/ENU/CPE.nbt;1.0.522.103;05.04.2009 20:09:14#http://SERVER/DeviceUpdateFiles_Int/OCInterim/ENU/CPE.nbt;1.0.522.103;05.04.2009 20:09:14`},
		{"no request", AuditEntry{At: seedEntry().At, UserHost: "10.0.0.9"}, `05.04.2009 16:30:13,,10.0.0.9,,,"","","","","","",,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendAuditRow(nil, &tc.entry))
			if diff := cmp.Diff(tc.want+"\r\n", got); diff != "" {
				t.Errorf("row mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAuditLogFiles(t *testing.T) {
	dir := t.TempDir()
	day1 := seedEntry()
	day2 := seedEntry()
	day2.At = day2.At.Add(9 * time.Hour) // 05.05.2009 01:30:13
	l, err := OpenAuditLog(dir, "tanjay/lab", func() time.Time { return day1.At })
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []AuditEntry{day1, {UserHost: "10.0.0.1"}, day2} {
		if err := l.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(day1); err == nil {
		t.Error("Write after Close succeeded")
	}
	name1 := filepath.Join(dir, "RequestHandlerAuditLog_tanjay_lab_2009-05-04.csv")
	name2 := filepath.Join(dir, "RequestHandlerAuditLog_tanjay_lab_2009-05-05.csv")
	want1 := AuditHeader + "\r\n" + seedRow + "\r\n" + `05.04.2009 16:30:13,,10.0.0.1,,,"","","","","","",,` + "\r\n"
	if diff := cmp.Diff(want1, readFile(t, name1)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name1, diff)
	}
	want2 := AuditHeader + "\r\n" + strings.Replace(seedRow, "05.04.2009 16:30:13", "05.05.2009 01:30:13", 1) + "\r\n"
	if diff := cmp.Diff(want2, readFile(t, name2)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name2, diff)
	}

	// Reopening appends to the day's file without a second header.
	l, err = OpenAuditLog(dir, "tanjay/lab", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(day1); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, name1), want1+seedRow+"\r\n"; got != want {
		t.Errorf("after reopening:\n%q\nwant\n%q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAuditHeader(t *testing.T) {
	const want = "Logging DateTime,User Name,User Host Address,Device Type,Request DateTime,Mac Address,Serial Number,Vendor,Model,Revision,Locale,Requested<FileName;Version;TimeStamp>[# Seperated for Multiple],Response<FileName;Version;TimeStamp>[# Seperated for Multiple]"
	if AuditHeader != want {
		t.Errorf("AuditHeader = %q, want PROTOCOL.md §5's %q", AuditHeader, want)
	}
}

func TestAuditLogConcurrent(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAuditLog(dir, "h", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if err := l.Write(seedEntry()); err != nil {
					t.Error(err)
				}
				l.Flush()
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(readFile(t, filepath.Join(dir, "RequestHandlerAuditLog_h_2009-05-04.csv")), "\r\n")
	if len(lines) != 802 || lines[0] != AuditHeader || lines[801] != "" {
		t.Fatalf("got %d lines, want header, 800 rows and a final CRLF", len(lines))
	}
	for i, line := range lines[1:801] {
		if line != seedRow {
			t.Fatalf("row %d = %q", i+1, line)
		}
	}
}

func BenchmarkAuditWrite(b *testing.B) {
	l, err := OpenAuditLog(b.TempDir(), "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := seedEntry()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Write(e); err != nil {
			b.Fatal(err)
		}
	}
}
