package pkg

import (
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// pick is one field's value and where it came from.
type pick struct {
	v, from string
}

// merged is an update's identity so far; the first source to speak on a
// field wins.
type merged struct {
	deviceType, vendor, model, revision, locale pick
	updateType, version                         pick
	interim                                     *bool
}

func (m *merged) add(s source) {
	set := func(p *pick, v string) {
		if p.v == "" && v != "" {
			*p = pick{v, s.name}
		}
	}
	set(&m.deviceType, s.f.deviceType)
	set(&m.vendor, s.f.vendor)
	set(&m.model, s.f.model)
	set(&m.revision, s.f.revision)
	set(&m.locale, s.f.locale)
	set(&m.updateType, s.f.updateType)
	if !s.f.version.IsZero() {
		set(&m.version, s.f.version.String())
	}
	if m.interim == nil {
		m.interim = s.f.interim
	}
}

func (m *merged) pathParts() []*pick {
	return []*pick{&m.deviceType, &m.vendor, &m.model, &m.revision, &m.locale}
}

func (m *merged) isInterim() bool { return strings.EqualFold(m.deviceType.v, images.InterimDeviceType) }

// applyHints fills silent fields from the operator's flags and refuses a
// flag that contradicts the package.
func (m *merged) applyHints(h Hints, what string) error {
	if h.DevicePath != nil {
		hp := h.DevicePath
		vals := []string{hp.DeviceType, hp.Vendor, hp.Model, hp.Revision, hp.Locale}
		names := []string{"device type", "vendor", "model", "revision", "locale"}
		for i, p := range m.pathParts() {
			if p.v != "" && vals[i] != "" && !strings.EqualFold(p.v, vals[i]) {
				return refusef("%s: %s says %s %q, but --device-path %s says %q", what, p.from, names[i], p.v, hp, vals[i])
			}
		}
		for i, p := range m.pathParts() {
			if p.v == "" && vals[i] != "" {
				*p = pick{vals[i], "--device-path"}
			}
		}
	}
	if h.Version != nil {
		if m.version.v != "" && m.version.v != h.Version.String() {
			return refusef("%s: %s says version %s, but --version says %s", what, m.version.from, m.version.v, h.Version)
		}
		if m.version.v == "" {
			m.version = pick{h.Version.String(), "--version"}
		}
	}
	if h.UpdateType != "" {
		if m.updateType.v != "" && !strings.EqualFold(m.updateType.v, h.UpdateType) {
			return refusef("%s: %s says update type %q, but --update-type says %q", what, m.updateType.from, m.updateType.v, h.UpdateType)
		}
		if m.updateType.v == "" {
			m.updateType = pick{h.UpdateType, "--update-type"}
		}
	}
	return nil
}

// update checks the merged identity and makes the Update.
func (m *merged) update(nbt string) (Update, error) {
	var missing []string
	complete := m.deviceType.v != "" && m.locale.v != "" &&
		(m.isInterim() || m.vendor.v != "" && m.model.v != "" && m.revision.v != "")
	if !complete {
		missing = append(missing, "its device path (give --device-path, e.g. UCPhone/Polycom/CX700/A/ENU or OCInterim/ENU)")
	}
	if m.version.v == "" {
		missing = append(missing, "its version (give --version, e.g. 3.5.6907.37)")
	}
	if len(missing) > 0 {
		return Update{}, refusef("%s: neither updateInfo.xml, a description .xml nor the folder names say %s", nbt, strings.Join(missing, ", nor "))
	}
	s := m.deviceType.v + "/" + m.locale.v
	if !m.isInterim() {
		s = strings.Join([]string{m.deviceType.v, m.vendor.v, m.model.v, m.revision.v, m.locale.v}, "/")
	}
	path, err := images.ParseDevicePath(s)
	if err != nil {
		return Update{}, refusef("%s: %v", nbt, err)
	}
	if path.IsInterim() {
		path.DeviceType = images.InterimDeviceType
	}
	if _, err := images.ParseRuleKey(path.String() + "/" + m.updateType.v); err != nil {
		return Update{}, refusef("%s: %v", nbt, err)
	}
	v, err := images.ParseVersion(m.version.v)
	if err != nil {
		return Update{}, refusef("%s: %v", nbt, err)
	}
	return Update{
		Path:       path,
		UpdateType: m.updateType.v,
		Version:    v,
		Interim:    path.IsInterim() || m.interim != nil && *m.interim,
		Origin: Origin{
			DevicePath: m.pathOrigin(),
			Version:    m.version.from,
			UpdateType: m.updateType.from,
		},
	}, nil
}

// pathOrigin joins the distinct sources of the device path's parts.
func (m *merged) pathOrigin() string {
	var from []string
	parts := m.pathParts()
	if m.isInterim() {
		parts = []*pick{&m.deviceType, &m.locale}
	}
	for _, p := range parts {
		if p.v != "" && p.from != "" && !contains(from, p.from) {
			from = append(from, p.from)
		}
	}
	return strings.Join(from, " + ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
