// Package fold is the one rule by which hills matches text ignoring case:
// the table's filter in widgets and IndexSearch in db both use it, so a
// query finds the same records in both.
//
// Text is compared under full Unicode case folding: "MÜLLER" matches
// "müller", "Straße" matches "STRASSE", the three forms of Dž match, and
// Σ, σ and the final ς match one another. Text is compared as written,
// without normalization: a precomposed "ü" and "u" followed by a
// combining diaeresis do not match.
//
// The functions are safe for concurrent use. Contains does not allocate
// when the text searched is ASCII; other text is folded in reused
// buffers.
package fold

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/transform"
)

// String returns s case folded, the form Contains takes its query in.
func String(s string) string {
	if isASCII(s) {
		return asciiLower(s)
	}
	return cases.Fold().String(s)
}

// Contains reports whether s contains the query folded, which is String
// of the query: whether the case folding of s contains it. Every s
// contains the empty query.
func Contains(s, folded string) bool {
	if folded == "" {
		return true
	}
	if isASCII(s) {
		// ASCII folds to ASCII: no other query can match.
		return isASCII(folded) && containsASCII(s, folded)
	}
	f := folders.Get().(*folder)
	defer folders.Put(f)
	f.query = append(f.query[:0], folded...)
	return bytes.Contains(f.fold(s), f.query)
}

// folder folds text into buffers it keeps between uses.
type folder struct {
	caser           transform.Transformer // a cases.Fold, boxed once
	src, dst, query []byte
}

var folders = sync.Pool{New: func() any { return &folder{caser: cases.Fold()} }}

// fold returns s folded, valid until the next use of f.
func (f *folder) fold(s string) []byte {
	f.caser.Reset()
	f.src = append(f.src[:0], s...)
	f.dst, _, _ = transform.Append(f.caser, f.dst[:0], f.src)
	return f.dst
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// containsASCII reports whether s contains lower, both ASCII, lower in
// lower case, ignoring the case of s.
func containsASCII(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && toLowerASCII(s[i+j]) == lower[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func toLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
