package db

import (
	"path/filepath"
	"testing"
)

// Checkpoint writes a copy of the open database that opens with every
// record written before it; the copy does not follow later writes.
func TestCheckpoint(t *testing.T) {
	d, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tr, err := OpenTree[cpRec](d, "recs")
	if err != nil {
		t.Fatal(err)
	}
	k, err := tr.Create(cpRec{Name: "before"})
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "cp")
	if err := d.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	if err := d.Checkpoint(cp); err == nil {
		t.Fatal("a checkpoint into an existing directory")
	}
	if _, err := tr.Create(cpRec{Name: "after"}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(cp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ct, err := OpenTree[cpRec](c, "recs")
	if err != nil {
		t.Fatal(err)
	}
	if r, _, err := ct.Get(k); err != nil || r.Name != "before" || ct.Len() != 1 {
		t.Fatalf("the copy: %+v, %v, %d records", r, err, ct.Len())
	}
	if !d.Allows("recs", "edit") || d.Allows("recs", "fly") {
		t.Fatal("Allows on a standalone database")
	}
}

type cpRec struct {
	Name string `msgpack:"name"`
}
