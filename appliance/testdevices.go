package appliance

import (
	"fmt"
	"net/http"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// testDeviceAdded is what POST /api/v1/testdevices answers: the test
// device, and a warning when no phone with that ID has been seen.
type testDeviceAdded struct {
	store.TestDevice
	Warning string `json:"warning,omitempty"`
}

// phoneNamed is the phone whose MAC or serial (by td's kind) is td's ID.
func (a *app) phoneNamed(td store.TestDevice) (store.Device, bool) {
	if td.Kind == store.TestDeviceMAC {
		if d, ok := a.store.Device(td.ID); ok && d.MAC == td.ID {
			return d, true
		}
	}
	for _, d := range a.store.Devices(nil) {
		if (td.Kind == store.TestDeviceMAC && d.MAC == td.ID) || (td.Kind == store.TestDeviceSerial && d.Serial == td.ID) {
			return d, true
		}
	}
	return store.Device{}, false
}

// samePhone refuses a test device that names, by its other ID, a phone
// already a test device: one phone by MAC and by serial is one device.
func (a *app) samePhone(td store.TestDevice, d store.Device) error {
	switch {
	case td.Kind == store.TestDeviceSerial && d.MAC != "" && a.store.IsTestDevice(d.MAC, ""):
		return apiError{http.StatusConflict, fmt.Sprintf("test device %s: it is the serial of phone %s, which is a test device already (by its MAC)", td.ID, d.MAC)}
	case td.Kind == store.TestDeviceMAC && d.Serial != "" && a.store.IsTestDevice("", d.Serial):
		return apiError{http.StatusConflict, fmt.Sprintf("test device %s: phone %s is a test device already (by its serial %s)", td.ID, d.MAC, d.Serial)}
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
