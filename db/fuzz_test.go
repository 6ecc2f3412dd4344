package db_test

import (
	"errors"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/record"
)

// FuzzStoredValue stores fuzzed bytes as the value of a record (behind a
// valid header, or as the whole record when raw is set), reopens the
// database and reads the tree: nothing panics, a record is either
// readable everywhere or reported corrupt, and the other record is intact.
func FuzzStoredValue(f *testing.F) {
	f.Add([]byte{0x84, 0xa6, 'n', 'u', 'm', 'b', 'e', 'r', 0xa1, 'X', 0xa5, 'm', 'a', 'k', 'e', 'r', 0xa0,
		0xa8, 'q', 'u', 'a', 'n', 't', 'i', 't', 'y', 0x05, 0xa4, 't', 'a', 'g', 's', 0x91, 0xa1, 'a'}, false)
	f.Add([]byte{0x80}, false)
	f.Add([]byte{0xc0}, false)
	f.Add([]byte{0x81, 0xa4, 't', 'a', 'g', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}, false)
	f.Add([]byte{0x81, 0xa8, 'q', 'u', 'a', 'n', 't', 'i', 't', 'y', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{0xde, 0xff, 0xff}, false)
	f.Add([]byte("garbage"), true)
	f.Fuzz(func(t *testing.T, b []byte, raw bool) {
		dir := t.TempDir()
		d, err := db.Open(dir, &db.Options{Durability: db.NoSync, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		parts, err := db.OpenTree[Part](d, "parts")
		if err != nil {
			t.Fatal(err)
		}
		good, _ := parts.Create(Part{Number: "good", Quantity: 1})
		fuzzed, _ := parts.Create(Part{Number: "fuzzed"})
		d.Close()
		if !raw {
			b = record.Encode(nil, &record.Meta{Changes: 1}, b)
		}
		corrupt(t, dir, "parts", fuzzed.ID, b)

		d, err = db.Open(dir, &db.Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		parts, err = db.OpenTree[Part](d, "parts")
		if err != nil {
			t.Fatalf("OpenTree: %v", err)
		}
		if p, _, err := parts.Get(good); err != nil || p.Number != "good" || p.Quantity != 1 {
			t.Fatalf("the other record: %+v, %v", p, err)
		}
		viewErr := parts.View(fuzzed, func(*Part, db.Meta) {})
		_, _, getErr := parts.Get(fuzzed)
		_, listed := parts.Corrupt()[fuzzed]
		n := 0
		for range parts.All() {
			n++
		}
		if viewErr == nil {
			if getErr != nil || listed || n != 2 || parts.Len() != 2 {
				t.Fatalf("readable record: Get %v, listed corrupt %v, All %d, Len %d", getErr, listed, n, parts.Len())
			}
			if err := parts.Update(fuzzed, func(p *Part) error { p.Quantity++; return nil }); err != nil {
				t.Fatalf("Update of a readable record: %v", err)
			}
			return
		}
		if !errors.Is(viewErr, db.ErrCorrupt) || !errors.Is(getErr, db.ErrCorrupt) || !listed || n != 1 || parts.Len() != 1 {
			t.Fatalf("unreadable record: View %v, Get %v, listed corrupt %v, All %d, Len %d", viewErr, getErr, listed, n, parts.Len())
		}
		if err := parts.Delete(fuzzed); err != nil {
			t.Fatalf("Delete of a corrupt record: %v", err)
		}
	})
}
