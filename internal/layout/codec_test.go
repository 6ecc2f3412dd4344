package layout

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout/layouttest"
)

// codecChanges are values that cover the codec's edges.
func codecChanges() []Change {
	long := strings.Repeat("t", 70000)
	return []Change{
		{},
		{Record: []byte{}},
		{Sum: []byte{}},
		{Seq: 1, Tree: "parts", Key: 2, Kind: 1, Record: []byte("rec")},
		{Seq: math.MaxUint64, Tree: long, Key: math.MaxUint64, Kind: math.MaxUint8, Record: bytes.Repeat([]byte{7}, 70000), Sum: bytes.Repeat([]byte{9}, 32)},
		{Tree: strings.Repeat("x", 31), Record: bytes.Repeat([]byte{1}, 255), Sum: []byte{1}},
		{Tree: strings.Repeat("x", 32), Record: bytes.Repeat([]byte{1}, 256)},
		{Tree: strings.Repeat("x", 255), Record: bytes.Repeat([]byte{1}, 65535)},
		{Tree: strings.Repeat("x", 256), Record: bytes.Repeat([]byte{1}, 65536), Kind: KindDelta},
		{Tree: "ü", Key: 1 << 40, Seq: 127},
	}
}

// TestChangeEncodeLikeReflection: the codec writes byte for byte what
// reflection wrote, and each decodes the other's bytes to the same value.
func TestChangeEncodeLikeReflection(t *testing.T) {
	for i, c := range codecChanges() {
		checkChange(t, c)
		if t.Failed() {
			t.Fatalf("value %d", i)
		}
	}
}

// checkChange compares the codec with reflection on one value.
func checkChange(t *testing.T, c Change) {
	t.Helper()
	got, err := msgpack.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	rc := layouttest.Change(c)
	want, err := msgpack.Marshal(&rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("custom encoding differs from reflection:\n got %x\nwant %x", trim(got), trim(want))
	}
	var back Change
	if err := msgpack.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	var rback layouttest.Change
	if err := msgpack.Unmarshal(got, &rback); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(layouttest.Change(back), rback) {
		t.Fatalf("decoded %+v, reflection %+v", trimChange(back), trimChange(Change(rback)))
	}
	// The value decoded equals the one encoded, but for an omitted empty
	// Sum, which both decoders leave nil.
	if len(c.Sum) == 0 {
		c.Sum = nil
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip %+v, want %+v", trimChange(back), trimChange(c))
	}
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func trimChange(c Change) Change {
	c.Tree = string(trim([]byte(c.Tree)))
	c.Record = trim(c.Record)
	return c
}

// TestChangeDecodeForms: the forms a reflection decoder accepts, that the
// encoder never writes (other key orders, compact and signed integers,
// unknown keys, string keys as bytes, the array form, nil), decode alike.
func TestChangeDecodeForms(t *testing.T) {
	for _, tc := range decodeForms(t) {
		var c Change
		err := msgpack.Unmarshal(tc.data, &c)
		var rc layouttest.Change
		rerr := msgpack.Unmarshal(tc.data, &rc)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("%s: error %v, reflection %v", tc.name, err, rerr)
		}
		if err != nil {
			if UnmarshalChange(new(Reader), tc.data, &c) == nil {
				t.Fatalf("%s: UnmarshalChange took what reflection refused", tc.name)
			}
			continue
		}
		if !reflect.DeepEqual(layouttest.Change(c), rc) {
			t.Fatalf("%s: decoded %+v, reflection %+v", tc.name, c, rc)
		}
		var bc Change
		if err := UnmarshalChange(new(Reader), tc.data, &bc); err != nil || !reflect.DeepEqual(bc, c) {
			t.Fatalf("%s: read %+v (%v), decoded %+v", tc.name, bc, err, c)
		}
		if tc.want != nil && !reflect.DeepEqual(c, *tc.want) {
			t.Fatalf("%s: decoded %+v, want %+v", tc.name, c, *tc.want)
		}
	}
}

type decodeForm struct {
	name string
	data []byte
	want *Change // nil: only as reflection
}

func decodeForms(t *testing.T) []decodeForm {
	enc := func(f func(e *msgpack.Encoder)) []byte {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		f(e)
		return buf.Bytes()
	}
	full := Change{Seq: 5, Tree: "t", Key: 300, Kind: 2, Record: []byte{1, 2}, Sum: []byte{3}}
	return []decodeForm{
		{"reordered, compact", enc(func(e *msgpack.Encoder) {
			e.EncodeMapLen(6)
			e.EncodeString("sum")
			e.EncodeBytes([]byte{3})
			e.EncodeString("kind")
			e.EncodeInt(2)
			e.EncodeString("record")
			e.EncodeBytes([]byte{1, 2})
			e.EncodeString("key")
			e.EncodeUint16(300)
			e.EncodeString("tree")
			e.EncodeBytes([]byte("t")) // a string as bin
			e.EncodeString("seq")
			e.EncodeInt8(5)
		}), &full},
		{"unknown keys", enc(func(e *msgpack.Encoder) {
			e.EncodeMapLen(4)
			e.EncodeString("digest")
			e.EncodeArrayLen(2)
			e.EncodeMap(map[string]any{"a": 1})
			e.EncodeString("x")
			e.EncodeString(strings.Repeat("k", 40)) // a long key, skipped
			e.EncodeUint64(1)
			e.EncodeString("seq")
			e.EncodeUint64(9)
			e.EncodeNil() // a nil key is ""
			e.EncodeBool(true)
		}), &Change{Seq: 9}},
		{"key as bin", enc(func(e *msgpack.Encoder) {
			e.EncodeMapLen(1)
			e.EncodeBytes([]byte("key"))
			e.EncodeUint32(7)
		}), &Change{Key: 7}},
		{"nil values", enc(func(e *msgpack.Encoder) {
			e.EncodeMapLen(4)
			e.EncodeString("record")
			e.EncodeNil()
			e.EncodeString("tree")
			e.EncodeNil()
			e.EncodeString("seq")
			e.EncodeNil()
			e.EncodeString("sum")
			e.EncodeBytes([]byte{})
		}), &Change{Sum: []byte{}}},
		{"duplicate key", enc(func(e *msgpack.Encoder) {
			e.EncodeMapLen(2)
			e.EncodeString("seq")
			e.EncodeUint(1)
			e.EncodeString("seq")
			e.EncodeUint(2)
		}), &Change{Seq: 2}},
		{"kind wider than a byte", enc(func(e *msgpack.Encoder) {
			e.EncodeMapLen(1)
			e.EncodeString("kind")
			e.EncodeUint(0x1234)
		}), &Change{Kind: 0x34}},
		{"array form", enc(func(e *msgpack.Encoder) {
			e.EncodeArrayLen(6)
			e.EncodeUint(5)
			e.EncodeString("t")
			e.EncodeUint(300)
			e.EncodeUint(2)
			e.EncodeBytes([]byte{1, 2})
			e.EncodeBytes([]byte{3})
		}), &full},
		{"empty array", []byte{0x90}, &Change{}},
		{"nil", []byte{0xc0}, &Change{}},
		{"empty map", []byte{0x80}, &Change{}},
		{"short array", enc(func(e *msgpack.Encoder) { e.EncodeArrayLen(2); e.EncodeUint(1); e.EncodeUint(2) }), nil},
		{"negative seq", enc(func(e *msgpack.Encoder) { e.EncodeMapLen(1); e.EncodeString("seq"); e.EncodeInt(-1) }), nil},
		{"float key", enc(func(e *msgpack.Encoder) { e.EncodeMapLen(1); e.EncodeString("key"); e.EncodeFloat64(3) }), nil},
		{"wrong type", enc(func(e *msgpack.Encoder) { e.EncodeMapLen(1); e.EncodeString("tree"); e.EncodeUint(1) }), nil},
		{"not a map", []byte{0x01}, nil},
		{"int key", enc(func(e *msgpack.Encoder) { e.EncodeMapLen(1); e.EncodeUint(1); e.EncodeUint(1) }), nil},
		{"truncated", []byte{0x81, 0xa3, 's', 'e'}, nil},
		{"truncated record", []byte{0x81, 0xa6, 'r', 'e', 'c', 'o', 'r', 'd', 0xc6, 0xff, 0xff, 0xff, 0xf0, 1, 2}, nil},
		{"empty", nil, nil},
		{"ext", []byte{0xc8, 0x00, 0x01, 0x05, 0x80, 0xc0}, nil},
	}
}

// TestChangeInSlice: Changes in a slice and behind a pointer take the
// codec (the encoder is called for each element), not reflection.
func TestChangeInSlice(t *testing.T) {
	type frame struct {
		Changes []Change `msgpack:"changes"`
		One     *Change  `msgpack:"one"`
	}
	type rframe struct {
		Changes []layouttest.Change `msgpack:"changes"`
		One     *layouttest.Change  `msgpack:"one"`
	}
	cs := codecChanges()
	f := frame{Changes: cs, One: &cs[3]}
	rf := rframe{One: (*layouttest.Change)(&cs[3])}
	for _, c := range cs {
		rf.Changes = append(rf.Changes, layouttest.Change(c))
	}
	got, err := msgpack.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := msgpack.Marshal(rf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("custom encoding of a frame differs from reflection")
	}
	var back frame
	if err := msgpack.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	var rback rframe
	if err := msgpack.Unmarshal(want, &rback); err != nil {
		t.Fatal(err)
	}
	if len(back.Changes) != len(rback.Changes) || !reflect.DeepEqual(layouttest.Change(*back.One), *rback.One) {
		t.Fatal("decoded frame differs from reflection")
	}
	for i := range back.Changes {
		if !reflect.DeepEqual(layouttest.Change(back.Changes[i]), rback.Changes[i]) {
			t.Fatalf("change %d decoded differs from reflection", i)
		}
	}
	// The codec is what ran, in a slice, behind a pointer and at the
	// top: its error for an array form of the wrong length is its own,
	// and its integers keep their width under UseCompactInts, where
	// reflection's shrink.
	short := []byte{0x92, 0x01, 0x02}
	var c Change
	if err := msgpack.Unmarshal(short, &c); !errors.Is(err, errArrayStruct) {
		t.Fatalf("a short array decoded as Change: %v, not the codec's error", err)
	}
	for _, data := range [][]byte{
		append([]byte{0x81, 0xa7, 'c', 'h', 'a', 'n', 'g', 'e', 's', 0x91}, short...),
		append([]byte{0x81, 0xa3, 'o', 'n', 'e'}, short...),
	} {
		var f frame
		if err := msgpack.Unmarshal(data, &f); !errors.Is(err, errArrayStruct) {
			t.Fatalf("%x decoded as frame: %v, not the codec's error", data, err)
		}
	}
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.UseCompactInts(true)
	if err := e.Encode(f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), got) {
		t.Fatal("a frame under UseCompactInts did not take the codec")
	}
}

// FuzzChangeCodec: for any Change the codec encodes as reflection does,
// and for any bytes the codec decodes as reflection does (or fails where
// it fails), and never panics.
func FuzzChangeCodec(f *testing.F) {
	for _, c := range codecChanges()[:4] {
		f.Add(c.Seq, c.Tree, c.Key, c.Kind, c.Record, c.Record == nil, c.Sum, []byte(nil))
	}
	for _, tc := range decodeForms(nil) {
		f.Add(uint64(0), "", uint64(0), uint8(0), []byte(nil), true, []byte(nil), tc.data)
	}
	f.Fuzz(func(t *testing.T, seq uint64, tree string, key uint64, kind uint8, record []byte, recNil bool, sum []byte, data []byte) {
		if recNil {
			record = nil
		}
		checkChange(t, Change{Seq: seq, Tree: tree, Key: key, Kind: kind, Record: record, Sum: sum})
		if layouttest.HugeLength(data) {
			return // reflection, and msgpack's Skip of an unknown key, would allocate it
		}
		var c Change
		err := msgpack.Unmarshal(data, &c)
		var rc layouttest.Change
		rerr := msgpack.Unmarshal(data, &rc)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("%x: error %v, reflection %v", data, err, rerr)
		}
		if err == nil && !reflect.DeepEqual(layouttest.Change(c), rc) {
			t.Fatalf("%x: decoded %+v, reflection %+v", data, c, rc)
		}
		var bc Change
		berr := UnmarshalChange(new(Reader), data, &bc)
		if (berr == nil) != (rerr == nil) {
			t.Fatalf("%x: read error %v, reflection %v", data, berr, rerr)
		}
		if berr == nil && !reflect.DeepEqual(layouttest.Change(bc), rc) {
			t.Fatalf("%x: read %+v, reflection %+v", data, bc, rc)
		}
	})
}

// TestChangeHugeLength: a record that announces 4 GiB and holds 2 bytes
// fails without allocating what it announced.
func TestChangeHugeLength(t *testing.T) {
	data := []byte{0x81, 0xa6, 'r', 'e', 'c', 'o', 'r', 'd', 0xc6, 0xff, 0xff, 0xff, 0xf0, 1, 2}
	var c Change
	var err error
	n := layouttest.Allocated(func() { err = msgpack.Unmarshal(data, &c) })
	if err == nil {
		t.Fatal("a truncated record decoded")
	}
	if n > 1<<20 {
		t.Fatalf("decoding allocated %d bytes", n)
	}
}
