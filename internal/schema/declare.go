package schema

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrIncompatibleDeclaration is wrapped by the errors of CheckDeclaration:
// the server refuses the declaration.
var ErrIncompatibleDeclaration = errors.New("schema: declaration refused")

// CheckDeclaration decides what a server that holds the schema stored for
// tree (nil when it has none) does with a declaration of the tree: the
// schema bytes declared (Encode's form, as a client stores them; empty
// when the client has none) and the version major.minor its header names.
// It returns the schema to store, and whether it differs from stored; when
// changed is false, merged is stored itself. The rules are those the
// database follows when a tree is opened (DB.OpenTree):
//
//   - the schema must Decode (which validates it) and describe tree;
//     major 0 is refused, in the header and in the schema;
//   - the schema's own version is the declared one: a client's tree header
//     lags its schema after it opens the tree with a newer version, so
//     the header's may be older than the schema's, never newer;
//   - a major version older than the stored one is refused, a newer one
//     replaces the stored schema (the client migrated);
//   - within the stored major version the schema must be Compatible with
//     the stored one; a newer minor version becomes the stored version,
//     with the fields only older minor versions had kept after its own
//     (Union); an older or equal minor keeps the stored version and adds
//     to it the fields only the declaration knows;
//   - an empty declaration changes nothing; it is refused when its header
//     names a version newer than the stored schema (a new version comes
//     with its schema). A tree without a stored schema stays without one.
//
// Every error wraps ErrIncompatibleDeclaration and names the tree, both
// versions and, for an incompatible change, the field, as in
// `schema: declaration refused: tree parts: stored 1.2, then declared 1.3:
// incompatible: field qty: int64, then string`; the errors of Decode and
// Compatible stay errors.Is-able (ErrInvalid, ErrIncompatible).
// CheckDeclaration does not modify stored.
func CheckDeclaration(tree string, stored *Schema, declared []byte, major, minor uint16) (merged *Schema, changed bool, err error) {
	refuse := func(format string, args ...any) (*Schema, bool, error) {
		return nil, false, fmt.Errorf("%w: tree %s: %s", ErrIncompatibleDeclaration, tree, fmt.Sprintf(format, args...))
	}
	if major == 0 {
		return refuse("schema major version 0; versions start at 1")
	}
	if len(declared) == 0 {
		if stored != nil && newer(major, minor, stored.Major, stored.Minor) {
			return refuse("version %d.%d declared without a schema; the stored schema is %d.%d", major, minor, stored.Major, stored.Minor)
		}
		return stored, false, nil
	}
	s, err := Decode(declared)
	if err != nil {
		return nil, false, fmt.Errorf("%w: tree %s: %w", ErrIncompatibleDeclaration, tree, err)
	}
	switch {
	case s.Tree != tree:
		return refuse("the schema is of tree %q", s.Tree)
	case s.Major == 0:
		return refuse("schema major version 0; versions start at 1")
	case newer(major, minor, s.Major, s.Minor):
		return refuse("declared as %d.%d with a schema of the older %d.%d", major, minor, s.Major, s.Minor)
	}
	if stored == nil {
		return s, true, nil
	}
	switch {
	case s.Major < stored.Major:
		return refuse("%d.%d is of an older major version than the stored %d.%d", s.Major, s.Minor, stored.Major, stored.Minor)
	case s.Major > stored.Major:
		return s, true, nil
	}
	if err := Compatible(&stored.Type, &s.Type); err != nil {
		return nil, false, fmt.Errorf("%w: tree %s: stored %d.%d, then declared %d.%d: %w",
			ErrIncompatibleDeclaration, tree, stored.Major, stored.Minor, s.Major, s.Minor, err)
	}
	next := &Schema{Tree: tree, Major: stored.Major, Minor: stored.Minor}
	if s.Minor > stored.Minor {
		next.Minor = s.Minor
		next.Type = Union(&s.Type, &stored.Type)
		return next, true, nil
	}
	next.Type = Union(&stored.Type, &s.Type)
	a, errA := Encode(stored)
	b, errB := Encode(next)
	if errA == nil && errB == nil && bytes.Equal(a, b) {
		return stored, false, nil
	}
	return next, true, nil
}

// newer reports whether version a.b is newer than c.d.
func newer(a, b, c, d uint16) bool { return a > c || a == c && b > d }
