package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
	"github.com/tanjay-lab/tanjay/r2"
)

// planApp is an appliance with the interim and a CX700 release approved,
// enough to plan check-ins.
func planApp(t *testing.T) *app {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	st, err := store.Open(cfg.stateDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler), store: st}
	if a.urls, err = legacy.DeriveURLs("http://192.0.2.10", "", legacy.URLs{}); err != nil {
		t.Fatal(err)
	}
	for _, im := range []images.Image{
		{Key: mustKey("OCInterim/ENU/CPE"), Version: images.MustParseVersion("1.0.522.103"), Interim: true, Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}},
		{Key: mustKey("UCPhone/Polycom/CX700/A/ENU/CPE"), Version: images.MustParseVersion("3.5.6907.0"), Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}},
	} {
		approveImage(t, a, im)
	}
	return a
}

func approveImage(t *testing.T, a *app, im images.Image) {
	t.Helper()
	if _, err := a.store.ImportImage(im); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Approve(im.Key); err != nil {
		t.Fatal(err)
	}
	a.refreshCatalog()
}

// plannedDirectly is the offer legacy's planner makes for req, asked
// afresh for every module: what the memo must answer.
func plannedDirectly(a *app, req *r2.Request) r2.Offer {
	cat := a.catalog.Load()
	path := req.DevicePath()
	offer := r2.Offer{LangList: cat.LangList(path), IsTest: a.store.IsTestDevice(req.MAC, req.Serial)}
	modules := req.Modules
	if len(modules) == 0 {
		modules = unknownCPE
	}
	for i, m := range modules {
		ph := legacy.Phone{Path: path, UpdateType: m.UpdateType(), Current: m.Version, IsTest: offer.IsTest}
		plan := legacy.PlanNextHop(cat, ph)
		if i == 0 || ph.UpdateType == images.DefaultUpdateType {
			offer.Target, offer.Path, offer.Reason = plan.Target, plan.Path(), plan.Reason
			offer.Interim = cat.IsInterim(path, ph.UpdateType, ph.Current)
		}
		if next, ok := plan.Next(); ok {
			offer.Updates = append(offer.Updates, a.offered(cat, next))
		}
	}
	return offer
}

func planRequest(mac, model string, modules ...string) *r2.Request {
	req := &r2.Request{DeviceType: "UCPhone", Vendor: "Polycom", Model: model, Revision: "A", Locale: "ENU", MAC: mac, Serial: "SN" + mac}
	for i := 0; i+1 < len(modules); i += 2 {
		m := r2.Module{FileName: modules[i], VersionText: modules[i+1]}
		m.Version, _ = images.ParseVersion(modules[i+1])
		req.Modules = append(req.Modules, m)
	}
	return req
}

// TestPlanMemoAnswersAsThePlanner: every check-in's offer, planned from
// the memo (the first time and again from what it remembered), is the one
// legacy's planner makes afresh, also after the catalog changed and for a
// phone that became a test device.
func TestPlanMemoAnswersAsThePlanner(t *testing.T) {
	a := planApp(t)
	p := checkinPlanner{a}
	requests := map[string]*r2.Request{
		"beta":           planRequest("001B9E000001", "CX700", "cpe.nbt", "1.0.199.0"),
		"on the interim": planRequest("001B9E000002", "CX700", "cpe.nbt", "1.0.522.103"),
		"at the target":  planRequest("001B9E000003", "CX700", "cpe.nbt", "3.5.6907.0"),
		"above target":   planRequest("001B9E000004", "CX700", "cpe.nbt", "4.0.7577.4066"),
		"no rule":        planRequest("001B9E000005", "RoundTable", "cpe.nbt", "1.0.199.0"),
		"no modules":     planRequest("001B9E000006", "CX700"),
		"two modules":    planRequest("001B9E000007", "CX700", "lang.nbt", "1.0.0.0", "cpe.nbt", "1.0.199.0"),
		"test device":    planRequest("001B9E000008", "CX700", "cpe.nbt", "1.0.522.103"),
	}
	check := func(stage string) {
		t.Helper()
		for name, req := range requests {
			for round := range 2 {
				got, err := p.PlanNextHop(context.Background(), req, "192.0.2.50")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(plannedDirectly(a, req), got); diff != "" {
					t.Errorf("%s: %s, check-in %d: offer differs from the planner's (-planner +memo):\n%s", stage, name, round+1, diff)
				}
			}
		}
	}
	check("first catalog")
	approveImage(t, a, images.Image{Key: mustKey("UCPhone/Polycom/CX700/A/ENU/CPE"), Version: images.MustParseVersion("4.0.7577.4100"),
		Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}})
	check("a newer release approved")
	if err := a.store.AddTestDevice(store.TestDevice{ID: "001B9E000008", Kind: store.TestDeviceMAC}); err != nil {
		t.Fatal(err)
	}
	check("a test device added")
	if got, _ := p.PlanNextHop(context.Background(), requests["beta"], ""); len(got.Updates) != 1 || got.Updates[0].Version != images.MustParseVersion("1.0.522.103") {
		t.Errorf("a beta phone is offered %+v, want the interim", got.Updates)
	}
}

// TestPlanMemoIsBounded: phones reporting more distinct versions than the
// memo holds start it over instead of growing it, and are still answered
// as the planner answers.
func TestPlanMemoIsBounded(t *testing.T) {
	a := planApp(t)
	p := checkinPlanner{a}
	for i := range maxMemoHops + 100 {
		req := planRequest("001B9E000001", "CX700", "cpe.nbt", fmt.Sprintf("1.0.%d.%d", i/1000, i%1000))
		got, err := p.PlanNextHop(context.Background(), req, "")
		if err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			if diff := cmp.Diff(plannedDirectly(a, req), got); diff != "" {
				t.Errorf("version %d: offer differs from the planner's (-planner +memo):\n%s", i, diff)
			}
		}
	}
	memo := plans.of(a.catalog.Load())
	n := 0
	memo.hops.Range(func(any, any) bool { n++; return true })
	if n > maxMemoHops || memo.count.Load() > maxMemoHops {
		t.Errorf("the memo holds %d hops (counted %d), want at most %d", n, memo.count.Load(), maxMemoHops)
	}
}
