package db_test

import (
	"errors"
	"math"
	"testing"

	"github.com/hillsdb/hills/db"
)

func TestVersioning(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	boms := mustTree[Part](t, d, "boms", db.Versioned())
	k, err := boms.Create(Part{Number: "BOM-1", Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, m, _ := boms.Get(k); m.Version != db.Draft {
		t.Fatalf("new record: %v, want draft", m.Version)
	}
	// A draft cannot be revised.
	if _, err := boms.Revise(k); !errors.Is(err, db.ErrNotReleased) {
		t.Fatalf("Revise of a draft: %v, want ErrNotReleased", err)
	}
	if err := boms.Release(k); err != nil {
		t.Fatal(err)
	}
	if err := boms.Release(k); err != nil {
		t.Fatalf("second Release: %v, want nil", err)
	}
	// Data is frozen...
	if err := boms.Update(k, func(p *Part) error { p.Quantity = 3; return nil }); !errors.Is(err, db.ErrReleased) {
		t.Fatalf("Update of released: %v", err)
	}
	if err := boms.Delete(k); !errors.Is(err, db.ErrReleased) {
		t.Fatalf("Delete of released: %v", err)
	}
	// ...its lifecycle state is not.
	if err := boms.SetState(k, 5); err != nil {
		t.Fatal(err)
	}
	p, m, err := boms.Get(k)
	if err != nil || p.Quantity != 2 || m.State != 5 || m.Version != db.Released || m.Changes != 3 {
		t.Fatalf("released after SetState: %+v %+v %v", p, m, err)
	}

	// Revise makes Rev+1 as a draft copy; the released revision stays.
	k1, err := boms.Revise(k)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != (db.Key[Part]{ID: k.ID, Rev: 1}) {
		t.Fatalf("revision key %v, want %d.1", k1, k.ID)
	}
	if _, err := boms.Revise(k); !errors.Is(err, db.ErrExists) {
		t.Fatalf("second Revise of the same revision: %v, want ErrExists", err)
	}
	if err := boms.Update(k1, func(p *Part) error { p.Quantity = 4; return nil }); err != nil {
		t.Fatal(err)
	}
	p1, m1, _ := boms.Get(k1)
	p0, m0, _ := boms.Get(k)
	if p1.Quantity != 4 || p1.Number != "BOM-1" || m1.Version != db.Draft || m1.State != 0 {
		t.Fatalf("revision 1: %+v %+v", p1, m1)
	}
	if p0.Quantity != 2 || m0.Version != db.Released || m0.State != 5 {
		t.Fatalf("revision 0 changed: %+v %+v", p0, m0)
	}
	if boms.Len() != 2 {
		t.Fatalf("Len %d, want 2", boms.Len())
	}
	// Missing records.
	if err := boms.Release(db.Key[Part]{ID: 99}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Release of missing: %v", err)
	}
	if _, err := boms.Revise(db.Key[Part]{ID: 99}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Revise of missing: %v", err)
	}
	if _, err := boms.Revise(db.Key[Part]{ID: 1, Rev: math.MaxUint32}); !errors.Is(err, db.ErrExists) {
		t.Fatalf("Revise of the last revision: %v", err)
	}

	// The state survives a reopen; the tree stays versioned.
	dir := d.Dir()
	d.Close()
	d = mustOpen(t, dir, nil)
	if _, err := db.OpenTree[Part](d, "boms"); !errors.Is(err, db.ErrTreeOptions) {
		t.Fatalf("opening a versioned tree without Versioned: %v", err)
	}
	boms = mustTree[Part](t, d, "boms", db.Versioned())
	if _, m, _ := boms.Get(k); m.Version != db.Released || m.State != 5 {
		t.Fatalf("after reopen: %+v", m)
	}
	if err := boms.Update(k, func(*Part) error { return nil }); !errors.Is(err, db.ErrReleased) {
		t.Fatalf("Update of released after reopen: %v", err)
	}
}

func TestNonVersionedRefusesReleaseAndRevise(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	parts := mustTree[Part](t, d, "parts")
	k, _ := parts.Create(Part{Number: "X"})
	if _, m, _ := parts.Get(k); m.Version != db.NonVersioned {
		t.Fatalf("version %v", m.Version)
	}
	if err := parts.Release(k); !errors.Is(err, db.ErrNotVersioned) {
		t.Fatalf("Release: %v, want ErrNotVersioned", err)
	}
	if _, err := parts.Revise(k); !errors.Is(err, db.ErrNotVersioned) {
		t.Fatalf("Revise: %v, want ErrNotVersioned", err)
	}
	if err := parts.SetState(k, 2); err != nil {
		t.Fatalf("SetState on a non-versioned tree: %v", err)
	}
	if _, err := db.OpenTree[Part](d, "parts", db.Versioned()); !errors.Is(err, db.ErrTreeOptions) {
		t.Fatalf("reopening as versioned: %v", err)
	}
}

// Release and SetState keep the record's data as stored, fields unknown
// to this version included; Revise copies it.
func TestMetaChangesKeepData(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	v11 := mustTree[ItemV11](t, d, "items", db.Versioned(), db.SchemaVersion(1, 1))
	k, _ := v11.Create(ItemV11{Number: "N", Color: "green"})
	d = reopen(t, d)
	v10 := mustTree[ItemV10](t, d, "items", db.Versioned())
	k10 := db.Key[ItemV10](k)
	if err := v10.Release(k10); err != nil {
		t.Fatal(err)
	}
	if err := v10.SetState(k10, 9); err != nil {
		t.Fatal(err)
	}
	k1, err := v10.Revise(k10)
	if err != nil {
		t.Fatal(err)
	}
	d = reopen(t, d)
	v11 = mustTree[ItemV11](t, d, "items", db.Versioned(), db.SchemaVersion(1, 1))
	for _, kk := range []db.Key[ItemV11]{k, db.Key[ItemV11](k1)} {
		v, m, err := v11.Get(kk)
		if err != nil || v.Color != "green" || m.Evolution != (db.Evolution{1, 1}) {
			t.Fatalf("%v after older code's meta changes: %+v %+v %v", kk, v, m, err)
		}
	}
}
