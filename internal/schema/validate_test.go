package schema_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

type (
	Color uint8
	Level int16
	Other struct{ Name string }
	Line  struct {
		Part db.Key[Other] `msgpack:"part" hills:"ref=others"`
		Qty  int32         `msgpack:"qty"`
	}
)

// Blob has its own msgpack encoding: the schema records it as raw.
type Blob struct{ b []byte }

func (x Blob) MarshalMsgpack() ([]byte, error) {
	if x.b == nil {
		return []byte{0xc0}, nil
	}
	return x.b, nil
}

func (x *Blob) UnmarshalMsgpack(b []byte) error { x.b = append([]byte(nil), b...); return nil }

// Every has a field of every kind a schema describes.
type Every struct {
	Flag    bool              `msgpack:"flag"`
	I8      int8              `msgpack:"i8"`
	I16     int16             `msgpack:"i16"`
	I32     int32             `msgpack:"i32"`
	Qty     int64             `msgpack:"qty"`
	Int     int               `msgpack:"int"`
	U8      uint8             `msgpack:"u8"`
	U16     uint16            `msgpack:"u16"`
	U32     uint32            `msgpack:"u32"`
	U64     uint64            `msgpack:"u64"`
	F32     float32           `msgpack:"f32"`
	F64     float64           `msgpack:"f64"`
	Name    string            `msgpack:"name"`
	Data    []byte            `msgpack:"data"`
	Fixed   [4]byte           `msgpack:"fixed"`
	When    time.Time         `msgpack:"when"`
	WhenP   *time.Time        `msgpack:"when_p"`
	Line    Line              `msgpack:"line"`
	LineP   *Line             `msgpack:"line_p"`
	Lines   []Line            `msgpack:"lines"`
	Arr     [3]int16          `msgpack:"arr"`
	Tags    []string          `msgpack:"tags"`
	Counts  map[string]int32  `msgpack:"counts"`
	ByID    map[uint16]string `msgpack:"by_id"`
	ByLevel map[Level]bool    `msgpack:"by_level"`
	Ref     db.Key[Other]     `msgpack:"ref"`
	Color   Color             `msgpack:"color"`
	Level   Level             `msgpack:"level"`
	Blob    Blob              `msgpack:"blob"`
	Grid    [][]int8          `msgpack:"grid"`
	Opt     *int64            `msgpack:"opt"`
}

func full() Every {
	now := time.Date(2025, 3, 4, 5, 6, 7, 89, time.UTC)
	far := time.Date(2600, 1, 1, 0, 0, 0, 1, time.UTC) // the 12-byte timestamp
	n := int64(-7)
	return Every{
		Flag: true, I8: -128, I16: 32767, I32: -1 << 31, Qty: 1<<63 - 1, Int: -1 << 63,
		U8: 255, U16: 65535, U32: 1<<32 - 1, U64: 1<<64 - 1, F32: 1.5, F64: -2.25,
		Name: "bolt", Data: []byte{1, 2, 3}, Fixed: [4]byte{9, 8, 7, 6},
		When: now, WhenP: &far,
		Line: Line{Part: db.Key[Other]{ID: 1<<32 - 1, Rev: 3}, Qty: 2}, LineP: &Line{Qty: -1},
		Lines: []Line{{Qty: 1}, {Qty: 2}}, Arr: [3]int16{-1, 0, 1}, Tags: []string{"a", ""},
		Counts: map[string]int32{"x": -5, "y": 1 << 20}, ByID: map[uint16]string{0: "zero", 65535: "max"},
		ByLevel: map[Level]bool{-3: true, 300: false}, Ref: db.Key[Other]{ID: 42}, Color: 200, Level: -200,
		Blob: Blob{b: []byte{0x92, 0x01, 0xa1, 'x'}}, Grid: [][]int8{{1, -1}, nil, {}}, Opt: &n,
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type quiet struct{}

func (quiet) Infof(string, ...any)         {}
func (quiet) Errorf(string, ...any)        {}
func (quiet) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// written stores vals in tree "every" of a real database and returns the
// stored schema and the stored value of each record, as the server would
// receive them.
func written[T any](t testing.TB, vals ...T) (*schema.Schema, [][]byte) {
	t.Helper()
	return writtenAt(t, 1, 2, vals...)
}

// writtenAt is written with the tree at schema version major.minor.
func writtenAt[T any](t testing.TB, major, minor uint16, vals ...T) (*schema.Schema, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	d, err := db.Open(dir, &db.Options{Durability: db.NoSync, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := db.OpenTree[T](d, "every", db.SchemaVersion(major, minor))
	if err != nil {
		t.Fatal(err)
	}
	var keys []db.Key[T]
	for _, v := range vals {
		k, err := tr.Create(v)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	pdb, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	get := func(key []byte) []byte {
		b, c, err := pdb.Get(key)
		if err != nil {
			t.Fatalf("reading %q: %v", key, err)
		}
		defer c.Close()
		return bytes.Clone(b)
	}
	s, err := schema.Decode(get(layout.SchemaKey("every")))
	if err != nil {
		t.Fatal(err)
	}
	var datas [][]byte
	for _, k := range keys {
		_, data, err := record.Decode(get(layout.RecordKey("every", layout.Pack(k.ID, k.Rev))), nil)
		if err != nil {
			t.Fatal(err)
		}
		datas = append(datas, data)
	}
	return s, datas
}

// decodes reports whether data decodes into T as the database decodes a
// record (a msgpack decoder over a bytes.Reader, into a new T).
func decodes[T any](data []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return msgpack.NewDecoder(bytes.NewReader(data)).Decode(new(T))
}

// rec encodes a map of the given names and values in order; a value of
// type []byte is written as it is (raw msgpack).
func rec(kv ...any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.EncodeMapLen(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		enc.EncodeString(kv[i].(string))
		if raw, ok := kv[i+1].([]byte); ok {
			buf.Write(raw)
			continue
		}
		if err := enc.Encode(kv[i+1]); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

func nest(n int) []byte {
	b := bytes.Repeat([]byte{0x91}, n)
	return append(b, 0x01)
}

func TestValidateWritten(t *testing.T) {
	s, datas := written(t, full(), Every{}, Every{Lines: []Line{}, Counts: map[string]int32{}})
	for i, data := range datas {
		if err := schema.ValidateRecord(data, &s.Type, schema.Limits{}); err != nil {
			t.Errorf("record %d written by the database: %v", i, err)
		}
		if err := schema.ValidateRecord(data, nil, schema.Limits{}); err != nil {
			t.Errorf("record %d without a schema: %v", i, err)
		}
	}
	// Every cut of a record is refused, and so is anything after it.
	good := datas[0]
	for n := range len(good) {
		if err := schema.ValidateRecord(good[:n], &s.Type, schema.Limits{}); !errors.Is(err, schema.ErrInvalidRecord) {
			t.Fatalf("first %d of %d bytes: %v", n, len(good), err)
		}
	}
	for _, tail := range [][]byte{{0xc0}, {0x00}, good} {
		if err := schema.ValidateRecord(append(bytes.Clone(good), tail...), &s.Type, schema.Limits{}); err == nil ||
			!strings.Contains(err.Error(), "after the value") {
			t.Fatalf("trailing %x: %v", tail, err)
		}
	}
}

// accepted are records the database writes in other ways or reads without
// changing them: each must pass, and decode.
var accepted = []struct {
	name string
	data []byte
}{
	{"empty map", []byte{0x80}},
	{"nil record", []byte{0xc0}},
	{"nil members", rec("flag", nil, "qty", nil, "f32", nil, "name", nil, "data", nil, "fixed", nil, "when_p", nil,
		"line", nil, "line_p", nil, "lines", nil, "arr", nil, "counts", nil, "ref", nil, "blob", nil, "opt", nil)},
	{"nil elements", rec("lines", []byte{0x92, 0xc0, 0x80}, "grid", []byte{0x91, 0x91, 0xc0}, "counts", []byte{0x81, 0xa1, 'a', 0xc0})},
	{"wide integer forms", rec("i8", []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80}, "u8", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 0xff},
		"qty", []byte{0xd0, 0x05}, "u64", []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 1})},
	{"integers for floats", rec("f32", -3, "f64", uint64(1)<<63)},
	{"float32 for float64", rec("f64", []byte{0xca, 0x3f, 0xc0, 0, 0})},
	{"bytes for a string, string for bytes", rec("name", []byte{0xc4, 1, 'x'}, "data", "abc", "tags", []byte{0x91, 0xc4, 0})},
	{"short fixed bytes", rec("fixed", []byte{0xc4, 2, 1, 2})},
	{"short array", rec("arr", []byte{0x91, 0x05})},
	{"time of 4 bytes", rec("when", []byte{0xd6, 0xff, 0, 0, 0, 1})},
	{"time in a long extension", rec("when", []byte{0xc7, 8, 0xff, 0, 0, 0, 0, 0, 0, 0, 1})},
	{"unknown members", rec("new", map[string]any{"deep": []any{1, "x", nil}}, "other", []byte{0xd4, 5, 1}, "qty", 3)},
	{"ref with one member", rec("ref", map[string]any{"Rev": 2})},
	{"raw of any form", rec("blob", []byte{0x82, 0x01, 0x02, 0xc4, 0, 0x90})},
	{"bin keys for a string map", rec("counts", []byte{0x81, 0xc4, 1, 'k', 0x07})},
}

type rejected struct {
	name string
	data []byte
	lim  schema.Limits
	want string // in the error
}

var refused = []rejected{
	{name: "garbage", data: []byte("garbage"), want: "the record: want struct schema_test.Every, found integer"},
	{name: "empty", data: nil, want: "no value"},
	{name: "not msgpack", data: []byte{0x81, 0xa3, 'q', 't', 'y', 0xc1}, want: `field "qty": malformed`},
	{name: "array record", data: []byte{0x90}, want: "the record: want struct"},
	{name: "string for int", data: rec("qty", "x"), want: `field "qty": want int64, found string`},
	{name: "int out of range", data: rec("i8", 300), want: `field "i8": want int8, found 300 (out of range)`},
	{name: "negative uint", data: rec("u8", -1), want: `field "u8": want uint8, found -1 (out of range)`},
	{name: "uint64 for int64", data: rec("qty", uint64(1)<<63), want: `field "qty": want int64, found 9223372036854775808 (out of range)`},
	{name: "enum out of range", data: rec("color", 256), want: `field "color": want enum schema_test.Color`},
	{name: "signed enum", data: rec("level", 40000), want: `field "level": want enum schema_test.Level, found 40000`},
	{name: "float64 for float32", data: rec("f32", 1.5), want: `field "f32": want float32, found float64`},
	{name: "bool for float", data: rec("f64", true), want: `field "f64": want float64, found bool`},
	{name: "int for bool", data: rec("flag", 1), want: `field "flag": want bool, found integer`},
	{name: "int for string", data: rec("name", 1), want: `field "name": want string, found integer`},
	{name: "long fixed bytes", data: rec("fixed", []byte{0xc4, 5, 1, 2, 3, 4, 5}), want: `field "fixed": want [4]byte, found 5 bytes`},
	{name: "nil time", data: rec("when", nil), want: `field "when": want time, found nil`},
	{name: "string time", data: rec("when", "2020-01-01T00:00:00Z"), want: `field "when": want time, found string`},
	{name: "time of 5 bytes", data: rec("when", []byte{0xc7, 5, 0xff, 0, 0, 0, 0, 1}), want: `field "when": want time, found a timestamp of 5 bytes`},
	{name: "other extension", data: rec("when_p", []byte{0xd6, 13, 0, 0, 0, 1}), want: `field "when_p": want time, found extension type 13`},
	{name: "struct as array", data: rec("line", []byte{0x92, 0x80, 0x01}), want: `field "line": want struct schema_test.Line, found array`},
	{name: "nested field", data: rec("lines", []any{map[string]any{"qty": 1}, map[string]any{"qty": "two"}}), want: `field "lines[1].qty": want int32, found string`},
	{name: "pointer to struct", data: rec("line_p", map[string]any{"qty": 1.5}), want: `field "line_p.qty": want int32, found float64`},
	{name: "ref member", data: rec("ref", map[string]any{"id": 1}), want: `field "ref": want ref schema_test.Other, found a map with member "id"`},
	{name: "ref too large", data: rec("line", map[string]any{"part": map[string]any{"ID": int64(1) << 32}}), want: `field "line.part.ID": want uint32, found 4294967296 (out of range)`},
	{name: "map for slice", data: rec("tags", map[string]any{}), want: `field "tags": want []string, found map`},
	{name: "bytes for slice", data: rec("grid", []byte{0xc4, 0}), want: `field "grid": want [][]int8, found bytes`},
	{name: "long array", data: rec("arr", []int{1, 2, 3, 4}), want: `field "arr": want [3]int16, found 4 elements`},
	{name: "grid element", data: rec("grid", [][]int{{1}, {2, 200}}), want: `field "grid[1][1]": want int8, found 200 (out of range)`},
	{name: "string map value", data: rec("counts", map[string]any{"k": "v"}), want: `field "counts{k}": want int32, found string`},
	{name: "int key for a string map", data: rec("counts", []byte{0x81, 0x01, 0x01}), want: `field "counts": want a string key, found integer`},
	{name: "string key for an int map", data: rec("by_id", map[string]string{"1": "x"}), want: `field "by_id": want a uint16 key, found string`},
	{name: "key out of range", data: rec("by_id", map[int]string{70000: "x"}), want: `field "by_id": want a uint16 key, found 70000 (out of range)`},
	{name: "nil key", data: rec("by_level", []byte{0x81, 0xc0, 0xc3}), want: `field "by_level": want a enum schema_test.Level key, found nil`},
	{name: "map value path", data: rec("by_id", map[int]any{7: 1}), want: `field "by_id{7}": want string, found integer`},
	{name: "int field name", data: []byte{0x81, 0x01, 0x01}, want: "the record: want a field name, found integer"},
	{name: "field twice", data: rec("qty", 1, "name", "x", "qty", 2), want: `field "qty": twice in the record`},
	{name: "malformed unknown member", data: rec("new", []byte{0x92, 0x01}), want: `field "new": malformed`},
	{name: "deep unknown member", data: rec("new", nest(200)), want: `field "new": malformed msgpack: nested deeper than 63`},
	{name: "deep within a small limit", data: rec("lines", []any{map[string]any{"part": map[string]any{"ID": 1}}}),
		lim: schema.Limits{MaxDepth: 3}, want: `field "lines[0].part": nested deeper than 3`},
	{name: "too large", data: rec("name", strings.Repeat("x", 100)), lim: schema.Limits{MaxBytes: 64}, want: "108 bytes, more than 64"},
	{name: "huge length", data: rec("name", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}), want: `field "name": malformed or truncated`},
	{name: "huge array", data: rec("tags", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}), want: `field "tags": malformed or truncated`},
}

func everySchema(t testing.TB) *schema.Schema {
	t.Helper()
	s, _ := written[Every](t)
	return s
}

func TestValidateRecord(t *testing.T) {
	s := everySchema(t)
	for _, tc := range accepted {
		if err := schema.ValidateRecord(tc.data, &s.Type, schema.Limits{}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err := decodes[Every](tc.data); err != nil {
			t.Errorf("%s: accepted, but the decoder fails: %v", tc.name, err)
		}
	}
	for _, tc := range refused {
		err := schema.ValidateRecord(tc.data, &s.Type, tc.lim)
		if !errors.Is(err, schema.ErrInvalidRecord) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestAcceptedReadByDB stores every accepted record in a real database
// and opens the tree: the database reads each of them.
func TestAcceptedReadByDB(t *testing.T) {
	dir := t.TempDir()
	d, err := db.Open(dir, &db.Options{Durability: db.NoSync, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := db.OpenTree[Every](d, "every")
	if err != nil {
		t.Fatal(err)
	}
	var keys []db.Key[Every]
	for range accepted {
		k, err := tr.Create(Every{})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	d.Close()
	pdb, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range accepted {
		r := record.Encode(nil, &record.Meta{Major: 1, Changes: 1}, tc.data)
		if err := pdb.Set(layout.RecordKey("every", layout.Pack(keys[i].ID, 0)), r, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := pdb.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = db.Open(dir, &db.Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tr, err = db.OpenTree[Every](d, "every")
	if err != nil {
		t.Fatal(err)
	}
	for k, err := range tr.Corrupt() {
		t.Errorf("record %v: %v", k, err)
	}
	if tr.Len() != len(accepted) {
		t.Fatalf("%d records, want %d", tr.Len(), len(accepted))
	}
}

func FuzzValidateRecord(f *testing.F) {
	s, datas := written(f, full(), Every{})
	for _, d := range datas {
		f.Add(d)
	}
	for _, tc := range accepted {
		f.Add(tc.data)
	}
	for _, tc := range refused {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := schema.ValidateRecord(data, &s.Type, schema.Limits{}); err != nil {
			if !errors.Is(err, schema.ErrInvalidRecord) {
				t.Fatalf("error does not wrap ErrInvalidRecord: %v", err)
			}
			return
		}
		if err := decodes[Every](data); err != nil {
			t.Fatalf("accepted, but the decoder fails: %v", err)
		}
		if err := schema.ValidateRecord(data, nil, schema.Limits{}); err != nil {
			t.Fatalf("accepted for the schema, not without: %v", err)
		}
	})
}

// Item is a record of about 100 bytes, for the benchmark.
type Item struct {
	Number string    `msgpack:"number"`
	Maker  string    `msgpack:"maker"`
	Qty    int32     `msgpack:"qty"`
	Price  float64   `msgpack:"price"`
	When   time.Time `msgpack:"when"`
	Tags   []string  `msgpack:"tags"`
	Stock  map[string]int32
}

func BenchmarkValidateRecord(b *testing.B) {
	s, datas := written(b, Item{Number: "BX-1042", Maker: "Northwind Tools", Qty: 250, Price: 12.75,
		When: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Tags: []string{"steel", "m8"},
		Stock: map[string]int32{"north": 12, "south": 40}})
	data := datas[0]
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := schema.ValidateRecord(data, &s.Type, schema.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
