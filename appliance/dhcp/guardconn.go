package dhcp

import (
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"golang.org/x/net/bpf"
)

// replyFilter keeps, of every IPv4 packet a cooked packet socket sees (it
// starts at the IPv4 header), the unfragmented UDP datagrams from port 67
// to port 68: DHCP replies. Without it every frame on the lab card
// (firmware downloads included) would be copied to the guard.
var replyFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 9, Size: 1},                           // 0: IPv4 protocol
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 8},    // 1: not UDP: drop
	bpf.LoadAbsolute{Off: 6, Size: 2},                           // 2: flags and fragment offset
	bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 6}, // 3: a later fragment: drop
	bpf.LoadMemShift{Off: 0},                                    // 4: X = IPv4 header length
	bpf.LoadIndirect{Off: 0, Size: 2},                           // 5: UDP source port
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 67, SkipTrue: 3},    // 6: not from a server: drop
	bpf.LoadIndirect{Off: 2, Size: 2},                           // 7: UDP destination port
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 68, SkipTrue: 1},    // 8: not to a client: drop
	bpf.RetConstant{Val: 1 << 16},                               // 9: keep
	bpf.RetConstant{Val: 0},                                     // 10: drop
}

// openGuardConn opens the guard's socket on iface: a raw packet socket
// (nclient4's) that sends broadcast frames from the interface's MAC and
// receives every DHCP reply reaching the interface, broadcast or to the
// interface's MAC, whatever its IP destination. It needs CAP_NET_RAW.
func openGuardConn(iface string) (net.PacketConn, error) {
	c, err := nclient4.NewRawUDPConn(iface, dhcpv4.ClientPort)
	if err != nil {
		return nil, fmt.Errorf("dhcp: --dhcp-interface %s: rogue-server guard: %w", iface, err)
	}
	raw, err := bpf.Assemble(replyFilter)
	if err == nil {
		err = setFilter(c, raw)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("dhcp: --dhcp-interface %s: rogue-server guard: filter: %w", iface, err)
	}
	return c, nil
}

// setFilter attaches raw to nclient4's packet socket.
func setFilter(c net.PacketConn, raw []bpf.RawInstruction) error {
	bc, ok := c.(*nclient4.BroadcastRawUDPConn)
	if !ok {
		return fmt.Errorf("unexpected socket type %T", c)
	}
	f, ok := bc.PacketConn.(interface {
		SetBPF([]bpf.RawInstruction) error
	})
	if !ok {
		return fmt.Errorf("socket %T takes no BPF filter", bc.PacketConn)
	}
	return f.SetBPF(raw)
}
