package legacy

import (
	"sort"
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// Catalog is an immutable snapshot of the rules and images the planner
// reads. The appliance builds a new one after every operator change, so a
// check-in plans with map lookups and no locks.
type Catalog struct {
	// Rules and images by their exact key (phones report names in the case
	// the firmware was imported with: no allocation on the hot path), and
	// by the case-folded ID as a fallback.
	exactRules  map[images.RuleKey]images.Rule
	rules       map[string]images.Rule // by RuleKey.ID()
	exactImages map[imageKey]images.Image
	images      map[string]images.Image // by Image.ID()
	langs       map[string][]string     // model (device path without locale, folded) → locales
	// versions are every image's version: a phone's version that no image
	// has (most check-ins) misses without building a case-folded ID.
	versions map[images.Version]bool
	// bases are each image's two base URLs (WithURLs), so an offer is
	// made without joining paths on every check-in.
	bases map[imageKey][2]string
}

type imageKey struct {
	key     images.RuleKey
	version images.Version
}

// NewCatalog indexes rules and images.
func NewCatalog(rules []images.Rule, imgs []images.Image) *Catalog {
	c := &Catalog{
		exactRules:  make(map[images.RuleKey]images.Rule, len(rules)),
		rules:       make(map[string]images.Rule, len(rules)),
		exactImages: make(map[imageKey]images.Image, len(imgs)),
		images:      make(map[string]images.Image, len(imgs)),
		langs:       make(map[string][]string),
		versions:    make(map[images.Version]bool, len(imgs)),
	}
	for _, r := range rules {
		c.exactRules[r.Key] = r
		c.rules[r.Key.ID()] = r
		if r.Key.IsInterim() || r.Approved.IsZero() && r.Pending.IsZero() {
			continue
		}
		m := modelID(r.Key.DevicePath)
		if !containsFold(c.langs[m], r.Key.Locale) {
			c.langs[m] = append(c.langs[m], r.Key.Locale)
		}
	}
	for _, l := range c.langs {
		sort.Strings(l)
	}
	for _, im := range imgs {
		c.exactImages[imageKey{im.Key, im.Version}] = im
		c.images[im.ID()] = im
		c.versions[im.Version] = true
	}
	return c
}

// Rule returns the rule with that key (case-insensitive).
func (c *Catalog) Rule(key images.RuleKey) (images.Rule, bool) {
	if r, ok := c.exactRules[key]; ok {
		return r, true
	}
	r, ok := c.rules[key.ID()]
	return r, ok
}

// Image returns the image of that rule and version.
func (c *Catalog) Image(key images.RuleKey, v images.Version) (images.Image, bool) {
	if im, ok := c.exactImages[imageKey{key, v}]; ok {
		return im, true
	}
	if !c.versions[v] {
		return images.Image{}, false
	}
	im, ok := c.images[images.Image{Key: key, Version: v}.ID()]
	return im, ok
}

// Images are the rule's images (matched case-insensitively), in version
// order.
func (c *Catalog) Images(key images.RuleKey) []images.Image {
	var out []images.Image
	id := key.ID()
	for _, im := range c.images {
		if im.Key.ID() == id {
			out = append(out, im)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version.Less(out[j].Version) })
	return out
}

// WithURLs computes every image's base URLs under u once, for BaseURLs,
// and returns c. Call it before c is shared.
func (c *Catalog) WithURLs(u URLs) *Catalog {
	c.bases = make(map[imageKey][2]string, len(c.exactImages))
	for k, im := range c.exactImages {
		in, ext := u.BaseURLs(im)
		c.bases[k] = [2]string{in, ext}
	}
	return c
}

// BaseURLs are im's internal and external base URLs under u: computed
// once by WithURLs for the catalog's own images.
func (c *Catalog) BaseURLs(u URLs, im images.Image) (internal, external string) {
	if b, ok := c.bases[imageKey{im.Key, im.Version}]; ok {
		return b[0], b[1]
	}
	return u.BaseURLs(im)
}

// LangList is the locales the appliance holds versions for, for the model of p
// (any locale): what the check-in response's LangList names.
func (c *Catalog) LangList(p images.DevicePath) []string { return c.langs[modelID(p)] }

// IsInterim reports whether v is an interim build for the phone at p: an
// image flagged interim under its own rule or its locale's OCInterim rule.
func (c *Catalog) IsInterim(p images.DevicePath, updateType string, v images.Version) bool {
	for _, key := range []images.RuleKey{{DevicePath: p, UpdateType: updateType}, interimKey(p.Locale, updateType)} {
		if im, ok := c.Image(key, v); ok && im.Interim {
			return true
		}
	}
	return false
}

func modelID(p images.DevicePath) string {
	return strings.ToLower(p.DeviceType + "/" + p.Vendor + "/" + p.Model + "/" + p.Revision)
}

func interimKey(locale, updateType string) images.RuleKey {
	return images.RuleKey{DevicePath: images.DevicePath{DeviceType: images.InterimDeviceType, Locale: locale}, UpdateType: updateType}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
