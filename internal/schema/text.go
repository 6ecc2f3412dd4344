package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// ErrText is wrapped by the errors of FromText: the text does not fit the
// schema.
var ErrText = errors.New("invalid text")

// Text renders the msgpack value data of type t as JSON indented by two
// spaces: struct members in schema order under their msgpack names, then
// members the schema does not know in stored order; times in RFC 3339 with
// nanoseconds (UTC), bytes in standard base64, keys as "ID.Rev", map
// members sorted by key, and floats that JSON cannot hold as "NaN", "+Inf",
// "-Inf".
func Text(data []byte, t *Type) (string, error) {
	if err := Check(data); err != nil {
		return "", err
	}
	var w bytes.Buffer
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	if err := render(&w, dec, t, ""); err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, w.Bytes(), "", "  "); err != nil {
		return "", fmt.Errorf("rendering: %v", err)
	}
	return out.String(), nil
}

func writeString(w *bytes.Buffer, s string) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	w.Truncate(w.Len() - 1) // the newline Encode adds
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"+Inf"`
	case math.IsInf(f, -1):
		return `"-Inf"`
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// maxPrealloc bounds the members Text makes room for before it has read
// them.
const maxPrealloc = 1024

func mismatch(path string, t *Type, err error) error {
	return fmt.Errorf("%s: stored value is not %s: %v", where(path), t, err)
}

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
		v, err := dec.DecodeBool()
		if err != nil {
			return mismatch(path, t, err)
		}
		w.WriteString(strconv.FormatBool(v))
	case Int, Uint, Enum:
		if msgpcode.IsFixedNum(c) && int8(c) < 0 || c >= msgpcode.Int8 && c <= msgpcode.Int64 {
			v, err := dec.DecodeInt64()
			if err != nil {
				return mismatch(path, t, err)
			}
			w.WriteString(strconv.FormatInt(v, 10))
		} else {
			v, err := dec.DecodeUint64()
			if err != nil {
				return mismatch(path, t, err)
			}
			w.WriteString(strconv.FormatUint(v, 10))
		}
	case Float:
		if t.Bits == 32 && c == msgpcode.Float {
			v, err := dec.DecodeFloat32()
			if err != nil {
				return mismatch(path, t, err)
			}
			w.WriteString(formatFloat(float64(v), 32))
		} else {
			v, err := dec.DecodeFloat64()
			if err != nil {
				return mismatch(path, t, err)
			}
			w.WriteString(formatFloat(v, 64))
		}
	case String:
		v, err := dec.DecodeString()
		if err != nil {
			return mismatch(path, t, err)
		}
		writeString(w, v)
	case Bytes:
		v, err := dec.DecodeBytes()
		if err != nil {
			return mismatch(path, t, err)
		}
		writeString(w, base64.StdEncoding.EncodeToString(v))
	case Time:
		v, err := dec.DecodeTime()
		if err != nil {
			return mismatch(path, t, err)
		}
		writeString(w, v.UTC().Format(time.RFC3339Nano))
	case Raw:
		v, err := dec.DecodeRaw()
		if err != nil {
			return mismatch(path, t, err)
		}
		writeString(w, base64.StdEncoding.EncodeToString(v))
	case Ref:
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
		writeString(w, strconv.FormatUint(id, 10)+"."+strconv.FormatUint(rev, 10))
	case Slice, Array:
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
	case Map:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return mismatch(path, t, err)
		}
		type member struct {
			key string
			num *big
			val []byte
		}
		// n is read from the data, not checked against it: an extension
		// read as a map claims up to 2³² members.
		ms := make([]member, 0, min(n, maxPrealloc))
		for range n {
			var m member
			switch deref(t.Key).Kind {
			case String:
				m.key, err = dec.DecodeString()
			default:
				var v any
				v, err = dec.DecodeInterface()
				if err == nil {
					m.num, err = toBig(v)
					if err == nil {
						m.key = m.num.String()
					}
				}
			}
			if err != nil {
				return mismatch(path, t, fmt.Errorf("key: %v", err))
			}
			var vb bytes.Buffer
			if err := render(&vb, dec, t.Elem, path+"{}"); err != nil {
				return err
			}
			m.val = vb.Bytes()
			ms = append(ms, m)
		}
		slices.SortStableFunc(ms, func(a, b member) int {
			if a.num != nil && b.num != nil {
				return a.num.cmp(b.num)
			}
			return strings.Compare(a.key, b.key)
		})
		w.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				w.WriteByte(',')
			}
			writeString(w, m.key)
			w.WriteByte(':')
			w.Write(m.val)
		}
		w.WriteByte('}')
	case Struct:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return mismatch(path, t, err)
		}
		known := make([][]byte, len(t.Fields))
		type unknown struct {
			name string
			val  []byte
		}
		var unknowns []unknown
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
			v, err := dec.DecodeInterface()
			if err != nil {
				return fmt.Errorf("%s: %v", where(join(path, k)), err)
			}
			if err := renderAny(&vb, v); err != nil {
				return fmt.Errorf("%s: %v", where(join(path, k)), err)
			}
			unknowns = append(unknowns, unknown{k, vb.Bytes()})
		}
		w.WriteByte('{')
		first := true
		sep := func() {
			if !first {
				w.WriteByte(',')
			}
			first = false
		}
		for i, v := range known {
			if v != nil {
				sep()
				writeString(w, t.Fields[i].Name)
				w.WriteByte(':')
				w.Write(v)
			}
		}
		for _, u := range unknowns {
			sep()
			writeString(w, u.name)
			w.WriteByte(':')
			w.Write(u.val)
		}
		w.WriteByte('}')
	default:
		return fmt.Errorf("%s: kind %s", where(path), t.Kind)
	}
	return nil
}

func fieldIndex(t *Type, name string) int {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// big is an integer key of a map: a sign and a magnitude.
type big struct {
	neg bool
	mag uint64
}

func (b *big) String() string {
	if b.neg {
		return "-" + strconv.FormatUint(b.mag, 10)
	}
	return strconv.FormatUint(b.mag, 10)
}

func (b *big) cmp(o *big) int {
	switch {
	case b.neg && !o.neg:
		return -1
	case !b.neg && o.neg:
		return 1
	case b.neg:
		return -cmpU(b.mag, o.mag)
	}
	return cmpU(b.mag, o.mag)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toBig(v any) (*big, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		n := rv.Int()
		if n < 0 {
			return &big{neg: true, mag: uint64(-(n + 1)) + 1}, nil
		}
		return &big{mag: uint64(n)}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return &big{mag: rv.Uint()}, nil
	}
	return nil, fmt.Errorf("%T is not an integer", v)
}

// renderAny renders a value decoded without a schema.
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

func renderAny(w *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(v))
	case string:
		writeString(w, v)
	case []byte:
		writeString(w, base64.StdEncoding.EncodeToString(v))
	case time.Time:
		writeString(w, v.UTC().Format(time.RFC3339Nano))
	case float32:
		w.WriteString(formatFloat(float64(v), 32))
	case float64:
		w.WriteString(formatFloat(v, 64))
	case []any:
		w.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := renderAny(w, e); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case map[string]any:
		if err := renderObject(w, v); err != nil {
			return err
		}
	case map[any]any:
		byKey := make(map[string]any, len(v))
		for k, e := range v {
			byKey[fmt.Sprint(k)] = e
		}
		if err := renderObject(w, byKey); err != nil {
			return err
		}
	default:
		b, err := toBig(v)
		if err != nil {
			return fmt.Errorf("value of type %T has no JSON form", v)
		}
		w.WriteString(b.String())
	}
	return nil
}

// FromText encodes JSON text as a msgpack value of type t, checking it
// against t: a member t does not know, a value of the wrong kind or a
// number out of range is an error naming the field. old, when not nil, is
// the value the text replaces: its members t does not know are kept byte
// for byte, and the text may repeat them only unchanged (as Text rendered
// them).
func FromText(text string, t *Type, old []byte) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrText, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrText)
	}
	if old != nil {
		if err := Check(old); err != nil {
			old = nil
		}
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := encodeText(enc, v, t, old, "", 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func textErr(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrText, where(path), fmt.Sprintf(format, args...))
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

func encodeText(enc *msgpack.Encoder, v any, t *Type, old []byte, path string, depth int) error {
	if depth > maxDataDepth {
		return textErr(path, "nested deeper than %d", maxDataDepth)
	}
	if v == nil {
		return enc.EncodeNil()
	}
	t = deref(t)
	want := func() error { return textErr(path, "want %s, got %s", t, kindOf(v)) }
	switch t.Kind {
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return want()
		}
		return enc.EncodeBool(b)
	case Int, Uint, Enum:
		n, ok := v.(json.Number)
		if !ok {
			return want()
		}
		if t.Kind == Int || t.Kind == Enum && t.Signed {
			i, err := strconv.ParseInt(string(n), 10, int(t.Bits))
			if err != nil {
				return numErr(path, t, n, err)
			}
			return enc.EncodeInt(i)
		}
		u, err := strconv.ParseUint(string(n), 10, int(t.Bits))
		if err != nil {
			return numErr(path, t, n, err)
		}
		return enc.EncodeUint(u)
	case Float:
		var f float64
		switch x := v.(type) {
		case json.Number:
			var err error
			f, err = strconv.ParseFloat(string(x), int(t.Bits))
			if err != nil {
				return numErr(path, t, x, err)
			}
		case string:
			switch x {
			case "NaN":
				f = math.NaN()
			case "+Inf":
				f = math.Inf(1)
			case "-Inf":
				f = math.Inf(-1)
			default:
				return want()
			}
		default:
			return want()
		}
		if t.Bits == 32 {
			return enc.EncodeFloat32(float32(f))
		}
		return enc.EncodeFloat64(f)
	case String:
		s, ok := v.(string)
		if !ok {
			return want()
		}
		return enc.EncodeString(s)
	case Bytes, Raw:
		s, ok := v.(string)
		if !ok {
			return want()
		}
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return textErr(path, "not standard base64: %v", err)
		}
		if t.Kind == Raw {
			if err := Check(b); err != nil {
				return textErr(path, "not a msgpack value: %v", err)
			}
			_, err := enc.Writer().Write(b)
			return err
		}
		if t.Len > 0 && len(b) != t.Len {
			return textErr(path, "want %d bytes, got %d", t.Len, len(b))
		}
		return enc.EncodeBytes(b)
	case Time:
		s, ok := v.(string)
		if !ok {
			return want()
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return textErr(path, "not an RFC 3339 time: %q", s)
		}
		return enc.EncodeTime(tm)
	case Ref:
		s, ok := v.(string)
		if !ok {
			return want()
		}
		id, rev, err := ParseKey(s)
		if err != nil {
			return textErr(path, "%v", err)
		}
		enc.EncodeMapLen(2)
		enc.EncodeString("ID")
		enc.EncodeUint(uint64(id))
		enc.EncodeString("Rev")
		return enc.EncodeUint(uint64(rev))
	case Slice, Array:
		a, ok := v.([]any)
		if !ok {
			return want()
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
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			return want()
		}
		type member struct {
			key string
			num *big
		}
		ms := make([]member, 0, len(m))
		kt := deref(t.Key)
		for k := range m {
			mb := member{key: k}
			if kt.Kind != String {
				signed := kt.Kind == Int || kt.Kind == Enum && kt.Signed
				if signed {
					i, err := strconv.ParseInt(k, 10, int(kt.Bits))
					if err != nil {
						return numErr(path+"{key}", kt, json.Number(k), err)
					}
					mb.num, _ = toBig(i)
				} else {
					u, err := strconv.ParseUint(k, 10, int(kt.Bits))
					if err != nil {
						return numErr(path+"{key}", kt, json.Number(k), err)
					}
					mb.num = &big{mag: u}
				}
			}
			if mb.num != nil && mb.num.String() != k {
				return textErr(path+"{key}", "%q is not written as a plain decimal integer", k)
			}
			ms = append(ms, mb)
		}
		slices.SortFunc(ms, func(a, b member) int {
			if a.num != nil && b.num != nil {
				return a.num.cmp(b.num)
			}
			return strings.Compare(a.key, b.key)
		})
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
	case Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return want()
		}
		var olds []entry
		if old != nil {
			olds, _, _ = mapEntries(old)
		}
		oldVal := func(name string) []byte {
			for _, o := range olds {
				if o.isString && o.name == name {
					return o.val
				}
			}
			return nil
		}
		// Members the schema does not know: kept from old, unchanged.
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
			raw := oldVal(k)
			if raw == nil {
				return textErr(join(path, k), "not in the schema")
			}
			same, err := sameAsStored(x, raw)
			if err != nil || !same {
				return textErr(join(path, k), "not in the schema; it can only be kept as it is")
			}
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
			if err := encodeText(enc, x, &f.Type, oldVal(f.Name), join(path, f.Name), depth+1); err != nil {
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
	return textErr(path, "kind %s", t.Kind)
}

func numErr(path string, t *Type, n json.Number, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return textErr(path, "%s is out of range for %s", n, t)
	}
	return textErr(path, "%s is not a %s", n, t)
}

// sameAsStored reports whether the JSON value x is how Text renders the
// schemaless msgpack value raw.
func sameAsStored(x any, raw []byte) (bool, error) {
	v, err := msgpack.NewDecoder(bytes.NewReader(raw)).DecodeInterface()
	if err != nil {
		return false, err
	}
	var w bytes.Buffer
	if err := renderAny(&w, v); err != nil {
		return false, err
	}
	dec := json.NewDecoder(&w)
	dec.UseNumber()
	var y any
	if err := dec.Decode(&y); err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}

// ParseKey parses the text form "ID.Rev" of a record key: two decimal
// numbers without sign that fit in 32 bits.
func ParseKey(s string) (id, rev uint32, err error) {
	a, b, ok := strings.Cut(s, ".")
	if !ok || !digits(a) || !digits(b) {
		return 0, 0, fmt.Errorf("%q is not a key ID.Rev", s)
	}
	i, err1 := strconv.ParseUint(a, 10, 32)
	r, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("key %q out of range", s)
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
