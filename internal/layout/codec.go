package layout

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Change is the hottest value on disk and on the wire (outbox entries,
// server log entries, Entries frames), so it has a hand-written msgpack
// codec in place of reflection. The codec writes exactly the bytes
// msgpack.Marshal wrote for Change before (with the encoder's default
// flags, which is how every Change is encoded): a map of its fields in
// declaration order under their tag names, "sum" left out when empty,
// integers in their full width (uint64 as 0xcf, uint8 as 0xcc). It reads
// everything the reflection decoder reads: any key order, any integer
// width, unknown keys skipped, nil or the array form of a struct. Record
// and Sum are decoded into new slices owned by the Change.

// Keys of a Change's msgpack map, in the order they are written.
const (
	keySeq    = "seq"
	keyTree   = "tree"
	keyKey    = "key"
	keyKind   = "kind"
	keyRecord = "record"
	keySum    = "sum"
)

// changeKeys are a Change's fields in declaration order: the order of the
// array form of the struct.
var changeKeys = [][]byte{[]byte(keySeq), []byte(keyTree), []byte(keyKey), []byte(keyKind), []byte(keyRecord), []byte(keySum)}

// ChangeKeys returns a Change's msgpack keys in declaration order. A struct
// that embeds Change (and so inlines its fields) lists them first.
func ChangeKeys() [][]byte { return changeKeys }

// EncodeMsgpack implements msgpack.CustomEncoder. It has a value receiver
// so that a Change encodes wherever it sits, addressable or not.
func (c Change) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeMapLen(c.FieldCount()); err != nil {
		return err
	}
	return c.EncodeFields(e)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *Change) DecodeMsgpack(d *msgpack.Decoder) error {
	zero, err := DecodeStruct(d, changeKeys, c)
	if zero {
		*c = Change{}
	}
	return err
}

// FieldCount is the number of map entries EncodeFields writes.
func (c *Change) FieldCount() int {
	if len(c.Sum) > 0 {
		return 6
	}
	return 5
}

// EncodeFields writes c's keys and values, without the map header, for a
// struct that embeds Change and writes its own header.
func (c *Change) EncodeFields(e *msgpack.Encoder) error {
	if err := e.EncodeString(keySeq); err != nil {
		return err
	}
	if err := e.EncodeUint64(c.Seq); err != nil {
		return err
	}
	if err := e.EncodeString(keyTree); err != nil {
		return err
	}
	if err := e.EncodeString(c.Tree); err != nil {
		return err
	}
	if err := e.EncodeString(keyKey); err != nil {
		return err
	}
	if err := e.EncodeUint64(c.Key); err != nil {
		return err
	}
	if err := e.EncodeString(keyKind); err != nil {
		return err
	}
	if err := e.EncodeUint8(c.Kind); err != nil {
		return err
	}
	if err := e.EncodeString(keyRecord); err != nil {
		return err
	}
	if err := e.EncodeBytes(c.Record); err != nil {
		return err
	}
	if len(c.Sum) == 0 {
		return nil
	}
	if err := e.EncodeString(keySum); err != nil {
		return err
	}
	return e.EncodeBytes(c.Sum)
}

// DecodeField decodes the value of field i (in ChangeKeys) into c.
func (c *Change) DecodeField(d *msgpack.Decoder, i int) error {
	var err error
	switch i {
	case 0:
		c.Seq, err = d.DecodeUint64()
	case 1:
		c.Tree, err = d.DecodeString()
	case 2:
		c.Key, err = d.DecodeUint64()
	case 3:
		var k uint64
		k, err = d.DecodeUint64()
		c.Kind = uint8(k) // as reflection: the low byte
	case 4:
		c.Record, err = DecodeBytes(d)
	case 5:
		c.Sum, err = DecodeBytes(d)
	default:
		return fmt.Errorf("layout: Change has no field %d", i)
	}
	return err
}

// FieldDecoder is a struct that DecodeStruct reads: DecodeField decodes
// the value of its field i, an index into the keys given to DecodeStruct.
type FieldDecoder interface {
	DecodeField(d *msgpack.Decoder, i int) error
}

// maxKey is the longest key DecodeStruct compares; a longer one is no
// field's and is skipped.
const maxKey = 32

// errArrayStruct is the error of an array form with the wrong length.
var errArrayStruct = errors.New("layout: msgpack array of a struct has the wrong number of fields")

// DecodeStruct reads a struct that reflection encoded as a msgpack map
// (or the array form, or nil) into v: keys are the struct's fields in
// declaration order (the array form's order). A key that is not a field
// is skipped; fields absent from the map are left as they are. zero
// reports nil or an empty array, for which the caller resets the value,
// as reflection does.
func DecodeStruct(d *msgpack.Decoder, keys [][]byte, v FieldDecoder) (zero bool, err error) {
	c, err := d.PeekCode()
	if err != nil {
		return false, err
	}
	if msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32 {
		n, err := d.DecodeArrayLen()
		if err != nil {
			return false, err
		}
		if n <= 0 {
			return true, nil
		}
		if n != len(keys) {
			return false, fmt.Errorf("%w: %d, not %d", errArrayStruct, n, len(keys))
		}
		for i := range keys {
			if err := v.DecodeField(d, i); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	if msgpcode.IsExt(c) { // DecodeMapLen would skip it, reflection does not
		return false, fmt.Errorf("layout: msgpack code %#x where a struct's map belongs", c)
	}
	n, err := d.DecodeMapLen()
	if err != nil || n == -1 {
		return n == -1, err
	}
	buf := keyBufs.Get().(*[maxKey]byte)
	defer keyBufs.Put(buf)
	i := -1
	for range n {
		key, err := decodeKey(d, buf)
		if err != nil {
			return false, err
		}
		if i = keyIndex(keys, key, i+1); i < 0 {
			err = d.Skip()
		} else {
			err = v.DecodeField(d, i)
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// keyBufs hold the key being compared: the decoder's reader would move
// a buffer on the stack to the heap.
var keyBufs = sync.Pool{New: func() any { return new([maxKey]byte) }}

// decodeKey reads a map key (a string or bytes, or nil for "") into buf.
// A key longer than buf is read and returned as nil: no field has it.
func decodeKey(d *msgpack.Decoder, buf *[maxKey]byte) ([]byte, error) {
	n, err := d.DecodeBytesLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	if n <= len(buf) {
		return buf[:n], d.ReadFull(buf[:n])
	}
	for n > 0 {
		m := min(n, len(buf))
		if err := d.ReadFull(buf[:m]); err != nil {
			return nil, err
		}
		n -= m
	}
	return nil, nil
}

// bytesChunk is how much of a byte string DecodeBytes allocates before
// its bytes arrived: a hostile length costs no more than the input holds.
const bytesChunk = 64 << 10

// DecodeBytes reads msgpack bytes (or a string) into a new slice owned by
// the caller: nil for nil, empty for empty, as reflection decodes them.
func DecodeBytes(d *msgpack.Decoder) ([]byte, error) {
	n, err := d.DecodeBytesLen()
	if err != nil || n == -1 {
		return nil, err
	}
	b := make([]byte, 0, min(n, bytesChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b, make([]byte, min(n-len(b), len(b)))...)[:len(b)]
		}
		chunk := b[len(b):min(cap(b), n)]
		if err := d.ReadFull(chunk); err != nil {
			return nil, err
		}
		b = b[:len(b)+len(chunk)]
	}
	return b, nil
}
