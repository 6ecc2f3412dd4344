package schema

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrInvalid is wrapped by the errors of Decode and Validate.
var ErrInvalid = errors.New("schema: invalid")

// Limits on a stored schema, so a damaged or hostile one cannot exhaust
// memory or the stack.
const (
	MaxDepth  = 32      // nesting of types
	MaxFields = 1 << 12 // fields of one struct
	MaxNodes  = 1 << 16 // types in one schema
	MaxLen    = 1 << 20 // length of an array
	MaxName   = 256     // bytes of a name
)

// Encode returns the stored form of s (msgpack).
func Encode(s *Schema) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads a stored schema and validates it. It never panics.
func Decode(b []byte) (*Schema, error) {
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalid, len(b))
	}
	// Bound the nesting before decoding, which recurses: a type nests
	// three msgpack levels (type, fields, field) per level of the schema.
	if end, err := skipDepth(b, 0, 3*MaxDepth+8); err != nil || end != len(b) {
		return nil, fmt.Errorf("%w: not one msgpack value of bounded depth", ErrInvalid)
	}
	var s Schema
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	if err := decodeLimited(dec, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if dec.Buffered().(*bytes.Reader).Len() != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrInvalid)
	}
	if err := Validate(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeLimited decodes s, turning a panic of the decoder on deeply nested
// input into an error.
func decodeLimited(dec *msgpack.Decoder, s *Schema) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed: %v", r)
		}
	}()
	return dec.Decode(s)
}

// Validate checks that s is a well-formed schema.
func Validate(s *Schema) error {
	nodes := 0
	if err := validate(&s.Type, "", 0, &nodes); err != nil {
		return fmt.Errorf("%w: tree %q: %w", ErrInvalid, s.Tree, err)
	}
	return nil
}

func where(path string) string {
	if path == "" {
		return "the record"
	}
	return "field " + path
}

// validate checks t, at path and nesting depth, and the types below it;
// nodes counts the types checked so far. Each step checks one aspect of
// t, in this order: its limits, the parts its kind has, its number size,
// its key and element, its fields.
func validate(t *Type, path string, depth int, nodes *int) error {
	*nodes++
	if *nodes > MaxNodes {
		return fmt.Errorf("more than %d types", MaxNodes)
	}
	if err := validateLimits(t, path, depth); err != nil {
		return err
	}
	if err := validateParts(t, path); err != nil {
		return err
	}
	if err := validateNumber(t, path); err != nil {
		return err
	}
	if err := validateElems(t, path, depth, nodes); err != nil {
		return err
	}
	return validateFields(t, path, depth, nodes)
}

// validateLimits checks t's depth, kind and name lengths.
func validateLimits(t *Type, path string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%s: nested deeper than %d", where(path), MaxDepth)
	}
	if t.Kind == Invalid || t.Kind >= maxKind {
		return fmt.Errorf("%s: unknown kind %d", where(path), uint8(t.Kind))
	}
	if len(t.Name) > MaxName || len(t.Ref) > MaxName {
		return fmt.Errorf("%s: name too long", where(path))
	}
	return nil
}

// validateParts checks that t has the element, key, fields and length its
// kind has, and no others.
func validateParts(t *Type, path string) error {
	needElem := t.Kind == Slice || t.Kind == Array || t.Kind == Map || t.Kind == Pointer
	if needElem != (t.Elem != nil) {
		return fmt.Errorf("%s: %s with element %v", where(path), t.Kind, t.Elem != nil)
	}
	if (t.Kind == Map) != (t.Key != nil) {
		return fmt.Errorf("%s: %s with key %v", where(path), t.Kind, t.Key != nil)
	}
	if t.Kind != Struct && len(t.Fields) > 0 {
		return fmt.Errorf("%s: %s with fields", where(path), t.Kind)
	}
	if t.Len < 0 || t.Len > MaxLen || (t.Len != 0 && t.Kind != Array && t.Kind != Bytes) {
		return fmt.Errorf("%s: bad length %d", where(path), t.Len)
	}
	return nil
}

// validateNumber checks t's bits and sign: a size for numbers and enums
// only, a sign for enums only.
func validateNumber(t *Type, path string) error {
	switch t.Kind {
	case Int, Uint, Enum:
		if t.Bits != 8 && t.Bits != 16 && t.Bits != 32 && t.Bits != 64 {
			return fmt.Errorf("%s: %s of %d bits", where(path), t.Kind, t.Bits)
		}
	case Float:
		if t.Bits != 32 && t.Bits != 64 {
			return fmt.Errorf("%s: float of %d bits", where(path), t.Bits)
		}
	default:
		if t.Bits != 0 {
			return fmt.Errorf("%s: %s with bits", where(path), t.Kind)
		}
	}
	if t.Signed && t.Kind != Enum {
		return fmt.Errorf("%s: signed %s", where(path), t.Kind)
	}
	return nil
}

// validateElems checks t's map key and element types.
func validateElems(t *Type, path string, depth int, nodes *int) error {
	if t.Kind == Pointer && t.Elem.Kind == Pointer {
		return fmt.Errorf("%s: pointer to pointer", where(path))
	}
	if t.Key != nil {
		switch t.Key.Kind {
		case String, Int, Uint, Enum:
		default:
			return fmt.Errorf("%s: map key of kind %s", where(path), t.Key.Kind)
		}
		if err := validate(t.Key, path+"{key}", depth+1, nodes); err != nil {
			return err
		}
	}
	if t.Elem != nil {
		sub := path + "[]"
		if t.Kind == Pointer {
			sub = path
		} else if t.Kind == Map {
			sub = path + "{}"
		}
		if err := validate(t.Elem, sub, depth+1, nodes); err != nil {
			return err
		}
	}
	return nil
}

// validateFields checks t's fields: their number, names and types.
func validateFields(t *Type, path string, depth int, nodes *int) error {
	if len(t.Fields) > MaxFields {
		return fmt.Errorf("%s: %d fields", where(path), len(t.Fields))
	}
	seen := make(map[string]bool, len(t.Fields))
	for i := range t.Fields {
		f := &t.Fields[i]
		if f.Name == "" || len(f.Name) > MaxName || len(f.GoName) > MaxName {
			return fmt.Errorf("%s: field %d has a bad name", where(path), i)
		}
		if seen[f.Name] {
			return fmt.Errorf("%s: field %q twice", where(path), f.Name)
		}
		seen[f.Name] = true
		if err := checkCounter(f, path); err != nil {
			return fmt.Errorf("%s: %w", where(join(path, f.Name)), err)
		}
		if err := validate(&f.Type, join(path, f.Name), depth+1, nodes); err != nil {
			return err
		}
	}
	return nil
}

// ErrIncompatible is wrapped by Compatible's errors.
var ErrIncompatible = errors.New("incompatible")

// Compatible reports whether records written under one of the types a and
// b can be read under the other: the same kind at every field both know,
// where an enum is the integer it is made of, a pointer is the kind it
// points to, and slices and arrays are one kind; numbers keep their size
// and sign (a value written by one must fit the other). Fields only one of them knows are compatible (added or removed
// fields). The error names the first field that differs.
func Compatible(a, b *Type) error { return compatible(a, b, "") }

func family(t *Type) Kind {
	for t.Kind == Pointer {
		t = t.Elem
	}
	switch t.Kind {
	case Int, Uint, Enum:
		return Int
	case Array:
		return Slice
	}
	return t.Kind
}

func signed(t *Type) bool { return t.Kind == Int || t.Kind == Enum && t.Signed }

func deref(t *Type) *Type {
	for t.Kind == Pointer {
		t = t.Elem
	}
	return t
}

func compatible(a, b *Type, path string) error {
	a, b = deref(a), deref(b)
	if family(a) != family(b) {
		return fmt.Errorf("%w: %s: %s, then %s", ErrIncompatible, where(path), a, b)
	}
	switch a.Kind {
	case Int, Uint, Enum, Float:
		// Both directions read each other's records: a value must fit
		// either way.
		if a.Bits != b.Bits || signed(a) != signed(b) {
			return fmt.Errorf("%w: %s: %s, then %s", ErrIncompatible, where(path), a, b)
		}
	case Bytes:
		if a.Len != b.Len && a.Len != 0 && b.Len != 0 {
			return fmt.Errorf("%w: %s: %s, then %s", ErrIncompatible, where(path), a, b)
		}
	case Slice, Array:
		return compatible(a.Elem, b.Elem, path+"[]")
	case Map:
		if err := compatible(a.Key, b.Key, path+"{key}"); err != nil {
			return err
		}
		return compatible(a.Elem, b.Elem, path+"{}")
	case Struct:
		for i := range a.Fields {
			fa := &a.Fields[i]
			if fb, ok := b.Field(fa.Name); ok {
				if err := compatible(&fa.Type, &fb.Type, join(path, fa.Name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Union returns the type that describes records of both newer and older:
// newer, with the fields only older had appended to each struct (in
// older's order). newer and older must be Compatible.
func Union(newer, older *Type) Type {
	out := clone(newer)
	union(&out, older)
	return out
}

func union(n *Type, o *Type) {
	n, o = derefMut(n), deref(o)
	switch {
	case n.Kind == Struct && o.Kind == Struct:
		for i := range o.Fields {
			fo := &o.Fields[i]
			if fn, ok := n.Field(fo.Name); ok {
				union(&fn.Type, &fo.Type)
			} else {
				n.Fields = append(n.Fields, Field{Name: fo.Name, GoName: fo.GoName, OmitEmpty: fo.OmitEmpty, Type: clone(&fo.Type),
					Counter: fo.Counter, Min: fo.Min})
			}
		}
	case n.Elem != nil && o.Elem != nil:
		union(n.Elem, o.Elem)
	}
}

func derefMut(t *Type) *Type {
	for t.Kind == Pointer {
		t = t.Elem
	}
	return t
}

// clone returns a deep copy of t.
func clone(t *Type) Type {
	c := *t
	if t.Elem != nil {
		e := clone(t.Elem)
		c.Elem = &e
	}
	if t.Key != nil {
		k := clone(t.Key)
		c.Key = &k
	}
	if t.Fields != nil {
		c.Fields = make([]Field, len(t.Fields))
		for i, f := range t.Fields {
			f.Type = clone(&t.Fields[i].Type)
			c.Fields[i] = f
		}
	}
	return c
}

// Clone returns a deep copy of s.
func (s *Schema) Clone() Schema {
	c := *s
	c.Type = clone(&s.Type)
	return c
}
