package db_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/storetest"
)

// damagedStore builds a database with records in a table file, closes it
// and applies damage.
func damagedStore(t *testing.T, damage storetest.Damage) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
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
	return dir, damage.Do(t, dir)
}

// TestCorruptStore: a damaged file of the store is an error that wraps
// ErrCorrupt and names the file, from Open or from loading the tree; never
// a panic, never records silently missing.
func TestCorruptStore(t *testing.T) {
	for _, damage := range storetest.Damages {
		t.Run(damage.Name, func(t *testing.T) {
			dir, file := damagedStore(t, damage)
			err := openAndLoad(t, dir)
			if err == nil {
				t.Fatalf("opening a store with %s: no error", damage.Name)
			}
			t.Logf("%v", err)
			if !errors.Is(err, db.ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), filepath.Base(file)) {
				t.Fatalf("error %q does not name %s", err, filepath.Base(file))
			}
		})
	}
}

// openAndLoad opens the database in dir and loads its tree, turning a
// panic into a test failure.
func openAndLoad(t *testing.T, dir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
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
