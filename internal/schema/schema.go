// Package schema describes the Go type of a hills tree in a form that can
// be stored and read back without the type: the fields of a record with
// their msgpack names and kinds, nested structs, element and key types, and
// references to other trees. The client database and the server share it.
//
// A Schema is reflected from a Go type with Reflect, stored with Encode and
// read back with Decode, which validates what it reads and never panics.
// Compatible decides whether records written under one schema can be read
// under another of the same major version; Union merges the schemas of two
// minor versions. The JSON text form of records (Text, FromText) and the
// preservation of unknown fields (MergeUnknown) are in this package too.
package schema

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Kind is the kind of a value in a schema. New kinds are added only at the
// end: the numbers are stored.
type Kind uint8

// Kinds of values.
const (
	Invalid Kind = iota
	Bool
	Int     // signed integer of Bits bits
	Uint    // unsigned integer of Bits bits
	Float   // floating point number of Bits bits
	String  // UTF-8 text
	Bytes   // []byte, or [Len]byte when Len > 0
	Time    // time.Time
	Struct  // a msgpack map of named Fields
	Slice   // a list of Elem
	Array   // a list of exactly Len Elem
	Map     // a map from Key to Elem
	Pointer // Elem or nil
	Ref     // a key of a record of tree Ref (Key[U]); Name is U's Go type
	Enum    // a named integer type: Int (Signed) or Uint of Bits bits
	Raw     // a value with its own msgpack encoding the schema does not describe
	maxKind
)

var kindNames = [...]string{"invalid", "bool", "int", "uint", "float", "string", "bytes", "time",
	"struct", "slice", "array", "map", "pointer", "ref", "enum", "raw"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Type describes one value. Which members are set depends on Kind.
type Type struct {
	Kind   Kind    `msgpack:"kind"`
	Bits   uint8   `msgpack:"bits,omitempty"`   // Int, Uint, Float, Enum: 8, 16, 32 or 64 (Float: 32, 64)
	Signed bool    `msgpack:"signed,omitempty"` // Enum: the underlying integer is signed
	Name   string  `msgpack:"name,omitempty"`   // Go type name of a Struct or Enum, target type of a Ref
	Ref    string  `msgpack:"ref,omitempty"`    // Ref: the referenced tree; "" when not declared
	Len    int     `msgpack:"len,omitempty"`    // Array, and Bytes of a fixed length
	Elem   *Type   `msgpack:"elem,omitempty"`   // Slice, Array, Map, Pointer
	Key    *Type   `msgpack:"key,omitempty"`    // Map
	Fields []Field `msgpack:"fields,omitempty"` // Struct, in declaration order
}

// Field is one member of a struct.
type Field struct {
	Name      string `msgpack:"name"` // the msgpack name, the member name in JSON text
	GoName    string `msgpack:"go,omitempty"`
	OmitEmpty bool   `msgpack:"omitempty,omitempty"`
	Type      Type   `msgpack:"type"`
	// Counter marks a top-level integer field tagged `hills:"counter"`:
	// it changes only by deltas (see Tree.Add), never by an update.
	// Schemas stored before counters existed decode with it false.
	Counter bool `msgpack:"counter,omitempty"`
	// Min is a counter's floor (`hills:"counter,min=N"`): a delta that
	// would take the value below it is refused. nil: no floor but the
	// integer type's own.
	Min *int64 `msgpack:"min,omitempty"`
}

// Schema is the stored description of one tree's records.
type Schema struct {
	Tree  string `msgpack:"tree"`
	Major uint16 `msgpack:"major"`
	Minor uint16 `msgpack:"minor"`
	Type  Type   `msgpack:"type"` // the record's type, usually a Struct
}

// Field returns the field of a struct type named name (its msgpack name).
func (t *Type) Field(name string) (*Field, bool) {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i], true
		}
	}
	return nil, false
}

// String returns a short Go-like description of the type, such as
// "[]struct" or "map[string]int64".
func (t *Type) String() string {
	switch t.Kind {
	case Int, Uint, Float:
		return fmt.Sprintf("%s%d", t.Kind, t.Bits)
	case Enum:
		return fmt.Sprintf("enum %s", t.Name)
	case Bytes:
		if t.Len > 0 {
			return fmt.Sprintf("[%d]byte", t.Len)
		}
	case Slice:
		return "[]" + t.Elem.String()
	case Array:
		return fmt.Sprintf("[%d]%s", t.Len, t.Elem.String())
	case Map:
		return "map[" + t.Key.String() + "]" + t.Elem.String()
	case Pointer:
		return "*" + t.Elem.String()
	case Ref:
		if t.Ref != "" {
			return "ref " + t.Ref
		}
		return "ref " + t.Name
	case Struct:
		if t.Name != "" {
			return "struct " + t.Name
		}
	}
	return t.Kind.String()
}

// ErrUnsupported is wrapped by Reflect's errors.
var ErrUnsupported = errors.New("unsupported type")

// ReflectOptions tell Reflect about types it cannot know by itself.
type ReflectOptions struct {
	// KeyTarget reports whether t is a record key type and which Go type
	// its records have.
	KeyTarget func(t reflect.Type) (target reflect.Type, ok bool)
}

var (
	timeType             = reflect.TypeFor[time.Time]()
	customEncoderType    = reflect.TypeFor[msgpack.CustomEncoder]()
	marshalerType        = reflect.TypeFor[msgpack.Marshaler]()
	binaryMarshalerType  = reflect.TypeFor[interface{ MarshalBinary() ([]byte, error) }]()
	textMarshalerType    = reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()
	customEncodingMethod = []reflect.Type{customEncoderType, marshalerType, binaryMarshalerType, textMarshalerType}
)

// Reflect describes the Go type t as msgpack encodes it. Fields of a
// struct are listed in declaration order under their msgpack names;
// embedded structs are inlined as msgpack does. A struct field tagged
// `hills:"ref=tree"` of a key type records tree as the referenced tree.
// Channels, functions, interfaces, unsafe pointers, complex numbers and
// recursive types are refused with an error naming the field path.
func Reflect(t reflect.Type, opts ReflectOptions) (Type, error) {
	r := reflector{opts: opts, busy: map[reflect.Type]bool{}}
	return r.typ(t, "", "")
}

type reflector struct {
	opts ReflectOptions
	busy map[reflect.Type]bool
}

func unsupported(path string, t reflect.Type, why string) error {
	if path == "" {
		path = "the record"
	} else {
		path = "field " + path
	}
	return fmt.Errorf("%w: %s has type %v: %s", ErrUnsupported, path, t, why)
}

// typ reflects t, found at path; refTag is the field's ref= tag. Types
// with a meaning of their own (keys, time, custom encodings) come first,
// then t's kind decides: scalar kinds here, containers and structs in one
// method each.
func (r *reflector) typ(t reflect.Type, path, refTag string) (Type, error) {
	if st, ok, err := r.special(t, path, refTag); ok || err != nil {
		return st, err
	}
	named := t.Name() != "" && t.PkgPath() != ""
	switch t.Kind() {
	case reflect.Bool:
		return Type{Kind: Bool}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if named {
			return Type{Kind: Enum, Bits: uint8(t.Bits()), Signed: true, Name: typeName(t)}, nil
		}
		return Type{Kind: Int, Bits: uint8(t.Bits())}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if named {
			return Type{Kind: Enum, Bits: uint8(t.Bits()), Name: typeName(t)}, nil
		}
		return Type{Kind: Uint, Bits: uint8(t.Bits())}, nil
	case reflect.Float32, reflect.Float64:
		return Type{Kind: Float, Bits: uint8(t.Bits())}, nil
	case reflect.String:
		return Type{Kind: String}, nil
	case reflect.Slice, reflect.Array:
		return r.sequence(t, path)
	case reflect.Map:
		return r.mapOf(t, path)
	case reflect.Pointer:
		return r.pointer(t, path)
	case reflect.Struct:
		return r.structOf(t, path)
	case reflect.Interface:
		return Type{}, unsupported(path, t, "interfaces have no schema; use a concrete type")
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return Type{}, unsupported(path, t, "msgpack records cannot hold it")
	}
	return Type{}, unsupported(path, t, "unknown kind")
}

// special reflects the types whose schema is not their kind's: a key
// (KeyTarget), time.Time, and a type with its own msgpack encoding (Raw).
// ok reports whether t is one; a ref= tag on any other type is an error.
func (r *reflector) special(t reflect.Type, path, refTag string) (st Type, ok bool, err error) {
	if r.opts.KeyTarget != nil {
		if target, ok := r.opts.KeyTarget(t); ok {
			return Type{Kind: Ref, Name: typeName(target), Ref: refTag}, true, nil
		}
	}
	if refTag != "" {
		return Type{}, false, unsupported(path, t, "a ref= tag needs a key type")
	}
	if t == timeType {
		return Type{Kind: Time}, true, nil
	}
	if t.Kind() != reflect.Pointer {
		for _, m := range customEncodingMethod {
			if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
				return Type{Kind: Raw, Name: typeName(t)}, true, nil
			}
		}
	}
	return Type{}, false, nil
}

// sequence reflects a slice or an array; of bytes, it is Bytes.
func (r *reflector) sequence(t reflect.Type, path string) (Type, error) {
	n := 0
	kind := Slice
	if t.Kind() == reflect.Array {
		n, kind = t.Len(), Array
	}
	if t.Elem().Kind() == reflect.Uint8 {
		return Type{Kind: Bytes, Len: n}, nil
	}
	e, err := r.typ(t.Elem(), path+"[]", "")
	if err != nil {
		return Type{}, err
	}
	return Type{Kind: kind, Len: n, Elem: &e}, nil
}

// mapOf reflects a map, whose keys must be strings or integers.
func (r *reflector) mapOf(t reflect.Type, path string) (Type, error) {
	k, err := r.typ(t.Key(), path+"{key}", "")
	if err != nil {
		return Type{}, err
	}
	switch k.Kind {
	case String, Int, Uint, Enum:
	default:
		return Type{}, unsupported(path, t, "map keys must be strings or integers")
	}
	e, err := r.typ(t.Elem(), path+"{}", "")
	if err != nil {
		return Type{}, err
	}
	return Type{Kind: Map, Key: &k, Elem: &e}, nil
}

// pointer reflects a pointer to anything but a pointer.
func (r *reflector) pointer(t reflect.Type, path string) (Type, error) {
	e, err := r.typ(t.Elem(), path, "")
	if err != nil {
		return Type{}, err
	}
	if e.Kind == Pointer {
		return Type{}, unsupported(path, t, "pointers to pointers are not supported")
	}
	return Type{Kind: Pointer, Elem: &e}, nil
}

// structOf reflects a struct that does not contain itself.
func (r *reflector) structOf(t reflect.Type, path string) (Type, error) {
	if r.busy[t] {
		return Type{}, unsupported(path, t, "recursive types are not supported")
	}
	r.busy[t] = true
	defer delete(r.busy, t)
	st := Type{Kind: Struct, Name: typeName(t)}
	if err := r.fields(&st, t, path); err != nil {
		return Type{}, err
	}
	return st, nil
}

// fields adds the fields of struct t to st as msgpack lays them out.
func (r *reflector) fields(st *Type, t reflect.Type, path string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("msgpack")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Name == "_msgpack" {
			if strings.Contains(opts, "as_array") || strings.Contains(opts, "asArray") {
				return unsupported(path, t, "structs encoded as arrays are not supported")
			}
			continue
		}
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && !hasOpt(opts, "noinline") {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct && et != timeType && !hasCustomEncoding(et) {
				if r.busy[et] {
					return unsupported(join(path, f.Name), et, "recursive types are not supported")
				}
				r.busy[et] = true
				err := r.fields(st, et, path)
				delete(r.busy, et)
				if err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := st.Field(name); dup {
			continue // shadowed, as msgpack does
		}
		ht, err := parseHillsTag(f.Tag.Get("hills"), join(path, name), f.Type)
		if err != nil {
			return err
		}
		ft, err := r.typ(f.Type, join(path, name), ht.ref)
		if err != nil {
			return err
		}
		nf := Field{Name: name, GoName: f.Name, OmitEmpty: hasOpt(opts, "omitempty"), Type: ft, Counter: ht.counter, Min: ht.min}
		if err := checkCounter(&nf, path); err != nil {
			return unsupported(join(path, name), f.Type, err.Error())
		}
		st.Fields = append(st.Fields, nf)
	}
	return nil
}

// typeName is the name of a named type as the schema records it ("" for
// unnamed types), cut to MaxName bytes.
func typeName(t reflect.Type) string {
	if t.Name() == "" {
		return ""
	}
	n := t.String()
	if len(n) > MaxName {
		n = n[:MaxName]
	}
	return n
}

func hasCustomEncoding(t reflect.Type) bool {
	for _, m := range customEncodingMethod {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
