package pkg

import (
	"fmt"
	"sort"
	"strings"

	"github.com/beevik/etree"

	"github.com/tanjay-lab/tanjay/images"
)

// candidate is one .nbt image and the files beside it, before identification.
type candidate struct {
	nbt     entry
	cat     *entry
	desc    *entry // the per-update .xml
	info    *entry // the nearest updateInfo.xml above it
	sources []source
}

// source is what one place says about an update.
type source struct {
	name string // for Origin and messages
	f    fields
}

const updateInfoName = "updateinfo.xml"

// identify groups the entries into updates and works out each one's
// identity from metadata, folder names and hints.
func (p *Package) identify(entries []entry, hints Hints) error {
	cands, used := group(entries)
	if len(cands) == 0 {
		if len(entries) == 0 {
			return refusef("the cabinet is empty")
		}
		return refusef("the cabinet holds no firmware image (.nbt); it holds %s", listNames(entries, 5))
	}
	if err := p.readMetadata(cands); err != nil {
		return err
	}
	seen := map[string]string{}
	for _, c := range cands {
		u, err := p.resolve(c, hints)
		if err != nil {
			return err
		}
		id := u.Key().ID() + "@" + u.Version.String()
		if prev, ok := seen[id]; ok {
			return refusef("%s and %s are both %s version %s", prev, c.nbt.path, u.Key(), u.Version)
		}
		seen[id] = c.nbt.path
		p.Updates = append(p.Updates, u)
	}
	sortUpdates(p.Updates)
	for _, e := range entries {
		if !used[e.path] {
			p.Ignored = append(p.Ignored, e.path)
		}
	}
	sort.Strings(p.Ignored)
	return nil
}

// group finds each .nbt's catalog and description: the .cat and .xml of the
// same folder and stem, or else the only ones in a folder with one image.
func group(entries []entry) ([]*candidate, map[string]bool) {
	byDir := map[string][]entry{}
	for _, e := range entries {
		byDir[strings.ToLower(e.dir)] = append(byDir[strings.ToLower(e.dir)], e)
	}
	used := map[string]bool{}
	var cands []*candidate
	for _, e := range entries {
		if e.ext != ".nbt" {
			continue
		}
		c := &candidate{nbt: e}
		dir := byDir[strings.ToLower(e.dir)]
		c.cat = beside(dir, e, ".cat")
		c.desc = beside(dir, e, ".xml")
		c.info = nearestInfo(entries, e)
		used[e.path] = true
		if c.cat != nil {
			used[c.cat.path] = true
		}
		cands = append(cands, c)
	}
	return cands, used
}

func beside(dir []entry, nbt entry, ext string) *entry {
	var sole *entry
	images, others := 0, 0
	for i, e := range dir {
		switch {
		case e.ext == ".nbt":
			images++
		case e.ext == ext && !strings.EqualFold(e.base, updateInfoName):
			if strings.EqualFold(e.stem, nbt.stem) {
				return &dir[i]
			}
			others++
			sole = &dir[i]
		}
	}
	if images == 1 && others == 1 {
		return sole
	}
	return nil
}

// nearestInfo is the updateInfo.xml in the deepest folder above nbt.
func nearestInfo(entries []entry, nbt entry) *entry {
	var best *entry
	for i, e := range entries {
		if !strings.EqualFold(e.base, updateInfoName) {
			continue
		}
		above := e.dir == "" || strings.HasPrefix(strings.ToLower(nbt.dir)+"/", strings.ToLower(e.dir)+"/")
		if above && (best == nil || len(e.dir) > len(best.dir)) {
			best = &entries[i]
		}
	}
	return best
}

// readMetadata parses each description and updateInfo.xml once and adds
// what they say to the candidates, nearest source first: the description,
// then updateInfo.xml's entry naming the image, then (for a lone image)
// updateInfo.xml as a whole.
func (p *Package) readMetadata(cands []*candidate) error {
	docs := map[string]*etree.Element{}
	parse := func(e *entry) (*etree.Element, error) {
		if root, ok := docs[e.path]; ok {
			return root, nil
		}
		b, err := readSmall(*e)
		if err != nil {
			return nil, err
		}
		root, perr := parseXML(b)
		if perr != nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s is not well-formed XML (%v); ignored", e.path, perr))
		}
		docs[e.path] = root
		return root, nil
	}
	for _, c := range cands {
		if c.desc == nil {
			continue
		}
		root, err := parse(c.desc)
		if err != nil {
			return err
		}
		if root != nil {
			c.sources = append(c.sources, source{c.desc.path, wholeDocument(root)})
		}
	}
	infos := map[string][]*candidate{}
	for _, c := range cands {
		if c.info != nil {
			infos[c.info.path] = append(infos[c.info.path], c)
		}
	}
	for path, under := range infos {
		root, err := parse(under[0].info)
		if err != nil {
			return err
		}
		if root != nil {
			addInfoEntries(path, root, under)
		}
	}
	return nil
}

// addInfoEntries gives each candidate the fields of the updateInfo.xml
// element that names it (its image, catalog, description or folder) more
// specifically than it names any other candidate, read from that element
// up to the root. A lone candidate also gets the whole document.
func addInfoEntries(path string, root *etree.Element, under []*candidate) {
	best := make([]*etree.Element, len(under))
	score := make([]int, len(under))
	for _, el := range elements(root) {
		s, who := 0, -1
		for _, v := range refValues(el) {
			for i, c := range under {
				n := c.refersTo(v)
				switch {
				case n > s:
					s, who = n, i
				case n == s && n > 0 && who != i:
					who = -2 // names two candidates equally: no use
				}
			}
		}
		if who >= 0 && s > score[who] {
			best[who], score[who] = el, s
		}
	}
	for i, c := range under {
		if best[i] != nil {
			c.sources = append(c.sources, source{path, collect(ancestry(best[i]))})
		} else if len(under) == 1 {
			c.sources = append(c.sources, source{path, wholeDocument(root)})
		}
	}
}

// refValues are the values an element could name a file with: its
// attributes and, for a leaf, its text.
func refValues(e *etree.Element) []string {
	var vs []string
	for _, a := range e.Attr {
		vs = append(vs, a.Value)
	}
	if len(e.ChildElements()) == 0 {
		vs = append(vs, e.Text())
	}
	return vs
}

func (c *candidate) refersTo(v string) int {
	n := max(references(v, c.nbt.path), references(v, c.nbt.dir))
	for _, e := range []*entry{c.cat, c.desc} {
		if e != nil {
			n = max(n, references(v, e.path))
		}
	}
	return n
}

// resolve merges the sources, field by field in order (metadata, then
// folder and file names), then the hints, and checks the result.
func (p *Package) resolve(c *candidate, hints Hints) (Update, error) {
	layout, renamed := fromLayout(c.nbt)
	if layout.hasPath() || !layout.version.IsZero() || layout.updateType != "" {
		from := "folder names"
		if renamed {
			from = "file name"
		}
		c.sources = append(c.sources, source{from, layout})
	}
	var m merged
	for _, s := range c.sources {
		m.add(s)
	}
	if err := m.applyHints(hints, c.nbt.path); err != nil {
		return Update{}, err
	}
	if m.updateType.v == "" {
		m.updateType = pick{c.nbt.stem, "file name"}
		if images.CheckFileName(c.nbt.stem) != nil {
			m.updateType = pick{images.DefaultUpdateType, "default"}
		}
	}
	u, err := m.update(c.nbt.path)
	if err != nil {
		return Update{}, err
	}
	if u.Files, err = c.files(p.Source, u.UpdateType, renamed); err != nil {
		return Update{}, err
	}
	if c.desc != nil {
		u.Description = c.desc.path
	}
	return u, nil
}

// files are the image and its catalog under the names phones ask for:
// their own, or <UpdateType>.nbt and .cat when the file name carried the
// identity.
func (c *candidate) files(source, updateType string, renamed bool) ([]PackageFile, error) {
	parts := []*entry{&c.nbt}
	if c.cat != nil {
		parts = append(parts, c.cat)
	}
	var out []PackageFile
	for _, e := range parts {
		name := e.base
		if renamed && strings.EqualFold(e.stem, c.nbt.stem) {
			name = updateType + e.base[len(e.stem):]
		}
		if err := images.CheckFileName(name); err != nil {
			return nil, refusef("%s: cannot serve it: %v", e.path, err)
		}
		out = append(out, packageFile(source, name, *e))
	}
	return out, nil
}
