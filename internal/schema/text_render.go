package schema

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxPrealloc bounds the members Text makes room for before it has read
// them.
const maxPrealloc = 1024

func mismatch(path string, t *Type, err error) error {
	return fmt.Errorf("%s: stored value is not %s: %v", where(path), t, err)
}

// render writes the value dec reads next, of type t at path, as JSON.
func render(w *bytes.Buffer, dec *msgpack.Decoder, t *Type, path string) error {
	c, err := dec.PeekCode()
	if err != nil {
		return err
	}
	if c == msgpcode.Nil {
		dec.Skip()
		w.WriteString("null")
		return nil
	}
	t = deref(t)
	switch t.Kind {
	case Bool:
		return renderScalar(w, t, path, dec.DecodeBool, writeBool)
	case Int, Uint, Enum:
		return renderInt(w, dec, c, t, path)
	case Float:
		return renderFloat(w, dec, c, t, path)
	case String:
		return renderScalar(w, t, path, dec.DecodeString, writeString)
	case Bytes:
		return renderScalar(w, t, path, dec.DecodeBytes, writeBase64)
	case Raw:
		return renderScalar(w, t, path, dec.DecodeRaw, writeRaw)
	case Time:
		return renderScalar(w, t, path, dec.DecodeTime, writeTime)
	case Ref:
		return renderRef(w, dec, t, path)
	case Slice, Array:
		return renderList(w, dec, t, path)
	case Map:
		return renderMap(w, dec, t, path)
	case Struct:
		return renderStruct(w, dec, t, path)
	}
	return fmt.Errorf("%s: kind %s", where(path), t.Kind)
}

// renderScalar reads one value with decode and writes it with write.
func renderScalar[T any](w *bytes.Buffer, t *Type, path string, decode func() (T, error), write func(*bytes.Buffer, T)) error {
	v, err := decode()
	if err != nil {
		return mismatch(path, t, err)
	}
	write(w, v)
	return nil
}

func writeBool(w *bytes.Buffer, v bool) { w.WriteString(strconv.FormatBool(v)) }

func writeBase64(w *bytes.Buffer, b []byte) { writeString(w, base64.StdEncoding.EncodeToString(b)) }

func writeRaw(w *bytes.Buffer, b msgpack.RawMessage) { writeBase64(w, b) }

func writeTime(w *bytes.Buffer, tm time.Time) { writeString(w, formatTime(tm)) }

// writeFloat writes f as a JSON number, or as a string when JSON has no
// number for it.
func writeFloat(w *bytes.Buffer, f float64, bits int) {
	if s := floatText(f, bits); isFinite(f) {
		w.WriteString(s)
	} else {
		writeString(w, s)
	}
}

// renderInt writes an integer as it is stored, negative or not, whatever
// the signedness of t.
func renderInt(w *bytes.Buffer, dec *msgpack.Decoder, c byte, t *Type, path string) error {
	if msgpcode.IsFixedNum(c) && int8(c) < 0 || c >= msgpcode.Int8 && c <= msgpcode.Int64 {
		return renderScalar(w, t, path, dec.DecodeInt64, func(w *bytes.Buffer, v int64) { w.WriteString(formatInt(v)) })
	}
	return renderScalar(w, t, path, dec.DecodeUint64, func(w *bytes.Buffer, v uint64) { w.WriteString(formatUint(v)) })
}

// renderFloat writes a float with the precision it is stored with: 32
// bits only when t and the stored value both have 32.
func renderFloat(w *bytes.Buffer, dec *msgpack.Decoder, c byte, t *Type, path string) error {
	if t.Bits == 32 && c == msgpcode.Float {
		return renderScalar(w, t, path, dec.DecodeFloat32, func(w *bytes.Buffer, v float32) {
			writeFloat(w, float64(v), 32)
		})
	}
	return renderScalar(w, t, path, dec.DecodeFloat64, func(w *bytes.Buffer, v float64) {
		writeFloat(w, v, 64)
	})
}

// renderRef writes a key, stored as a map of ID and Rev, as "ID.Rev".
func renderRef(w *bytes.Buffer, dec *msgpack.Decoder, t *Type, path string) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return mismatch(path, t, err)
	}
	var id, rev uint64
	for range n {
		k, err := dec.DecodeString()
		if err != nil {
			return mismatch(path, t, err)
		}
		v, err := dec.DecodeUint64()
		if err != nil || v > math.MaxUint32 || (k != "ID" && k != "Rev") {
			return mismatch(path, t, fmt.Errorf("member %q", k))
		}
		if k == "ID" {
			id = v
		} else {
			rev = v
		}
	}
	writeString(w, formatKey(uint32(id), uint32(rev)))
	return nil
}

func renderList(w *bytes.Buffer, dec *msgpack.Decoder, t *Type, path string) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return mismatch(path, t, err)
	}
	w.WriteByte('[')
	for i := range n {
		if i > 0 {
			w.WriteByte(',')
		}
		if err := render(w, dec, t.Elem, path+"[]"); err != nil {
			return err
		}
	}
	w.WriteByte(']')
	return nil
}

// mapKey is the key of a map member: its JSON name, and its value when
// the map has integer keys.
type mapKey struct {
	key string
	num *big
}

// cmp orders map keys by integer value when both have one, else by name.
func (a mapKey) cmp(b mapKey) int {
	if a.num != nil && b.num != nil {
		return a.num.cmp(b.num)
	}
	return strings.Compare(a.key, b.key)
}

// member is a member of a JSON object being written, with its value
// already in JSON.
type member struct {
	mapKey
	val []byte
}

// renderMap writes a map as a JSON object with its members in key order.
func renderMap(w *bytes.Buffer, dec *msgpack.Decoder, t *Type, path string) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return mismatch(path, t, err)
	}
	// n is read from the data, not checked against it: an extension
	// read as a map claims up to 2³² members.
	ms := make([]member, 0, min(n, maxPrealloc))
	for range n {
		k, err := renderMapKey(dec, deref(t.Key))
		if err != nil {
			return mismatch(path, t, fmt.Errorf("key: %v", err))
		}
		var vb bytes.Buffer
		if err := render(&vb, dec, t.Elem, path+"{}"); err != nil {
			return err
		}
		ms = append(ms, member{k, vb.Bytes()})
	}
	slices.SortStableFunc(ms, func(a, b member) int { return a.cmp(b.mapKey) })
	w.WriteByte('{')
	for i, m := range ms {
		writeMember(w, i, m.key, m.val)
	}
	w.WriteByte('}')
	return nil
}

// renderMapKey reads the key of a map member: a string when the map's
// key type kt is String, else an integer of any stored size.
func renderMapKey(dec *msgpack.Decoder, kt *Type) (mapKey, error) {
	var m mapKey
	if kt.Kind == String {
		var err error
		m.key, err = dec.DecodeString()
		return m, err
	}
	v, err := dec.DecodeInterface()
	if err != nil {
		return m, err
	}
	if m.num, err = toBig(v); err != nil {
		return m, err
	}
	m.key = m.num.String()
	return m, nil
}

// renderStruct writes a struct's members in schema order, then the
// members the schema does not know in stored order.
func renderStruct(w *bytes.Buffer, dec *msgpack.Decoder, t *Type, path string) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return mismatch(path, t, err)
	}
	known := make([][]byte, len(t.Fields))
	var unknowns []member
	for range n {
		k, err := dec.DecodeString()
		if err != nil {
			return mismatch(path, t, fmt.Errorf("member name: %v", err))
		}
		var vb bytes.Buffer
		if i := fieldIndex(t, k); i >= 0 {
			if err := render(&vb, dec, &t.Fields[i].Type, join(path, k)); err != nil {
				return err
			}
			known[i] = vb.Bytes()
			continue
		}
		if err := renderUnknown(&vb, dec); err != nil {
			return fmt.Errorf("%s: %v", where(join(path, k)), err)
		}
		unknowns = append(unknowns, member{mapKey{key: k}, vb.Bytes()})
	}
	w.WriteByte('{')
	n = 0
	for i, v := range known {
		if v != nil {
			writeMember(w, n, t.Fields[i].Name, v)
			n++
		}
	}
	for _, u := range unknowns {
		writeMember(w, n, u.key, u.val)
		n++
	}
	w.WriteByte('}')
	return nil
}

// renderUnknown writes the value dec reads next, which the schema does not
// describe.
func renderUnknown(w *bytes.Buffer, dec *msgpack.Decoder) error {
	v, err := dec.DecodeInterface()
	if err != nil {
		return err
	}
	return renderAny(w, v)
}

// writeMember writes the i-th member of a JSON object: name and val, the
// value already in JSON.
func writeMember(w *bytes.Buffer, i int, name string, val []byte) {
	if i > 0 {
		w.WriteByte(',')
	}
	writeString(w, name)
	w.WriteByte(':')
	w.Write(val)
}

// renderObject writes m as a JSON object with its members in key order.
func renderObject(w *bytes.Buffer, m map[string]any) error {
	w.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			w.WriteByte(',')
		}
		writeString(w, k)
		w.WriteByte(':')
		if err := renderAny(w, m[k]); err != nil {
			return err
		}
	}
	w.WriteByte('}')
	return nil
}

// renderAny renders a value decoded without a schema.
func renderAny(w *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		writeBool(w, v)
	case string:
		writeString(w, v)
	case []byte:
		writeBase64(w, v)
	case time.Time:
		writeTime(w, v)
	case float32:
		writeFloat(w, float64(v), 32)
	case float64:
		writeFloat(w, v, 64)
	case []any:
		return renderArray(w, v)
	case map[string]any:
		return renderObject(w, v)
	case map[any]any:
		byName := make(map[string]any, len(v))
		for k, e := range v {
			byName[fmt.Sprint(k)] = e
		}
		return renderObject(w, byName)
	default:
		b, err := toBig(v)
		if err != nil {
			return fmt.Errorf("value of type %T has no JSON form", v)
		}
		w.WriteString(b.String())
	}
	return nil
}

func renderArray(w *bytes.Buffer, a []any) error {
	w.WriteByte('[')
	for i, e := range a {
		if i > 0 {
			w.WriteByte(',')
		}
		if err := renderAny(w, e); err != nil {
			return err
		}
	}
	w.WriteByte(']')
	return nil
}
