package phone

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// defaultImageFile is assumed when an offered file names no image.
const defaultImageFile = "CPE.nbt"

// response is what the phone understood of one check-in answer. Strings are
// trimmed and verbatim; a missing item is empty.
type response struct {
	NumOfFiles      int
	CurrentTime     string
	LangList        string
	Version         string // top-level, or the first file's
	BaseURL         string // top-level, or the first file's
	ExternalBaseURL string // top-level, or the first file's
	Files           []offeredFile
}

// offeredFile is one per-file entry. BaseURL and ExternalBaseURL fall back to
// the top-level ones; ImageFile to CPE.nbt.
type offeredFile struct {
	UpdateType      string
	Version         string
	BaseURL         string
	ExternalBaseURL string
	ImageFile       string
	SignatureFile   string
	TimeStamp       string
}

// Aliases for each item, lower case. Only NumOfFiles, Version, BaseURL and
// ExternalBaseURL are confirmed names (PROTOCOL.md §2); the per-file names
// are our inference, so near variants are accepted too.
var (
	aliasNumOfFiles    = []string{"numoffiles", "numberoffiles", "filecount"}
	aliasCurrentTime   = []string{"currenttime"}
	aliasLangList      = []string{"langlist"}
	aliasVersion       = []string{"version"}
	aliasBaseURL       = []string{"baseurl", "internalbaseurl"}
	aliasExternalURL   = []string{"externalbaseurl"}
	aliasUpdateType    = []string{"updatetype", "type"}
	aliasImageFile     = []string{"imagefilename", "imagefile", "filename"}
	aliasSignatureFile = []string{"signaturefilename", "signaturefile", "catalogfilename", "catalogfile"}
	aliasTimeStamp     = []string{"timestamp"}
)

var errNoNumOfFiles = errors.New("response has neither NumOfFiles nor any file entry")

// parseResponse reads a check-in answer leniently: any root element (the
// response is the element holding NumOfFiles), any namespace, names in any
// case, items as child elements or attributes.
func parseResponse(body []byte) (response, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = true
	if err := doc.ReadFromBytes(bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))); err != nil {
		return response{}, fmt.Errorf("response is not XML: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return response{}, errors.New("response has no root element")
	}
	el := responseElement(root)
	r := response{
		CurrentTime:     item(el, aliasCurrentTime),
		LangList:        item(el, aliasLangList),
		Version:         item(el, aliasVersion),
		BaseURL:         item(el, aliasBaseURL),
		ExternalBaseURL: item(el, aliasExternalURL),
	}
	for _, f := range fileElements(el) {
		r.Files = append(r.Files, parseFile(f))
	}
	num, hasNum := itemOK(el, aliasNumOfFiles)
	switch {
	case hasNum:
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			return response{}, fmt.Errorf("response NumOfFiles %q is not a count", num)
		}
		r.NumOfFiles = n
	case len(r.Files) > 0:
		r.NumOfFiles = len(r.Files)
	default:
		return response{}, errNoNumOfFiles
	}
	r.fillDefaults()
	return r, nil
}

// fillDefaults lets the top level and the files complete each other.
func (r *response) fillDefaults() {
	if r.NumOfFiles > 0 && len(r.Files) == 0 {
		r.Files = []offeredFile{{Version: r.Version}}
	}
	if len(r.Files) > 0 {
		first := r.Files[0]
		r.Version = cmp.Or(r.Version, first.Version)
		r.BaseURL = cmp.Or(r.BaseURL, first.BaseURL)
		r.ExternalBaseURL = cmp.Or(r.ExternalBaseURL, first.ExternalBaseURL)
	}
	for i := range r.Files {
		f := &r.Files[i]
		f.Version = cmp.Or(f.Version, r.Version)
		f.BaseURL = cmp.Or(f.BaseURL, r.BaseURL)
		f.ExternalBaseURL = cmp.Or(f.ExternalBaseURL, r.ExternalBaseURL)
		f.ImageFile = cmp.Or(f.ImageFile, defaultImageFile)
	}
}

func parseFile(e *etree.Element) offeredFile {
	return offeredFile{
		UpdateType:      item(e, aliasUpdateType),
		Version:         item(e, aliasVersion),
		BaseURL:         item(e, aliasBaseURL),
		ExternalBaseURL: item(e, aliasExternalURL),
		ImageFile:       item(e, aliasImageFile),
		SignatureFile:   item(e, aliasSignatureFile),
		TimeStamp:       item(e, aliasTimeStamp),
	}
}

// responseElement is the element whose child or attribute is NumOfFiles,
// searched depth-first from root (so a SOAP-style envelope is fine); root
// itself when there is none.
func responseElement(root *etree.Element) *etree.Element {
	var found *etree.Element
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if found != nil {
			return
		}
		if _, ok := itemOK(e, aliasNumOfFiles); ok {
			found = e
			return
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	if found == nil {
		return root
	}
	return found
}

// fileElements are the per-file entries below e: every element named File,
// or, when there is none, the children of an element named Files. It does
// not descend into an entry.
func fileElements(e *etree.Element) []*etree.Element {
	var files, lists []*etree.Element
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			switch strings.ToLower(c.Tag) {
			case "file", "update":
				files = append(files, c)
				continue
			case "files", "updates":
				lists = append(lists, c)
			}
			walk(c)
		}
	}
	walk(e)
	if len(files) == 0 {
		for _, l := range lists {
			files = append(files, l.ChildElements()...)
		}
	}
	return files
}

// item is the trimmed text of e's first child element, or else attribute,
// whose local name matches an alias case-insensitively.
func item(e *etree.Element, aliases []string) string {
	s, _ := itemOK(e, aliases)
	return s
}

func itemOK(e *etree.Element, aliases []string) (string, bool) {
	for _, c := range e.ChildElements() {
		if matches(c.Tag, aliases) {
			return strings.TrimSpace(c.Text()), true
		}
	}
	for _, a := range e.Attr {
		if matches(a.Key, aliases) {
			return strings.TrimSpace(a.Value), true
		}
	}
	return "", false
}

func matches(name string, aliases []string) bool {
	for _, a := range aliases {
		if strings.EqualFold(name, a) {
			return true
		}
	}
	return false
}
