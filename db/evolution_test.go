package db_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
)

// Three versions of the same record type, as three releases of an
// application would declare it.
type Dims struct {
	W int `msgpack:"w"`
}

type DimsV11 struct {
	W     int    `msgpack:"w"`
	Units string `msgpack:"units"`
}

type ItemV10 struct {
	Number string `msgpack:"number"`
	Maker  string `msgpack:"maker"`
	Dims   Dims   `msgpack:"dims"`
}

type ItemV11 struct {
	Number string   `msgpack:"number"`
	Maker  string   `msgpack:"maker"`
	Color  string   `msgpack:"color"`
	Codes  []uint16 `msgpack:"codes"`
	Dims   DimsV11  `msgpack:"dims"`
}

type ItemBad struct {
	Number string `msgpack:"number"`
	Maker  int    `msgpack:"maker"` // was a string
}

type ItemV20 struct {
	Number string `msgpack:"number"`
	Maker  string `msgpack:"maker"`
	Label  string `msgpack:"label"` // color and number in one
}

// reopen closes d and opens its directory again.
func reopen(t *testing.T, d *db.DB) *db.DB {
	t.Helper()
	dir := d.Dir()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return mustOpen(t, dir, nil)
}

func TestEvolutionMatrix(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)

	// v1.0 writes a record.
	v10 := mustTree[ItemV10](t, d, "items")
	k1, err := v10.Create(ItemV10{Number: "A1", Maker: "acme", Dims: Dims{W: 3}})
	if err != nil {
		t.Fatal(err)
	}
	d = reopen(t, d)

	// v1.1 reads it (new fields zero), and writes a record of its own.
	v11 := mustTree[ItemV11](t, d, "items", db.SchemaVersion(1, 1))
	got, m, err := v11.Get(db.Key[ItemV11](k1))
	if err != nil || got.Number != "A1" || got.Maker != "acme" || got.Color != "" || got.Dims.W != 3 || m.Evolution != (db.Evolution{1, 0}) {
		t.Fatalf("v1.1 reading v1.0: %+v %+v %v", got, m, err)
	}
	k2, err := v11.Create(ItemV11{Number: "B2", Maker: "bolt", Color: "red", Codes: []uint16{7, 300}, Dims: DimsV11{W: 5, Units: "mm"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v11.Update(db.Key[ItemV11](k1), func(v *ItemV11) error { v.Color = "blue"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, m, _ := v11.Get(db.Key[ItemV11](k1)); m.Evolution != (db.Evolution{1, 1}) {
		t.Fatalf("updated by v1.1: evolution %v, want 1.1", m.Evolution)
	}
	d = reopen(t, d)

	// v1.0 reads the newer records, and updates one: the fields it does
	// not know survive, and the record still says 1.1.
	v10 = mustTree[ItemV10](t, d, "items")
	old, _, err := v10.Get(db.Key[ItemV10](k2))
	if err != nil || old.Number != "B2" || old.Dims.W != 5 {
		t.Fatalf("v1.0 reading v1.1: %+v %v", old, err)
	}
	if err := v10.Update(db.Key[ItemV10](k2), func(v *ItemV10) error { v.Maker = "bolt & co"; v.Dims.W = 6; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, m, _ := v10.Get(db.Key[ItemV10](k2)); m.Evolution != (db.Evolution{1, 1}) {
		t.Fatalf("v1.0 update of a v1.1 record: evolution %v, want 1.1", m.Evolution)
	}
	// The schema stays the newest one; opening with the older minor does
	// not shrink it.
	op, err := d.Opaque("items")
	if err != nil {
		t.Fatal(err)
	}
	if s := op.Schema(); s.Evolution != (db.Evolution{1, 1}) || len(s.Fields()) != 5 {
		t.Fatalf("schema after v1.0 opened: %v with %d fields", s.Evolution, len(s.Fields()))
	}
	d = reopen(t, d)

	// v1.1 sees its fields again, with the change v1.0 made.
	v11 = mustTree[ItemV11](t, d, "items", db.SchemaVersion(1, 1))
	got, _, err = v11.Get(k2)
	if err != nil || got.Maker != "bolt & co" || got.Color != "red" || len(got.Codes) != 2 || got.Codes[1] != 300 ||
		got.Dims.W != 6 || got.Dims.Units != "mm" {
		t.Fatalf("v1.1 after v1.0's update: %+v %v", got, err)
	}
	d = reopen(t, d)

	// A field that changed kind is refused, naming tree, field and
	// versions; nothing is written.
	_, err = db.OpenTree[ItemBad](d, "items", db.SchemaVersion(1, 2))
	if !errors.Is(err, db.ErrIncompatible) {
		t.Fatalf("incompatible change: %v, want ErrIncompatible", err)
	}
	for _, s := range []string{"items", "maker", "1.1", "1.2"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	// A new major version without a migration is refused too.
	_, err = db.OpenTree[ItemV20](d, "items", db.SchemaVersion(2, 0))
	if !errors.Is(err, db.ErrIncompatible) || !strings.Contains(err.Error(), "migration") {
		t.Fatalf("major 2 without migration: %v", err)
	}
	op, _ = d.Opaque("items")
	if s := op.Schema(); s.Evolution != (db.Evolution{1, 1}) {
		t.Fatalf("refused opens changed the schema: %v", s.Evolution)
	}

	// With a migration, every record moves to 2.0 at open.
	migrate := db.Migrate(1, func(old map[string]any) (ItemV20, error) {
		n, _ := old["number"].(string)
		c, _ := old["color"].(string)
		mk, _ := old["maker"].(string)
		return ItemV20{Number: n, Maker: mk, Label: strings.TrimSpace(n + " " + c)}, nil
	})
	v20 := mustTree[ItemV20](t, d, "items", db.SchemaVersion(2, 0), migrate)
	for k, want := range map[db.Key[ItemV20]]string{{ID: k1.ID}: "A1 blue", {ID: k2.ID}: "B2 red"} {
		v, m, err := v20.Get(k)
		if err != nil || v.Label != want || m.Evolution != (db.Evolution{2, 0}) {
			t.Fatalf("migrated %v: %+v %+v %v, want label %q at 2.0", k, v, m, err, want)
		}
	}
	d = reopen(t, d)
	// Migrated records need the migration no more; old code is refused.
	if _, err := db.OpenTree[ItemV11](d, "items", db.SchemaVersion(1, 1)); !errors.Is(err, db.ErrIncompatible) {
		t.Fatalf("v1.1 after migration to 2.0: %v, want ErrIncompatible", err)
	}
	v20 = mustTree[ItemV20](t, d, "items", db.SchemaVersion(2, 0))
	if v20.Len() != 2 || len(v20.Corrupt()) != 0 {
		t.Fatalf("after reopen at 2.0: %d records, corrupt %v", v20.Len(), v20.Corrupt())
	}
}

func TestMigrationRefusesMismatch(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	mustTree[ItemV10](t, d, "items")
	d = reopen(t, d)
	// A migration producing another type than the tree's is refused.
	wrong := db.Migrate(1, func(map[string]any) (ItemV11, error) { return ItemV11{}, nil })
	if _, err := db.OpenTree[ItemV20](d, "items", db.SchemaVersion(2, 0), wrong); !errors.Is(err, db.ErrTreeOptions) {
		t.Fatalf("migration of another type: %v, want ErrTreeOptions", err)
	}
	if _, err := db.OpenTree[ItemV20](d, "items", db.SchemaVersion(0, 1)); !errors.Is(err, db.ErrTreeOptions) {
		t.Fatalf("major 0: %v, want ErrTreeOptions", err)
	}
}

func TestMigrationErrorLeavesRecordsReadable(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	v10 := mustTree[ItemV10](t, d, "items")
	good, _ := v10.Create(ItemV10{Number: "ok"})
	bad, _ := v10.Create(ItemV10{Number: "fails"})
	d = reopen(t, d)
	migrate := db.Migrate(1, func(old map[string]any) (ItemV20, error) {
		if old["number"] == "fails" {
			return ItemV20{}, errors.New("cannot convert")
		}
		return ItemV20{Number: old["number"].(string)}, nil
	})
	v20 := mustTree[ItemV20](t, d, "items", db.SchemaVersion(2, 0), migrate)
	if _, _, err := v20.Get(db.Key[ItemV20]{ID: good.ID}); err != nil {
		t.Fatal(err)
	}
	cor := v20.Corrupt()
	if err := cor[db.Key[ItemV20]{ID: bad.ID}]; err == nil || !strings.Contains(err.Error(), "cannot convert") {
		t.Fatalf("record the migration refused: %v", cor)
	}
	// The record the migration refused is still of 1.0 and is migrated
	// by a fixed migration later.
	d = reopen(t, d)
	fixed := db.Migrate(1, func(old map[string]any) (ItemV20, error) {
		return ItemV20{Number: old["number"].(string) + " (fixed)"}, nil
	})
	v20 = mustTree[ItemV20](t, d, "items", db.SchemaVersion(2, 0), fixed)
	v, m, err := v20.Get(db.Key[ItemV20]{ID: bad.ID})
	if err != nil || v.Number != "fails (fixed)" || m.Evolution.Major != 2 {
		t.Fatalf("after the fixed migration: %+v %+v %v", v, m, err)
	}
	if v, _, _ := v20.Get(db.Key[ItemV20]{ID: good.ID}); v.Number != "ok" {
		t.Fatalf("a migrated record was migrated again: %+v", v)
	}
}

type Unsupported struct {
	Name  string `msgpack:"name"`
	Inner struct {
		Notify chan int `msgpack:"notify"`
	} `msgpack:"inner"`
}

func TestOpenTreeRefusesUnsupportedTypes(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	_, err := db.OpenTree[Unsupported](d, "bad")
	if !errors.Is(err, db.ErrSchema) || !strings.Contains(err.Error(), "inner.notify") || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("chan field: %v, want ErrSchema naming bad and inner.notify", err)
	}
	if _, err := db.OpenTree[struct{ F func() }](d, "bad2"); !errors.Is(err, db.ErrSchema) {
		t.Fatalf("func field: %v", err)
	}
	if _, err := db.OpenTree[struct{ V any }](d, "bad3"); !errors.Is(err, db.ErrSchema) {
		t.Fatalf("interface field: %v", err)
	}
	for _, name := range d.Trees() {
		if strings.HasPrefix(name, "bad") {
			t.Fatalf("a refused tree was created: %v", d.Trees())
		}
	}
}

func TestAnonymousAndLongNamedTypes(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	type row = struct {
		AVeryLongFieldNameNumberOne   string            `msgpack:"a"`
		AVeryLongFieldNameNumberTwo   map[string]int    `msgpack:"b"`
		AVeryLongFieldNameNumberThree []struct{ X int } `msgpack:"c"`
		AVeryLongFieldNameNumberFour  struct{ Y, Z string }
	}
	tr := mustTree[row](t, d, "rows")
	k, _ := tr.Create(row{AVeryLongFieldNameNumberOne: "x"})
	d = reopen(t, d)
	tr = mustTree[row](t, d, "rows")
	if v, _, err := tr.Get(db.Key[row](k)); err != nil || v.AVeryLongFieldNameNumberOne != "x" {
		t.Fatalf("%+v %v", v, err)
	}
	op, err := d.Opaque("rows")
	if err != nil {
		t.Fatal(err)
	}
	if s := op.Schema(); len(s.Fields()) != 4 || s.Type.Name != "" {
		t.Fatalf("schema %+v", s)
	}
}
