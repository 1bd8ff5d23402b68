package store

// timelineOf is the timeline of deviceID holding the newest bound of evs
// (oldest first; bound 0: all of them), built in one buffer: what adding
// them one by one makes, without the buffers and timelines in between.
// Loading a snapshot builds every phone's timeline this way. The base is
// the newest event's, with the newest address and serial any event names
// as home. It returns nil for no events.
//
// It writes the fields of timeline (timeline.go) directly; rebuilt is its
// model.
func timelineOf(deviceID string, evs []Event, bound int) *timeline {
	if bound > 0 && len(evs) > bound {
		evs = evs[len(evs)-bound:]
	}
	if len(evs) == 0 {
		return nil
	}
	newest := &evs[len(evs)-1]
	var ip, serial string
	for i := len(evs) - 1; i >= 0 && (ip == "" || serial == ""); i-- {
		if ip == "" {
			ip = evs[i].IP
		}
		if serial == "" {
			serial = evs[i].Serial
		}
	}
	base := baseFor(deviceID, newest, ip, serial)
	var scratch [2048]byte
	enc := scratch[:0]
	for i := range evs {
		enc = appendEvent(enc, &evs[i], &base)
	}
	live := len(enc)
	t := &timeline{DeviceID: deviceID, base: base, n: len(evs)}
	t.buf = append(make([]byte, 0, live+max(live/2, minSlack)), enc...)
	t.key = append([]byte(deviceID), 0)
	return t
}
