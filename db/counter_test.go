package db_test

import (
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/hillsdb/hills/db"
)

// Reel is a record with counters: Stock never below 0, Used with no
// floor but its type's.
type Reel struct {
	Part  string `msgpack:"part"`
	Stock int64  `msgpack:"stock" hills:"counter,min=0"`
	Used  int32  `msgpack:"used" hills:"counter"`
	Note  string `msgpack:"note,omitempty"`
}

func TestCounterSchemaRecordsTheTag(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	mustTree[Reel](t, d, "reels")
	o, err := d.Opaque("reels")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range o.Schema().Fields() {
		if f.Counter {
			min := "none"
			if f.Min != nil {
				min = strconv.FormatInt(*f.Min, 10)
			}
			got = append(got, f.Name+":"+min)
		}
	}
	if !slices.Equal(got, []string{"stock:0", "used:none"}) {
		t.Fatalf("counters in the schema: %v", got)
	}
}

func TestCounterTagRefusedWhereItCannotBe(t *testing.T) {
	type nested struct {
		N int `msgpack:"n" hills:"counter"`
	}
	type inNested struct {
		In nested `msgpack:"in"`
	}
	type onString struct {
		S string `msgpack:"s" hills:"counter"`
	}
	type minAlone struct {
		N int `msgpack:"n" hills:"min=0"`
	}
	type badMin struct {
		N int8 `msgpack:"n" hills:"counter,min=-1000"`
	}
	d := mustOpen(t, t.TempDir(), nil)
	for name, err := range map[string]error{
		"nested":   openErr[inNested](d, "nested"),
		"string":   openErr[onString](d, "string"),
		"minalone": openErr[minAlone](d, "minalone"),
		"badmin":   openErr[badMin](d, "badmin"),
	} {
		if !errors.Is(err, db.ErrSchema) {
			t.Errorf("%s: %v, want ErrSchema", name, err)
		}
	}
}

func openErr[T any](d *db.DB, name string) error {
	_, err := db.OpenTree[T](d, name)
	return err
}

func TestCounterStandalone(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, nil)
	reels := mustTree[Reel](t, d, "reels", db.Versioned())
	events := make(chan db.Event[Reel], 64)
	cancel := reels.Subscribe(func(e db.Event[Reel]) { events <- e })
	defer cancel()

	if _, err := reels.Create(Reel{Part: "R1", Stock: -1}); !errors.Is(err, db.ErrBelowFloor) {
		t.Fatalf("create below the floor: %v", err)
	}
	k, err := reels.Create(Reel{Part: "R1", Stock: 10, Used: 0})
	if err != nil {
		t.Fatal(err)
	}
	<-events
	if err := reels.Add(k, "stock", -4); err != nil {
		t.Fatal(err)
	}
	if err := reels.Add(k, "used", 4); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case e := <-events:
			if e.Kind != db.Updated || e.Key != k {
				t.Fatalf("event %+v", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event for Add")
		}
	}
	if err := reels.Add(k, "stock", -7); !errors.Is(err, db.ErrBelowFloor) {
		t.Fatalf("below the floor: %v", err)
	}
	if err := reels.Add(k, "part", 1); !errors.Is(err, db.ErrNotCounter) || !strings.Contains(err.Error(), `"part"`) {
		t.Fatalf("add to a non-counter: %v", err)
	}
	if err := reels.Add(k, "nosuch", 1); !errors.Is(err, db.ErrNotCounter) || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("add to a missing field: %v", err)
	}
	if err := reels.Add(k, "used", math.MaxInt32); !errors.Is(err, db.ErrCounterRange) {
		t.Fatalf("past int32: %v", err)
	}
	if err := reels.Add(db.Key[Reel]{ID: 99}, "stock", 1); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	// Update may change the rest, never a counter.
	err = reels.Update(k, func(r *Reel) error { r.Stock = 100; r.Note = "lost"; return nil })
	if !errors.Is(err, db.ErrCounterField) || !strings.Contains(err.Error(), `"stock"`) {
		t.Fatalf("update of a counter: %v", err)
	}
	if err := reels.Update(k, func(r *Reel) error { r.Note = "reel 2"; return nil }); err != nil {
		t.Fatal(err)
	}
	// Released: the data is frozen but for counters.
	if err := reels.Release(k); err != nil {
		t.Fatal(err)
	}
	if err := reels.Add(k, "stock", 5); err != nil {
		t.Fatalf("add to a released record: %v", err)
	}
	want := Reel{Part: "R1", Stock: 11, Used: 4, Note: "reel 2"}
	check := func(tr *db.Tree[Reel]) {
		t.Helper()
		got, m, err := tr.Get(k)
		if err != nil || got != want || m.Version != db.Released {
			t.Fatalf("got %+v %v %v, want %+v released", got, m.Version, err, want)
		}
	}
	check(reels)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, dir, nil)
	check(mustTree[Reel](t, d, "reels", db.Versioned()))
}

// counterMachine runs random Adds, Updates and reopenings against a plain
// model of the counters.
type counterMachine struct {
	dir      string
	d        *db.DB
	reels    *db.Tree[Reel]
	keys     []db.Key[Reel]
	model    map[db.Key[Reel]]Reel
	released map[db.Key[Reel]]bool
}

func (m *counterMachine) open(t *rapid.T) {
	d, err := db.Open(m.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.d = d
	if m.reels, err = db.OpenTree[Reel](d, "reels", db.Versioned()); err != nil {
		t.Fatal(err)
	}
}

func (m *counterMachine) Create(t *rapid.T) {
	r := Reel{Part: rapid.StringN(0, 6, -1).Draw(t, "part"),
		Stock: rapid.Int64Range(-3, 50).Draw(t, "stock"),
		Used:  rapid.Int32Range(-5, 5).Draw(t, "used")}
	k, err := m.reels.Create(r)
	if r.Stock < 0 {
		if !errors.Is(err, db.ErrBelowFloor) {
			t.Fatalf("create %+v: %v, want ErrBelowFloor", r, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	m.keys = append(m.keys, k)
	m.model[k] = r
}

func (m *counterMachine) Add(t *rapid.T) {
	if len(m.keys) == 0 {
		t.Skip("no records")
	}
	k := rapid.SampledFrom(m.keys).Draw(t, "key")
	field := rapid.SampledFrom([]string{"stock", "used", "part"}).Draw(t, "field")
	delta := rapid.OneOf(rapid.Int64Range(-20, 20), rapid.SampledFrom([]int64{math.MaxInt64, math.MinInt64, math.MaxInt32})).Draw(t, "delta")
	err := m.reels.Add(k, field, delta)
	r := m.model[k]
	switch field {
	case "part":
		if !errors.Is(err, db.ErrNotCounter) {
			t.Fatalf("add to part: %v", err)
		}
	case "stock":
		next, ok := addInt(r.Stock, delta, 0, math.MaxInt64)
		if !ok {
			if err == nil {
				t.Fatalf("stock %d%+d accepted", r.Stock, delta)
			}
			return
		}
		if err != nil {
			t.Fatalf("stock %d%+d: %v", r.Stock, delta, err)
		}
		r.Stock = next
	case "used":
		next, ok := addInt(int64(r.Used), delta, math.MinInt32, math.MaxInt32)
		if !ok {
			if !errors.Is(err, db.ErrCounterRange) {
				t.Fatalf("used %d%+d: %v, want ErrCounterRange", r.Used, delta, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("used %d%+d: %v", r.Used, delta, err)
		}
		r.Used = int32(next)
	}
	m.model[k] = r
}

// addInt is the model's counter arithmetic.
func addInt(cur, delta, lo, hi int64) (int64, bool) {
	if delta > 0 && cur > math.MaxInt64-delta || delta < 0 && cur < math.MinInt64-delta {
		return 0, false
	}
	n := cur + delta
	if delta < 0 && n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func (m *counterMachine) Update(t *rapid.T) {
	if len(m.keys) == 0 {
		t.Skip("no records")
	}
	k := rapid.SampledFrom(m.keys).Draw(t, "key")
	touch := rapid.Bool().Draw(t, "touch counter")
	note := rapid.StringN(0, 6, -1).Draw(t, "note")
	err := m.reels.Update(k, func(r *Reel) error {
		r.Note = note
		if touch {
			r.Stock++
		}
		return nil
	})
	if m.released[k] {
		if !errors.Is(err, db.ErrReleased) {
			t.Fatalf("update of a released record: %v", err)
		}
		return
	}
	if touch {
		if !errors.Is(err, db.ErrCounterField) {
			t.Fatalf("update of stock: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	r := m.model[k]
	r.Note = note
	m.model[k] = r
}

func (m *counterMachine) Release(t *rapid.T) {
	if len(m.keys) == 0 {
		t.Skip("no records")
	}
	k := rapid.SampledFrom(m.keys).Draw(t, "key")
	if err := m.reels.Release(k); err != nil {
		t.Fatal(err)
	}
	m.released[k] = true // and it keeps counting (Add)
}

func (m *counterMachine) Reopen(t *rapid.T) {
	if err := m.d.Close(); err != nil {
		t.Fatal(err)
	}
	m.open(t)
}

func (m *counterMachine) Check(t *rapid.T) {
	for k, want := range m.model {
		got, _, err := m.reels.Get(k)
		if err != nil || got != want {
			t.Fatalf("%v: %+v %v, model %+v", k, got, err, want)
		}
	}
}

// TestCounterModel checks 30 random sequences (all of rapid's checks with
// HILLS_LONG=1).
func TestCounterModel(t *testing.T) {
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		if runs++; runs > 30 && os.Getenv("HILLS_LONG") != "1" {
			return
		}
		dir, err := os.MkdirTemp("", "hills-counter-model-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		m := &counterMachine{dir: dir, model: map[db.Key[Reel]]Reel{}, released: map[db.Key[Reel]]bool{}}
		m.open(t)
		defer func() { m.d.Close() }()
		t.Repeat(rapid.StateMachineActions(m))
	})
}

func TestCounterOpaque(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	reels := mustTree[Reel](t, d, "reels")
	k, err := reels.Create(Reel{Part: "R1", Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	o, err := d.Opaque("reels")
	if err != nil {
		t.Fatal(err)
	}
	ok := db.OpaqueKey{Tree: "reels", ID: k.ID, Rev: k.Rev}
	if err := o.Add(ok, "stock", 2); err != nil {
		t.Fatal(err)
	}
	if err := o.Add(ok, "stock", -6); !errors.Is(err, db.ErrBelowFloor) {
		t.Fatalf("opaque add below the floor: %v", err)
	}
	if err := o.Add(ok, "part", 1); !errors.Is(err, db.ErrNotCounter) {
		t.Fatalf("opaque add to part: %v", err)
	}
	text, err := o.Text(ok)
	if err != nil {
		t.Fatal(err)
	}
	// The text as it is updates; with the counter changed it does not.
	if err := o.Update(ok, text); err != nil {
		t.Fatalf("update with the text unchanged: %v", err)
	}
	changed := strings.Replace(text, `"stock": 5`, `"stock": 50`, 1)
	if changed == text {
		t.Fatalf("no stock in %s", text)
	}
	if err := o.Update(ok, changed); !errors.Is(err, db.ErrCounterField) || !strings.Contains(err.Error(), `"stock"`) {
		t.Fatalf("text changing the counter: %v, want ErrCounterField naming stock", err)
	}
	// A text without the counter keeps it.
	if err := o.Update(ok, `{"part": "R1 reel", "used": 0}`); err != nil {
		t.Fatalf("text without the counter: %v", err)
	}
	noted := strings.Replace(text, `"part": "R1"`, `"part": "R1 reel"`, 1)
	if err := o.Update(ok, noted); err != nil {
		t.Fatal(err)
	}
	got, _, err := reels.Get(k)
	if err != nil || got.Stock != 5 || got.Part != "R1 reel" {
		t.Fatalf("got %+v %v", got, err)
	}
}
