package appliance

import (
	"net"
	"path/filepath"
	"testing"
)

func TestNotifyReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := notifyReady(func(k string) string { return map[string]string{"NOTIFY_SOCKET": path}[k] }); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _, err := l.ReadFromUnix(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	if err := notifyReady(func(string) string { return "" }); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}
