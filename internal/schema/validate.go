package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidRecord is wrapped by the errors of ValidateRecord: the bytes
// are not a record of the type they were checked against.
var ErrInvalidRecord = errors.New("schema: invalid record")

// Limits bound a record ValidateRecord accepts. A zero member means its
// value in DefaultLimits.
type Limits struct {
	// MaxDepth is how deeply maps and arrays may nest, the record's own
	// map counting as 1. It is at most 100 (a larger value counts as 100):
	// deeper records are refused by Check and Text as well.
	MaxDepth int
	// MaxBytes is the size of the whole value in bytes, which bounds every
	// string and byte string in it too.
	MaxBytes int
}

// DefaultLimits are the limits of a zero Limits: MaxDepth 64 (twice the
// deepest a valid schema describes, MaxDepth+1 levels, leaving room for
// fields of newer minor versions) and MaxBytes 4 MiB.
var DefaultLimits = Limits{MaxDepth: 64, MaxBytes: 4 << 20}

func (l Limits) fill() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxDepth > maxDataDepth {
		l.MaxDepth = maxDataDepth
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

// ValidateRecord checks that data, the value of a stored record (what
// follows the record's header), is a record of type t that the database
// reads back into t's Go type: exactly one well-formed msgpack value,
// within lim, where every member the schema describes has a form its kind
// accepts. Members t does not describe (fields of a newer minor version)
// need only be well-formed and within lim. A nil t accepts any well-formed
// map (or nil) within lim: a tree declared without a schema.
//
// The forms accepted are those the database writes, and those its decoder
// reads without changing the value; they are never more than the decoder
// reads:
//
//   - nil anywhere, read as the zero value, except for a time that is not
//     behind a pointer (the decoder cannot read it);
//   - bool: true, false;
//   - int, uint, enum: any msgpack integer whose value fits the type's bits
//     and sign (the decoder would cut it silently);
//   - float: a float32, any integer, and for 64 bits a float64;
//   - string, bytes: a msgpack string or binary; a fixed [N]byte at most N
//     bytes long;
//   - time: the msgpack timestamp extension (type -1) of 4, 8 or 12 bytes;
//   - struct: a map with string keys, each known field at most once;
//   - ref: a map of "ID" and "Rev" to integers of 32 bits;
//   - slice: an array; array: an array of at most Len elements;
//   - map: a map whose keys are strings (string keys) or integers that
//     fit the key type;
//   - raw: any well-formed value (its Go type decodes itself).
//
// Every error wraps ErrInvalidRecord and names the field, as in
// `schema: invalid record: field "lines[2].qty": want int32, found string`.
// t must be valid (Validate; Decode's schemas are). ValidateRecord does
// not allocate unless it fails or t has a struct of more than 16 fields
// (then it indexes the fields once per call). It is safe for concurrent
// use; t is only read.
func ValidateRecord(data []byte, t *Type, lim Limits) error {
	lim = lim.fill()
	if len(data) > lim.MaxBytes {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidRecord, len(data), lim.MaxBytes)
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: no value", ErrInvalidRecord)
	}
	v := validator{b: data, maxDepth: lim.MaxDepth}
	var end int
	var err error
	if t == nil {
		end, err = v.untyped(0)
	} else {
		end, err = v.value(0, t, 0)
	}
	if err != nil {
		return err
	}
	if end != len(data) {
		return fmt.Errorf("%w: %d bytes after the value", ErrInvalidRecord, len(data)-end)
	}
	return nil
}

// validator walks one record.
type validator struct {
	b        []byte
	maxDepth int
	seen     []uint64                 // bit sets of the known fields met, for structs of more than 64 fields
	index    map[*Type]map[string]int // field positions of structs of more than 16 fields
}

// recordError is a failed check: what is wrong, and where. The path is
// collected while the walk unwinds, so a record that passes costs nothing
// for it.
type recordError struct {
	steps []string // from the failing value outwards: ".name", "[3]", "{key}"
	msg   string
}

func (e *recordError) Error() string {
	where := "the record"
	if len(e.steps) > 0 {
		var b strings.Builder
		for i := len(e.steps) - 1; i >= 0; i-- {
			b.WriteString(e.steps[i])
		}
		where = "field " + strconv.Quote(strings.TrimPrefix(b.String(), "."))
	}
	return ErrInvalidRecord.Error() + ": " + where + ": " + e.msg
}

func (e *recordError) Unwrap() error { return ErrInvalidRecord }

// in adds a step to the path of err, a *recordError.
func in(err error, step string) error {
	if e, ok := err.(*recordError); ok {
		e.steps = append(e.steps, step)
	}
	return err
}

// keyText is a map key for an error message.
func keyText(k []byte) string {
	if s, ok := rawStr(k, 0); ok {
		return s
	}
	if neg, u, s, _, ok := intAt(k, 0); ok {
		if neg {
			return strconv.FormatInt(s, 10)
		}
		return strconv.FormatUint(u, 10)
	}
	return "?"
}

func (v *validator) fail(format string, args ...any) error {
	return &recordError{msg: fmt.Sprintf(format, args...)}
}

func (v *validator) want(t *Type, i int) error {
	return v.fail("want %s, found %s", t, v.found(i))
}

// found describes the msgpack value at b[i:].
func (v *validator) found(i int) string {
	if i >= len(v.b) {
		return "the end of the data"
	}
	c := v.b[i]
	switch {
	case c <= 0x7f || c >= 0xcc && c <= 0xcf:
		return "integer"
	case c >= 0xe0 || c >= 0xd0 && c <= 0xd3:
		return "integer"
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return "map"
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return "array"
	case c&0xe0 == 0xa0 || c >= 0xd9 && c <= 0xdb:
		return "string"
	case c >= 0xc4 && c <= 0xc6:
		return "bytes"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "bool"
	case c == 0xca:
		return "float32"
	case c == 0xcb:
		return "float64"
	case c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8:
		if id, _, _, ok := extAt(v.b, i); ok {
			return fmt.Sprintf("extension type %d", id)
		}
		return "a truncated extension"
	}
	return fmt.Sprintf("code %#x (not msgpack)", c)
}

// head reads the head of the value at b[i:] like header, checking that
// its payload and its items fit in b.
func (v *validator) head(i int) (size, items int, err error) {
	size, items, err = header(v.b, i)
	if err != nil || i+size > len(v.b) || items > len(v.b)-i-size {
		return 0, 0, v.fail("malformed or truncated msgpack at byte %d", i)
	}
	return size, items, nil
}

// enter checks that a container at depth (containers open around it) may
// open.
func (v *validator) enter(depth int) error {
	if depth >= v.maxDepth {
		return v.fail("nested deeper than %d", v.maxDepth)
	}
	return nil
}

// skip checks the well-formed value at b[i:], nested in depth containers,
// and returns its end.
func (v *validator) skip(i, depth int) (int, error) {
	end, err := skipDepth(v.b, i, v.maxDepth-depth)
	if err != nil {
		return 0, v.fail("%v", err)
	}
	return end, nil
}

// untyped checks a record of a tree without a schema: a map or nil.
func (v *validator) untyped(i int) (int, error) {
	c := v.b[i]
	if c != 0xc0 && !isMap(c) {
		return 0, v.fail("want a map, found %s", v.found(i))
	}
	return v.skip(i, 0)
}

func isMap(c byte) bool   { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }
func isArray(c byte) bool { return c&0xf0 == 0x90 || c == 0xdc || c == 0xdd }
func isStr(c byte) bool   { return c&0xe0 == 0xa0 || c >= 0xd9 && c <= 0xdb }
func isBin(c byte) bool   { return c >= 0xc4 && c <= 0xc6 }

// value checks the value of type t at b[i:], nested in depth containers,
// and returns its end.
func (v *validator) value(i int, t *Type, depth int) (int, error) {
	if i >= len(v.b) {
		return 0, v.fail("want %s, found the end of the data", t)
	}
	pointer := false
	for t.Kind == Pointer {
		t, pointer = t.Elem, true
	}
	c := v.b[i]
	if c == 0xc0 {
		if t.Kind == Time && !pointer {
			// The decoder fails on a nil time.Time (a nil *time.Time
			// is fine).
			return 0, v.want(t, i)
		}
		return i + 1, nil
	}
	size, items, err := v.head(i)
	if err != nil {
		return 0, err
	}
	switch t.Kind {
	case Bool:
		if c != 0xc2 && c != 0xc3 {
			return 0, v.want(t, i)
		}
	case Int, Uint, Enum:
		neg, u, s, _, ok := intAt(v.b, i)
		if !ok {
			return 0, v.want(t, i)
		}
		if !fits(t, neg, u, s) {
			if neg {
				return 0, v.fail("want %s, found %d (out of range)", t, s)
			}
			return 0, v.fail("want %s, found %d (out of range)", t, u)
		}
	case Float:
		_, _, _, _, isInt := intAt(v.b, i)
		if !isInt && c != 0xca && !(c == 0xcb && t.Bits == 64) {
			return 0, v.want(t, i)
		}
	case String:
		if !isStr(c) && !isBin(c) {
			return 0, v.want(t, i)
		}
	case Bytes:
		if !isStr(c) && !isBin(c) {
			return 0, v.want(t, i)
		}
		if n := size - strHead(c); t.Len > 0 && n > t.Len {
			return 0, v.fail("want %s, found %d bytes", t, n)
		}
	case Time:
		id, n, _, ok := extAt(v.b, i)
		if !ok || id != -1 || n != 4 && n != 8 && n != 12 {
			if ok && id == -1 {
				return 0, v.fail("want time, found a timestamp of %d bytes", n)
			}
			return 0, v.want(t, i)
		}
	case Raw:
		return v.skip(i, depth)
	case Ref:
		return v.ref(i, t, size, items, depth)
	case Struct:
		return v.strct(i, t, size, items, depth)
	case Slice, Array:
		if !isArray(c) {
			return 0, v.want(t, i)
		}
		if t.Kind == Array && items > t.Len {
			return 0, v.fail("want %s, found %d elements", t, items)
		}
		if err := v.enter(depth); err != nil {
			return 0, err
		}
		j := i + size
		for n := range items {
			if j, err = v.value(j, t.Elem, depth+1); err != nil {
				return 0, in(err, "["+strconv.Itoa(n)+"]")
			}
		}
		return j, nil
	case Map:
		return v.mapValue(i, t, size, items, depth)
	default:
		return 0, v.fail("kind %s", t.Kind)
	}
	return i + size, nil
}

// ref checks a record key: a map of "ID" and "Rev" to 32-bit integers.
func (v *validator) ref(i int, t *Type, size, items, depth int) (int, error) {
	if !isMap(v.b[i]) {
		return 0, v.want(t, i)
	}
	if err := v.enter(depth); err != nil {
		return 0, err
	}
	j := i + size
	for range items / 2 {
		ks, _, err := v.head(j)
		if err != nil {
			return 0, err
		}
		step := ""
		if c := v.b[j]; isStr(c) {
			switch string(v.b[j+strHead(c) : j+ks]) {
			case "ID":
				step = ".ID"
			case "Rev":
				step = ".Rev"
			}
		}
		if step == "" {
			return 0, v.fail("want %s, found a map with member %s", t, strconv.Quote(keyText(v.b[j:j+ks])))
		}
		j += ks
		if j, err = v.value(j, &uint32Type, depth+1); err != nil {
			return 0, in(err, step)
		}
	}
	return j, nil
}

var uint32Type = Type{Kind: Uint, Bits: 32}

// strct checks a struct: a map of field names to values.
func (v *validator) strct(i int, t *Type, size, items, depth int) (int, error) {
	if !isMap(v.b[i]) {
		return 0, v.want(t, i)
	}
	if err := v.enter(depth); err != nil {
		return 0, err
	}
	var seen uint64
	base := len(v.seen)
	if len(t.Fields) > 64 {
		for range (len(t.Fields) + 63) / 64 {
			v.seen = append(v.seen, 0)
		}
		defer func() { v.seen = v.seen[:base] }()
	}
	next := 0 // where the next field is looked for first: the database writes them in order
	j := i + size
	for range items / 2 {
		ks, _, err := v.head(j)
		if err != nil {
			return 0, err
		}
		if !isStr(v.b[j]) {
			return 0, v.fail("want a field name, found %s", v.found(j))
		}
		name := v.b[j+strHead(v.b[j]) : j+ks]
		j += ks
		f := v.field(t, name, next)
		if f < 0 {
			if j, err = v.skip(j, depth+1); err != nil {
				return 0, in(err, "."+string(name))
			}
			continue
		}
		next = f + 1
		fname := t.Fields[f].Name
		if len(t.Fields) <= 64 {
			if seen&(1<<f) != 0 {
				return 0, in(v.fail("twice in the record"), "."+fname)
			}
			seen |= 1 << f
		} else {
			w := &v.seen[base+f/64]
			if *w&(1<<(f%64)) != 0 {
				return 0, in(v.fail("twice in the record"), "."+fname)
			}
			*w |= 1 << (f % 64)
		}
		if j, err = v.value(j, &t.Fields[f].Type, depth+1); err != nil {
			return 0, in(err, "."+fname)
		}
	}
	return j, nil
}

// field returns the index of the field of t named name, or -1; the field
// at next is tried first.
func (v *validator) field(t *Type, name []byte, next int) int {
	if next < len(t.Fields) && t.Fields[next].Name == string(name) {
		return next
	}
	if len(t.Fields) <= 16 {
		for k := range t.Fields {
			if t.Fields[k].Name == string(name) {
				return k
			}
		}
		return -1
	}
	m := v.index[t]
	if m == nil {
		if v.index == nil {
			v.index = map[*Type]map[string]int{}
		}
		m = make(map[string]int, len(t.Fields))
		for k := range t.Fields {
			m[t.Fields[k].Name] = k
		}
		v.index[t] = m
	}
	if k, ok := m[string(name)]; ok {
		return k
	}
	return -1
}

// mapValue checks a map of t.Key to t.Elem.
func (v *validator) mapValue(i int, t *Type, size, items, depth int) (int, error) {
	if !isMap(v.b[i]) {
		return 0, v.want(t, i)
	}
	if err := v.enter(depth); err != nil {
		return 0, err
	}
	kt := deref(t.Key)
	j := i + size
	for range items / 2 {
		ks, kitems, err := v.head(j)
		if err != nil {
			return 0, err
		}
		c := v.b[j]
		key := v.b[j : j+ks]
		switch kt.Kind {
		case String:
			if !isStr(c) && !isBin(c) {
				return 0, v.fail("want a %s key, found %s", kt, v.found(j))
			}
		default:
			neg, u, s, _, ok := intAt(v.b, j)
			if !ok || kitems > 0 {
				return 0, v.fail("want a %s key, found %s", kt, v.found(j))
			}
			if !fits(kt, neg, u, s) {
				return 0, v.fail("want a %s key, found %s (out of range)", kt, keyText(key))
			}
		}
		j += ks
		if j, err = v.value(j, t.Elem, depth+1); err != nil {
			return 0, in(err, "{"+keyText(key)+"}")
		}
	}
	return j, nil
}

// fits reports whether an integer (negative s, or u) fits the integer
// type t.
func fits(t *Type, neg bool, u uint64, s int64) bool {
	bits := uint(t.Bits)
	if signed(t) {
		if neg {
			return s >= -1<<(bits-1)
		}
		return u <= 1<<(bits-1)-1
	}
	return !neg && (bits >= 64 || u < 1<<bits)
}

// intAt reads the msgpack integer at b[i:]: a negative value in s (neg
// set), any other in u. ok is false when it is not a complete integer.
func intAt(b []byte, i int) (neg bool, u uint64, s int64, size int, ok bool) {
	if i >= len(b) {
		return false, 0, 0, 0, false
	}
	c := b[i]
	switch {
	case c <= 0x7f:
		return false, uint64(c), 0, 1, true
	case c >= 0xe0:
		return true, 0, int64(int8(c)), 1, true
	}
	var n int
	switch c {
	case 0xcc, 0xd0:
		n = 1
	case 0xcd, 0xd1:
		n = 2
	case 0xce, 0xd2:
		n = 4
	case 0xcf, 0xd3:
		n = 8
	default:
		return false, 0, 0, 0, false
	}
	if len(b)-i-1 < n {
		return false, 0, 0, 0, false
	}
	var x uint64
	for _, d := range b[i+1 : i+1+n] {
		x = x<<8 | uint64(d)
	}
	if c >= 0xd0 { // signed: extend the sign of the n bytes
		shift := 64 - 8*uint(n)
		s = int64(x<<shift) >> shift
		if s < 0 {
			return true, 0, s, 1 + n, true
		}
		return false, uint64(s), 0, 1 + n, true
	}
	return false, x, 0, 1 + n, true
}

// strHead is the length of the head of a msgpack string or binary with
// code c.
func strHead(c byte) int {
	switch c {
	case 0xd9, 0xc4:
		return 2
	case 0xda, 0xc5:
		return 3
	case 0xdb, 0xc6:
		return 5
	}
	return 1
}

// rawStr returns the msgpack string at b[i:].
func rawStr(b []byte, i int) (string, bool) {
	if i >= len(b) || !isStr(b[i]) {
		return "", false
	}
	size, _, err := header(b, i)
	if err != nil || i+size > len(b) {
		return "", false
	}
	return string(b[i+strHead(b[i]) : i+size]), true
}

// extAt reads the head of the msgpack extension at b[i:]: its type, the
// length of its data and the length of the whole value.
func extAt(b []byte, i int) (id int8, n, size int, ok bool) {
	if i >= len(b) {
		return 0, 0, 0, false
	}
	var h int
	switch c := b[i]; c {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n, h = 1<<(c-0xd4), 2
	case 0xc7:
		if len(b)-i < 2 {
			return 0, 0, 0, false
		}
		n, h = int(b[i+1]), 3
	case 0xc8:
		if len(b)-i < 3 {
			return 0, 0, 0, false
		}
		n, h = int(binary.BigEndian.Uint16(b[i+1:])), 4
	case 0xc9:
		if len(b)-i < 5 {
			return 0, 0, 0, false
		}
		x := binary.BigEndian.Uint32(b[i+1:])
		if uint64(x) > math.MaxInt32 {
			return 0, 0, 0, false
		}
		n, h = int(x), 6
	default:
		return 0, 0, 0, false
	}
	if len(b)-i < h || len(b)-i-h < n {
		return 0, 0, 0, false
	}
	return int8(b[i+h-1]), n, h + n, true
}
