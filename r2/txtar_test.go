package r2

import (
	"bytes"
	"strings"
)

// The golden fixtures are txtar archives (the format of
// golang.org/x/tools/txtar). github.com/rogpeppe/go-internal/txtar, which the
// module requires, is a wrapper around golang.org/x/tools/txtar, a module
// go.mod does not list; rather than add a module, the tests read and write
// the format here. It is the same format: comment lines, then
// "-- name --" marker lines each followed by the file's lines.

type txtarArchive struct {
	Comment []byte
	Files   []txtarFile
}

type txtarFile struct {
	Name string
	Data []byte
}

// parseTxtar reads an archive. Like txtar.Parse it cannot fail.
func parseTxtar(data []byte) *txtarArchive {
	a := &txtarArchive{}
	var cur *[]byte = &a.Comment
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if name, ok := txtarMarker(line); ok {
			a.Files = append(a.Files, txtarFile{Name: name})
			cur = &a.Files[len(a.Files)-1].Data
			continue
		}
		*cur = append(*cur, line...)
	}
	return a
}

func txtarMarker(line []byte) (string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasPrefix(s, "-- ") || !strings.HasSuffix(s, " --") || len(s) < 7 {
		return "", false
	}
	name := strings.TrimSpace(s[3 : len(s)-3])
	return name, name != ""
}

// formatTxtar writes an archive; every file's data ends in a newline.
func formatTxtar(a *txtarArchive) []byte {
	var b bytes.Buffer
	b.Write(withNL(a.Comment))
	for _, f := range a.Files {
		b.WriteString("-- " + f.Name + " --\n")
		b.Write(withNL(f.Data))
	}
	return b.Bytes()
}

func withNL(data []byte) []byte {
	if len(data) == 0 || data[len(data)-1] == '\n' {
		return data
	}
	return append(data[:len(data):len(data)], '\n')
}

// file returns the named file's data, or nil.
func (a *txtarArchive) file(name string) []byte {
	for _, f := range a.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

// setFile replaces the named file's data, or appends the file.
func (a *txtarArchive) setFile(name string, data []byte) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = data
			return
		}
	}
	a.Files = append(a.Files, txtarFile{Name: name, Data: data})
}
