package widgets

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
)

// benchRow is the record of the benchmark trees: a few fields of the
// common kinds.
type benchRow struct {
	Number string    `msgpack:"number"`
	Name   string    `msgpack:"name"`
	Qty    int32     `msgpack:"qty"`
	Price  float64   `msgpack:"price"`
	Active bool      `msgpack:"active"`
	Added  time.Time `msgpack:"added"`
}

type benchTree struct {
	d    *db.DB
	tree *db.Tree[benchRow]
}

var (
	benchMu    sync.Mutex
	benchTrees = map[int]*benchTree{}
)

// openBench returns a tree of n records, built once per process with
// NoSync durability in a temporary directory (removed at exit by the
// benchmark's caller being the whole process: see TestMain's temp dir).
func openBench(b *testing.B, n int) *benchTree {
	benchMu.Lock()
	defer benchMu.Unlock()
	if bt := benchTrees[n]; bt != nil {
		return bt
	}
	dir, err := os.MkdirTemp("", "hills-widgets-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	d, err := db.Open(dir, &db.Options{Durability: db.NoSync, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	t, err := db.OpenTree[benchRow](d, "rows")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		_, err := t.Create(benchRow{Number: fmt.Sprintf("P-%07d", i), Name: "Resistor 10k 0603", Qty: int32(i % 5000), Price: float64(i%1000) / 100, Active: i%3 != 0, Added: base.Add(time.Duration(i) * time.Second)})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built a tree of %d records in %v", n, time.Since(start).Round(time.Millisecond))
	bt := &benchTree{d: d, tree: t}
	benchTrees[n] = bt
	return bt
}

var benchDirs []string

// tableFrames measures frames of a table over a tree of n records, each
// frame scrolled by step rows from the previous one: 0 redraws the same
// rows (cells cached), 1 is smooth scrolling (one new row per frame read
// from the store and shaped), 30 jumps a page (every row new).
func tableFrames(b *testing.B, n int, step int, frames int, timed bool) time.Duration {
	bt := openBench(b, n)
	o, err := bt.d.Opaque("rows")
	if err != nil {
		b.Fatal(err)
	}
	tb := NewTable(o, nil)
	defer tb.Close()
	tb.WaitIdle()
	th := NewTheme()
	u := newUI(1200, 28*31) // header + 30 rows
	frame := func(i int) {
		tb.list.Position.First = (i * step) % max(1, tb.Len()-30)
		tb.list.Position.Offset = 0
		u.frame(func(gtx layout.Context) { tb.Layout(gtx, th) })
	}
	frame(0) // the first frame fills the cache
	if timed {
		b.ResetTimer()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			frame(i + 1)
		}
		return 0
	}
	start := time.Now()
	for i := range frames {
		frame(i + 1)
	}
	return time.Since(start) / time.Duration(frames)
}

// benchSteps are the scroll steps of the frame benchmarks.
var benchSteps = []struct {
	name string
	step int
}{{"steady", 0}, {"scroll", 1}, {"jump", 30}}

// BenchmarkTableFrame lays out one frame of the viewer's table (30 visible
// rows, 10 columns) over a tree of 1M records. The baseline is the same
// frame over 1k records: a virtualized table costs the same whatever the
// tree's size. See tableFrames for steady, scroll and jump.
func BenchmarkTableFrame(b *testing.B) {
	for _, st := range benchSteps {
		b.Run(st.name, func(b *testing.B) {
			base := tableFrames(b, 1000, st.step, 200, false)
			tableFrames(b, 1_000_000, st.step, 0, true)
			per := b.Elapsed() / time.Duration(max(1, b.N))
			b.ReportMetric(float64(base.Nanoseconds()), "ns/frame-1k")
			b.ReportMetric(float64(per)/float64(max(1, base.Nanoseconds())), "x-vs-1k")
		})
	}
}

// BenchmarkListFrame lays out one frame of the typed List (30 visible
// rows, each read zero-copy with View) over 100k records, against the
// same frame over 1k records; steps as in BenchmarkTableFrame.
func BenchmarkListFrame(b *testing.B) {
	for _, st := range benchSteps {
		b.Run(st.name, func(b *testing.B) { listFrames(b, st.step) })
	}
}

func listFrames(b *testing.B, step int) {
	run := func(n int, frames int, timed bool) time.Duration {
		bt := openBench(b, n)
		th := NewTheme()
		l := &List[benchRow]{Tree: bt.tree}
		u := newUI(800, 28*30)
		row := func(gtx layout.Context, k db.Key[benchRow], v *benchRow, m db.Meta, sel bool) layout.Dimensions {
			return th.Label(v.Number).Layout(gtx)
		}
		frame := func(i int) {
			l.list.Position.First = (i * step) % max(1, l.Len()-30)
			u.frame(func(gtx layout.Context) { l.Layout(gtx, th, row) })
		}
		frame(0)
		if timed {
			b.ResetTimer()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				frame(i + 1)
			}
			return 0
		}
		start := time.Now()
		for i := range frames {
			frame(i + 1)
		}
		return time.Since(start) / time.Duration(frames)
	}
	base := run(1000, 200, false)
	run(100_000, 0, true)
	per := b.Elapsed() / time.Duration(max(1, b.N))
	b.ReportMetric(float64(base.Nanoseconds()), "ns/frame-1k")
	b.ReportMetric(float64(per)/float64(max(1, base.Nanoseconds())), "x-vs-1k")
}

// BenchmarkTableSort sorts the table over 1M records by a field (every
// record's text read once in a sequential scan, in the table's
// goroutine), then back to key order; ms-list-1M is the listing in key
// order alone, which needs no record text.
func BenchmarkTableSort(b *testing.B) {
	bt := openBench(b, 1_000_000)
	o, err := bt.d.Opaque("rows")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	tb := NewTable(o, nil)
	defer tb.Close()
	tb.WaitIdle()
	list := time.Since(start)
	q := -1
	for i, c := range tb.Columns {
		if c.Title == "qty" {
			q = i
		}
	}
	b.ResetTimer()
	for b.Loop() {
		tb.SortBy(-1, false) // key order: lists the keys only
		tb.WaitIdle()
		tb.SortBy(q, false) // reads every record once
		tb.WaitIdle()
	}
	b.ReportMetric(float64(list.Milliseconds()), "ms-list-1M")
}
