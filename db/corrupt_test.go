package db_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/storetest"
)

// storeWithTable builds a database with records in a table file and
// closes it.
func storeWithTable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	d, err := db.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := parts.Create(Part{Number: fmt.Sprintf("R%05d", i), Maker: strings.Repeat("m", i%40)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(d); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCorruptStore: a damaged file of the store is an error that wraps
// ErrCorrupt and names the file, from Open or from loading the tree; never
// a panic, never records silently missing.
func TestCorruptStore(t *testing.T) {
	storetest.CheckDamages(t, storeWithTable, openAndLoad, db.ErrCorrupt)
}

// openAndLoad opens the database in dir and loads its tree.
func openAndLoad(dir string) error {
	d, err := db.Open(dir, nil)
	if err != nil {
		return err
	}
	defer d.Close()
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		return err
	}
	if n := parts.Len(); n != 2000 {
		return fmt.Errorf("loaded %d of 2000 records", n)
	}
	return nil
}
