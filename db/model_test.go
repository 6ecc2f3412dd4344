package db_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/hillsdb/hills/db"
)

// modelRecord is what the model knows of one record.
type modelRecord struct {
	part                  Part
	changes               uint32
	createdBy, modifiedBy string
}

// modelMachine runs random operations on a tree and on a plain map side by
// side, closing and reopening the database in between.
type modelMachine struct {
	dir    string
	name   string // Options.Name of the current opening
	opens  int
	d      *db.DB
	parts  *db.Tree[Part]
	model  map[db.Key[Part]]*modelRecord
	nextID uint32
}

func (m *modelMachine) open(t *rapid.T) {
	m.opens++
	m.name = fmt.Sprintf("client-%d", m.opens)
	dur := rapid.SampledFrom([]db.Durability{db.SyncOnCommit, db.NoSync}).Draw(t, "durability")
	d, err := db.Open(m.dir, &db.Options{Name: m.name, Durability: dur})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	m.d = d
	if m.parts, err = db.OpenTree[Part](d, "parts"); err != nil {
		t.Fatalf("open tree: %v", err)
	}
}

func drawPart(t *rapid.T) Part {
	return Part{
		Number:   rapid.StringN(0, 12, -1).Draw(t, "number"),
		Maker:    rapid.SampledFrom([]string{"", "Yageo", "Murata", "ST"}).Draw(t, "maker"),
		Quantity: rapid.IntRange(-1000, 1<<40).Draw(t, "quantity"),
		Tags:     rapid.SliceOfN(rapid.StringN(0, 4, -1), 0, 3).Draw(t, "tags"),
	}
}

// drawKey picks an existing key most of the time, else any id up to one
// past the last granted, so deleted and never-granted ids come up too.
func (m *modelMachine) drawKey(t *rapid.T) db.Key[Part] {
	if len(m.model) > 0 && rapid.IntRange(0, 3).Draw(t, "existing") > 0 {
		keys := slices.SortedFunc(maps.Keys(m.model), cmpKey)
		return rapid.SampledFrom(keys).Draw(t, "key")
	}
	id := rapid.Uint32Range(0, m.nextID).Draw(t, "id")
	rev := rapid.SampledFrom([]uint32{0, 0, 0, 1}).Draw(t, "rev")
	return db.Key[Part]{ID: id, Rev: rev}
}

func cmpKey(a, b db.Key[Part]) int {
	if a.ID != b.ID {
		return int(int64(a.ID) - int64(b.ID))
	}
	return int(int64(a.Rev) - int64(b.Rev))
}

// samePart compares as the stored form does: an empty Tags is left out.
func samePart(a, b Part) bool {
	return a.Number == b.Number && a.Maker == b.Maker && a.Quantity == b.Quantity &&
		slices.Equal(a.Tags, b.Tags)
}

func (m *modelMachine) Create(t *rapid.T) {
	p := drawPart(t)
	k, err := m.parts.Create(p)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if k != (db.Key[Part]{ID: m.nextID}) {
		t.Fatalf("Create gave %v, want %d.0 (ids are never reused)", k, m.nextID)
	}
	m.nextID++
	m.model[k] = &modelRecord{part: p, changes: 1, createdBy: m.name, modifiedBy: m.name}
}

func (m *modelMachine) Update(t *rapid.T) {
	k := m.drawKey(t)
	q := rapid.Int().Draw(t, "quantity")
	tag := rapid.StringN(0, 4, -1).Draw(t, "tag")
	fail := rapid.IntRange(0, 5).Draw(t, "fail") == 0
	errFn := errors.New("changed my mind")
	err := m.parts.Update(k, func(p *Part) error {
		want, ok := m.model[k]
		if !ok {
			t.Fatalf("Update called fn for missing %v", k)
		}
		if !samePart(*p, want.part) {
			t.Fatalf("Update of %v got %+v, want %+v", k, *p, want.part)
		}
		p.Quantity = q
		p.Tags = append(p.Tags, tag)
		if fail {
			return errFn
		}
		return nil
	})
	r, ok := m.model[k]
	switch {
	case !ok:
		if !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("Update of missing %v: %v, want ErrNotFound", k, err)
		}
	case fail:
		if err != errFn {
			t.Fatalf("Update of %v whose fn failed: %v", k, err)
		}
	case err != nil:
		t.Fatalf("Update of %v: %v", k, err)
	default:
		r.part.Quantity = q
		r.part.Tags = append(slices.Clone(r.part.Tags), tag)
		r.changes++
		r.modifiedBy = m.name
	}
}

func (m *modelMachine) Delete(t *rapid.T) {
	k := m.drawKey(t)
	err := m.parts.Delete(k)
	if _, ok := m.model[k]; ok {
		if err != nil {
			t.Fatalf("Delete of %v: %v", k, err)
		}
		delete(m.model, k)
	} else if !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Delete of missing %v: %v, want ErrNotFound", k, err)
	}
}

func (m *modelMachine) View(t *rapid.T) {
	k := m.drawKey(t)
	called := false
	err := m.parts.View(k, func(p *Part, meta db.Meta) {
		called = true
		m.checkRecord(t, "View", k, *p, meta)
	})
	m.checkFound(t, "View", k, err)
	if called != (err == nil) {
		t.Fatalf("View of %v: fn called %v with error %v", k, called, err)
	}
}

func (m *modelMachine) Get(t *rapid.T) {
	k := m.drawKey(t)
	p, meta, err := m.parts.Get(k)
	m.checkFound(t, "Get", k, err)
	if err != nil {
		return
	}
	m.checkRecord(t, "Get", k, p, meta)
	// The copy is the caller's: changing it leaves the record as it was.
	p.Number += "!"
	if len(p.Tags) > 0 {
		p.Tags[0] += "!"
	}
	m.parts.View(k, func(v *Part, meta db.Meta) { m.checkRecord(t, "View after Get", k, *v, meta) })
}

func (m *modelMachine) checkFound(t *rapid.T, what string, k db.Key[Part], err error) {
	if _, ok := m.model[k]; ok {
		if err != nil {
			t.Fatalf("%s of %v: %v", what, k, err)
		}
	} else if !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("%s of missing %v: %v, want ErrNotFound", what, k, err)
	}
}

func (m *modelMachine) checkRecord(t *rapid.T, what string, k db.Key[Part], p Part, meta db.Meta) {
	r := m.model[k]
	if r == nil {
		t.Fatalf("%s found %v, which the model does not have", what, k)
	}
	if !samePart(p, r.part) {
		t.Fatalf("%s of %v = %+v, want %+v", what, k, p, r.part)
	}
	if meta.Changes != r.changes || meta.CreatedBy != r.createdBy || meta.ModifiedBy != r.modifiedBy {
		t.Fatalf("%s of %v: meta changes %d by %q/%q, want %d by %q/%q", what, k,
			meta.Changes, meta.CreatedBy, meta.ModifiedBy, r.changes, r.createdBy, r.modifiedBy)
	}
	if meta.Version != db.NonVersioned || meta.Modified.Before(meta.Created) {
		t.Fatalf("%s of %v: meta %+v", what, k, meta)
	}
}

func (m *modelMachine) All(t *rapid.T) {
	var got []db.Key[Part]
	for k, p := range m.parts.All() {
		r := m.model[k]
		if r == nil || !samePart(*p, r.part) {
			t.Fatalf("All yields %v = %+v; the model has %+v", k, *p, r)
		}
		got = append(got, k)
	}
	want := slices.SortedFunc(maps.Keys(m.model), cmpKey)
	if !slices.Equal(got, want) {
		t.Fatalf("All yields keys %v, want %v", got, want)
	}
}

func (m *modelMachine) Len(t *rapid.T) {
	if n := m.parts.Len(); n != len(m.model) {
		t.Fatalf("Len = %d, want %d", n, len(m.model))
	}
}

func (m *modelMachine) Reopen(t *rapid.T) {
	if err := m.d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.parts.View(db.Key[Part]{ID: 1}, func(*Part, db.Meta) {}); !errors.Is(err, db.ErrClosed) {
		t.Fatalf("View after Close: %v, want ErrClosed", err)
	}
	m.open(t)
}

func TestModel(t *testing.T) {
	rounds := 1
	if os.Getenv("HILLS_LONG") == "1" {
		rounds = 20 // each round is rapid's -rapid.checks runs
	}
	for range rounds {
		rapid.Check(t, func(t *rapid.T) {
			dir, err := os.MkdirTemp("", "hills-model-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			m := &modelMachine{dir: dir, model: map[db.Key[Part]]*modelRecord{}, nextID: 1}
			m.open(t)
			defer func() { m.d.Close() }()
			t.Repeat(map[string]func(*rapid.T){
				"Create": m.Create,
				"Update": m.Update,
				"Delete": m.Delete,
				"View":   m.View,
				"Get":    m.Get,
				"All":    m.All,
				"Len":    m.Len,
				"Reopen": m.Reopen,
				"":       m.Len,
			})
		})
	}
}
