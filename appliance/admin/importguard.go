package admin

import (
	"fmt"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// knownModels are the phones PROTOCOL.md confirms the device paths of
// (vendor and model, case-folded): an import for one of them needs no
// phone to have reported it first, since operators import before they
// plug phones in.
var knownModels = map[string]bool{
	"polycom/cx700":    true,
	"lg-nortel/ip8540": true,
}

// importWarnings are the ways an import of imgs looks like a mistake, each
// a sentence; the import then needs force:
//   - a model no phone has reported, no rule serves and this appliance
//     does not know (a typo in a device path makes a rule no phone asks
//     for);
//   - a version below the rule's approved one (approving it would offer
//     phones a lower version than they run only after a Restore; it is
//     more likely the wrong file);
//   - a second Pending that replaces another (the test devices that were
//     taking the first would silently get the second).
func (a *Actions) importWarnings(imgs []images.Image) []string {
	var out []string
	var seen map[string]bool // device paths phones reported, read once when needed
	for _, im := range imgs {
		rule, hasRule := a.store.Rule(im.Key)
		switch {
		case hasRule && !rule.Approved.IsZero() && im.Version.Less(rule.Approved):
			out = append(out, fmt.Sprintf("%s %s is lower than the approved %s", im.Key, im.Version, rule.Approved))
		case hasRule && !rule.Pending.IsZero() && im.Version != rule.Pending:
			out = append(out, fmt.Sprintf("%s %s would replace the Pending %s, which test devices take now", im.Key, im.Version, rule.Pending))
		}
		p := im.Key.DevicePath
		if hasRule || im.Key.IsInterim() || knownModels[strings.ToLower(p.Vendor+"/"+p.Model)] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
			a.store.EachDevice(nil, func(d *store.Device) bool {
				if d.DevicePath.Model != "" {
					seen[strings.ToLower(d.DevicePath.String())] = true
				}
				return true
			})
		}
		if !seen[strings.ToLower(p.String())] {
			out = append(out, fmt.Sprintf("no phone has reported %s and no rule serves it (check the device path)", p))
		}
	}
	return out
}
