package db_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
)

// BenchmarkEvolutionRead measures what reading records of another minor
// version costs: the time OpenTree takes to load and decode every record
// of a tree, per record, for
//
//   - cur:      1.1 code reading 1.1 records (the baseline),
//   - older:    1.1 code reading 1.0 records (fields missing),
//   - base10:   1.0 code reading 1.0 records (the baseline of the next),
//   - newer:    1.0 code reading 1.1 records (fields it does not know).
//
// It reports older/cur and newer/base10; the target is at most 1.5.
func BenchmarkEvolutionRead(b *testing.B) {
	const n = 20000
	root := b.TempDir()
	write := func(name string, v11 bool) string {
		dir := filepath.Join(root, name)
		d, err := db.Open(dir, &db.Options{Durability: db.NoSync})
		if err != nil {
			b.Fatal(err)
		}
		if v11 {
			t, err := db.OpenTree[ItemV11](d, "items", db.SchemaVersion(1, 1))
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				t.Create(ItemV11{Number: fmt.Sprintf("P-%06d", i), Maker: "acme", Color: "red",
					Codes: []uint16{1, 2, 300}, Dims: DimsV11{W: i, Units: "mm"}})
			}
		} else {
			t, err := db.OpenTree[ItemV10](d, "items")
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				t.Create(ItemV10{Number: fmt.Sprintf("P-%06d", i), Maker: "acme", Dims: Dims{W: i}})
			}
		}
		d.Close()
		return dir
	}
	dir11, dir10 := write("v11", true), write("v10", false)

	load := func(dir string, v11 bool) time.Duration {
		d, err := db.Open(dir, &db.Options{Durability: db.NoSync})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		start := time.Now()
		var l int
		if v11 {
			t, err := db.OpenTree[ItemV11](d, "items", db.SchemaVersion(1, 1))
			if err != nil {
				b.Fatal(err)
			}
			l = t.Len()
		} else {
			t, err := db.OpenTree[ItemV10](d, "items")
			if err != nil {
				b.Fatal(err)
			}
			l = t.Len()
		}
		el := time.Since(start)
		if l != n {
			b.Fatalf("loaded %d records, want %d", l, n)
		}
		return el
	}
	// The first opens store the union schemas; not part of the figures.
	load(dir10, true)
	load(dir11, false)

	var cur, older, base10, newer time.Duration
	b.ResetTimer()
	for b.Loop() {
		cur += load(dir11, true)
		older += load(dir10, true)
		base10 += load(dir10, false)
		newer += load(dir11, false)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(cur), "ns/rec-cur")
	b.ReportMetric(per(older), "ns/rec-older")
	b.ReportMetric(per(older)/per(cur), "older/cur")
	b.ReportMetric(per(base10), "ns/rec-base10")
	b.ReportMetric(per(newer), "ns/rec-newer")
	b.ReportMetric(per(newer)/per(base10), "newer/base10")
}
