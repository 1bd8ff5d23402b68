package appliance

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// recordHolding is where the journal record whose payload holds s starts,
// its length, and how many records follow it ([len u32][CRC u32][payload]).
func recordHolding(t *testing.T, seg []byte, s string) (start, length, after int) {
	t.Helper()
	found := -1
	for off := 0; off+8 <= len(seg); {
		n := 8 + int(binary.LittleEndian.Uint32(seg[off:]))
		if off+n > len(seg) {
			t.Fatalf("segment is not clean at offset %d", off)
		}
		if found >= 0 {
			after++
		} else if bytes.Contains(seg[off:off+n], []byte(s)) {
			found, length = off, n
		}
		off += n
	}
	if found < 0 {
		t.Fatalf("no journal record holds %q", s)
	}
	return found, length, after
}

// stateFiles is every file in <data>/state but the lock, by name.
func stateFiles(t *testing.T, data string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(data, "state")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func flipBitAt(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x04
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func stateCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	return code, stdout.String(), stderr.String()
}

// corruptState makes <data>/state with test devices SN-0…SN-5, one record
// each, and flips a bit inside SN-2's record; it returns the record's
// offset and how many records follow it.
func corruptState(t *testing.T) (data string, offset, after int) {
	t.Helper()
	data = t.TempDir()
	st, err := store.Open(filepath.Join(data, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := st.AddTestDevice(store.TestDevice{ID: fmt.Sprintf("SN-%d", i), Kind: store.TestDeviceSerial, Added: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "state", "journal-00000001.log")
	seg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	offset, n, after := recordHolding(t, seg, `"SN-2"`)
	flipBitAt(t, path, offset+n/2)
	return data, offset, after
}

func TestStateCheck(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		data := t.TempDir()
		st, err := store.Open(filepath.Join(data, "state"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddTestDevice(store.TestDevice{ID: "SN-1", Kind: store.TestDeviceSerial}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		code, out, errOut := stateCmd("state", "check", "--data", data)
		if code != 0 || !regexp.MustCompile(`journal-00000001.log\s+\d+ bytes\s+1 records ok\s+ok`).MatchString(out) || !strings.Contains(out, "clean") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("torn tail", func(t *testing.T) {
		data := t.TempDir()
		st, err := store.Open(filepath.Join(data, "state"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddTestDevice(store.TestDevice{ID: "SN-1", Kind: store.TestDeviceSerial}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		f, err := os.OpenFile(filepath.Join(data, "state", "journal-00000001.log"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("\x30\x00\x00\x00\x01\x02\x03\x04{\"op\""))
		f.Close()
		code, out, errOut := stateCmd("state", "check", "--data", data)
		if code != 0 || !strings.Contains(out, "torn tail of 13 bytes") || !strings.Contains(out, "clean") {
			t.Errorf("a torn tail alone: exit %d, want 0 and the tail reported\n%s%s", code, out, errOut)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		data, offset, after := corruptState(t)
		before := stateFiles(t, data)
		code, out, errOut := stateCmd("state", "check", "--data", data)
		want := fmt.Sprintf("journal-00000001.log: corrupt record at byte offset %d: ", offset)
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("%d valid records follow it", after)) ||
			!strings.Contains(out, "tanjay state repair --data "+data) || !strings.Contains(errOut, "1 corrupt file") {
			t.Errorf("exit %d, want 1 and %q\n%s%s", code, want, out, errOut)
		}
		if diff := cmp.Diff(before, stateFiles(t, data)); diff != "" {
			t.Errorf("check changed the state:\n%s", diff)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, errOut := stateCmd("state", "fix"); code != 2 || !strings.Contains(errOut, "state check") {
			t.Errorf("state fix: exit %d\n%s", code, errOut)
		}
	})
}

func TestStateRepair(t *testing.T) {
	data, offset, _ := corruptState(t)
	before := stateFiles(t, data)

	st, err := store.Open(filepath.Join(data, "state"), store.Options{})
	if err == nil {
		st.Close()
		t.Fatal("the store opened with a corrupt record")
	}

	// Not while the directory is locked.
	lock, err := os.OpenFile(filepath.Join(data, "state", "LOCK"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := stateCmd("state", "repair", "--data", data)
	if code != 1 || !strings.Contains(errOut, "another tanjay is already using") {
		t.Errorf("repair on a locked directory: exit %d\n%s%s", code, out, errOut)
	}
	lock.Close()
	if diff := cmp.Diff(before, stateFiles(t, data)); diff != "" {
		t.Errorf("a refused repair changed the state:\n%s", diff)
	}

	code, out, errOut = stateCmd("state", "repair", "--data", data)
	if code != 0 {
		t.Fatalf("repair: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"journal-00000001.log: kept 5 valid records", fmt.Sprintf("at offset %d, what looks like a testdevice record", offset), `SN-2`, "original kept as " + filepath.Join(data, "state", "journal-00000001.log.corrupt-"), "tanjay serve can start"} {
		if !strings.Contains(out, want) {
			t.Errorf("repair output lacks %q:\n%s", want, out)
		}
	}
	after := stateFiles(t, data)
	var backups []string
	for name, b := range after {
		if strings.HasPrefix(name, "journal-00000001.log.corrupt-") {
			backups = append(backups, name)
			if !bytes.Equal(b, before["journal-00000001.log"]) {
				t.Errorf("%s is not the original segment", name)
			}
		}
	}
	if len(backups) != 1 {
		t.Errorf("backups %q, want one", backups)
	}
	st, err = store.Open(filepath.Join(data, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for _, td := range st.TestDevices(nil) {
		ids = append(ids, td.ID)
	}
	slices.Sort(ids)
	if diff := cmp.Diff([]string{"SN-0", "SN-1", "SN-3", "SN-4", "SN-5"}, ids); diff != "" {
		t.Errorf("test devices after repair (-want +got):\n%s", diff)
	}
}

// testDeviceIDs is the first column of `tanjay testdevice ls`.
func testDeviceIDs(out string) []string {
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			ids = append(ids, f[0])
		}
	}
	slices.Sort(ids)
	return ids
}

// TestServeRefusesCorruptJournal drives the real tanjay serve: a bit flipped
// inside the journal's last segment, long after the record was fsynced,
// makes start-up refuse and name the damage, with the data untouched;
// state check and state repair salvage it, and every operator change in a
// valid record is there after the restart. A torn tail (a record a crash
// cut short) is still cut, and logged, and start-up goes on.
func TestServeRefusesCorruptJournal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	srv := startServe(t, data)
	fw := t.TempDir()
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", writeFile(t, fw, "i/CPE.nbt", randomBytes(64<<10, 1)))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0", writeFile(t, fw, "t/CPE.nbt", randomBytes(64<<10, 2)))
	srv.tanjay(t, "approve", "--all")
	srv.tanjay(t, "testdevice", "add", "SERIAL-43")
	srv.tanjay(t, "testdevice", "add", "SERIAL-44")
	srv.tanjay(t, "testdevice", "add", "SERIAL-45")
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "4.0.7577.4066", writeFile(t, fw, "p/CPE.nbt", randomBytes(64<<10, 3)))
	srv.tanjay(t, "testdevice", "add", "00:04:9F:00:00:C1")
	wantRules, wantTDs := srv.tanjay(t, "rules"), testDeviceIDs(srv.tanjay(t, "testdevice", "ls"))
	checkIn(t, srv.addrs.HTTP, "CX700", "00049F0000C2", "", "1.0.522.103")
	srv.interrupt(t)

	seg := filepath.Join(data, "state", "journal-00000001.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	offset, n, after := recordHolding(t, b, `"SERIAL-44"`)
	if after < 3 {
		t.Fatalf("only %d records after SERIAL-44's", after)
	}
	flipBitAt(t, seg, offset+n/2)
	before := stateFiles(t, data)

	out, err := srv.run(t, "serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0", "--dns-addr", "off", "--https-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off")
	if err == nil {
		t.Fatalf("tanjay serve started on a corrupt journal:\n%s", out)
	}
	t.Logf("tanjay serve refused:\n%s", out)
	for _, want := range []string{"journal-00000001.log", fmt.Sprintf("byte offset %d", offset), fmt.Sprintf("%d valid records follow it", after), "tanjay state check --data " + data, "tanjay state repair --data " + data} {
		if !strings.Contains(out, want) {
			t.Errorf("serve's refusal lacks %q:\n%s", want, out)
		}
	}
	if diff := cmp.Diff(before, stateFiles(t, data)); diff != "" {
		t.Errorf("the refused start-up changed the state:\n%s", diff)
	}

	out, err = srv.run(t, "state", "check", "--data", data)
	t.Logf("tanjay state check: %v\n%s", err, out)
	if err == nil || !strings.Contains(out, fmt.Sprintf("corrupt record at byte offset %d", offset)) {
		t.Errorf("state check: %v\n%s", err, out)
	}
	out, err = srv.run(t, "state", "repair", "--data", data)
	t.Logf("tanjay state repair: %v\n%s", err, out)
	if err != nil || !strings.Contains(out, "SERIAL-44") || !strings.Contains(out, "LOST") {
		t.Fatalf("state repair: %v\n%s", err, out)
	}

	again := startServe(t, data)
	if got := again.tanjay(t, "rules"); got != wantRules {
		t.Errorf("rules after repair:\n%s\nwant:\n%s", got, wantRules)
	}
	wantTDs = slices.DeleteFunc(wantTDs, func(id string) bool { return id == "SERIAL-44" })
	if diff := cmp.Diff(wantTDs, testDeviceIDs(again.tanjay(t, "testdevice", "ls"))); diff != "" {
		t.Errorf("test devices after repair (-every valid record +got):\n%s", diff)
	}
	if v, _ := checkIn(t, again.addrs.HTTP, "CX700", "00049F0000C1", "", "3.5.6907.0"); v != "4.0.7577.4066" {
		t.Errorf("test device after repair offered %q, want the pending 4.0.7577.4066", v)
	}
	again.tanjay(t, "testdevice", "add", "SERIAL-46")
	wantRules, wantTDs = again.tanjay(t, "rules"), testDeviceIDs(again.tanjay(t, "testdevice", "ls"))
	again.kill()

	// A torn tail: the start of a record a crash cut short.
	size := int64(len(mustRead(t, seg)))
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\x80\x00\x00\x00\x11\x22\x33\x44{\"op\":\"testdev"))
	f.Close()
	third := startServe(t, data)
	if got := third.tanjay(t, "rules"); got != wantRules {
		t.Errorf("rules after a torn tail:\n%s\nwant:\n%s", got, wantRules)
	}
	if diff := cmp.Diff(wantTDs, testDeviceIDs(third.tanjay(t, "testdevice", "ls"))); diff != "" {
		t.Errorf("test devices after a torn tail (-want +got):\n%s", diff)
	}
	if got := int64(len(mustRead(t, seg))); got < size {
		t.Errorf("segment cut to %d bytes, below the %d it held before the torn tail", got, size)
	}
	third.interrupt(t)
	for _, want := range []string{"cut a torn tail", "segment=journal-00000001.log", "bytes=22"} {
		if !strings.Contains(third.stderr.String(), want) {
			t.Errorf("serve's log lacks %q:\n%s", want, third.stderr)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStateRepairSnapshot: a corrupt snapshot whose older state is gone is
// rewritten from its valid records, and the repair says what was lost.
func TestStateRepairSnapshot(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "state")
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := st.AddTestDevice(store.TestDevice{ID: fmt.Sprintf("SN-%d", i), Kind: store.TestDeviceSerial}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Snapshot(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(dir, "snapshot-00000002.json")
	b := mustRead(t, path)
	i := bytes.Index(b, []byte(`"SN-2"`))
	flipBitAt(t, path, i+2)
	// The snapshot record holding it (format 3: after the magic line,
	// each record is its length, its checksum and its payload).
	line, n := len("tanjay snapshot 3\n"), 0
	for ; ; line += n {
		if n = 8 + int(binary.LittleEndian.Uint32(b[line:])); line+n > i {
			break
		}
	}

	code, out, errOut := stateCmd("state", "check", "--data", data)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("snapshot-00000002.json: corrupt record at byte offset %d: ", line)) {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = stateCmd("state", "repair", "--data", data)
	for _, want := range []string{"snapshot-00000002.json: the older state it was made from is gone", fmt.Sprintf("LOST: %d bytes at offset %d, what looks like a testdevice record", n, line), `\"SJ-2\"`, "rewritten from its 3 valid records", "original kept as"} {
		if !strings.Contains(out, want) {
			t.Errorf("repair output lacks %q: exit %d\n%s%s", want, code, out, errOut)
		}
	}
	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := len(st.TestDevices(nil)); got != 3 {
		t.Errorf("%d test devices after the repair, want the 3 in valid lines", got)
	}
}

// TestStateRepairTakesServeBounds: repair replays under the bounds tanjay
// serve runs with, so it takes serve's flags for them and checks them the
// same way; check, which replays nothing, does not.
func TestStateRepairTakesServeBounds(t *testing.T) {
	data, _, _ := corruptState(t)
	code, out, errOut := stateCmd("state", "repair", "--data", data, "--unconfirmed-devices", "100000", "--timeline-kib", "2048")
	if code != 0 || !strings.Contains(out, "original kept as") {
		t.Errorf("repair with serve's bounds: exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"state", "repair", "--data", data, "--unconfirmed-devices", "0"}, "--unconfirmed-devices 0: want at least 1"},
		{[]string{"state", "repair", "--data", data, "--timeline-kib", "0"}, "--timeline-kib 0: want 1 to 1048576"},
		{[]string{"state", "check", "--data", data, "--unconfirmed-devices", "10"}, "flag provided but not defined: -unconfirmed-devices"},
	} {
		code, _, errOut := stateCmd(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, errOut)
		}
	}
}
