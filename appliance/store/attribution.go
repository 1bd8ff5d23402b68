package store

import (
	"strings"
	"time"
)

// A download request names no phone: phones fetch firmware with a bare
// GET. The store gives a download to the phone last seen at its address,
// and when several phones are behind one address (a NAT, a simulator, a
// lab switch with a router in front) to the one among them that was
// offered that file (see downloader). To know who else is at an address,
// the writer's view keeps the devices at each address more than one is
// at (view.shared): a device joins an address when it is seen there while
// another device is the one last seen there and still has that address,
// and leaves it when seen elsewhere or deleted. An address of one device
// needs no entry: view.ips names it. When the phone seen last at an
// address moves away, nobody is seen last there any more (a DHCP server
// gave the address to someone else): the address's row goes, and the
// devices still in shared wait for their next event there.

// aggregate builds v's counts and shared addresses from its devices the
// first time it is needed: after a snapshot was loaded into v, before
// anything is changed. Devices loaded with the same address share it.
func (v *view) aggregate() {
	if v.aggregated {
		return
	}
	v.aggregated = true
	v.counts = fleetCounts{}
	for _, d := range v.devices {
		v.counts.replace(nil, &d.Device)
	}
	v.shared = map[string]map[string]struct{}{}
	for id, d := range v.devices {
		if d.IP == "" {
			continue
		}
		if v.shared[d.IP] == nil {
			v.shared[d.IP] = map[string]struct{}{}
		}
		v.shared[d.IP][id] = struct{}{}
	}
	for ip, ids := range v.shared {
		if len(ids) < 2 {
			delete(v.shared, ip)
		}
	}
}

// moveIP records that device id, which was at prev ("" for a device just
// made), is at ip now, and the one seen last there. An event without an
// address leaves it where it was.
func (s *Store) moveIP(id, prev, ip string) {
	if ip == "" {
		return
	}
	if prev != ip {
		s.leaveIP(id, prev)
	}
	other := s.view.ips[ip]
	if other == id {
		return
	}
	if ids, ok := s.view.shared[ip]; ok {
		ids[id] = struct{}{}
	} else if od := s.view.devices[other]; od != nil && od.IP == ip {
		s.view.shared[ip] = map[string]struct{}{other: {}, id: {}}
	}
	s.view.ips[ip] = id
}

// leaveIP records that device id is no longer at ip (it moved, or is
// deleted). When it was the one seen last there, nobody is.
func (s *Store) leaveIP(id, ip string) {
	if ip == "" {
		return
	}
	if ids, ok := s.view.shared[ip]; ok {
		delete(ids, id)
		if len(ids) < 2 {
			delete(s.view.shared, ip)
		}
	}
	if s.view.ips[ip] == id {
		delete(s.view.ips, ip)
	}
}

// downloader is the device a download from ev.IP is for: of the devices
// at that address, the one that was offered ev.File, preferring one whose
// download it continues, then one that has yet to fetch it, then the most
// recently seen; last (the device seen last at the address) when none was
// offered it.
func (s *Store) downloader(ev Event, last string) string {
	best, bestScore, bestSeen := last, 0, time.Time{}
	for id := range s.view.shared[ev.IP] {
		d := s.view.devices[id]
		if d == nil {
			continue
		}
		sc := downloadMatch(&d.Device, &ev)
		if sc == 0 || sc < bestScore {
			continue
		}
		if sc > bestScore || d.LastSeen.After(bestSeen) || d.LastSeen.Equal(bestSeen) && id < best {
			best, bestScore, bestSeen = id, sc, d.LastSeen
		}
	}
	return best
}

// downloadMatch scores how well download ev fits device d: 0 d was not
// offered its file, 1 it was, 2 and has yet to fetch it, 3 and ev goes on
// from where d's download of it stopped.
func downloadMatch(d *Device, ev *Event) int {
	if d.OfferedFile == "" || !strings.EqualFold(d.OfferedFile, ev.File) {
		return 0
	}
	started := d.DownloadBytes > 0 && strings.EqualFold(d.DownloadFile, ev.File)
	switch {
	case started && !fetched(*d) && ev.Offset > 0 && ev.Offset == d.DownloadBytes:
		return 3
	case !started && ev.Offset == 0:
		return 2
	}
	return 1
}
