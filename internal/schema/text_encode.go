package schema

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

func textErr(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrText, where(path), fmt.Sprintf(format, args...))
}

// wrongKind is the error for a JSON value v that cannot be of type t.
func wrongKind(path string, t *Type, v any) error {
	return textErr(path, "want %s, got %s", t, kindOf(v))
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// encodeText encodes v, a decoded JSON value, as a value of type t at
// path; old is the stored value it replaces, or nil.
func encodeText(enc *msgpack.Encoder, v any, t *Type, old []byte, path string, depth int) error {
	if depth > maxDataDepth {
		return textErr(path, "nested deeper than %d", maxDataDepth)
	}
	if v == nil {
		return enc.EncodeNil()
	}
	t = deref(t)
	switch t.Kind {
	case Bool:
		return encodeBool(enc, v, t, path)
	case Int, Uint, Enum:
		return encodeInt(enc, v, t, path)
	case Float:
		return encodeFloat(enc, v, t, path)
	case String:
		return encodeString(enc, v, t, path)
	case Bytes:
		return encodeBytes(enc, v, t, path)
	case Raw:
		return encodeRaw(enc, v, t, path)
	case Time:
		return encodeTime(enc, v, t, path)
	case Ref:
		return encodeRef(enc, v, t, path)
	case Slice, Array:
		return encodeList(enc, v, t, path, depth)
	case Map:
		return encodeMap(enc, v, t, path, depth)
	case Struct:
		return encodeStruct(enc, v, t, old, path, depth)
	}
	return textErr(path, "kind %s", t.Kind)
}

// scalarValue parses v, which must be a JSON string or number (J), with
// the text rule parse of t's kind.
func scalarValue[J ~string, T any](v any, t *Type, path string, parse func(*Type, string) (T, error)) (T, error) {
	j, ok := v.(J)
	if !ok {
		var zero T
		return zero, wrongKind(path, t, v)
	}
	x, err := parse(t, string(j))
	if err != nil {
		return x, textErr(path, "%v", err)
	}
	return x, nil
}

func parseString(_ *Type, s string) (string, error) { return s, nil }

func encodeString(enc *msgpack.Encoder, v any, t *Type, path string) error {
	s, err := scalarValue[string](v, t, path, parseString)
	if err != nil {
		return err
	}
	return enc.EncodeString(s)
}

func encodeBytes(enc *msgpack.Encoder, v any, t *Type, path string) error {
	b, err := scalarValue[string](v, t, path, parseBytes)
	if err != nil {
		return err
	}
	return enc.EncodeBytes(b)
}

// encodeRaw writes the msgpack value v holds in base64 as it is.
func encodeRaw(enc *msgpack.Encoder, v any, t *Type, path string) error {
	b, err := scalarValue[string](v, t, path, parseRaw)
	if err != nil {
		return err
	}
	_, err = enc.Writer().Write(b)
	return err
}

func encodeTime(enc *msgpack.Encoder, v any, t *Type, path string) error {
	tm, err := scalarValue[string](v, t, path, parseTime)
	if err != nil {
		return err
	}
	return enc.EncodeTime(tm)
}

// encodeRef writes a key as Key[T] encodes it: a map of ID and Rev.
func encodeRef(enc *msgpack.Encoder, v any, t *Type, path string) error {
	k, err := scalarValue[string](v, t, path, parseRef)
	if err != nil {
		return err
	}
	enc.EncodeMapLen(2)
	enc.EncodeString("ID")
	enc.EncodeUint(uint64(k.ID))
	enc.EncodeString("Rev")
	return enc.EncodeUint(uint64(k.Rev))
}

func encodeBool(enc *msgpack.Encoder, v any, t *Type, path string) error {
	b, ok := v.(bool)
	if !ok {
		return wrongKind(path, t, v)
	}
	return enc.EncodeBool(b)
}

func encodeInt(enc *msgpack.Encoder, v any, t *Type, path string) error {
	if signed(t) {
		i, err := scalarValue[json.Number](v, t, path, parseInt)
		if err != nil {
			return err
		}
		return enc.EncodeInt(i)
	}
	u, err := scalarValue[json.Number](v, t, path, parseUint)
	if err != nil {
		return err
	}
	return enc.EncodeUint(u)
}

// encodeFloat encodes a JSON number, or one of the strings Text writes for
// the floats JSON has no number for.
func encodeFloat(enc *msgpack.Encoder, v any, t *Type, path string) error {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = parseFloatNumber(t, string(x)); err != nil {
			return textErr(path, "%v", err)
		}
	case string:
		var ok bool
		if f, ok = floatWord(x); !ok {
			return wrongKind(path, t, v)
		}
	default:
		return wrongKind(path, t, v)
	}
	if t.Bits == 32 {
		return enc.EncodeFloat32(float32(f))
	}
	return enc.EncodeFloat64(f)
}

func encodeList(enc *msgpack.Encoder, v any, t *Type, path string, depth int) error {
	a, ok := v.([]any)
	if !ok {
		return wrongKind(path, t, v)
	}
	if t.Kind == Array && len(a) != t.Len {
		return textErr(path, "want %d elements, got %d", t.Len, len(a))
	}
	if err := enc.EncodeArrayLen(len(a)); err != nil {
		return err
	}
	for _, e := range a {
		if err := encodeText(enc, e, t.Elem, nil, path+"[]", depth+1); err != nil {
			return err
		}
	}
	return nil
}

// encodeMap encodes a JSON object as a map with its members in key order,
// integer keys by value.
func encodeMap(enc *msgpack.Encoder, v any, t *Type, path string, depth int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return wrongKind(path, t, v)
	}
	ms := make([]mapKey, 0, len(m))
	for k := range m {
		mb, err := parseMapKey(deref(t.Key), k, path+"{key}")
		if err != nil {
			return err
		}
		ms = append(ms, mb)
	}
	slices.SortFunc(ms, mapKey.cmp)
	if err := enc.EncodeMapLen(len(ms)); err != nil {
		return err
	}
	for _, mb := range ms {
		switch {
		case mb.num == nil:
			enc.EncodeString(mb.key)
		case mb.num.neg:
			enc.EncodeInt(-int64(mb.num.mag-1) - 1)
		default:
			enc.EncodeUint(mb.num.mag)
		}
		if err := encodeText(enc, m[mb.key], t.Elem, nil, path+"{}", depth+1); err != nil {
			return err
		}
	}
	return nil
}

// parseMapKey reads the name k of a JSON member as a key of type kt: any
// string, or an integer written in plain decimal.
func parseMapKey(kt *Type, k, path string) (mapKey, error) {
	mb := mapKey{key: k}
	if kt.Kind == String {
		return mb, nil
	}
	if signed(kt) {
		i, err := parseInt(kt, k)
		if err != nil {
			return mb, textErr(path, "%v", err)
		}
		mb.num, _ = toBig(i)
	} else {
		u, err := parseUint(kt, k)
		if err != nil {
			return mb, textErr(path, "%v", err)
		}
		mb.num = &big{mag: u}
	}
	if mb.num.String() != k {
		return mb, textErr(path, "%q is not written as a plain decimal integer", k)
	}
	return mb, nil
}

// encodeStruct encodes a JSON object as a struct: its fields in schema
// order, then the members of old the schema does not know, byte for byte.
// The object may repeat those only as Text rendered them.
func encodeStruct(enc *msgpack.Encoder, v any, t *Type, old []byte, path string, depth int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return wrongKind(path, t, v)
	}
	var olds []entry
	if old != nil {
		olds, _, _ = mapEntries(old)
	}
	keep, err := keptMembers(m, t, olds, path)
	if err != nil {
		return err
	}
	n := len(keep)
	for i := range t.Fields {
		if _, ok := m[t.Fields[i].Name]; ok {
			n++
		}
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	for i := range t.Fields {
		f := &t.Fields[i]
		x, ok := m[f.Name]
		if !ok {
			continue
		}
		enc.EncodeString(f.Name)
		if err := encodeText(enc, x, &f.Type, oldValue(olds, f.Name), join(path, f.Name), depth+1); err != nil {
			return err
		}
	}
	for _, o := range keep {
		w := enc.Writer()
		w.Write(o.key)
		if _, err := w.Write(o.val); err != nil {
			return err
		}
	}
	return nil
}

// keptMembers returns the members of olds that t does not know, which are
// kept, after checking that every member of m that t does not know is one
// of them, unchanged.
func keptMembers(m map[string]any, t *Type, olds []entry, path string) ([]entry, error) {
	var keep []entry
	for _, o := range olds {
		if !o.isString || fieldIndex(t, o.name) < 0 {
			keep = append(keep, o)
		}
	}
	for k, x := range m {
		if fieldIndex(t, k) >= 0 {
			continue
		}
		raw := oldValue(olds, k)
		if raw == nil {
			return nil, textErr(join(path, k), "not in the schema")
		}
		same, err := sameAsStored(x, raw)
		if err != nil || !same {
			return nil, textErr(join(path, k), "not in the schema; it can only be kept as it is")
		}
	}
	return keep, nil
}

// oldValue returns the stored value of the member named name, or nil.
func oldValue(olds []entry, name string) []byte {
	for _, o := range olds {
		if o.isString && o.name == name {
			return o.val
		}
	}
	return nil
}
