package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errMsgpack reports bytes that are not a msgpack value.
var errMsgpack = errors.New("malformed msgpack")

// header reads the head of the msgpack value at b[i:]: how many bytes the
// head and its payload take (for containers, the head only), and how many
// values follow as its content (2n for a map of n pairs).
func header(b []byte, i int) (size, items int, err error) {
	if i >= len(b) {
		return 0, 0, errMsgpack
	}
	c := b[i]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 1, 0, nil
	case c&0xf0 == 0x80:
		return 1, 2 * int(c&0x0f), nil
	case c&0xf0 == 0x90:
		return 1, int(c & 0x0f), nil
	case c&0xe0 == 0xa0:
		return 1 + int(c&0x1f), 0, nil
	}
	// What is left is a code from 0xc0 to 0xdf.
	h := heads[c-0xc0]
	switch {
	case h.head == 0:
		return 0, 0, fmt.Errorf("%w: code %#x", errMsgpack, c)
	case h.count == 0:
		return h.head, 0, nil
	}
	n, err := headCount(b, i, h.count)
	if err != nil {
		return 0, 0, err
	}
	if h.per == 0 {
		return h.head + n, 0, nil // n payload bytes
	}
	return h.head, h.per * n, nil // n elements or pairs
}

// headKind describes the head of the values of one code from 0xc0 to
// 0xdf: head bytes long, holding a big-endian count of count bytes after
// the code (0: none, the head is the whole value). The count is of payload
// bytes when per is 0, else of containers' members, per values each.
type headKind struct{ head, count, per int }

// heads holds the head of each code from 0xc0 to 0xdf; head 0: no such
// code.
var heads = [32]headKind{
	0xc4 - 0xc0: {2, 1, 0},  // bin 8
	0xc5 - 0xc0: {3, 2, 0},  // bin 16
	0xc6 - 0xc0: {5, 4, 0},  // bin 32
	0xc7 - 0xc0: {3, 1, 0},  // ext 8: count, then the type byte
	0xc8 - 0xc0: {4, 2, 0},  // ext 16
	0xc9 - 0xc0: {6, 4, 0},  // ext 32
	0xca - 0xc0: {5, 0, 0},  // float 32
	0xcb - 0xc0: {9, 0, 0},  // float 64
	0xcc - 0xc0: {2, 0, 0},  // uint 8
	0xcd - 0xc0: {3, 0, 0},  // uint 16
	0xce - 0xc0: {5, 0, 0},  // uint 32
	0xcf - 0xc0: {9, 0, 0},  // uint 64
	0xd0 - 0xc0: {2, 0, 0},  // int 8
	0xd1 - 0xc0: {3, 0, 0},  // int 16
	0xd2 - 0xc0: {5, 0, 0},  // int 32
	0xd3 - 0xc0: {9, 0, 0},  // int 64
	0xd4 - 0xc0: {3, 0, 0},  // fixext 1
	0xd5 - 0xc0: {4, 0, 0},  // fixext 2
	0xd6 - 0xc0: {6, 0, 0},  // fixext 4
	0xd7 - 0xc0: {10, 0, 0}, // fixext 8
	0xd8 - 0xc0: {18, 0, 0}, // fixext 16
	0xd9 - 0xc0: {2, 1, 0},  // str 8
	0xda - 0xc0: {3, 2, 0},  // str 16
	0xdb - 0xc0: {5, 4, 0},  // str 32
	0xdc - 0xc0: {3, 2, 1},  // array 16
	0xdd - 0xc0: {5, 4, 1},  // array 32
	0xde - 0xc0: {3, 2, 2},  // map 16
	0xdf - 0xc0: {5, 4, 2},  // map 32
}

// headCount reads the big-endian count of n bytes (1, 2 or 4) after the
// code at b[i]. A 4-byte count larger than b cannot be right and is an
// error, so that callers never compute with it.
func headCount(b []byte, i, n int) (int, error) {
	if i+1+n > len(b) {
		return 0, errMsgpack
	}
	switch n {
	case 1:
		return int(b[i+1]), nil
	case 2:
		return int(binary.BigEndian.Uint16(b[i+1:])), nil
	default:
		v := binary.BigEndian.Uint32(b[i+1:])
		if uint64(v) > uint64(len(b)) {
			return 0, errMsgpack
		}
		return int(v), nil
	}
}

// maxDataDepth bounds the nesting of a record's msgpack value.
const maxDataDepth = 100

// skip returns the end of the msgpack value starting at b[i:], checking
// that it is complete and nested at most maxDataDepth deep. It does not
// recurse.
func skip(b []byte, i int) (int, error) { return skipDepth(b, i, maxDataDepth) }

func skipDepth(b []byte, i, maxDepth int) (int, error) {
	var stack []int // values left in each open container
	for {
		size, items, err := header(b, i)
		if err != nil {
			return 0, err
		}
		if i+size > len(b) || items > len(b)-i-size {
			return 0, errMsgpack
		}
		i += size
		if items > 0 {
			if len(stack) == maxDepth {
				return 0, fmt.Errorf("%w: nested deeper than %d", errMsgpack, maxDepth)
			}
			stack = append(stack, items)
			continue
		}
		for {
			if len(stack) == 0 {
				return i, nil
			}
			stack[len(stack)-1]--
			if stack[len(stack)-1] > 0 {
				break
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// Check reports whether b holds exactly one well-formed msgpack value of
// bounded depth.
func Check(b []byte) error {
	end, err := skip(b, 0)
	if err != nil {
		return err
	}
	if end != len(b) {
		return fmt.Errorf("%w: trailing bytes", errMsgpack)
	}
	return nil
}

// entry is one member of a msgpack map: its key (when a string) and the
// byte spans of its key and value.
type entry struct {
	name     string
	isString bool
	key, val []byte
}

// mapEntries splits the msgpack map b into its members. ok is false when
// b is not a map.
func mapEntries(b []byte) (entries []entry, ok bool, err error) {
	if len(b) == 0 {
		return nil, false, errMsgpack
	}
	size, items, err := header(b, 0)
	if err != nil {
		return nil, false, err
	}
	c := b[0]
	if !(c&0xf0 == 0x80 || c == 0xde || c == 0xdf) {
		return nil, false, nil
	}
	i := size
	entries = make([]entry, 0, items/2)
	for n := 0; n < items/2; n++ {
		kEnd, err := skip(b, i)
		if err != nil {
			return nil, true, err
		}
		vEnd, err := skip(b, kEnd)
		if err != nil {
			return nil, true, err
		}
		e := entry{key: b[i:kEnd], val: b[kEnd:vEnd]}
		e.name, e.isString = rawString(e.key)
		entries = append(entries, e)
		i = vEnd
	}
	return entries, true, nil
}

// rawString returns the string a msgpack string value holds.
func rawString(b []byte) (string, bool) {
	c := b[0]
	switch {
	case c&0xe0 == 0xa0:
		return string(b[1:]), true
	case c == 0xd9:
		return string(b[2:]), true
	case c == 0xda:
		return string(b[3:]), true
	case c == 0xdb:
		return string(b[5:]), true
	}
	return "", false
}

func appendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

// MergeUnknown returns newData with the members of oldData that known
// does not describe added after its own, byte for byte; it does the same
// inside every struct both hold. known is the type of the writer that
// produced newData from oldData: a member known describes is the writer's
// to keep or drop. When nothing is to be kept, newData is returned as is.
func MergeUnknown(newData, oldData []byte, known *Type) ([]byte, error) {
	out, _, err := mergeUnknown(newData, oldData, known)
	return out, err
}

func mergeUnknown(newData, oldData []byte, known *Type) ([]byte, bool, error) {
	known = deref(known)
	if known.Kind != Struct {
		return newData, false, nil
	}
	olds, ok, err := mapEntries(oldData)
	if err != nil || !ok {
		return newData, false, err
	}
	news, ok, err := mapEntries(newData)
	if err != nil || !ok {
		return newData, false, err
	}
	changed := false
	var keep []entry
	for _, o := range olds {
		if o.isString {
			if _, ok := known.Field(o.name); ok {
				continue
			}
		}
		dup := false
		for _, n := range news {
			if string(n.key) == string(o.key) {
				dup = true
				break
			}
		}
		if !dup {
			keep = append(keep, o)
		}
	}
	vals := make([][]byte, len(news))
	for i, n := range news {
		vals[i] = n.val
		if !n.isString {
			continue
		}
		f, ok := known.Field(n.name)
		if !ok || deref(&f.Type).Kind != Struct {
			continue
		}
		for _, o := range olds {
			if o.isString && o.name == n.name {
				v, ch, err := mergeUnknown(n.val, o.val, &f.Type)
				if err != nil {
					return nil, false, err
				}
				if ch {
					vals[i], changed = v, true
				}
				break
			}
		}
	}
	if len(keep) == 0 && !changed {
		return newData, false, nil
	}
	out := appendMapHeader(make([]byte, 0, len(newData)+len(oldData)), len(news)+len(keep))
	for i, n := range news {
		out = append(out, n.key...)
		out = append(out, vals[i]...)
	}
	for _, o := range keep {
		out = append(out, o.key...)
		out = append(out, o.val...)
	}
	return out, true, nil
}
