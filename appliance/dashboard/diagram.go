package dashboard

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
)

// Diagram geometry, in SVG user units.
const (
	nodeW, nodeH, nodeGap = 170, 56, 70
	sideW, sideH, sideGap = 150, 44, 16
	diagramPad            = 8
	rowGap                = 34
	// maxSideNodes bounds the boxes off the path: phones may report any
	// version, so beyond it the rest share one "other versions" box.
	maxSideNodes = 6
)

// Node kinds: the CSS class (node-<kind>) and what the box says.
const (
	kindBeta     = "beta"     // below the first hop
	kindInterim  = "interim"  // a hop flagged interim
	kindTarget   = "target"   // the approved version, the path's end
	kindRestored = "restored" // the approved version put back by a Restore
	kindPending  = "pending"  // what only test devices are offered
	kindRestore  = "restore"  // the version a Restore would put back
	kindOther    = "other"    // imported but not offered (rejected, superseded), or only reported
)

var kindLabels = map[string]string{
	kindBeta: "below the path", kindInterim: "interim", kindTarget: "approved target",
	kindRestored: "approved (restored)", kindPending: "pending: test devices only",
	kindRestore: "Restore puts it back", kindOther: "not offered",
}

// pathNode is one box of a diagram.
type pathNode struct {
	Version images.Version // zero for the beta box and the "other versions" box
	Title   string
	Kind    string
	Phones  int // checked-in phones running it
	Moving  int // of those, offered a next hop at their last check-in
}

// pathDiagram is one device path's upgrade path as SVG.
type pathDiagram struct {
	Model  string // "Polycom CX700"
	Detail string // "revision A, ENU: UCPhone/Polycom/CX700/A/ENU"
	SVG    template.HTML
}

// pathDiagrams draws, for each device path phones reported, the path the
// planner — the function that answers check-ins — gives a phone starting
// below every version (the main row, with arrows), the test devices' path
// when it ends elsewhere (a dashed arrow to the Pending box), and off the
// path the other versions: the one a Restore would put back, imported
// versions nobody is offered (rejected or superseded), and versions only
// phones reported. Each box counts the checked-in phones running it, and
// each arrow the phones offered that hop at their last check-in.
func pathDiagrams(stats []pathStat, cat *legacy.Catalog) []pathDiagram {
	var out []pathDiagram
	for i := range stats {
		ps := &stats[i]
		nodes, side := planNodes(ps, cat)
		out = append(out, pathDiagram{Model: modelName(ps.path),
			Detail: fmt.Sprintf("revision %s, %s: %s", ps.path.Revision, ps.path.Locale, ps.path),
			SVG:    drawPath(modelName(ps.path), nodes, side)})
	}
	return out
}

// planNodes are the main row (beta box, the hops, the Pending box last
// when test devices are offered something else) and the boxes off it.
func planNodes(ps *pathStat, cat *legacy.Catalog) (main, side []pathNode) {
	key := images.RuleKey{DevicePath: ps.path, UpdateType: images.DefaultUpdateType}
	rule, hasRule := cat.Rule(key)
	plan := legacy.PlanNextHop(cat, legacy.Phone{Path: ps.path, UpdateType: images.DefaultUpdateType})
	test := legacy.PlanNextHop(cat, legacy.Phone{Path: ps.path, UpdateType: images.DefaultUpdateType, IsTest: true})

	main = []pathNode{{Title: "no approved version", Kind: kindBeta}}
	if v := firstHop(plan, test); v != "" {
		main[0].Title = "below " + v
	}
	// Nothing approved yet: the main row is the test devices' path, to the
	// Pending version.
	hops, pendingOnly := plan.Hops, false
	if len(hops) == 0 && len(test.Hops) > 0 {
		hops, pendingOnly = test.Hops, true
	}
	for i, h := range hops {
		kind := kindTarget
		switch {
		case pendingOnly && i == len(hops)-1:
			kind = kindPending
		case h.Interim:
			kind = kindInterim
		case rule.Restored && h.Version == rule.Approved:
			kind = kindRestored
		}
		main = append(main, pathNode{Version: h.Version, Title: h.Version.String(), Kind: kind})
	}
	onMain := func(v images.Version) bool {
		return slices.ContainsFunc(main, func(n pathNode) bool { return n.Kind != kindBeta && n.Version == v })
	}
	if n := len(test.Hops); n > 0 && !onMain(test.Hops[n-1].Version) {
		v := test.Hops[n-1].Version
		main = append(main, pathNode{Version: v, Title: v.String(), Kind: kindPending})
	}

	// Off the path: the rule's other images (its Restore version marked),
	// then versions phones run that no box has.
	if hasRule {
		for _, im := range cat.Images(key) {
			if onMain(im.Version) {
				continue
			}
			kind := kindOther
			if im.Version == rule.Restore {
				kind = kindRestore
			}
			side = append(side, pathNode{Version: im.Version, Title: im.Version.String(), Kind: kind})
		}
	}
	first := images.Version{}
	if len(main) > 1 {
		first = main[1].Version
	}
	box := func(v images.Version) *pathNode {
		for i := range main {
			if main[i].Kind != kindBeta && main[i].Version == v {
				return &main[i]
			}
		}
		if !first.IsZero() && v.Less(first) {
			return &main[0]
		}
		for i := range side {
			if side[i].Version == v {
				return &side[i]
			}
		}
		if len(side) < maxSideNodes {
			side = append(side, pathNode{Version: v, Title: v.String(), Kind: kindOther})
			return &side[len(side)-1]
		}
		if last := &side[len(side)-1]; last.Version.IsZero() {
			return last
		}
		side = append(side, pathNode{Title: "other versions", Kind: kindOther})
		return &side[len(side)-1]
	}
	for _, v := range sortedVersions(ps.running) {
		b := box(v)
		b.Phones += ps.running[v]
		b.Moving += ps.moving[v]
	}
	slices.SortStableFunc(side, func(a, b pathNode) int {
		if a.Version.IsZero() != b.Version.IsZero() { // "other versions" last
			if a.Version.IsZero() {
				return 1
			}
			return -1
		}
		return a.Version.Compare(b.Version)
	})
	return main, side
}

// firstHop names what the beta box is below: the first hop of the path.
func firstHop(plan, test legacy.Plan) string {
	for _, p := range []legacy.Plan{plan, test} {
		if len(p.Hops) > 0 {
			return p.Hops[0].Version.String()
		}
	}
	return ""
}

func sortedVersions(m map[images.Version]int) []images.Version {
	out := make([]images.Version, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, images.Version.Compare)
	return out
}

// drawPath renders the main row left to right with arrows (the last one
// dashed when it leads to the Pending box) and the side boxes in a row
// below. Every text is escaped.
func drawPath(model string, main, side []pathNode) template.HTML {
	nodeW, sideW := boxWidth(nodeW, main), boxWidth(sideW, side)
	mainW := len(main)*nodeW + (len(main)-1)*nodeGap
	sideRowW := len(side)*sideW + max(0, len(side)-1)*sideGap
	width := 2*diagramPad + max(mainW, sideRowW)
	height := 2*diagramPad + nodeH + 4
	if len(side) > 0 {
		height += rowGap + sideH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="path" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="upgrade path of %s">`,
		width, height, width, height, template.HTMLEscapeString(model))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" class="arrowhead"/></marker></defs>`)
	for i, n := range main {
		x, y := diagramPad+i*(nodeW+nodeGap), diagramPad
		drawNode(&b, n, x, y, nodeW, nodeH)
		if i+1 < len(main) {
			x1, x2, ym := x+nodeW+4, x+nodeW+nodeGap-4, y+nodeH/2
			class := "edge"
			if main[i+1].Kind == kindPending {
				class = "edge test"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="%s" marker-end="url(#arrow)"/>`, x1, ym, x2, ym, class)
			if n.Moving > 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" class="m"><title>phones on %s offered a next hop at their last check-in</title>%d ➜</text>`,
					(x1+x2)/2, ym-8, template.HTMLEscapeString(n.Title), n.Moving)
			}
		}
	}
	for i, n := range side {
		drawNode(&b, n, diagramPad+i*(sideW+sideGap), diagramPad+nodeH+4+rowGap, sideW, sideH)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// boxWidth is the width of a row's boxes: least, or wider when a box's
// text would run past its edges ("pending: test devices only · 12
// phones"). The widths per character are those of the stylesheet's fonts
// (text.v 13px bold, text.n 11.5px), rounded up.
func boxWidth(least int, row []pathNode) int {
	w := least
	for _, n := range row {
		title := utf8.RuneCountInString(n.Title) * 8
		note := utf8.RuneCountInString(nodeNote(n)) * 13 / 2
		w = max(w, title+20, note+20)
	}
	return w
}

// nodeNote is a box's second line: its kind and how many phones run it.
func nodeNote(n pathNode) string {
	return fmt.Sprintf("%s · %d phone%s", kindLabels[n.Kind], n.Phones, plural(n.Phones))
}

func drawNode(b *strings.Builder, n pathNode, x, y, w, h int) {
	fmt.Fprintf(b, `<g class="node node-%s"><rect x="%d" y="%d" width="%d" height="%d" rx="8"/>`, n.Kind, x, y, w, h)
	fmt.Fprintf(b, `<text x="%d" y="%d" class="v">%s</text>`, x+w/2, y+h/2-5, template.HTMLEscapeString(n.Title))
	fmt.Fprintf(b, `<text x="%d" y="%d" class="n">%s</text></g>`, x+w/2, y+h/2+12, template.HTMLEscapeString(nodeNote(n)))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
