package dashboard

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
)

// TestDiagramFollowsThePlanner: after each operator step — approve, a
// second import, reject, approve of a newer build, restore — the Firmware
// page's diagram for the CX700 draws, on its main row, exactly the path
// the planner gives a phone below every version (the Pending box last
// when test devices are offered something else), and marks the versions
// off the path for what they are.
func TestDiagramFollowsThePlanner(t *testing.T) {
	e := newEnv(t, nil)
	e.seedFirmware(t) // interim approved, target pending
	file := []images.File{{Name: "CPE.nbt", SHA256: strings.Repeat("ef", 32), Size: 1 << 20}}
	v := images.MustParseVersion
	imp := func(ver string) {
		t.Helper()
		if _, err := e.st.ImportImage(images.Image{Key: cx700Key, Version: v(ver), Files: file, ImportedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	do := func(f func(images.RuleKey) (images.Rule, error)) {
		t.Helper()
		if _, err := f(cx700Key); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range []images.Version{beta, interim, target} {
		checkIn(e.st, i, cx700, p, time.Now())
	}
	steps := []struct {
		name     string
		act      func()
		mainKind []string // kinds along the main row after the beta box
		side     map[string]string
	}{
		{"pending only: the path ends at the interim, the target is for test devices", func() {},
			[]string{kindInterim, kindPending}, nil},
		{"approved", func() { do(e.st.Approve) },
			[]string{kindInterim, kindTarget}, nil},
		{"a second import", func() { imp("4.0.7577.4066") },
			[]string{kindInterim, kindTarget, kindPending}, nil},
		{"rejected", func() { do(e.st.Reject) },
			[]string{kindInterim, kindTarget}, map[string]string{"4.0.7577.4066": kindOther}},
		{"a newer build approved", func() { imp("4.0.7577.4100"); do(e.st.Approve) },
			[]string{kindInterim, kindTarget}, map[string]string{"4.0.7577.4066": kindOther, target.String(): kindRestore}},
		{"restored", func() { do(e.st.Restore) },
			[]string{kindInterim, kindRestored}, map[string]string{"4.0.7577.4066": kindOther, "4.0.7577.4100": kindOther}},
	}
	for _, s := range steps {
		s.act()
		cat := legacy.NewCatalog(e.st.Rules(nil), e.st.Images(nil))
		e.d.hub.sync()
		stats := e.d.fleet.pathStats(nil)
		i := slices.IndexFunc(stats, func(ps pathStat) bool { return ps.path == cx700 })
		if i < 0 {
			t.Fatal("no CX700 in the fleet index")
		}
		main, side := planNodes(&stats[i], cat)
		var kinds []string
		var versions []images.Version
		for _, n := range main[1:] {
			kinds = append(kinds, n.Kind)
			versions = append(versions, n.Version)
		}
		if !slices.Equal(kinds, s.mainKind) {
			t.Errorf("%s: main row %q, want %q", s.name, kinds, s.mainKind)
		}
		plan := legacy.PlanNextHop(cat, legacy.Phone{Path: cx700, UpdateType: "CPE"})
		test := legacy.PlanNextHop(cat, legacy.Phone{Path: cx700, UpdateType: "CPE", IsTest: true})
		want := plan.Path()
		if len(want) == 0 {
			want = test.Path()
		} else if tp := test.Path(); len(tp) > 0 && !slices.Contains(want, tp[len(tp)-1]) {
			want = append(want, tp[len(tp)-1])
		}
		if !slices.Equal(versions, want) {
			t.Errorf("%s: main row %v, the planner's path (then the test devices' end) %v", s.name, versions, want)
		}
		got := map[string]string{}
		for _, n := range side {
			if n.Phones == 0 || n.Kind != kindOther || len(s.side) > 0 {
				got[n.Title] = n.Kind
			}
		}
		for ver, kind := range s.side {
			if got[ver] != kind {
				t.Errorf("%s: off the path %s is %q, want %q (all: %v)", s.name, ver, got[ver], kind, got)
			}
		}
	}
	// The page draws it: the restored box, and the explanation of arrows.
	resp, err := http.Get(e.srv.URL + "/firmware")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{`class="node node-restored"`, "approved (restored)", "offered a next hop at their last check-in"} {
		if !strings.Contains(string(body), w) {
			t.Errorf("the Firmware page lacks %q", w)
		}
	}
}
