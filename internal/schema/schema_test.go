package schema

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

type color uint8

type inner struct {
	A int16 `msgpack:"a"`
}

type Base struct {
	ID string `msgpack:"id"`
}

type sample struct {
	Base
	Flag   bool              `msgpack:"flag"`
	N      int               `msgpack:"n"`
	U8     uint8             `msgpack:"u8"`
	F32    float32           `msgpack:"f32"`
	S      string            `msgpack:"s,omitempty"`
	B      []byte            `msgpack:"b"`
	Fixed  [4]byte           `msgpack:"fixed"`
	When   time.Time         `msgpack:"when"`
	In     inner             `msgpack:"in"`
	List   []inner           `msgpack:"list"`
	Arr    [2]int32          `msgpack:"arr"`
	M      map[string]uint64 `msgpack:"m"`
	P      *inner            `msgpack:"p"`
	C      color             `msgpack:"c"`
	Skip   int               `msgpack:"-"`
	hidden int
	NoTag  float64
}

func TestReflect(t *testing.T) {
	st, err := Reflect(reflect.TypeFor[sample](), ReflectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range st.Fields {
		names = append(names, f.Name+":"+f.Type.String())
	}
	got := strings.Join(names, " ")
	want := "id:string flag:bool n:int64 u8:uint8 f32:float32 s:string b:bytes fixed:[4]byte when:time " +
		"in:struct schema.inner list:[]struct schema.inner arr:[2]int32 m:map[string]uint64 p:*struct schema.inner " +
		"c:enum schema.color NoTag:float64"
	if got != want {
		t.Fatalf("fields\n got %s\nwant %s", got, want)
	}
	if f, _ := st.Field("s"); !f.OmitEmpty {
		t.Fatal("omitempty not recorded")
	}
	// The schema survives its stored form.
	s := &Schema{Tree: "t", Major: 1, Minor: 2, Type: st}
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Fatalf("decoded schema differs:\n%+v\n%+v", back, s)
	}
}

func TestReflectUnsupported(t *testing.T) {
	type deep struct {
		Ch chan int `msgpack:"ch"`
	}
	type outer struct {
		Items []deep `msgpack:"items"`
	}
	type node struct {
		Kids []node
	}
	for _, c := range []struct {
		typ  reflect.Type
		path string
	}{
		{reflect.TypeFor[outer](), "items[].ch"},
		{reflect.TypeFor[struct{ F func() }](), "F"},
		{reflect.TypeFor[struct{ X any }](), "X"},
		{reflect.TypeFor[struct{ Z complex128 }](), "Z"},
		{reflect.TypeFor[struct{ P unsafe.Pointer }](), "P"},
		{reflect.TypeFor[struct{ Q **int }](), "Q"},
		{reflect.TypeFor[struct{ M map[float64]int }](), "M"},
		{reflect.TypeFor[node](), "Kids[]"},
	} {
		_, err := Reflect(c.typ, ReflectOptions{})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "field "+c.path+" ") {
			t.Errorf("%v: err %v, want ErrUnsupported naming %s", c.typ, err, c.path)
		}
	}
}

func TestCompatibleAndUnion(t *testing.T) {
	type v1 struct {
		A int32  `msgpack:"a"`
		B string `msgpack:"b"`
	}
	type v2 struct {
		A *int32  `msgpack:"a"`
		C []int64 `msgpack:"c"`
	}
	type bad struct {
		B []string `msgpack:"b"`
	}
	t1, _ := Reflect(reflect.TypeFor[v1](), ReflectOptions{})
	t2, _ := Reflect(reflect.TypeFor[v2](), ReflectOptions{})
	tb, _ := Reflect(reflect.TypeFor[bad](), ReflectOptions{})
	if err := Compatible(&t1, &t2); err != nil {
		t.Fatal(err)
	}
	if err := Compatible(&t1, &tb); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "field b") {
		t.Fatalf("string → []string: %v", err)
	}
	type wider struct {
		A int64 `msgpack:"a"`
	}
	tw, _ := Reflect(reflect.TypeFor[wider](), ReflectOptions{})
	if err := Compatible(&t1, &tw); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "int32, then int64") {
		t.Fatalf("int32 → int64: %v", err)
	}
	u := Union(&t2, &t1)
	var names []string
	for _, f := range u.Fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "a,c,b" {
		t.Fatalf("union fields %v, want a,c,b", names)
	}
}

func TestMergeUnknown(t *testing.T) {
	type newer struct {
		A  int            `msgpack:"a"`
		X  string         `msgpack:"x"`
		In map[string]any `msgpack:"in"`
	}
	type older struct {
		A  int `msgpack:"a"`
		In struct {
			K int `msgpack:"k"`
		} `msgpack:"in"`
	}
	stored, _ := msgpack.Marshal(newer{A: 1, X: "keep me", In: map[string]any{"k": 1, "extra": []int{1, 2}}})
	var o older
	if err := msgpack.Unmarshal(stored, &o); err != nil {
		t.Fatal(err)
	}
	o.A, o.In.K = 2, 3
	written, _ := msgpack.Marshal(o)
	known, _ := Reflect(reflect.TypeFor[older](), ReflectOptions{})
	merged, err := MergeUnknown(written, stored, &known)
	if err != nil {
		t.Fatal(err)
	}
	var back newer
	if err := msgpack.Unmarshal(merged, &back); err != nil {
		t.Fatal(err)
	}
	if back.A != 2 || back.X != "keep me" || back.In["k"] != int8(3) || back.In["extra"] == nil {
		t.Fatalf("merged %+v", back)
	}
	// Byte for byte: the stored span of x is in the merged data.
	xs, _ := msgpack.Marshal("keep me")
	if !bytes.Contains(merged, xs) {
		t.Fatal("unknown field bytes changed")
	}
	// Nothing unknown: the new data as is.
	same, _ := MergeUnknown(written, written, &known)
	if !bytes.Equal(same, written) {
		t.Fatal("merge changed data with nothing to keep")
	}
}

func TestTextRoundTrip(t *testing.T) {
	st, err := Reflect(reflect.TypeFor[sample](), ReflectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := sample{Base: Base{ID: "x"}, N: -5, U8: 200, F32: 1.5, B: []byte{1, 2}, When: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		List: []inner{{1}, {2}}, M: map[string]uint64{"b": 2, "a": 1}, P: &inner{7}, C: 3, NoTag: 0.1}
	data, _ := msgpack.Marshal(v)
	text, err := Text(data, &st)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"when": "2026-01-02T03:04:05.000000006Z"`, `"b": "AQI="`, `"n": -5`, "\n  \"id\": \"x\",\n"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %s:\n%s", s, text)
		}
	}
	back, err := FromText(text, &st, data)
	if err != nil {
		t.Fatal(err)
	}
	text2, err := Text(back, &st)
	if err != nil || text2 != text {
		t.Fatalf("round trip: %v\n%s\n%s", err, text, text2)
	}
	var got sample
	if err := msgpack.Unmarshal(back, &got); err != nil {
		t.Fatal(err)
	}
	got.When, v.When = got.When.UTC(), v.When.UTC()
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, v)
	}
}

func FuzzDecodeSchema(f *testing.F) {
	st, _ := Reflect(reflect.TypeFor[sample](), ReflectOptions{})
	b, _ := Encode(&Schema{Tree: "parts", Major: 1, Type: st})
	f.Add(b)
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xa4, 't', 'y', 'p', 'e', 0x81, 0xa4, 'k', 'i', 'n', 'd', 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		// A schema that decodes is valid and survives its stored form.
		enc, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding a valid schema: %v", err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("schema changed through its stored form")
		}
		// Rendering any value with it never panics.
		Text(b, &s.Type)
	})
}

func TestFromTextMapKeys(t *testing.T) {
	st, _ := Reflect(reflect.TypeFor[struct {
		M map[int16]string `msgpack:"m"`
	}](), ReflectOptions{})
	for _, bad := range []string{`{"m": {"1": "a", "01": "b"}}`, `{"m": {"+1": "a"}}`, `{"m": {"-0": "a"}}`, `{"m": {"40000": "a"}}`} {
		if _, err := FromText(bad, &st, nil); !errors.Is(err, ErrText) || !strings.Contains(err.Error(), "m{key}") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	data, err := FromText(`{"m": {"10": "a", "-2": "b", "9": "c"}}`, &st, nil)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := Text(data, &st)
	if want := "{\n  \"m\": {\n    \"-2\": \"b\",\n    \"9\": \"c\",\n    \"10\": \"a\"\n  }\n}"; text != want {
		t.Fatalf("text\n%s\nwant\n%s", text, want)
	}
}

// FuzzText renders arbitrary stored bytes with a schema of every kind:
// it never panics, and text it renders is accepted back.
func FuzzText(f *testing.F) {
	st, _ := Reflect(reflect.TypeFor[sample](), ReflectOptions{})
	good, _ := msgpack.Marshal(sample{N: 1, B: []byte{1}, M: map[string]uint64{"a": 1}, P: &inner{1}, List: []inner{{2}}})
	f.Add(good)
	f.Add([]byte{0x81, 0xa1, 'z', 0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := Text(data, &st)
		if err != nil {
			return
		}
		if _, err := FromText(text, &st, data); err != nil && !errors.Is(err, ErrText) {
			t.Fatalf("FromText of rendered text: %v", err)
		}
	})
}
