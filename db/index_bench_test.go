package db_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
)

// benchPair is the sorted-slice baseline's entry.
type benchPair struct {
	k   string
	key db.Key[Part]
}

var sinkKeys []db.Key[Part]

// compare runs op and its baseline base alternately, one of each per
// iteration, so that both see the same machine. It reports op's time and
// allocations as ns/op and index-allocs/op, the baseline's as name-ns/op and
// name-allocs/op, and the ratio of the times as x-name.
func compare(b *testing.B, name string, op, base func()) {
	b.Helper()
	var tOp, tBase time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if n%2 == 0 {
			op()
			t1 := time.Now()
			base()
			tOp, tBase = tOp+t1.Sub(t0), tBase+time.Since(t1)
		} else {
			base()
			t1 := time.Now()
			op()
			tBase, tOp = tBase+t1.Sub(t0), tOp+time.Since(t1)
		}
		n++
	}
	opNs := float64(tOp.Nanoseconds()) / float64(n)
	baseNs := float64(tBase.Nanoseconds()) / float64(n)
	b.ReportMetric(opNs, "ns/op")
	b.ReportMetric(baseNs, name+"-ns/op")
	b.ReportMetric(opNs/baseNs, "x-"+name)
	b.ReportMetric(testing.AllocsPerRun(100, op), "index-allocs/op")
	b.ReportMetric(testing.AllocsPerRun(100, base), name+"-allocs/op")
}

// BenchmarkIndex100k measures an index over 100,000 records against a
// sorted slice of the same (index key, record key) pairs searched with
// sort.Search (see compare for the figures reported).
func BenchmarkIndex100k(b *testing.B) {
	const n = 100_000
	d := mustOpen(b, b.TempDir(), &db.Options{Name: "bench", Durability: db.NoSync})
	parts := mustTree[Part](b, d, "parts")
	for i := range n {
		if _, err := parts.Create(Part{Number: fmt.Sprintf("P%06d", (i*7919)%n), Maker: "acme"}); err != nil {
			b.Fatal(err)
		}
	}
	ix, err := db.NewIndex(parts, "by-number", byNumber)
	if err != nil {
		b.Fatal(err)
	}
	var slice []benchPair
	for k, p := range parts.All() {
		slice = append(slice, benchPair{p.Number, k})
	}
	slices.SortFunc(slice, func(a, b benchPair) int {
		if c := cmp.Compare(a.k, b.k); c != 0 {
			return c
		}
		return cmp.Compare(a.key.ID, b.key.ID)
	})
	search := func(k string) int { return sort.Search(len(slice), func(i int) bool { return slice[i].k >= k }) }
	rng := rand.New(rand.NewPCG(1, 2))
	queries := make([]string, 4096)
	for i := range queries {
		queries[i] = fmt.Sprintf("P%06d", rng.IntN(n))
	}
	var sink int

	b.Run("Lookup", func(b *testing.B) {
		qi := 0
		indexOp := func() {
			qi = (qi + 1) % len(queries)
			sinkKeys = ix.Lookup(queries[qi])
		}
		baseOp := func() {
			qi = (qi + 1) % len(queries)
			q := queries[qi]
			var out []db.Key[Part]
			for i := search(q); i < len(slice) && slice[i].k == q; i++ {
				out = append(out, slice[i].key)
			}
			sinkKeys = out
		}
		compare(b, "slice", indexOp, baseOp)
	})

	for _, width := range []int{100, n} {
		b.Run(fmt.Sprintf("Range%d", width), func(b *testing.B) {
			type span struct{ lo, hi string }
			spans := make([]span, len(queries))
			for i := range spans {
				lo := rng.IntN(n - width + 1)
				spans[i] = span{fmt.Sprintf("P%06d", lo), fmt.Sprintf("P%06d", lo+width)}
			}
			if width == n {
				spans = []span{{"", "Q"}}
			}
			qi := 0
			bounds := func() (string, string) {
				qi = (qi + 1) % len(spans)
				return spans[qi].lo, spans[qi].hi
			}
			indexOp := func() {
				lo, hi := bounds()
				for _, k := range ix.Range(lo, hi) {
					sink += int(k.ID)
				}
			}
			baseOp := func() {
				lo, hi := bounds()
				for i := search(lo); i < len(slice) && slice[i].k < hi; i++ {
					sink += int(slice[i].key.ID)
				}
			}
			compare(b, "slice", indexOp, baseOp)
		})
	}

	b.Run("Prefix", func(b *testing.B) {
		qi := 0
		indexOp := func() {
			qi = (qi + 1) % len(queries)
			p := queries[qi][:5] // 10 records
			for _, k := range db.IndexPrefix(ix, p) {
				sink += int(k.ID)
			}
		}
		baseOp := func() {
			qi = (qi + 1) % len(queries)
			p := queries[qi][:5]
			for i := search(p); i < len(slice) && strings.HasPrefix(slice[i].k, p); i++ {
				sink += int(slice[i].key.ID)
			}
		}
		compare(b, "slice", indexOp, baseOp)
	})

	b.Run("Search", func(b *testing.B) {
		qi := 0
		indexOp := func() {
			qi = (qi + 1) % len(queries)
			sink += len(db.IndexSearch(ix, strings.ToLower(queries[qi][2:]), 20))
		}
		baseOp := func() {
			qi = (qi + 1) % len(queries)
			sub := strings.ToLower(queries[qi][2:])
			var out []db.Key[Part]
			for _, p := range slice {
				if strings.Contains(strings.ToLower(p.k), sub) {
					out = append(out, p.key)
					if len(out) == 20 {
						break
					}
				}
			}
			sink += len(out)
		}
		compare(b, "slice", indexOp, baseOp)
	})

	built := 0 // index names stay distinct across -count runs
	b.Run("NewIndex", func(b *testing.B) {
		for b.Loop() {
			built++
			if _, err := db.NewIndex(parts, fmt.Sprintf("again-%d", built), byNumber); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = sink
}

// BenchmarkIndexCreate measures Create on a tree with one index (plain or
// unique) against Create on a tree with none, in the same database
// (NoSync, so the log sync does not hide the cost); see compare for the
// figures reported.
func BenchmarkIndexCreate(b *testing.B) {
	for _, unique := range []bool{false, true} {
		name := "index"
		if unique {
			name = "unique"
		}
		b.Run(name, func(b *testing.B) {
			d := mustOpen(b, b.TempDir(), &db.Options{Name: "bench", Durability: db.NoSync})
			plain := mustTree[Part](b, d, "plain")
			indexed := mustTree[Part](b, d, "indexed")
			var opts []db.IndexOption
			if unique {
				opts = append(opts, db.Unique())
			}
			if _, err := db.NewIndex(indexed, "by-number", byNumber, opts...); err != nil {
				b.Fatal(err)
			}
			i := 0
			create := func(t *db.Tree[Part]) func() {
				return func() {
					i++
					if _, err := t.Create(Part{Number: fmt.Sprintf("P%09d", i), Maker: "acme"}); err != nil {
						b.Fatal(err)
					}
				}
			}
			compare(b, "plain", create(indexed), create(plain))
		})
	}
}
