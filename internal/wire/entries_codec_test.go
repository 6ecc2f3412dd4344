package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/layout/layouttest"
)

// TestEntriesFields: the fast path of Decode knows every field of
// Entries; a field added to Entries must be added to it too.
func TestEntriesFields(t *testing.T) {
	typ := reflect.TypeFor[Entries]()
	if typ.NumField() != len(entriesKeys) {
		t.Fatalf("Entries has %d fields, decodeEntries reads %d", typ.NumField(), len(entriesKeys))
	}
	for i, k := range entriesKeys {
		if tag := typ.Field(i).Tag.Get("msgpack"); tag != string(k) {
			t.Fatalf("field %d is %q, decodeEntries reads %q", i, tag, k)
		}
	}
}

// TestEntriesDecodeLikeReflection: frames written by the codec and by
// reflection, and forms only reflection writes, decode as reflection
// decodes them.
func TestEntriesDecodeLikeReflection(t *testing.T) {
	body := entriesFrame(t)
	var rm reflectEntries
	if err := msgpack.Unmarshal(body, &rm); err != nil {
		t.Fatal(err)
	}
	rbody, err := msgpack.Marshal(&rm)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, rbody) {
		t.Fatal("the codec's frame differs from reflection's")
	}
	for _, data := range entriesForms(t) {
		checkEntries(t, data)
	}
	checkEntries(t, body)
}

// TestEntriesHugeLength: a frame that announces 4 Gi changes and holds
// one fails without allocating for what it announced (reflection would).
func TestEntriesHugeLength(t *testing.T) {
	data := []byte{0x81, 0xa7, 'c', 'h', 'a', 'n', 'g', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}
	var m Entries
	var err error
	n := layouttest.Allocated(func() { err = Decode(data, &m) })
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("a cut frame decoded: %v", err)
	}
	if n > 1<<20 {
		t.Fatalf("decoding allocated %d bytes", n)
	}
}

func entriesForms(t testing.TB) [][]byte {
	enc := func(v any) []byte { return layouttest.Marshal(t, v) }
	return [][]byte{
		enc(&Entries{}),
		enc(&Entries{Changes: []layout.Change{}}),
		enc(&Entries{Changes: []layout.Change{{}, {Tree: "a", Record: []byte{}}, {Tree: "a", Sum: []byte{1}}, {Tree: "b"}}}),
		enc(&Entries{Changes: []layout.Change{{Record: []byte{1, 2}, Sum: []byte{3}}, {Record: []byte{4}, Sum: []byte{5, 6}}}}),
		enc(map[string]any{"x": []int{1, 2}, "changes": []any{nil, map[string]any{"seq": -1, "tree": []byte("t"), "zz": map[int]int{1: 2}}}}),
		enc([]any{[]any{[]any{1, "t", 2, 3, []byte{4}, nil}}}), // array forms
		enc([]any{}),
		enc(nil),
		enc([]any{1, 2}),
		enc(map[string]any{"changes": 1}),
		enc(map[string]any{"changes": []any{1}}),
		{0x81, 0xa7, 'c', 'h', 'a', 'n', 'g', 'e', 's', 0x91, 0xd4, 0x01, 0x02},
		// "changes" twice: the second merges into the first's elements.
		{0x82, 0xa7, 'c', 'h', 'a', 'n', 'g', 'e', 's', 0x92, 0x81, 0xa3, 's', 'e', 'q', 0x01, 0x81, 0xa3, 'k', 'e', 'y', 0x02,
			0xa7, 'c', 'h', 'a', 'n', 'g', 'e', 's', 0x93, 0x81, 0xa3, 'k', 'e', 'y', 0x03, 0x80, 0xc0},
		{},
	}
}

// checkEntries decodes data with Decode and with reflection and fails if
// they differ, in outcome or value.
func checkEntries(t *testing.T, data []byte) {
	t.Helper()
	var m Entries
	err := Decode(data, &m)
	var rm reflectEntries
	rerr := msgpack.Unmarshal(data, &rm)
	if (err == nil) != (rerr == nil) {
		t.Fatalf("%x: error %v, reflection %v", data, err, rerr)
	}
	if err != nil {
		return
	}
	if (m.Changes == nil) != (rm.Changes == nil) || len(m.Changes) != len(rm.Changes) {
		t.Fatalf("%x: %d changes (nil %v), reflection %d (nil %v)", data, len(m.Changes), m.Changes == nil, len(rm.Changes), rm.Changes == nil)
	}
	for i := range m.Changes {
		if !reflect.DeepEqual(layouttest.Change(m.Changes[i]), rm.Changes[i]) {
			t.Fatalf("%x: change %d %+v, reflection %+v", data, i, m.Changes[i], rm.Changes[i])
		}
	}
}

// FuzzEntriesDecode: Decode of an Entries body is reflection's, for any
// bytes, and never panics.
func FuzzEntriesDecode(f *testing.F) {
	for _, data := range entriesForms(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if layouttest.HugeLength(data) {
			var m Entries
			_ = Decode(data, &m) // must not panic; reflection would allocate what it announces
			return
		}
		checkEntries(t, data)
	})
}
