package legacy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

var (
	cx700   = images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
	cx700De = images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "DEU"}
	ip8540  = images.DevicePath{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"}
	interim = images.DevicePath{DeviceType: images.InterimDeviceType, Locale: "ENU"}
	v       = images.MustParseVersion
)

func key(p images.DevicePath) images.RuleKey { return images.RuleKey{DevicePath: p, UpdateType: "CPE"} }

func img(p images.DevicePath, ver string, isInterim bool) images.Image {
	return images.Image{Key: key(p), Version: v(ver), Interim: isInterim, Files: []images.File{{Name: "CPE.nbt"}}}
}

// standardCatalog: interim 1.0.522.103 approved under OCInterim/ENU, target
// 3.5.6907.0 approved for the CX700 with 4.0.7577.4066 pending and
// 3.5.6907.0's predecessor 3.5.6900.1 as restore.
func standardCatalog(mut func(*images.Rule)) *Catalog {
	rules := []images.Rule{
		{Key: key(interim), Approved: v("1.0.522.103")},
		{Key: key(cx700), Approved: v("3.5.6907.0"), Pending: v("4.0.7577.4066"), Restore: v("3.5.6900.1")},
		{Key: key(ip8540)}, // imported, then rejected: nothing approved
	}
	if mut != nil {
		mut(&rules[1])
	}
	imgs := []images.Image{
		img(interim, "1.0.522.103", true),
		img(cx700, "3.5.6900.1", false),
		img(cx700, "3.5.6907.0", false),
		img(cx700, "4.0.7577.4066", false),
	}
	return NewCatalog(rules, imgs)
}

func TestPlanNextHop(t *testing.T) {
	restored := func(r *images.Rule) {
		r.Approved, r.Restore, r.Restored = r.Restore, images.Version{}, true
	}
	tests := []struct {
		name    string
		cat     *Catalog
		phone   Phone
		path    []string
		target  string
		noHop   bool
		hasText string
	}{
		{name: "beta phone goes via interim", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE"}, path: []string{"1.0.522.103", "3.5.6907.0"}, target: "3.5.6907.0"},
		{name: "1.0.199 beta goes via interim", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("1.0.199.123")}, path: []string{"1.0.522.103", "3.5.6907.0"}, target: "3.5.6907.0"},
		{name: "interim goes straight to target", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("1.0.522.103")}, path: []string{"3.5.6907.0"}, target: "3.5.6907.0"},
		{name: "RTM 1.0.522.73 is past the minimum", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("1.0.522.73")}, path: []string{"3.5.6907.0"}, target: "3.5.6907.0"},
		{name: "at target gets nothing", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("3.5.6907.0")}, target: "3.5.6907.0", noHop: true, hasText: "at target"},
		{name: "above target gets nothing", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("4.0.7577.4066")}, target: "3.5.6907.0", noHop: true, hasText: "only after Restore"},
		{name: "test device gets pending", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("3.5.6907.0"), IsTest: true}, path: []string{"4.0.7577.4066"}, target: "4.0.7577.4066"},
		{name: "beta test device goes via interim to pending", cat: standardCatalog(nil),
			phone: Phone{Path: cx700, UpdateType: "CPE", IsTest: true}, path: []string{"1.0.522.103", "4.0.7577.4066"}, target: "4.0.7577.4066"},
		{name: "after restore a higher phone is offered the lower version", cat: standardCatalog(restored),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("3.5.6907.0")}, path: []string{"3.5.6900.1"}, target: "3.5.6900.1"},
		{name: "no rule for the locale", cat: standardCatalog(nil),
			phone: Phone{Path: cx700De, UpdateType: "CPE"}, noHop: true, hasText: "no rule for UCPhone/Polycom/CX700/A/DEU/CPE"},
		{name: "rule without approved version", cat: standardCatalog(nil),
			phone: Phone{Path: ip8540, UpdateType: "CPE"}, noHop: true, hasText: "no approved version"},
		{name: "no interim means no offer to a beta phone",
			cat:   NewCatalog([]images.Rule{{Key: key(cx700), Approved: v("3.5.6907.0")}}, []images.Image{img(cx700, "3.5.6907.0", false)}),
			phone: Phone{Path: cx700, UpdateType: "CPE"}, target: "3.5.6907.0", noHop: true, hasText: "needs at least 1.0.522.0"},
		{name: "min-from override is data",
			cat: NewCatalog([]images.Rule{{Key: key(cx700), Approved: v("2.0.0.1")}, {Key: key(interim), Approved: v("1.5.0.0")}},
				[]images.Image{{Key: key(cx700), Version: v("2.0.0.1"), MinFrom: v("1.5.0.0")}, img(interim, "1.5.0.0", true)}),
			phone: Phone{Path: cx700, UpdateType: "CPE", Current: v("1.0.522.103")}, path: []string{"1.5.0.0", "2.0.0.1"}, target: "2.0.0.1"},
		{name: "rule names are case-insensitive", cat: standardCatalog(nil),
			phone: Phone{Path: images.DevicePath{DeviceType: "ucphone", Vendor: "POLYCOM", Model: "cx700", Revision: "a", Locale: "enu"}, UpdateType: "cpe", Current: v("1.0.522.103")},
			path:  []string{"3.5.6907.0"}, target: "3.5.6907.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := PlanNextHop(tt.cat, tt.phone)
			var got []string
			for _, p := range plan.Path() {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.path, got); diff != "" {
				t.Errorf("path (-want +got):\n%s\nreason: %s", diff, plan.Reason)
			}
			if tt.target != "" && plan.Target.String() != tt.target {
				t.Errorf("target = %s, want %s", plan.Target, tt.target)
			}
			if _, ok := plan.Next(); ok == tt.noHop {
				t.Errorf("Next() ok = %v, want %v", ok, !tt.noHop)
			}
			if tt.hasText != "" && !strings.Contains(plan.Reason, tt.hasText) {
				t.Errorf("reason %q does not say %q", plan.Reason, tt.hasText)
			}
		})
	}
}

func TestCatalogLangListAndInterim(t *testing.T) {
	c := NewCatalog([]images.Rule{
		{Key: key(cx700), Approved: v("3.5.6907.0")},
		{Key: key(cx700De), Pending: v("3.5.6907.0")},
		{Key: key(interim), Approved: v("1.0.522.103")},
	}, []images.Image{img(interim, "1.0.522.103", true), img(cx700, "3.5.6907.0", false)})
	if diff := cmp.Diff([]string{"DEU", "ENU"}, c.LangList(cx700)); diff != "" {
		t.Errorf("LangList (-want +got):\n%s", diff)
	}
	if !c.IsInterim(cx700, "CPE", v("1.0.522.103")) {
		t.Error("1.0.522.103 under OCInterim/ENU is not seen as the CX700's interim")
	}
	if c.IsInterim(cx700, "CPE", v("3.5.6907.0")) {
		t.Error("3.5.6907.0 is seen as an interim")
	}
}

// TestCatalogLookupsWithoutAllocating: the catalog finds images in other
// letter case, misses a version no image has without building an ID, and
// gives WithURLs' base URLs exactly as URLs.BaseURLs makes them.
func TestCatalogLookupsWithoutAllocating(t *testing.T) {
	u := URLs{InternalStore: "http://lab/DeviceUpdateFiles_Int", ExternalStore: "https://lab/DeviceUpdateFiles_Ext"}
	c := standardCatalog(nil).WithURLs(u)
	upper := key(cx700)
	upper.Model = "cx700"
	if _, ok := c.Image(upper, v("3.5.6907.0")); !ok {
		t.Error("an image in other letter case is not found")
	}
	if n := testing.AllocsPerRun(100, func() { c.Image(key(cx700), v("1.0.199.0")) }); n != 0 {
		t.Errorf("a version no image has: %v allocations, want 0", n)
	}
	for _, im := range []images.Image{img(cx700, "3.5.6907.0", false), img(interim, "1.0.522.103", true), img(ip8540, "9.9.9.9", false)} {
		in, ext := c.BaseURLs(u, im)
		wantIn, wantExt := u.BaseURLs(im)
		if in != wantIn || ext != wantExt {
			t.Errorf("%s %s: BaseURLs %s, %s; want %s, %s", im.Key, im.Version, in, ext, wantIn, wantExt)
		}
	}
	im := img(cx700, "3.5.6907.0", false)
	if n := testing.AllocsPerRun(100, func() { c.BaseURLs(u, im) }); n != 0 {
		t.Errorf("BaseURLs of a catalog image: %v allocations, want 0", n)
	}
}

func BenchmarkPlanNextHop(b *testing.B) {
	c := standardCatalog(nil)
	ph := Phone{Path: cx700, UpdateType: "CPE"}
	for b.Loop() {
		if _, ok := PlanNextHop(c, ph).Next(); !ok {
			b.Fatal("no hop")
		}
	}
}
