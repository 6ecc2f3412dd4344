package schema

// Counter fields: top-level integers that change only by deltas. This file
// reads their tags, checks where they may be, and reads and rewrites their
// values inside a record's msgpack map without decoding the rest.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// hillsTag is what a field's `hills:"..."` tag says.
type hillsTag struct {
	ref     string // ref=tree
	counter bool   // counter
	min     *int64 // min=N
}

// parseHillsTag reads a hills tag; an option it does not know is an error
// naming the field at path.
func parseHillsTag(tag, path string, t reflect.Type) (hillsTag, error) {
	var h hillsTag
	if tag == "" {
		return h, nil
	}
	for _, o := range strings.Split(tag, ",") {
		switch {
		case strings.HasPrefix(o, "ref="):
			h.ref = strings.TrimPrefix(o, "ref=")
		case o == "counter":
			h.counter = true
		case strings.HasPrefix(o, "min="):
			n, err := strconv.ParseInt(strings.TrimPrefix(o, "min="), 10, 64)
			if err != nil {
				return h, unsupported(path, t, fmt.Sprintf("hills tag %q: min= needs an integer", tag))
			}
			h.min = &n
		default:
			return h, unsupported(path, t, fmt.Sprintf("hills tag %q: unknown option %q", tag, o))
		}
	}
	return h, nil
}

// checkCounter checks a field's counter marks: a counter is a top-level
// (path "") signed or unsigned integer, or a named integer type (Enum), and its floor fits its type; min
// needs counter.
func checkCounter(f *Field, path string) error {
	if !f.Counter {
		if f.Min != nil {
			return errors.New("min= is for counter fields (hills:\"counter,min=N\")")
		}
		return nil
	}
	if path != "" {
		return errors.New("a counter must be a field of the record itself, not of a nested struct")
	}
	if f.Type.Kind != Int && f.Type.Kind != Uint && f.Type.Kind != Enum {
		return fmt.Errorf("a counter must be an integer, not %s", f.Type.String())
	}
	if f.Min != nil {
		lo, hi := intRange(&f.Type)
		if *f.Min > hi || signed(&f.Type) && *f.Min < lo {
			return fmt.Errorf("counter floor %d does not fit %s", *f.Min, f.Type.String())
		}
	}
	return nil
}

// intRange is the range of values an integer type (Int, Uint, Enum)
// holds, cut to int64.
func intRange(t *Type) (lo, hi int64) {
	bits := int(t.Bits)
	if bits == 0 || bits > 64 {
		bits = 64
	}
	if !signed(t) {
		if bits == 64 {
			return 0, math.MaxInt64
		}
		return 0, 1<<bits - 1
	}
	if bits == 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -(1 << (bits - 1)), 1<<(bits-1) - 1
}

// Bounds returns the values counter field f may take: its floor (Min, or
// its type's lowest) and its type's highest.
func (f *Field) Bounds() (lo, hi int64) {
	lo, hi = intRange(&f.Type)
	if f.Min != nil && *f.Min > lo {
		lo = *f.Min
	}
	return lo, hi
}

// Counters returns the counter fields of a record type.
func (t *Type) Counters() []*Field {
	var out []*Field
	for i := range t.Fields {
		if t.Fields[i].Counter {
			out = append(out, &t.Fields[i])
		}
	}
	return out
}

// Errors of counter values.
var (
	// ErrNotCounter: a delta names a field that is not a counter.
	ErrNotCounter = errors.New("not a counter field")
	// ErrNotInteger: a counter's stored value is not an integer.
	ErrNotInteger = errors.New("counter value is not an integer")
)

// Counter returns the counter field name of record type t.
func (t *Type) Counter(name string) (*Field, error) {
	f, ok := t.Field(name)
	if !ok {
		return nil, fmt.Errorf("%w: field %q is not in the schema", ErrNotCounter, name)
	}
	if !f.Counter {
		return nil, fmt.Errorf("%w: field %q (%s) is not tagged hills:\"counter\"", ErrNotCounter, name, f.Type.String())
	}
	return f, nil
}

// ReadInt returns the integer member name of the msgpack map data; an
// absent or nil member is 0.
func ReadInt(data []byte, name string) (int64, error) {
	ents, ok, err := mapEntries(data)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: the record is not a map", errMsgpack)
	}
	for _, e := range ents {
		if e.isString && e.name == name {
			v, err := rawInt(e.val)
			if err != nil {
				return 0, fmt.Errorf("field %q: %w", name, err)
			}
			return v, nil
		}
	}
	return 0, nil
}

// rawInt decodes one msgpack integer (or nil, 0) that fits an int64.
func rawInt(b []byte) (int64, error) {
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c == 0xc0:
		return 0, nil
	}
	need := map[byte]int{0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9}[c]
	if need == 0 || len(b) < need {
		return 0, ErrNotInteger
	}
	switch c {
	case 0xcc:
		return int64(b[1]), nil
	case 0xcd:
		return int64(binary.BigEndian.Uint16(b[1:])), nil
	case 0xce:
		return int64(binary.BigEndian.Uint32(b[1:])), nil
	case 0xcf:
		u := binary.BigEndian.Uint64(b[1:])
		if u > math.MaxInt64 {
			return 0, fmt.Errorf("%w: %d is beyond int64", ErrNotInteger, u)
		}
		return int64(u), nil
	case 0xd0:
		return int64(int8(b[1])), nil
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(b[1:]))), nil
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(b[1:]))), nil
	}
	return int64(binary.BigEndian.Uint64(b[1:])), nil
}

// appendInt appends v in msgpack's shortest form, as a value encoder with
// compact integers writes it.
func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 0x7f:
		return append(dst, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(v))
	case v >= -32:
		return append(dst, byte(int8(v)))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(int8(v)))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(int16(v)))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(int32(v)))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

// SetInts returns the msgpack map data with the members named in vals set
// to their integers: each present member is rewritten in place, the
// absent ones are appended. data is not modified.
func SetInts(data []byte, vals map[string]int64) ([]byte, error) {
	ents, ok, err := mapEntries(data)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: the record is not a map", errMsgpack)
	}
	n := len(ents)
	for name := range vals {
		if !hasMember(ents, name) {
			n++
		}
	}
	out := appendMapHeader(make([]byte, 0, len(data)+16*len(vals)), n)
	for _, e := range ents {
		out = append(out, e.key...)
		if v, ok := vals[e.name]; ok && e.isString {
			out = appendInt(out, v)
		} else {
			out = append(out, e.val...)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		if !hasMember(ents, name) {
			out = appendString(out, name)
			out = appendInt(out, vals[name])
		}
	}
	return out, nil
}

func hasMember(ents []entry, name string) bool {
	for _, e := range ents {
		if e.isString && e.name == name {
			return true
		}
	}
	return false
}

func appendString(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

// CounterValues returns the values of t's counters in data.
func CounterValues(data []byte, t *Type) (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range t.Counters() {
		v, err := ReadInt(data, f.Name)
		if err != nil {
			return nil, err
		}
		out[f.Name] = v
	}
	return out, nil
}

// CopyCounters returns dst with the values of t's counters taken from src:
// what a record keeps when someone other than a delta writes it. When the
// values are the same already, dst is returned as is.
func CopyCounters(dst, src []byte, t *Type) ([]byte, error) {
	if len(t.Counters()) == 0 {
		return dst, nil
	}
	want, err := CounterValues(src, t)
	if err != nil {
		return nil, fmt.Errorf("stored record: %w", err)
	}
	have, err := CounterValues(dst, t)
	if err != nil {
		return nil, err
	}
	for name, v := range want {
		if have[name] != v {
			return SetInts(dst, want)
		}
	}
	return dst, nil
}

// ChangedCounter returns the first counter of t whose value differs
// between the records old and new; "" when none does.
func ChangedCounter(old, new []byte, t *Type) (string, error) {
	for _, f := range t.Counters() {
		a, err := ReadInt(old, f.Name)
		if err != nil {
			return "", err
		}
		b, err := ReadInt(new, f.Name)
		if err != nil {
			return "", err
		}
		if a != b {
			return f.Name, nil
		}
	}
	return "", nil
}

// ErrOverflow: a delta takes a counter past the largest value its type
// holds.
var ErrOverflow = errors.New("counter overflow")

// ErrFloor: a delta takes a counter below its floor.
var ErrFloor = errors.New("counter below its floor")

// AddDelta returns the value counter f takes when delta is added to cur:
// ErrFloor below its floor (Min, 0 for an unsigned type; a value below
// it may still rise), ErrOverflow past its type's range or int64's.
func (f *Field) AddDelta(cur, delta int64) (int64, error) {
	lo, hi := f.Bounds()
	if delta > 0 && cur > math.MaxInt64-delta || delta < 0 && cur < math.MinInt64-delta {
		return 0, fmt.Errorf("%w: %s %d%+d does not fit int64", ErrOverflow, f.Name, cur, delta)
	}
	next := cur + delta
	if delta < 0 && next < lo {
		if f.Min == nil && signed(&f.Type) {
			return 0, fmt.Errorf("%w: %s would be %d, below %d", ErrOverflow, f.Name, next, lo)
		}
		return 0, fmt.Errorf("%w: %s would be %d, below %d", ErrFloor, f.Name, next, lo)
	}
	if next > hi {
		return 0, fmt.Errorf("%w: %s would be %d, past %d", ErrOverflow, f.Name, next, hi)
	}
	return next, nil
}

// ParseDelta reads the msgpack form of a counter delta (layout.Delta) as
// strictly as a hostile sender needs: a map of exactly a string "field"
// and an integer "delta" that fits int64; a float, a string or a larger
// integer is refused, not converted.
func ParseDelta(b []byte) (field string, delta int64, err error) {
	if err := Check(b); err != nil {
		return "", 0, err
	}
	ents, ok, err := mapEntries(b)
	if err != nil {
		return "", 0, err
	}
	if !ok || len(ents) != 2 {
		return "", 0, errors.New("a delta is a map of field and delta")
	}
	var haveField, haveDelta bool
	for _, e := range ents {
		switch {
		case e.isString && e.name == "field":
			s, isString := rawString(e.val)
			if !isString || s == "" {
				return "", 0, errors.New("a delta's field must be a name")
			}
			field, haveField = s, true
		case e.isString && e.name == "delta":
			if e.val[0] == 0xc0 {
				return "", 0, ErrNotInteger
			}
			if delta, err = rawInt(e.val); err != nil {
				return "", 0, fmt.Errorf("delta: %w", err)
			}
			haveDelta = true
		default:
			return "", 0, fmt.Errorf("a delta has no member %q", e.name)
		}
	}
	if !haveField || !haveDelta {
		return "", 0, errors.New("a delta needs a field and a delta")
	}
	return field, delta, nil
}
