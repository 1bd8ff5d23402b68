package images

import (
	"errors"
	"fmt"
	"strings"
)

// InterimDeviceType is the first element of the short device path an interim
// image is imported under (OCInterim/<Locale>). Such a rule serves every model
// of that locale: the seed article saw 1.0.522.103 served from
// DeviceUpdateFiles_Int/OCInterim/ENU/CPE.nbt.
const InterimDeviceType = "OCInterim"

// DefaultUpdateType is the update type of the phone's main image (CPE.nbt).
const DefaultUpdateType = "CPE"

// DevicePath names a phone model in one locale, as OCS writes it:
// DeviceType/Vendor/Model/Revision/Locale (UCPhone/Polycom/CX700/A/ENU), or
// the short interim form OCInterim/<Locale>.
type DevicePath struct {
	DeviceType string `json:"device_type"`
	Vendor     string `json:"vendor,omitempty"`
	Model      string `json:"model,omitempty"`
	Revision   string `json:"revision,omitempty"`
	Locale     string `json:"locale"`
}

// ParseDevicePath reads "UCPhone/Polycom/CX700/A/ENU" or "OCInterim/ENU".
// Leading and trailing slashes are ignored.
func ParseDevicePath(s string) (DevicePath, error) {
	parts := strings.Split(strings.Trim(strings.TrimSpace(s), "/"), "/")
	switch {
	case len(parts) == 2 && strings.EqualFold(parts[0], InterimDeviceType):
		p := DevicePath{DeviceType: InterimDeviceType, Locale: parts[1]}
		return p, p.check(s)
	case len(parts) == 5:
		p := DevicePath{DeviceType: parts[0], Vendor: parts[1], Model: parts[2], Revision: parts[3], Locale: parts[4]}
		return p, p.check(s)
	}
	return DevicePath{}, fmt.Errorf("device path %q: want DeviceType/Vendor/Model/Revision/Locale (e.g. UCPhone/Polycom/CX700/A/ENU) or %s/<Locale>", s, InterimDeviceType)
}

func (p DevicePath) check(orig string) error {
	for _, part := range p.parts() {
		if !plainName(part) {
			return fmt.Errorf("device path %q: element %q is empty or not a plain name", orig, part)
		}
	}
	return nil
}

// plainName reports whether s can be one element of a path on disk and in a
// URL: not empty, not a dot name, no separators or reserved characters.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\:*?"<>|%`) && strings.TrimSpace(s) == s
}

func (p DevicePath) parts() []string {
	if p.IsInterim() {
		return []string{p.DeviceType, p.Locale}
	}
	return []string{p.DeviceType, p.Vendor, p.Model, p.Revision, p.Locale}
}

// IsInterim reports whether p is the short OCInterim/<Locale> form.
func (p DevicePath) IsInterim() bool { return strings.EqualFold(p.DeviceType, InterimDeviceType) }

// String is the slash-joined path without leading or trailing slash.
func (p DevicePath) String() string { return strings.Join(p.parts(), "/") }

// RuleKey names one rule: a device path and an update type. OCS keeps one
// rule per (DeviceType, Vendor, Model, Revision, Locale, UpdateType).
type RuleKey struct {
	DevicePath
	UpdateType string `json:"update_type"`
}

// ParseRuleKey reads a rule as `tanjay rules` prints it:
// UCPhone/Polycom/CX700/A/ENU/CPE or OCInterim/ENU/CPE.
func ParseRuleKey(s string) (RuleKey, error) {
	t := strings.Trim(strings.TrimSpace(s), "/")
	i := strings.LastIndexByte(t, '/')
	if i < 0 {
		return RuleKey{}, fmt.Errorf("rule %q: want DeviceType/Vendor/Model/Revision/Locale/UpdateType (e.g. UCPhone/Polycom/CX700/A/ENU/CPE) or %s/<Locale>/<UpdateType>", s, InterimDeviceType)
	}
	p, err := ParseDevicePath(t[:i])
	if err != nil {
		return RuleKey{}, fmt.Errorf("rule %q: %w", s, err)
	}
	k := RuleKey{DevicePath: p, UpdateType: t[i+1:]}
	if !plainName(k.UpdateType) {
		return RuleKey{}, fmt.Errorf("rule %q: update type %q is not a plain name", s, k.UpdateType)
	}
	return k, nil
}

// String is the rule's name: the device path and the update type.
func (k RuleKey) String() string { return k.DevicePath.String() + "/" + k.UpdateType }

// ID is the case-folded name, used as the key in tables and for matching what
// phones report (they are not consistent about case).
func (k RuleKey) ID() string { return strings.ToLower(k.String()) }

// Rule is the approval state of one RuleKey. A zero Version means "none".
type Rule struct {
	Key      RuleKey `json:"key"`
	Approved Version `json:"approved"`
	Pending  Version `json:"pending"`
	Restore  Version `json:"restore"`
	// Restored is set by an explicit Restore and cleared by the next
	// Approve. Only while it is set may a phone be offered a version lower
	// than the one it runs: this appliance refuses silent downgrades.
	Restored bool `json:"restored,omitempty"`
}

// Errors of impossible transitions. They are wrapped with the rule's name.
var (
	ErrNoPending      = errors.New("has no pending version")
	ErrNoRestore      = errors.New("has no version to restore")
	ErrAlreadyCurrent = errors.New("already has that version approved")
	ErrZeroVersion    = errors.New("cannot take version 0.0.0.0")
)

func ruleErr(k RuleKey, err error) error { return fmt.Errorf("rule %s %w", k, err) }

// Import makes v the rule's Pending version. Importing the version that is
// already Pending changes nothing; importing the Approved one is refused.
func Import(r Rule, v Version) (Rule, error) {
	switch {
	case v.IsZero():
		return r, ruleErr(r.Key, ErrZeroVersion)
	case v == r.Approved:
		return r, fmt.Errorf("rule %s %w (%s)", r.Key, ErrAlreadyCurrent, v)
	}
	r.Pending = v
	return r, nil
}

// Approve makes Pending the Approved version; the old Approved becomes the
// Restore version.
func Approve(r Rule) (Rule, error) {
	if r.Pending.IsZero() {
		return r, ruleErr(r.Key, ErrNoPending)
	}
	if !r.Approved.IsZero() {
		r.Restore = r.Approved
	}
	r.Approved, r.Pending, r.Restored = r.Pending, Version{}, false
	return r, nil
}

// Reject clears Pending: test devices go back to the Approved version.
func Reject(r Rule) (Rule, error) {
	if r.Pending.IsZero() {
		return r, ruleErr(r.Key, ErrNoPending)
	}
	r.Pending = Version{}
	return r, nil
}

// Restore puts the Restore version back as Approved and allows phones above
// it to be offered the lower version.
func Restore(r Rule) (Rule, error) {
	if r.Restore.IsZero() {
		return r, ruleErr(r.Key, ErrNoRestore)
	}
	r.Approved, r.Restore, r.Restored = r.Restore, Version{}, true
	return r, nil
}
