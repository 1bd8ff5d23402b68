package legacy

import (
	"fmt"

	"github.com/tanjay-lab/tanjay/images"
)

// maxHops bounds the chain search; real chains have two hops.
const maxHops = 8

// Phone is what the planner needs to know about one phone for one update
// type.
type Phone struct {
	Path       images.DevicePath
	UpdateType string
	Current    images.Version // 0.0.0.0 when the phone cannot name its image
	// IsTest marks a test device (by MAC or serial): it gets Pending versions.
	IsTest bool
}

// Plan is the planner's decision for one phone.
type Plan struct {
	// Target is the version this phone should end on; zero when no rule
	// covers it.
	Target images.Version
	// Hops are the images still to install, in order; Hops[0] is offered
	// now. Empty means nothing is offered, and Reason says why.
	Hops   []images.Image
	Reason string
}

// Next is the image to offer now, if any.
func (p Plan) Next() (images.Image, bool) {
	if len(p.Hops) == 0 {
		return images.Image{}, false
	}
	return p.Hops[0], true
}

// Path is the versions of the hops still to take.
func (p Plan) Path() []images.Version {
	out := make([]images.Version, len(p.Hops))
	for i, h := range p.Hops {
		out[i] = h.Version
	}
	return out
}

// PlanNextHop decides what a phone gets:
//   - test devices get the Pending version when there is one, all others the
//     Approved one;
//   - a phone at its target gets nothing;
//   - a phone above its target gets nothing unless the rule was explicitly
//     Restored, which is the only way a lower version is offered;
//   - a phone below its target's minimum starting version gets a stepping
//     stone first: the interim approved under OCInterim/<Locale> (or the
//     phone's own rule), as long as the stone can itself be taken from
//     the phone's version. Which image needs which is data (MinFrom).
func PlanNextHop(c *Catalog, ph Phone) Plan {
	key := images.RuleKey{DevicePath: ph.Path, UpdateType: ph.UpdateType}
	rule, ok := c.Rule(key)
	if !ok {
		return Plan{Reason: fmt.Sprintf("no rule for %s", key)}
	}
	target := versionFor(rule, ph.IsTest)
	if target.IsZero() {
		return Plan{Reason: fmt.Sprintf("rule %s has no approved version", key)}
	}
	targetImg, ok := c.Image(key, target)
	if !ok {
		return Plan{Target: target, Reason: fmt.Sprintf("rule %s names %s but its image is missing", key, target)}
	}
	plan := Plan{Target: target}
	switch cmp := ph.Current.Compare(target); {
	case cmp == 0:
		plan.Reason = "at target " + target.String()
	case cmp > 0 && !rule.Restored:
		plan.Reason = fmt.Sprintf("runs %s, above target %s: a lower version is offered only after Restore", ph.Current, target)
	case cmp > 0:
		plan.Hops = []images.Image{targetImg} // explicit Restore: downgrade
	default:
		plan.Hops, plan.Reason = chainTo(c, ph, targetImg)
	}
	return plan
}

// chainTo finds the stepping stones from ph.Current to target, ending with
// target itself, or explains why there is no path.
func chainTo(c *Catalog, ph Phone, target images.Image) ([]images.Image, string) {
	var stones []images.Image
	cur := ph.Current
	for cur.Less(target.EffectiveMinFrom()) {
		stone, ok := steppingStone(c, ph, cur, target.Version)
		if !ok || len(stones) == maxHops {
			return nil, fmt.Sprintf("%s needs at least %s first, and no approved interim for %s can be taken from %s",
				target.Version, target.EffectiveMinFrom(), interimKey(ph.Path.Locale, ph.UpdateType), cur)
		}
		stones = append(stones, stone)
		cur = stone.Version
	}
	return append(stones, target), ""
}

// steppingStone is the highest candidate above cur and below target that a
// phone at cur may take directly.
func steppingStone(c *Catalog, ph Phone, cur, target images.Version) (images.Image, bool) {
	var best images.Image
	found := false
	for _, key := range []images.RuleKey{interimKey(ph.Path.Locale, ph.UpdateType), {DevicePath: ph.Path, UpdateType: ph.UpdateType}} {
		rule, ok := c.Rule(key)
		if !ok {
			continue
		}
		v := versionFor(rule, ph.IsTest)
		im, ok := c.Image(key, v)
		if !ok || !cur.Less(v) || !v.Less(target) || cur.Less(im.EffectiveMinFrom()) {
			continue
		}
		if !found || best.Version.Less(v) {
			best, found = im, true
		}
	}
	return best, found
}

func versionFor(r images.Rule, isTest bool) images.Version {
	if isTest && !r.Pending.IsZero() {
		return r.Pending
	}
	return r.Approved
}
