package dashboard

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CSV injection (OWASP, "CSV Injection"): a spreadsheet opening an export
// runs a cell that starts with = + - or @ as a formula, and a leading tab or
// carriage return can hide one. Phones choose their serial, model and
// other strings, and anyone on the lab switch can pretend to be a phone, so
// every cell of an export is neutralised here. A value that starts with '-'
// for a good reason (a negative number) is prefixed too, as OWASP
// recommends; no column of fleet.csv holds one.

// neutralizeCell prefixes v with ' when a spreadsheet would read it as a
// formula: it starts with = + - @ tab or CR, or with spaces or line breaks
// followed by one of = + - @.
func neutralizeCell(v string) string {
	if v == "" {
		return v
	}
	if v[0] == '\t' || v[0] == '\r' {
		return "'" + v
	}
	i := 0
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n') {
		i++
	}
	if i < len(v) && (v[i] == '=' || v[i] == '+' || v[i] == '-' || v[i] == '@') {
		return "'" + v
	}
	return v
}

// appendCSVRecord appends one RFC 4180 record (ending in "\n", as
// encoding/csv writes by default) of neutralised cells. A cell is quoted
// when RFC 4180 needs it (comma, quote, CR, LF), when it starts with a
// space, and also when it holds a semicolon or a tab: spreadsheets set to
// those separators would otherwise split it, and a formula after the
// separator would start a cell of its own.
func appendCSVRecord(dst []byte, cells []string) []byte {
	for i, c := range cells {
		if i > 0 {
			dst = append(dst, ',')
		}
		c = neutralizeCell(c)
		if !needsQuotes(c) {
			dst = append(dst, c...)
			continue
		}
		dst = append(dst, '"')
		dst = append(dst, strings.ReplaceAll(c, `"`, `""`)...)
		dst = append(dst, '"')
	}
	return append(dst, '\n')
}

// quoteBytes are the bytes that make a cell quoted wherever they are.
var quoteBytes = [256]bool{',': true, '"': true, '\r': true, '\n': true, ';': true, '\t': true}

// needsQuotes is encoding/csv's rule (a comma, quote or line break
// anywhere, or a leading space) plus a semicolon or tab anywhere.
func needsQuotes(c string) bool {
	if c == "" {
		return false
	}
	for i := 0; i < len(c); i++ {
		if quoteBytes[c[i]] {
			return true
		}
	}
	if c[0] < utf8.RuneSelf {
		return unicode.IsSpace(rune(c[0]))
	}
	r, _ := utf8.DecodeRuneInString(c)
	return unicode.IsSpace(r)
}
