package db

import (
	"fmt"
	"strconv"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/schema"
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
	id, rev, err = schema.ParseKey(s)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return id, rev, nil
}

// validName reports whether name is a tree name users may choose.
func validName(name string) bool { return layout.ValidTreeName(name) }
