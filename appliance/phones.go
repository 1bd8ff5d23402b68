package appliance

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	dnsresp "github.com/tanjay-lab/tanjay/appliance/dns"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
	"github.com/tanjay-lab/tanjay/r2"
)

// checkinPlanner adapts legacy's planner to r2.Planner: it decides per
// reported module, with the catalog snapshot and the test-device list.
type checkinPlanner struct{ a *app }

// unknownCPE stands in for a phone that reports no module at all: it is
// planned like a beta phone reporting cpe.nbt 0.0.0.0.
var unknownCPE = []r2.Module{{FileName: "cpe.nbt"}}

func (p checkinPlanner) PlanNextHop(_ context.Context, req *r2.Request, _ string) (r2.Offer, error) {
	cat := p.a.catalog.Load()
	memo := plans.of(cat)
	path := req.DevicePath()
	offer := r2.Offer{IsTest: p.a.store.IsTestDevice(req.MAC, req.Serial)}
	modules := req.Modules
	if len(modules) == 0 {
		modules = unknownCPE
	}
	for i, m := range modules {
		updateType := m.UpdateType()
		hop := memo.plan(p.a, hopKey{path: path, updateType: updateType, current: m.Version, isTest: offer.IsTest})
		if i == 0 {
			offer.LangList = hop.langs
		}
		if i == 0 || updateType == images.DefaultUpdateType {
			offer.Target, offer.Path, offer.Reason, offer.Interim = hop.target, hop.path, hop.reason, hop.interim
		}
		if hop.offers {
			offer.Updates = append(offer.Updates, hop.update)
		}
	}
	return offer, nil
}

// hopKey is everything legacy.PlanNextHop and the offer read of a phone,
// for one catalog snapshot.
type hopKey struct {
	path       images.DevicePath
	updateType string
	current    images.Version
	isTest     bool
}

// hop is the planner's decision for one hopKey, as the offer carries it.
// Its slices are shared by every check-in it answers: nobody mutates them.
type hop struct {
	target  images.Version
	path    []images.Version
	reason  string
	interim bool
	langs   []string
	offers  bool // update is set
	update  r2.OfferedUpdate
}

// planMemo remembers the hops planned with one catalog snapshot. A fleet
// is a few models at a few versions, so almost every check-in is answered
// from it; the planner is pure (the same catalog and phone, the same
// plan), so a remembered hop is the one it would plan again. A new
// snapshot (any operator change) starts a new memo.
type planMemo struct {
	cat   *legacy.Catalog
	hops  sync.Map // hopKey → *hop
	count atomic.Int64
}

// maxMemoHops bounds a memo: phones that report versions nobody else has
// (or anything on the switch posting made-up ones) fill it, and then it
// starts over.
const maxMemoHops = 4096

// planMemos holds the memo of the latest catalog snapshot planned with.
type planMemos struct{ latest atomic.Pointer[planMemo] }

// plans is the process's memo slot: each appliance's catalog snapshots are
// its own, so two appliances in one process (tests) never share a hop,
// they only replace each other's memo.
var plans planMemos

// of is the memo of cat, a new one when cat is not the latest snapshot.
func (m *planMemos) of(cat *legacy.Catalog) *planMemo {
	if pm := m.latest.Load(); pm != nil && pm.cat == cat {
		return pm
	}
	pm := &planMemo{cat: cat}
	m.latest.Store(pm)
	return pm
}

// plan is the hop for k, planned once per memo.
func (pm *planMemo) plan(a *app, k hopKey) *hop {
	if h, ok := pm.hops.Load(k); ok {
		return h.(*hop)
	}
	h := planHop(a, pm.cat, k)
	if pm.count.Add(1) > maxMemoHops {
		pm.hops.Clear()
		pm.count.Store(1)
	}
	pm.hops.Store(k, h)
	return h
}

// planHop asks legacy's planner about one module of one phone.
func planHop(a *app, cat *legacy.Catalog, k hopKey) *hop {
	plan := legacy.PlanNextHop(cat, legacy.Phone{Path: k.path, UpdateType: k.updateType, Current: k.current, IsTest: k.isTest})
	h := &hop{
		target: plan.Target, path: plan.Path(), reason: plan.Reason,
		interim: cat.IsInterim(k.path, k.updateType, k.current),
		langs:   cat.LangList(k.path),
	}
	if next, ok := plan.Next(); ok {
		h.offers, h.update = true, a.offered(cat, next)
	}
	return h
}

// offered describes an image as the check-in response offers it, with the
// base URLs of cat, the catalog the offer was planned with.
func (a *app) offered(cat *legacy.Catalog, im images.Image) r2.OfferedUpdate {
	in, ext := cat.BaseURLs(a.urls, im)
	u := r2.OfferedUpdate{
		UpdateType: im.Key.UpdateType, Version: im.Version,
		BaseURL: in, ExternalBaseURL: ext, TimeStamp: im.ImportedAt,
	}
	if f, ok := im.ImageFile(); ok {
		u.ImageFile = f.Name
	}
	if f, ok := im.SignatureFile(); ok {
		u.SignatureFile = f.Name
	}
	return u
}

// firmwareFiles serves the files of imported images at the paths offered
// URLs name: <DevicePath>/<Version>/<UpdateType>/<File>.
type firmwareFiles struct{ a *app }

func (f firmwareFiles) OpenFile(p string) (r2.File, error) {
	dir, name := path.Split(strings.Trim(p, "/"))
	im, ok := f.a.store.ImageByDir(strings.TrimSuffix(dir, "/"))
	if !ok {
		return r2.File{}, r2.ErrNoFile
	}
	file, ok := im.File(name)
	if !ok {
		return r2.File{}, r2.ErrNoFile
	}
	content, err := f.a.blobs.Open(file.SHA256)
	if errors.Is(err, fs.ErrNotExist) {
		return r2.File{}, r2.ErrNoFile
	}
	if err != nil {
		return r2.File{}, err
	}
	return r2.File{Name: file.Name, ModTime: im.ImportedAt, Size: file.Size, Content: content}, nil
}

// storeObserver records what phones do as events on their timelines.
type storeObserver struct{ a *app }

func (o storeObserver) CheckedIn(c r2.CheckIn) {
	req := c.Request
	ev := store.Event{
		Time: c.At, Kind: store.EventCheckIn, IP: c.ClientIP,
		MAC: req.MAC, Serial: req.Serial, DevicePath: req.DevicePath(),
		Target: c.Offer.Target, Path: c.Offer.Path, Interim: c.Offer.Interim, IsTest: c.Offer.IsTest,
		Detail: c.Offer.Reason,
	}
	if cpe, ok := cpeModule(req.Modules); ok {
		ev.Reported = cpe.Version
	}
	o.a.counters.checkins.Add(1)
	if len(c.Offer.Updates) > 0 {
		o.a.counters.offers.Add(1)
		ev.Offered = c.Offer.Updates[0].Version
		ev.File = c.Offer.Updates[0].ImageFile
	}
	if c.Captured != "" {
		ev.Detail = strings.TrimSpace(ev.Detail + " (body kept as " + path.Base(c.Captured) + ")")
	}
	o.a.store.Observe(ev)
}

func (o storeObserver) Downloaded(d r2.Download) {
	if d.Done {
		o.a.counters.downloadBytes.Add(uint64(d.Sent))
	}
	o.a.store.Observe(store.Event{
		Time: d.At, Kind: store.EventDownload, IP: d.ClientIP,
		File: d.File, Offset: d.Offset, Bytes: d.Sent, Total: d.Total,
		Complete: d.Done && d.Err == "" && d.Offset+d.Sent >= d.Total,
		Detail:   d.Err,
	})
}

// Uploaded puts an upload on the timeline of the phone it names (its MAC),
// else of the phone last seen at its address; a refused one too, with
// why.
func (o storeObserver) Uploaded(u r2.Upload) {
	ev := store.Event{
		Time: u.At, Kind: store.EventUpload, IP: u.ClientIP, MAC: u.MAC,
		File: path.Base(u.Stored), Bytes: u.Size, Detail: u.Path,
	}
	if u.Refused != "" {
		// Detail starts with "refused" (an accepted upload's is its URL
		// path, which starts with "/"): the timeline reads it as a refusal.
		ev.File, ev.Detail = path.Base(u.Path), store.UploadRefused+" with 507 Insufficient Storage: "+u.Refused+" ("+u.Path+")"
	} else {
		o.a.counters.uploads.Add(1)
	}
	o.a.store.Observe(ev)
}

// cpeModule is the module of the phone's main image, or the first one.
func cpeModule(ms []r2.Module) (r2.Module, bool) {
	for _, m := range ms {
		if m.UpdateType() == images.DefaultUpdateType {
			return m, true
		}
	}
	if len(ms) > 0 {
		return ms[0], true
	}
	return r2.Module{}, false
}

// dnsObserver puts the DNS queries phones make on their timelines (the
// responder already coalesces repeats).
type dnsObserver struct{ a *app }

func (o dnsObserver) Queried(q dnsresp.Query) {
	o.a.store.Observe(store.Event{
		Time: q.At, Kind: store.EventDNS, IP: q.ClientIP.String(), Name: q.Name,
		Detail: q.Type + " " + q.Name + " → " + q.Rcode,
	})
}

// dhcpObserver puts each DISCOVER and REQUEST on the phone's timeline, with
// the vendor class, which names the phone family before it ever checks in.
type dhcpObserver struct{ a *app }

func (o dhcpObserver) DHCP(ev dhcp.Event) {
	detail := ev.Type + " → " + ev.Reply
	if ev.VendorClass != "" {
		detail += " (" + ev.VendorClass + ")"
	}
	e := store.Event{Time: ev.At, Kind: store.EventDHCP, MAC: ev.MAC, Detail: detail}
	if ev.IP.IsValid() {
		e.IP = ev.IP.String()
	}
	o.a.store.Observe(e)
}
