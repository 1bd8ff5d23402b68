package appliance

import (
	"fmt"
	"net"
)

// notifyReady tells systemd that the appliance serves, for units of
// Type=notify (the VM image's tanjay.service): it sends READY=1 to
// $NOTIFY_SOCKET when that is set. Called once every listener is bound and
// the certificates exist, so units ordered after tanjay find it answering.
func notifyReady(getenv func(string) string) error {
	sock := getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	if sock[0] == '@' { // an abstract socket
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("READY=1")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
