package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
)

type Stage uint8

type Bin struct {
	Shelf string `msgpack:"shelf"`
	Slot  int16  `msgpack:"slot"`
}

// Every kind a schema knows.
type Kinds struct {
	Bool    bool                 `msgpack:"bool"`
	I8      int8                 `msgpack:"i8"`
	I16     int16                `msgpack:"i16"`
	I32     int32                `msgpack:"i32"`
	I64     int64                `msgpack:"i64"`
	Int     int                  `msgpack:"int"`
	U8      uint8                `msgpack:"u8"`
	U16     uint16               `msgpack:"u16"`
	U32     uint32               `msgpack:"u32"`
	U64     uint64               `msgpack:"u64"`
	F32     float32              `msgpack:"f32"`
	F64     float64              `msgpack:"f64"`
	Str     string               `msgpack:"str"`
	Bytes   []byte               `msgpack:"bytes"`
	Fixed   [3]byte              `msgpack:"fixed"`
	When    time.Time            `msgpack:"when"`
	Bin     Bin                  `msgpack:"bin"`
	Bins    []Bin                `msgpack:"bins"`
	Pair    [2]int32             `msgpack:"pair"`
	Stock   map[string]int64     `msgpack:"stock"`
	ByCode  map[int16]string     `msgpack:"by_code"`
	Maybe   *Bin                 `msgpack:"maybe"`
	Nothing *Bin                 `msgpack:"nothing"`
	Part    db.Key[Part]         `msgpack:"part" hills:"ref=parts"`
	Parts   []db.Key[Part]       `msgpack:"parts"`
	Stage   Stage                `msgpack:"stage"`
	Addr    netip.Addr           `msgpack:"addr"`
	Set     map[string]bool      `msgpack:"set"`
	Names   []string             `msgpack:"names"`
	Nested  map[string][]float64 `msgpack:"nested"`
}

func sampleKinds() Kinds {
	return Kinds{
		Bool: true, I8: -128, I16: -300, I32: math.MinInt32, I64: math.MaxInt64, Int: -1,
		U8: 255, U16: 65535, U32: math.MaxUint32, U64: math.MaxUint64,
		F32: 3.25, F64: 0.1, Str: "résistance <10k> & \"quotes\"", Bytes: []byte{0, 1, 254, 255}, Fixed: [3]byte{1, 2, 3},
		When: time.Date(2026, 11, 24, 1, 2, 3, 456789, time.UTC),
		Bin:  Bin{"A", 3}, Bins: []Bin{{"B", 1}, {"C", -2}}, Pair: [2]int32{5, -5},
		Stock: map[string]int64{"b": 2, "a": 1}, ByCode: map[int16]string{10: "ten", -1: "minus", 9: "nine"},
		Maybe: &Bin{"D", 4}, Part: db.Key[Part]{ID: 12}, Parts: []db.Key[Part]{{ID: 1, Rev: 2}},
		Stage: 3, Addr: netip.MustParseAddr("10.0.0.1"), Set: map[string]bool{"x": true},
		Names: []string{"", "n"}, Nested: map[string][]float64{"k": {math.Inf(1), -0.5}},
	}
}

func TestSchemaOfEveryKind(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	mustTree[Kinds](t, d, "kinds", db.SchemaVersion(3, 4))
	op, err := d.Opaque("kinds")
	if err != nil {
		t.Fatal(err)
	}
	s := op.Schema()
	if s.Tree != "kinds" || s.Evolution != (db.Evolution{3, 4}) || s.Type.Kind != db.KindStruct {
		t.Fatalf("schema %+v", s)
	}
	want := map[string]string{
		"bool": "bool", "i8": "int8", "int": "int64", "u64": "uint64", "f32": "float32", "bytes": "bytes",
		"fixed": "[3]byte", "when": "time", "bin": "struct db_test.Bin", "bins": "[]struct db_test.Bin",
		"pair": "[2]int32", "by_code": "map[int16]string", "maybe": "*struct db_test.Bin", "part": "ref parts",
		"parts": "[]ref db_test.Part", "stage": "enum db_test.Stage", "addr": "raw",
	}
	fields := s.Fields()
	if len(fields) != reflect.TypeFor[Kinds]().NumField() {
		t.Fatalf("%d fields, want %d", len(fields), reflect.TypeFor[Kinds]().NumField())
	}
	for i, f := range fields {
		if f.GoName != reflect.TypeFor[Kinds]().Field(i).Name {
			t.Fatalf("field %d is %s: not in declaration order", i, f.GoName)
		}
		if w, ok := want[f.Name]; ok && f.Type.String() != w {
			t.Errorf("field %s: %s, want %s", f.Name, f.Type.String(), w)
		}
	}
	if f := fields[16]; len(f.Type.Fields) != 2 || f.Type.Fields[1].Name != "slot" || f.Type.Fields[1].Type.Kind != db.KindInt {
		t.Errorf("nested struct schema %+v", f.Type)
	}
}

func TestOpaqueRoundTripEveryKind(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	kinds := mustTree[Kinds](t, d, "kinds")
	v := sampleKinds()
	k, err := kinds.Create(v)
	if err != nil {
		t.Fatal(err)
	}
	op, err := d.Opaque("kinds")
	if err != nil {
		t.Fatal(err)
	}
	ok := db.OpaqueKey{Tree: "kinds", ID: k.ID, Rev: k.Rev}
	text, err := op.Text(ok)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"{\n  \"bool\": true,\n  \"i8\": -128,",
		`"u64": 18446744073709551615`, `"f32": 3.25`, `"f64": 0.1`,
		`"str": "résistance <10k> & \"quotes\""`, `"bytes": "AAH+/w=="`,
		`"when": "2026-11-24T01:02:03.000456789Z"`, `"part": "12.0"`, `"parts": [` + "\n    \"1.2\"",
		`"nothing": null`, `"stage": 3`, "\"by_code\": {\n    \"-1\": \"minus\",\n    \"9\": \"nine\",\n    \"10\": \"ten\"",
		`"+Inf"`, `"pair": [`,
	} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %s", s)
		}
	}
	if t.Failed() {
		t.Fatalf("text:\n%s", text)
	}
	// Members in schema order.
	last := -1
	for _, f := range op.Schema().Fields() {
		i := strings.Index(text, "\n  \""+f.Name+"\":")
		if i < last {
			t.Fatalf("member %s out of schema order", f.Name)
		}
		last = i
	}

	// Text → Update → Text is the identity, and the typed value is the same.
	if err := op.Update(ok, text); err != nil {
		t.Fatal(err)
	}
	text2, err := op.Text(ok)
	if err != nil || text2 != text {
		t.Fatalf("Text after Update(Text) differs (%v):\n%s\n%s", err, text, text2)
	}
	got, m, err := kinds.Get(k)
	if err != nil || m.Changes != 2 {
		t.Fatalf("typed view after opaque update: %v %+v", err, m)
	}
	if !equalKinds(got, v) {
		t.Fatalf("typed value after opaque update\n%+v\nwant\n%+v", got, v)
	}

	// Create from the text: the typed handle sees the same value.
	ok2, err := op.Create(text)
	if err != nil {
		t.Fatal(err)
	}
	var viewed Kinds
	if err := kinds.View(db.Key[Kinds]{ID: ok2.ID, Rev: ok2.Rev}, func(v *Kinds, _ db.Meta) { viewed = *v }); err != nil {
		t.Fatal(err)
	}
	if !equalKinds(viewed, v) {
		t.Fatalf("typed view of opaque create\n%+v\nwant\n%+v", viewed, v)
	}
	if op.Len() != 2 || kinds.Len() != 2 {
		t.Fatalf("Len %d %d", op.Len(), kinds.Len())
	}
}

func equalKinds(a, b Kinds) bool {
	a.When, b.When = a.When.UTC(), b.When.UTC()
	return reflect.DeepEqual(a, b)
}

func TestOpaqueWithoutGoType(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, nil)
	parts := mustTree[Part](t, d, "parts", db.Versioned())
	k, _ := parts.Create(Part{Number: "R1", Quantity: 5, Tags: []string{"smd"}})
	parts.Create(Part{Number: "R2"})
	d = reopen(t, d)

	// This process never opens "parts" with its Go type.
	if _, err := d.Opaque("nope"); !errors.Is(err, db.ErrNoTree) {
		t.Fatalf("Opaque of a missing tree: %v", err)
	}
	op, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	if op.Name() != "parts" || op.Len() != 2 {
		t.Fatalf("name %s len %d", op.Name(), op.Len())
	}
	var keys []string
	for k := range op.Keys() {
		keys = append(keys, k.String())
	}
	if strings.Join(keys, " ") != "1.0 2.0" {
		t.Fatalf("keys %v", keys)
	}
	ok := db.OpaqueKey{Tree: "parts", ID: k.ID}
	m, err := op.Meta(ok)
	if err != nil || m.Version != db.Draft || m.Changes != 1 {
		t.Fatalf("meta %+v %v", m, err)
	}
	text, err := op.Text(ok)
	want := "{\n  \"number\": \"R1\",\n  \"maker\": \"\",\n  \"quantity\": 5,\n  \"tags\": [\n    \"smd\"\n  ]\n}"
	if err != nil || text != want {
		t.Fatalf("text (%v):\n%s\nwant\n%s", err, text, want)
	}

	var mu sync.Mutex
	var events []string
	cancel := op.Subscribe(func(kind db.EventKind, k db.OpaqueKey) {
		mu.Lock()
		events = append(events, kind.String()+" "+k.Tree+"/"+k.String())
		mu.Unlock()
	})
	defer cancel()
	if err := op.CheckOut(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if b := op.Borrow(ok); !b.Mine || b.Holder != d.Name() {
		t.Fatalf("borrow %+v", b)
	}
	if err := op.Update(ok, `{"number": "R1", "quantity": 4}`); err != nil {
		t.Fatal(err)
	}
	if err := op.CheckIn(t.Context(), ok); err != nil {
		t.Fatal(err)
	}
	if err := op.SetState(ok, 7); err != nil {
		t.Fatal(err)
	}
	if err := op.Release(ok); err != nil {
		t.Fatal(err)
	}
	if err := op.Update(ok, `{}`); !errors.Is(err, db.ErrReleased) {
		t.Fatalf("update of released: %v", err)
	}
	nk, err := op.Create(`{"number": "R9", "tags": null}`)
	if err != nil || nk.ID != 3 {
		t.Fatalf("create %v %v", nk, err)
	}
	if err := op.Delete(db.OpaqueKey{Tree: "parts", ID: 2}); err != nil {
		t.Fatal(err)
	}
	if err := op.Delete(db.OpaqueKey{Tree: "other", ID: 2}); !errors.Is(err, db.ErrInvalidKey) {
		t.Fatalf("key of another tree: %v", err)
	}
	wantEvents := []string{"borrow changed parts/1.0", "updated parts/1.0", "borrow changed parts/1.0",
		"meta changed parts/1.0", "meta changed parts/1.0", "created parts/3.0", "deleted parts/2.0"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(events)
		mu.Unlock()
		if n >= len(wantEvents) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	if !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("events\n%v\nwant\n%v", events, wantEvents)
	}
	mu.Unlock()

	// The typed handle opened now sees the opaque writes.
	parts = mustTree[Part](t, d, "parts", db.Versioned())
	p, m, err := parts.Get(k)
	if err != nil || p.Quantity != 4 || p.Tags != nil || m.State != 7 || m.Version != db.Released || m.ModifiedBy != d.Name() {
		t.Fatalf("typed after opaque: %+v %+v %v", p, m, err)
	}
	if p, _, err := parts.Get(db.Key[Part]{ID: 3}); err != nil || p.Number != "R9" {
		t.Fatalf("typed view of opaque create: %+v %v", p, err)
	}
	// And opaque writes made after it go through the same records.
	if err := op.Update(db.OpaqueKey{Tree: "parts", ID: 3}, `{"number": "R9", "quantity": 1}`); err != nil {
		t.Fatal(err)
	}
	parts.View(db.Key[Part]{ID: 3}, func(p *Part, _ db.Meta) {
		if p.Quantity != 1 {
			t.Fatalf("typed View after opaque update: %+v", p)
		}
	})
}

func TestOpaqueTextErrors(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	kinds := mustTree[Kinds](t, d, "kinds")
	k, _ := kinds.Create(sampleKinds())
	op, _ := d.Opaque("kinds")
	ok := db.OpaqueKey{Tree: "kinds", ID: k.ID}
	before, _ := op.Text(ok)
	for _, c := range []struct{ text, field string }{
		{`{"colour": "red"}`, "colour"},
		{`{"bin": {"shelf": "A", "row": 1}}`, "bin.row"},
		{`{"i8": 128}`, "i8"},
		{`{"i8": -129}`, "i8"},
		{`{"u8": -1}`, "u8"},
		{`{"u32": 4294967296}`, "u32"},
		{`{"int": 1.5}`, "int"},
		{`{"f32": 1e39}`, "f32"},
		{`{"bool": "yes"}`, "bool"},
		{`{"str": 5}`, "str"},
		{`{"bytes": "not base64!"}`, "bytes"},
		{`{"fixed": "AQI="}`, "fixed"},
		{`{"when": "yesterday"}`, "when"},
		{`{"part": "12"}`, "part"},
		{`{"pair": [1]}`, "pair"},
		{`{"bins": [{"slot": 70000}]}`, "bins[].slot"},
		{`{"by_code": {"x": "y"}}`, "by_code"},
		{`{"stock": {"a": "1"}}`, "stock{}"},
		{`{"maybe": 3}`, "maybe"},
		{`{"addr": "wQ=="}`, "addr"},
		{`{"addr": "AQ=="}`, "Go type"},
		{`[1, 2]`, "the record"},
		{`{"bool": true} {}`, ""},
		{`{"bool": tru`, ""},
	} {
		_, err := op.Create(c.text)
		if !errors.Is(err, db.ErrInvalidText) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("Create(%s): %v, want ErrInvalidText naming %q", c.text, err, c.field)
		}
		if err := op.Update(ok, c.text); !errors.Is(err, db.ErrInvalidText) {
			t.Errorf("Update(%s): %v, want ErrInvalidText", c.text, err)
		}
	}
	if op.Len() != 1 {
		t.Fatalf("refused creates wrote records: Len %d", op.Len())
	}
	if after, _ := op.Text(ok); after != before {
		t.Fatal("refused updates changed the record")
	}
	if _, m, _ := kinds.Get(k); m.Changes != 1 {
		t.Fatalf("refused updates wrote: changes %d", m.Changes)
	}
}

func FuzzOpaqueText(f *testing.F) {
	seed, _ := json.Marshal(map[string]any{"number": "R1", "quantity": 3, "tags": []string{"a"}})
	f.Add(string(seed))
	f.Add(`{"bool": true, "i8": -3, "when": "2026-01-01T00:00:00Z", "part": "1.0", "bins": [{"shelf": "x"}]}`)
	f.Add(`{"by_code": {"-5": "a"}, "nested": {"x": [1.5, "NaN"]}, "fixed": "AQID", "addr": "xAQKAAAB"}`)
	f.Add(`{"maybe": null, "stock": {"": 0}, "f32": 1e-45}`)
	d := mustOpen(f, f.TempDir(), &db.Options{Durability: db.NoSync})
	kinds := mustTree[Kinds](f, d, "kinds")
	k, _ := kinds.Create(sampleKinds())
	op, _ := d.Opaque("kinds")
	ok := db.OpaqueKey{Tree: "kinds", ID: k.ID}
	f.Fuzz(func(t *testing.T, text string) {
		nk, err := op.Create(text)
		if err == nil {
			check := func(k db.OpaqueKey) {
				t1, err := op.Text(k)
				if err != nil {
					t.Fatalf("Text of an accepted record: %v", err)
				}
				if err := op.Update(k, t1); err != nil {
					t.Fatalf("Update(Text): %v\n%s", err, t1)
				}
				t2, err := op.Text(k)
				if err != nil || t2 != t1 {
					t.Fatalf("Text → Update → Text changed (%v):\n%s\n%s", err, t1, t2)
				}
				if err := kinds.View(db.Key[Kinds]{ID: k.ID, Rev: k.Rev}, func(*Kinds, db.Meta) {}); err != nil {
					t.Fatalf("typed View of an accepted record: %v", err)
				}
			}
			check(nk)
			op.Delete(nk)
		} else if !errors.Is(err, db.ErrInvalidText) {
			t.Fatalf("Create: %v, want ErrInvalidText", err)
		}
		if err := op.Update(ok, text); err != nil && !errors.Is(err, db.ErrInvalidText) {
			t.Fatalf("Update: %v", err)
		}
	})
}

// Opaque writes racing with the tree's first OpenTree: every record the
// typed handle holds has its value, and none is lost.
func TestOpaqueWritesDuringOpenTree(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Durability: db.NoSync})
	mustTree[Part](t, d, "parts")
	d = reopen(t, d)
	op, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k, err := op.Create(`{"number": "P", "quantity": 1}`)
				if err != nil {
					t.Errorf("writer %d create %d: %v", w, i, err)
					return
				}
				if err := op.Update(k, `{"number": "P", "quantity": 2}`); err != nil {
					t.Errorf("writer %d update %d: %v", w, i, err)
					return
				}
			}
		})
	}
	time.Sleep(time.Millisecond)
	parts := mustTree[Part](t, d, "parts")
	during := parts.Len()
	wg.Wait()
	if during == writers*each {
		t.Logf("every write was done before OpenTree returned")
	}
	n := 0
	for k, p := range parts.All() {
		if p == nil || p.Number != "P" || p.Quantity != 2 {
			t.Fatalf("%v: %+v", k, p)
		}
		n++
	}
	if n != writers*each || op.Len() != n {
		t.Fatalf("%d records typed, %d opaque, want %d", n, op.Len(), writers*each)
	}
}

type BadRef struct {
	Part db.Key[Part] `msgpack:"part" hills:"ref=Parts!"`
}

func TestRefTagChecked(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	if _, err := db.OpenTree[BadRef](d, "refs"); !errors.Is(err, db.ErrSchema) || !strings.Contains(err.Error(), "field part") {
		t.Fatalf("bad ref tag: %v", err)
	}
	if _, err := db.OpenTree[struct {
		N int `hills:"ref=parts"`
	}](d, "refs"); !errors.Is(err, db.ErrSchema) {
		t.Fatalf("ref tag on an int: %v", err)
	}
}
