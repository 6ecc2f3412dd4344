package db

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hillsdb/hills/internal/layout"
)

// Key identifies a record of a tree of T: its id and revision. The type
// parameter keeps the key of one tree from being used with another. The
// zero Key is id 0, which no record has.
type Key[T any] struct{ ID, Rev uint32 }

// String returns the text form "ID.Rev", such as "42.0".
func (k Key[T]) String() string { return formatKey(k.ID, k.Rev) }

func (k Key[T]) pack() uint64 { return layout.Pack(k.ID, k.Rev) }

func unpackKey[T any](p uint64) Key[T] {
	id, rev := layout.Unpack(p)
	return Key[T]{ID: id, Rev: rev}
}

func formatKey(id, rev uint32) string {
	var b [24]byte
	s := strconv.AppendUint(b[:0], uint64(id), 10)
	s = append(s, '.')
	s = strconv.AppendUint(s, uint64(rev), 10)
	return string(s)
}

// ParseKey parses the text form "ID.Rev" of a key. Both parts are decimal
// numbers without sign that fit in 32 bits; nothing else is accepted.
func ParseKey[T any](s string) (Key[T], error) {
	id, rev, err := parseKey(s)
	return Key[T]{ID: id, Rev: rev}, err
}

func parseKey(s string) (id, rev uint32, err error) {
	a, b, ok := strings.Cut(s, ".")
	if !ok || !digits(a) || !digits(b) {
		return 0, 0, fmt.Errorf("%w: %q", ErrInvalidKey, s)
	}
	i, err1 := strconv.ParseUint(a, 10, 32)
	r, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: %q out of range", ErrInvalidKey, s)
	}
	return uint32(i), uint32(r), nil
}

func digits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validName reports whether name is a tree name users may choose.
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
