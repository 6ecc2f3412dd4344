package layout

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Reader decodes msgpack from a byte slice, for the hot paths that hold a
// whole stored value or frame body: it reads what msgpack.Unmarshal reads
// into the same Go values (ints of any width, strings as bytes and back,
// nil as zero), without a reader interface per byte. The first error
// sticks: every later read returns zero values, and Err reports it.
type Reader struct {
	b   []byte
	err error
	// strs are strings read lately: one equal to them shares their
	// memory. The Changes of a frame mostly name the same tree.
	strs [4]string
	slot int // the slot of strs to fill next

	spare []byte // room that bytesBefore set aside for the next Bytes
	alias bool   // Bytes returns parts of b (see ResetAlias)
}

// Reset makes r read b, with no error. Values r returns own their
// memory; strings may share it with strings r returned before (strings
// are immutable).
func (r *Reader) Reset(b []byte) { r.b, r.err, r.spare, r.alias = b, nil, nil, false }

// ResetAlias is Reset, but the bytes r returns are parts of b, valid as
// long as b is: for a caller done with the values before b changes.
func (r *Reader) ResetAlias(b []byte) { r.Reset(b); r.alias = true }

// Len is the number of bytes left.
func (r *Reader) Len() int { return len(r.b) }

// Err is the first error met, nil if none.
func (r *Reader) Err() error { return r.err }

// errShort is the error of a value cut short.
var errShort = errors.New("layout: msgpack value cut short")

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

// next returns the next n bytes, or nil (and an error) if there are fewer.
func (r *Reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *Reader) code() byte {
	if p := r.next(1); p != nil {
		return p[0]
	}
	return 0
}

// Peek returns the next code without reading it, 0 at the end.
func (r *Reader) Peek() byte {
	if len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

func (r *Reader) u8() uint64 {
	if p := r.next(1); p != nil {
		return uint64(p[0])
	}
	return 0
}

func (r *Reader) u16() uint64 {
	if p := r.next(2); p != nil {
		return uint64(binary.BigEndian.Uint16(p))
	}
	return 0
}

func (r *Reader) u32() uint64 {
	if p := r.next(4); p != nil {
		return uint64(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (r *Reader) u64() uint64 {
	if p := r.next(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// Uint reads an integer of any width as msgpack's DecodeUint64 does:
// a negative one as its two's complement, nil as 0.
func (r *Reader) Uint() uint64 {
	c := r.code()
	if r.err != nil {
		return 0
	}
	if msgpcode.IsFixedNum(c) {
		return uint64(int8(c))
	}
	switch c {
	case msgpcode.Nil:
		return 0
	case msgpcode.Uint8:
		return r.u8()
	case msgpcode.Int8:
		return uint64(int8(r.u8()))
	case msgpcode.Uint16:
		return r.u16()
	case msgpcode.Int16:
		return uint64(int16(r.u16()))
	case msgpcode.Uint32:
		return r.u32()
	case msgpcode.Int32:
		return uint64(int32(r.u32()))
	case msgpcode.Uint64, msgpcode.Int64:
		return r.u64()
	}
	r.fail(fmt.Errorf("layout: msgpack code %#x where an integer belongs", c))
	return 0
}

// Int reads an integer of any width as msgpack's DecodeInt64 does.
func (r *Reader) Int() int64 { return int64(r.Uint()) }

// bytesLen reads the header of a string or bytes: -1 for nil.
func (r *Reader) bytesLen() int {
	c := r.code()
	if r.err != nil {
		return 0
	}
	if msgpcode.IsFixedString(c) {
		return int(c & msgpcode.FixedStrMask)
	}
	switch c {
	case msgpcode.Nil:
		return -1
	case msgpcode.Str8, msgpcode.Bin8:
		return int(r.u8())
	case msgpcode.Str16, msgpcode.Bin16:
		return int(r.u16())
	case msgpcode.Str32, msgpcode.Bin32:
		return int(r.u32())
	}
	r.fail(fmt.Errorf("layout: msgpack code %#x where a string belongs", c))
	return 0
}

// String reads a string (or bytes); nil is "".
func (r *Reader) String() string {
	n := r.bytesLen()
	if n <= 0 {
		return ""
	}
	p := r.next(n)
	for _, s := range r.strs {
		if s == string(p) {
			return s
		}
	}
	s := string(p)
	r.strs[r.slot%len(r.strs)] = s
	r.slot++
	return s
}

// Bytes reads bytes (or a string) into a new slice: nil for nil, empty
// for empty.
func (r *Reader) Bytes() []byte { return r.bytesBefore(nil) }

// bytesBefore is Bytes, and when the bytes are followed by the key next
// and a short byte string, it allocates room for that too, which the Bytes
// call that reads it takes: a Change's Record and Sum in one allocation.
func (r *Reader) bytesBefore(next []byte) []byte {
	n := r.bytesLen()
	if n == -1 || r.err != nil {
		return nil
	}
	p := r.next(n)
	if r.err != nil {
		return nil
	}
	if r.alias {
		return p[:n:n]
	}
	if len(r.spare) == n && n > 0 {
		b := r.spare
		r.spare = nil
		copy(b, p)
		return b
	}
	r.spare = nil
	extra := 0
	if k := len(next); k > 0 && len(r.b) > k+2 && r.b[0] == msgpcode.FixedStrLow|byte(k) &&
		string(r.b[1:1+k]) == string(next) && r.b[1+k] == msgpcode.Bin8 {
		extra = int(r.b[2+k])
	}
	b := append(make([]byte, 0, n+extra), p...)
	if extra > 0 {
		r.spare = b[n : n+extra : n+extra]
	}
	return b[:n:n]
}

// collLen reads the header of an array or a map; -1 for nil. It fails
// on any other code.
func (r *Reader) collLen(array bool) int {
	c := r.code()
	if r.err != nil {
		return 0
	}
	if c == msgpcode.Nil {
		return -1
	}
	if array {
		switch {
		case msgpcode.IsFixedArray(c):
			return int(c & msgpcode.FixedArrayMask)
		case c == msgpcode.Array16:
			return int(r.u16())
		case c == msgpcode.Array32:
			return int(r.u32())
		}
	} else {
		switch {
		case msgpcode.IsFixedMap(c):
			return int(c & msgpcode.FixedMapMask)
		case c == msgpcode.Map16:
			return int(r.u16())
		case c == msgpcode.Map32:
			return int(r.u32())
		}
	}
	r.fail(fmt.Errorf("layout: msgpack code %#x where an array or map belongs", c))
	return 0
}

// ArrayLen reads an array's header: -1 for nil.
func (r *Reader) ArrayLen() int { return r.collLen(true) }

// isArray reports whether c starts an array.
func isArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

// Skip reads one value of any kind, nested ones too, without recursion.
func (r *Reader) Skip() {
	for pending := uint64(1); pending > 0 && r.err == nil; pending-- {
		c := r.code()
		if r.err != nil {
			return
		}
		switch {
		case msgpcode.IsFixedNum(c):
		case msgpcode.IsFixedMap(c):
			pending += 2 * uint64(c&msgpcode.FixedMapMask)
		case msgpcode.IsFixedArray(c):
			pending += uint64(c & msgpcode.FixedArrayMask)
		case msgpcode.IsFixedString(c):
			r.next(int(c & msgpcode.FixedStrMask))
		default:
			switch c {
			case msgpcode.Nil, msgpcode.False, msgpcode.True:
			case msgpcode.Uint8, msgpcode.Int8, msgpcode.FixExt1:
				r.next(1 + b2i(c == msgpcode.FixExt1))
			case msgpcode.Uint16, msgpcode.Int16, msgpcode.FixExt2:
				r.next(2 + b2i(c == msgpcode.FixExt2))
			case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float, msgpcode.FixExt4:
				r.next(4 + b2i(c == msgpcode.FixExt4))
			case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double, msgpcode.FixExt8:
				r.next(8 + b2i(c == msgpcode.FixExt8))
			case msgpcode.FixExt16:
				r.next(17)
			case msgpcode.Bin8, msgpcode.Str8:
				r.next(int(r.u8()))
			case msgpcode.Bin16, msgpcode.Str16:
				r.next(int(r.u16()))
			case msgpcode.Bin32, msgpcode.Str32:
				r.next(int(r.u32()))
			case msgpcode.Ext8:
				r.next(int(r.u8()) + 1)
			case msgpcode.Ext16:
				r.next(int(r.u16()) + 1)
			case msgpcode.Ext32:
				r.next(int(r.u32()) + 1)
			case msgpcode.Array16:
				pending += r.u16()
			case msgpcode.Array32:
				pending += r.u32()
			case msgpcode.Map16:
				pending += 2 * r.u16()
			case msgpcode.Map32:
				pending += 2 * r.u32()
			default:
				r.fail(fmt.Errorf("layout: unknown msgpack code %#x", c))
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FieldReader is a struct that Reader.Struct reads: ReadField reads the
// value of its field i, an index into the keys given to Struct.
type FieldReader interface {
	ReadField(r *Reader, i int)
}

// Struct reads a struct as msgpack.Unmarshal does, like DecodeStruct:
// a map of its fields (any order, unknown keys skipped), the array form,
// or nil. zero reports nil or an empty array, for which the caller
// resets the value.
func (r *Reader) Struct(keys [][]byte, v FieldReader) (zero bool) {
	if isArray(r.Peek()) {
		n := r.ArrayLen()
		if r.err != nil {
			return false
		}
		if n <= 0 {
			return true
		}
		if n != len(keys) {
			r.fail(fmt.Errorf("%w: %d, not %d", errArrayStruct, n, len(keys)))
			return false
		}
		for i := range keys {
			v.ReadField(r, i)
		}
		return false
	}
	n := r.collLen(false)
	if n == -1 || r.err != nil {
		return n == -1
	}
	i := -1
	for range n {
		var key []byte
		if m := r.bytesLen(); m > 0 {
			key = r.next(m)
		}
		if r.err != nil {
			return false
		}
		if i = keyIndex(keys, key, i+1); i >= 0 {
			v.ReadField(r, i)
		} else {
			r.Skip()
		}
	}
	return false
}

// keyIndex is the index of key in keys, or -1. It tries next first: the
// keys of a map mostly come in declaration order.
func keyIndex(keys [][]byte, key []byte, next int) int {
	if next < len(keys) && bytes.Equal(keys[next], key) {
		return next
	}
	return slices.IndexFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) })
}

// ReadField reads field i (in ChangeKeys) into c.
func (c *Change) ReadField(r *Reader, i int) {
	switch i {
	case 0:
		c.Seq = r.Uint()
	case 1:
		c.Tree = r.String()
	case 2:
		c.Key = r.Uint()
	case 3:
		c.Kind = uint8(r.Uint()) // as reflection: the low byte
	case 4:
		c.Record = r.bytesBefore(changeKeys[5])
	case 5:
		c.Sum = r.Bytes()
	}
}

// ReadChange reads a Change as msgpack.Unmarshal(b, c) would, faster.
func ReadChange(r *Reader, c *Change) {
	if r.Struct(changeKeys, c) {
		*c = Change{}
	}
}

// UnmarshalChange decodes b into c as msgpack.Unmarshal does, with r,
// which a loop reuses (it then allocates once, and equal strings share
// memory). Record and Sum are copies.
func UnmarshalChange(r *Reader, b []byte, c *Change) error {
	r.Reset(b)
	ReadChange(r, c)
	return r.err
}
