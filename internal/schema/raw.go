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
	need := func(n int) (int, error) {
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
	switch c {
	case 0xc4, 0xd9:
		n, err := need(1)
		return 2 + n, 0, err
	case 0xc5, 0xda:
		n, err := need(2)
		return 3 + n, 0, err
	case 0xc6, 0xdb:
		n, err := need(4)
		return 5 + n, 0, err
	case 0xc7:
		n, err := need(1)
		return 3 + n, 0, err
	case 0xc8:
		n, err := need(2)
		return 4 + n, 0, err
	case 0xc9:
		n, err := need(4)
		return 6 + n, 0, err
	case 0xca:
		return 5, 0, nil
	case 0xcb:
		return 9, 0, nil
	case 0xcc, 0xd0:
		return 2, 0, nil
	case 0xcd, 0xd1:
		return 3, 0, nil
	case 0xce, 0xd2:
		return 5, 0, nil
	case 0xcf, 0xd3:
		return 9, 0, nil
	case 0xd4:
		return 3, 0, nil
	case 0xd5:
		return 4, 0, nil
	case 0xd6:
		return 6, 0, nil
	case 0xd7:
		return 10, 0, nil
	case 0xd8:
		return 18, 0, nil
	case 0xdc:
		n, err := need(2)
		return 3, n, err
	case 0xdd:
		n, err := need(4)
		return 5, n, err
	case 0xde:
		n, err := need(2)
		return 3, 2 * n, err
	case 0xdf:
		n, err := need(4)
		return 5, 2 * n, err
	}
	return 0, 0, fmt.Errorf("%w: code %#x", errMsgpack, c)
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
