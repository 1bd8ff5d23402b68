package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// AddTestDevice adds a test device by MAC or serial number, durably. The
// warning says when no phone with that ID has been seen (right before the
// phones are plugged in, a typo otherwise); a serial or MAC naming a phone
// that is a test device already by its other ID is refused.
func (a *Actions) AddTestDevice(act oplog.Actor, id string) (store.TestDevice, string, error) {
	td, err := a.parseTestDevice(id)
	if err != nil {
		a.Record(act, "testdevice-add", clip(id, 100), "", err)
		return td, "", err
	}
	warning := ""
	if d, seen := a.phoneNamed(td); !seen {
		warning = unseenWarning(td)
	} else if err := a.samePhone(td, d); err != nil {
		a.Record(act, "testdevice-add", td.ID, "", err)
		return td, "", err
	}
	td.Added = time.Now()
	if err := a.store.AddTestDevice(td); err != nil {
		a.Record(act, "testdevice-add", td.ID, "", err)
		return td, "", err
	}
	a.Record(act, "testdevice-add", td.ID, "added ("+td.Kind+")", nil)
	a.log.Info("test device added", "id", td.ID, "kind", td.Kind)
	return td, warning, nil
}

// RemoveTestDevice removes a test device by MAC or serial number, durably.
func (a *Actions) RemoveTestDevice(act oplog.Actor, id string) (store.TestDevice, error) {
	td, err := a.parseTestDevice(id)
	if err != nil {
		a.Record(act, "testdevice-remove", clip(id, 100), "", err)
		return td, err
	}
	if err := a.store.RemoveTestDevice(td.ID); err != nil {
		a.Record(act, "testdevice-remove", td.ID, "", err)
		return td, err
	}
	a.Record(act, "testdevice-remove", td.ID, "removed", nil)
	a.log.Info("test device removed", "id", td.ID)
	return td, nil
}

// parseTestDevice reads a MAC (12 hex digits, with or without - : .
// separators) or else a serial number.
func (a *Actions) parseTestDevice(id string) (store.TestDevice, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return store.TestDevice{}, badRequest("a test device needs a MAC address or serial number")
	}
	if mac := a.normalizeMAC(id); mac != "" {
		return store.TestDevice{ID: mac, Kind: store.TestDeviceMAC}, nil
	}
	if strings.ContainsAny(id, " \t\r\n/") {
		return store.TestDevice{}, badRequest("test device %q: neither a MAC address nor a serial number", id)
	}
	return store.TestDevice{ID: id, Kind: store.TestDeviceSerial}, nil
}

// phoneNamed is the phone whose MAC or serial (by td's kind) is td's ID.
func (a *Actions) phoneNamed(td store.TestDevice) (store.Device, bool) {
	if td.Kind == store.TestDeviceMAC {
		if d, ok := a.store.Device(td.ID); ok && d.MAC == td.ID {
			return d, true
		}
	}
	var found store.Device
	ok := false
	a.store.EachDevice(nil, func(d *store.Device) bool {
		if (td.Kind == store.TestDeviceMAC && d.MAC == td.ID) || (td.Kind == store.TestDeviceSerial && d.Serial == td.ID) {
			found, ok = *d, true
		}
		return !ok
	})
	return found, ok
}

// samePhone refuses a test device that names, by its other ID, a phone
// already a test device: one phone by MAC and by serial is one device.
func (a *Actions) samePhone(td store.TestDevice, d store.Device) error {
	switch {
	case td.Kind == store.TestDeviceSerial && d.MAC != "" && a.store.IsTestDevice(d.MAC, ""):
		return Error{http.StatusConflict, fmt.Sprintf("test device %s: it is the serial of phone %s, which is a test device already (by its MAC)", td.ID, d.MAC)}
	case td.Kind == store.TestDeviceMAC && d.Serial != "" && a.store.IsTestDevice("", d.Serial):
		return Error{http.StatusConflict, fmt.Sprintf("test device %s: phone %s is a test device already (by its serial %s)", td.ID, d.MAC, d.Serial)}
	}
	return nil
}

// unseenWarning says a test device names no phone seen yet: right when
// the phones are not plugged in yet, a typo otherwise.
func unseenWarning(td store.TestDevice) string {
	what := "MAC"
	if td.Kind == store.TestDeviceSerial {
		what = "serial number"
	}
	return fmt.Sprintf("no phone with %s %s has been seen yet: it takes Pending versions once it checks in (check the %s if you expected it)", what, td.ID, what)
}
