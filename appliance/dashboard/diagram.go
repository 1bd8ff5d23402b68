package dashboard

import (
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// Diagram geometry, in SVG user units.
const (
	nodeW, nodeH, nodeGap = 150, 56, 70
	diagramPad            = 8
)

// pathNode is one box of a model's diagram.
type pathNode struct {
	Version images.Version // zero for the beta bucket
	Label   string
	Phones  int // checked-in phones running it (beta: anything lower)
	Moving  int // phones running it that are offered a later hop
}

// pathDiagrams draws, per model, beta → every imported version that serves
// it (interim first), with how many phones run each and how many are on
// their way to the next. stats are the fleet's counts by device path
// (fleetIndex.pathStats); the revisions and locales of a model share one
// diagram.
func pathDiagrams(stats []pathStat, imgs []images.Image) []pathDiagram {
	byModel := map[string][]*pathStat{}
	for i := range stats {
		m := modelName(stats[i].path)
		byModel[m] = append(byModel[m], &stats[i])
	}
	models := make([]string, 0, len(byModel))
	for m := range byModel {
		models = append(models, m)
	}
	slices.Sort(models)
	interim := interimVersions(imgs)
	var out []pathDiagram
	for _, m := range models {
		nodes := modelNodes(byModel[m], imgs, interim)
		out = append(out, pathDiagram{Model: m, SVG: drawPath(m, nodes)})
	}
	return out
}

func modelNodes(stats []*pathStat, imgs []images.Image, interim map[images.Version]bool) []pathNode {
	var versions []images.Version
	var target images.Version
	for _, im := range imgs {
		for _, ps := range stats {
			if ruleMatches(im.Key, ps.path) {
				versions = append(versions, im.Version)
				break
			}
		}
	}
	slices.SortFunc(versions, images.Version.Compare)
	versions = slices.Compact(versions)
	if n := len(versions); n > 0 {
		target = versions[n-1]
	}
	nodes := []pathNode{{Label: "beta"}}
	for _, v := range versions {
		nodes = append(nodes, pathNode{Version: v, Label: versionLabel(v, target, interim)})
	}
	// A phone counts in the last box whose version it has reached, beta
	// when it is below them all.
	box := func(v images.Version) int {
		i := 0
		for j := 1; j < len(nodes); j++ {
			if nodes[j].Version.Compare(v) <= 0 {
				i = j
			}
		}
		return i
	}
	for _, ps := range stats {
		for v, n := range ps.running {
			nodes[box(v)].Phones += n
		}
		for v, n := range ps.moving {
			nodes[box(v)].Moving += n
		}
	}
	return nodes
}

// drawPath renders nodes left to right. Every text is escaped.
func drawPath(model string, nodes []pathNode) template.HTML {
	width := 2*diagramPad + len(nodes)*nodeW + (len(nodes)-1)*nodeGap
	height := 2*diagramPad + nodeH + 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="path" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="upgrade path of %s">`,
		width, height, width, height, template.HTMLEscapeString(model))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" class="arrowhead"/></marker></defs>`)
	for i, n := range nodes {
		x := diagramPad + i*(nodeW+nodeGap)
		y := diagramPad
		title := n.Version.String()
		if n.Version.IsZero() {
			title = "below interim"
		}
		fmt.Fprintf(&b, `<g class="node node-%s"><rect x="%d" y="%d" width="%d" height="%d" rx="8"/>`,
			template.HTMLEscapeString(n.Label), x, y, nodeW, nodeH)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="v">%s</text>`, x+nodeW/2, y+20, template.HTMLEscapeString(title))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="n">%s · %d phone%s</text></g>`, x+nodeW/2, y+42,
			template.HTMLEscapeString(n.Label), n.Phones, plural(n.Phones))
		if i+1 < len(nodes) {
			x1, x2, ym := x+nodeW+4, x+nodeW+nodeGap-4, y+nodeH/2
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="edge" marker-end="url(#arrow)"/>`, x1, ym, x2, ym)
			if n.Moving > 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" class="m">%d ➜</text>`, (x1+x2)/2, ym-8, n.Moving)
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
