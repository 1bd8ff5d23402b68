package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLeasesSurviveRestartAndSnapshot: a lease is durable when PutLease
// returns, replaces the MAC's older lease, and is rebuilt from the journal
// and from a snapshot.
func TestLeasesSurviveRestartAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	s, err := Open(dir, Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Lease{
		{MAC: "00:04:9f:00:00:d1", IP: "10.0.0.10", VendorClass: "CPE-OCPHONE", Expires: at.Add(time.Hour)},
		{MAC: "00049F0000D1", IP: "10.0.0.11", Hostname: "cx700-1", Expires: at.Add(2 * time.Hour)},
		{MAC: "00-04-9F-00-00-D2", IP: "10.0.0.12", Expires: at.Add(time.Hour)},
	} {
		if err := s.PutLease(l); err != nil {
			t.Fatal(err)
		}
	}
	want := []Lease{
		{MAC: "00049F0000D1", IP: "10.0.0.11", Hostname: "cx700-1", Expires: at.Add(2 * time.Hour), Updated: at},
		{MAC: "00049F0000D2", IP: "10.0.0.12", Expires: at.Add(time.Hour), Updated: at},
	}
	check := func(s *Store, when string) {
		t.Helper()
		if diff := cmp.Diff(want, s.Leases(nil)); diff != "" {
			t.Errorf("%s: leases (-want +got):\n%s", when, diff)
		}
		if l, ok := s.LeaseOf("00:04:9F:00:00:D2"); !ok || l.IP != "10.0.0.12" {
			t.Errorf("%s: LeaseOf = %+v, %v", when, l, ok)
		}
	}
	check(s, "live")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	check(s, "after restart")
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "after snapshot")
}

func TestPutLeaseRefusesBadInput(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, l := range map[string]Lease{
		"short MAC":  {MAC: "00049F0000", IP: "10.0.0.1"},
		"not hex":    {MAC: "00049F0000ZZ", IP: "10.0.0.1"},
		"IPv6":       {MAC: "00049F0000D1", IP: "fe80::1"},
		"no address": {MAC: "00049F0000D1"},
	} {
		if err := s.PutLease(l); err == nil {
			t.Errorf("%s: PutLease(%+v) = nil, want an error", name, l)
		}
	}
	if got := s.Leases(nil); len(got) != 0 {
		t.Errorf("leases after refusals: %+v", got)
	}
}
