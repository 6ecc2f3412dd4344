package schema

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

type pieces int32

type counted struct {
	Name  string `msgpack:"name"`
	Stock int64  `msgpack:"stock" hills:"counter,min=0"`
	Used  uint16 `msgpack:"used" hills:"counter"`
	Bins  pieces `msgpack:"bins" hills:"counter,min=-5"`
}

func TestCounterReflectEncodeDecode(t *testing.T) {
	typ, err := Reflect(reflect.TypeFor[counted](), ReflectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Encode(&Schema{Tree: "reels", Major: 1, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	stock, err := s.Type.Counter("stock")
	if err != nil || stock.Min == nil || *stock.Min != 0 {
		t.Fatalf("stock: %+v %v", stock, err)
	}
	if lo, hi := stock.Bounds(); lo != 0 || hi != math.MaxInt64 {
		t.Fatalf("stock bounds %d..%d", lo, hi)
	}
	used, err := s.Type.Counter("used")
	if err != nil || used.Min != nil {
		t.Fatalf("used: %+v %v", used, err)
	}
	if lo, hi := used.Bounds(); lo != 0 || hi != math.MaxUint16 {
		t.Fatalf("used bounds %d..%d", lo, hi)
	}
	bins, err := s.Type.Counter("bins")
	if err != nil {
		t.Fatalf("a named integer type as a counter: %v", err)
	}
	if lo, hi := bins.Bounds(); lo != -5 || hi != math.MaxInt32 {
		t.Fatalf("bins bounds %d..%d", lo, hi)
	}
	if _, err := bins.AddDelta(0, -6); !errors.Is(err, ErrFloor) {
		t.Fatalf("bins below its floor: %v", err)
	}
	if _, err := used.AddDelta(0, -1); !errors.Is(err, ErrFloor) {
		t.Fatalf("an unsigned counter below 0: %v", err)
	}
	if _, err := s.Type.Counter("name"); !errors.Is(err, ErrNotCounter) {
		t.Fatalf("name: %v", err)
	}
}

// A schema stored before counters existed has no counter members: it
// decodes, with no counters.
func TestCounterOlderSchemaDecodes(t *testing.T) {
	type oldField struct {
		Name string `msgpack:"name"`
		Type Type   `msgpack:"type"`
	}
	type oldType struct {
		Kind   Kind       `msgpack:"kind"`
		Fields []oldField `msgpack:"fields"`
	}
	old, err := msgpack.Marshal(map[string]any{"tree": "reels", "major": 1, "minor": 0,
		"type": oldType{Kind: Struct, Fields: []oldField{{Name: "stock", Type: Type{Kind: Int, Bits: 64}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Type.Counters()) != 0 {
		t.Fatalf("counters in an old schema: %v", s.Type.Counters())
	}
}

// A stored (or received) schema with a counter where none may be is
// refused by Decode.
func TestCounterDecodeRefusesMisplaced(t *testing.T) {
	min := int64(-1)
	bad := []Schema{
		{Tree: "a", Major: 1, Type: Type{Kind: Struct, Fields: []Field{{Name: "s", Type: Type{Kind: String}, Counter: true}}}},
		{Tree: "a", Major: 1, Type: Type{Kind: Struct, Fields: []Field{{Name: "n", Type: Type{Kind: Int, Bits: 64}, Min: &min}}}},
		{Tree: "a", Major: 1, Type: Type{Kind: Struct, Fields: []Field{{Name: "in", Type: Type{Kind: Struct,
			Fields: []Field{{Name: "n", Type: Type{Kind: Int, Bits: 64}, Counter: true}}}}}}},
	}
	for i, s := range bad {
		enc, err := Encode(&s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(enc); !errors.Is(err, ErrInvalid) {
			t.Errorf("schema %d: %v, want ErrInvalid", i, err)
		}
	}
}

func TestCounterSetAndReadInts(t *testing.T) {
	data, err := msgpack.Marshal(map[string]any{"name": "R1", "stock": 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxInt64, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt64} {
		out, err := SetInts(data, map[string]int64{"stock": v, "used": v})
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Name  string `msgpack:"name"`
			Stock int64  `msgpack:"stock"`
			Used  int64  `msgpack:"used"`
		}
		if err := msgpack.Unmarshal(out, &m); err != nil || m.Name != "R1" || m.Stock != v || m.Used != v {
			t.Fatalf("%d: %+v %v", v, m, err)
		}
		got, err := ReadInt(out, "stock")
		if err != nil || got != v {
			t.Fatalf("ReadInt %d: %d %v", v, got, err)
		}
	}
	if _, err := ReadInt(must(msgpack.Marshal(map[string]any{"stock": "x"})), "stock"); !errors.Is(err, ErrNotInteger) {
		t.Fatalf("string counter: %v", err)
	}
	if _, err := ReadInt(must(msgpack.Marshal(map[string]any{"stock": uint64(math.MaxUint64)})), "stock"); !errors.Is(err, ErrNotInteger) {
		t.Fatalf("uint64 beyond int64: %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzParseDelta: a delta from the network never panics, and one it
// accepts is exactly a field and an int64 that encode back to it.
func FuzzParseDelta(f *testing.F) {
	for _, v := range []any{
		map[string]any{"field": "stock", "delta": -4},
		map[string]any{"field": "stock", "delta": int64(math.MinInt64)},
		map[string]any{"field": "stock", "delta": 1.5},
		map[string]any{"field": "", "delta": 1},
		map[string]any{"field": "stock"},
		[]any{"stock", 1},
	} {
		f.Add(must(msgpack.Marshal(v)))
	}
	f.Add([]byte{0x82, 0xa5})
	f.Fuzz(func(t *testing.T, b []byte) {
		field, delta, err := ParseDelta(b)
		if err != nil {
			return
		}
		if field == "" {
			t.Fatalf("accepted an empty field from %x", b)
		}
		f2, d2, err := ParseDelta(must(msgpack.Marshal(map[string]any{"field": field, "delta": delta})))
		if err != nil {
			t.Fatalf("re-encoded %q %d: %v", field, delta, err)
		}
		if f2 != field || d2 != delta {
			t.Fatalf("round trip: %q %d, then %q %d", field, delta, f2, d2)
		}
	})
}

func TestCounterParseDelta(t *testing.T) {
	field, delta, err := ParseDelta(must(msgpack.Marshal(map[string]any{"field": "stock", "delta": -4})))
	if err != nil || field != "stock" || delta != -4 {
		t.Fatalf("%q %d %v", field, delta, err)
	}
	for name, v := range map[string]any{
		"float":   map[string]any{"field": "stock", "delta": 1.5},
		"string":  map[string]any{"field": "stock", "delta": "1"},
		"uint64":  map[string]any{"field": "stock", "delta": uint64(math.MaxUint64)},
		"nil":     map[string]any{"field": "stock", "delta": nil},
		"extra":   map[string]any{"field": "stock", "delta": 1, "more": 1},
		"nofield": map[string]any{"delta": 1},
		"array":   []any{"stock", 1},
	} {
		if _, _, err := ParseDelta(must(msgpack.Marshal(v))); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
