package db_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
)

// benchPart is the record of the benchmarks: about 100 bytes of msgpack.
type benchPart struct {
	Number   string `msgpack:"number"`
	Maker    string `msgpack:"maker"`
	Quantity int    `msgpack:"quantity"`
	Location string `msgpack:"location"`
	Note     string `msgpack:"note"`
}

var makers = []string{"Yageo", "Murata", "ST", "TI", "Vishay", "Samsung", "Bourns"}

func makeBenchPart(i int) benchPart {
	return benchPart{
		Number:   fmt.Sprintf("RC0603FR-07%07dL", i),
		Maker:    makers[i%len(makers)],
		Quantity: (i * 7919) % 100000,
		Location: fmt.Sprintf("R%02d-S%03d", i%50, i%1000),
		Note:     "thick film chip resistor 1%",
	}
}

// baselines holds the ns/op of each baseline sub-benchmark, by name, for
// the sub-benchmark measured against it.
var baselines sync.Map

// nsPerOp is the time per operation of b's last run; call it at the end.
func nsPerOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(max(b.N, 1))
}

// reportRatio reports b's ns/op over baseline's as metric unit.
func reportRatio(b *testing.B, baseline, unit string) {
	base, ok := baselines.Load(baseline)
	if !ok {
		b.Logf("run the %s sub-benchmark too for the %s ratio", baseline, unit)
		return
	}
	b.ReportMetric(nsPerOp(b)/base.(float64), unit)
}

// fillTree creates n records in tree "parts" of a new database in dir
// through the public API, with NoSync, and returns their keys.
func fillTree(b *testing.B, dir string, n int) []db.Key[benchPart] {
	d, err := db.Open(dir, &db.Options{Durability: db.NoSync, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	parts, err := db.OpenTree[benchPart](d, "parts")
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]db.Key[benchPart], n)
	for i := range keys {
		if keys[i], err = parts.Create(makeBenchPart(i)); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}

// BenchmarkView compares View of a cached record with a lookup of the same
// *T in a Go map, at random keys over 10k records. Target: 0 allocs and at
// most 3x the map's ns/op (metric x-map).
func BenchmarkView(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	keys := fillTree(b, dir, n)
	d, err := db.Open(dir, &db.Options{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	parts, err := db.OpenTree[benchPart](d, "parts")
	if err != nil {
		b.Fatal(err)
	}
	m := make(map[db.Key[benchPart]]*benchPart, n)
	for k, v := range parts.All() {
		m[k] = v
	}
	order := make([]db.Key[benchPart], 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range order {
		order[i] = keys[rng.IntN(n)]
	}
	mask := len(order) - 1

	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		sum, i := 0, 0
		for b.Loop() {
			v, ok := m[order[i&mask]]
			if ok {
				sum += v.Quantity
			}
			i++
		}
		sink.Store(int64(sum))
		baselines.Store("view/map", nsPerOp(b))
	})
	b.Run("View", func(b *testing.B) {
		b.ReportAllocs()
		sum, i := 0, 0
		for b.Loop() {
			err := parts.View(order[i&mask], func(v *benchPart, _ db.Meta) { sum += v.Quantity })
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
		sink.Store(int64(sum))
		reportRatio(b, "view/map", "x-map")
		// The machine may be busy: the ratio of the best of alternating
		// runs of both holds up better than that of two runs in turn.
		b.StopTimer()
		j := 0
		tv, tm := alternate(200, func() {
			for range 2000 {
				parts.View(order[j&mask], func(v *benchPart, _ db.Meta) { sum += v.Quantity })
				j++
			}
		}, func() {
			for range 2000 {
				if v, ok := m[order[j&mask]]; ok {
					sum += v.Quantity
				}
				j++
			}
		})
		b.ReportMetric(float64(tv)/float64(tm), "x-map-alt")
	})
}

// alternate runs a and b in turn, rounds times each, and returns the
// shortest time each took.
func alternate(rounds int, a, b func()) (ta, tb time.Duration) {
	ta, tb = time.Hour, time.Hour
	for range rounds {
		start := time.Now()
		a()
		mid := time.Now()
		b()
		end := time.Now()
		ta, tb = min(ta, mid.Sub(start)), min(tb, end.Sub(mid))
	}
	return ta, tb
}

var sink atomic.Int64

// BenchmarkAll times a full All scan over 100k records against ranging
// over a sorted []*T of the same values. Target: at most 2 ms per scan.
func BenchmarkAll(b *testing.B) {
	const n = 100000
	dir := b.TempDir()
	fillTree(b, dir, n)
	d, err := db.Open(dir, &db.Options{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	parts, err := db.OpenTree[benchPart](d, "parts")
	if err != nil {
		b.Fatal(err)
	}
	slice := make([]*benchPart, 0, n)
	for _, v := range parts.All() {
		slice = append(slice, v)
	}
	if len(slice) != n {
		b.Fatalf("All yields %d records, want %d", len(slice), n)
	}

	b.Run("slice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sum := 0
			for _, v := range slice {
				sum += v.Quantity
			}
			sink.Store(int64(sum))
		}
		baselines.Store("all/slice", nsPerOp(b))
	})
	b.Run("All", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sum, seen := 0, 0
			for _, v := range parts.All() {
				sum += v.Quantity
				seen++
			}
			if seen != n {
				b.Fatalf("All yields %d records, want %d", seen, n)
			}
			sink.Store(int64(sum))
		}
		b.ReportMetric(nsPerOp(b)/1e6, "ms/scan")
		reportRatio(b, "all/slice", "x-slice")
		b.StopTimer()
		ta, ts := alternate(20, func() {
			for _, v := range parts.All() {
				sink.Add(int64(v.Quantity))
			}
		}, func() {
			for _, v := range slice {
				sink.Add(int64(v.Quantity))
			}
		})
		b.ReportMetric(float64(ta)/1e6, "ms/scan-best")
		b.ReportMetric(float64(ta)/float64(ts), "x-slice-alt")
	})
}

// open1M is the database of BenchmarkOpen1M, built once per process.
var open1M struct {
	once    sync.Once
	dir     string
	rawSize int64 // sum of the msgpack sizes of the values
	err     error
}

const open1MRecords = 1000000

// buildOpen1M writes 1M records into a temporary database (removed by
// TestMain) through the public API, with NoSync.
func buildOpen1M(b *testing.B) {
	open1M.once.Do(func() {
		dir, err := os.MkdirTemp("", "hills-bench-open1m-")
		if err != nil {
			open1M.err = err
			return
		}
		benchDirs = append(benchDirs, dir)
		open1M.dir = filepath.Join(dir, "db")
		d, err := db.Open(open1M.dir, &db.Options{Durability: db.NoSync, Name: "bench"})
		if err != nil {
			open1M.err = err
			return
		}
		defer d.Close()
		parts, err := db.OpenTree[benchPart](d, "parts")
		if err != nil {
			open1M.err = err
			return
		}
		for i := range open1MRecords {
			p := makeBenchPart(i)
			enc, _ := msgpack.Marshal(&p)
			open1M.rawSize += int64(len(enc))
			if _, err := parts.Create(p); err != nil {
				open1M.err = err
				return
			}
		}
	})
	if open1M.err != nil {
		b.Fatal(open1M.err)
	}
}

// benchDirs are removed by TestMain when the benchmarks are done.
var benchDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range benchDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkOpen1M times opening a database of 1M records of about 100
// bytes until all are readable (Open + OpenTree), and the heap they take,
// against a raw Pebble iteration over the same store. Targets: at most
// 1.5 s, heap at most 3x the raw data size (metric heap/raw).
func BenchmarkOpen1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1M-record database")
	}
	buildOpen1M(b)
	var storedSize int64
	b.Run("pebble", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			pdb, err := pebble.Open(open1M.dir, &pebble.Options{Logger: quietLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			lo := layout.RecordPrefix("parts")
			it, err := pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: layout.PrefixEnd(lo)})
			if err != nil {
				b.Fatal(err)
			}
			var n, size int64
			for ok := it.First(); ok; ok = it.Next() {
				v, err := it.ValueAndErr()
				if err != nil {
					b.Fatal(err)
				}
				n++
				size += int64(len(it.Key()) + len(v))
			}
			it.Close()
			pdb.Close()
			if n != open1MRecords {
				b.Fatalf("%d records, want %d", n, open1MRecords)
			}
			storedSize = size
		}
		b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/open")
		baselines.Store("open/pebble", nsPerOp(b))
	})
	b.Run("db", func(b *testing.B) {
		var heap uint64
		cpu0 := cpuTime()
		for b.Loop() {
			b.StopTimer()
			before := heapInUse()
			b.StartTimer()
			d, err := db.Open(open1M.dir, &db.Options{Logger: discardLogger()})
			if err != nil {
				b.Fatal(err)
			}
			parts, err := db.OpenTree[benchPart](d, "parts")
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if parts.Len() != open1MRecords || len(parts.Corrupt()) != 0 {
				b.Fatalf("Len %d, %d corrupt, want %d", parts.Len(), len(parts.Corrupt()), open1MRecords)
			}
			if after := heapInUse(); after > before {
				heap = after - before
			}
			runtime.KeepAlive(parts)
			d.Close()
			b.StartTimer()
		}
		b.ReportMetric(nsPerOp(b)/1e9, "s/open")
		// CPU time counts what the open costs, whatever else runs on
		// the machine (it includes the GCs the timer leaves out).
		b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/open")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
		b.ReportMetric(float64(heap)/float64(open1M.rawSize), "heap/raw")
		if storedSize > 0 {
			b.ReportMetric(float64(heap)/float64(storedSize), "heap/stored")
		}
		reportRatio(b, "open/pebble", "x-pebble")
	})
}

// BenchmarkCreateParallel compares durable Create (SyncOnCommit) from 8
// goroutines with raw Pebble batch commits (pebble.Sync) of the same
// bytes from 8 goroutines in a separate store. Target: at least 0.7x
// Pebble's throughput (metric x-pebble-throughput).
func BenchmarkCreateParallel(b *testing.B) {
	const writers = 8
	p := makeBenchPart(42)
	data, err := msgpack.Marshal(&p)
	if err != nil {
		b.Fatal(err)
	}
	rec := record.Encode(nil, &record.Meta{Changes: 1, CreatedBy: "bench", CreatedByID: "0d6f3c1e-4a53-4b0e-9a2f-5c1d2e3f4a5b",
		ModifiedBy: "bench", ModifiedByID: "0d6f3c1e-4a53-4b0e-9a2f-5c1d2e3f4a5b"}, data)
	info, err := msgpack.Marshal(&layout.TreeInfo{NextID: 1 << 20, Major: 1})
	if err != nil {
		b.Fatal(err)
	}

	// writeAll runs op n times in all from 8 goroutines.
	writeAll := func(n int, op func(i int) error) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		for range writers {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					if err := op(int(i)); err != nil {
						failed.Store(&err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			return *err
		}
		return nil
	}
	parallel := func(b *testing.B, op func(i int) error) {
		b.ResetTimer()
		if err := writeAll(b.N, op); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	}
	openPebble := func(b *testing.B) *pebble.DB {
		pdb, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietLogger{},
			MemTableSize: 32 << 20, FormatMajorVersion: pebble.FormatNewest})
		if err != nil {
			b.Fatal(err)
		}
		return pdb
	}
	// pebbleCreate writes what Create writes: the record and the tree info.
	var pebbleID atomic.Uint32
	pebbleCreate := func(pdb *pebble.DB) func(int) error {
		treeKey := layout.TreeKey("parts")
		return func(int) error {
			batch := pdb.NewBatch()
			batch.Set(layout.RecordKey("parts", layout.Pack(pebbleID.Add(1), 0)), rec, nil)
			batch.Set(treeKey, info, nil)
			err := batch.Commit(pebble.Sync)
			batch.Close()
			return err
		}
	}

	b.Run("pebble", func(b *testing.B) {
		pdb := openPebble(b)
		defer pdb.Close()
		parallel(b, pebbleCreate(pdb))
		baselines.Store("create/pebble", nsPerOp(b))
	})
	b.Run("db", func(b *testing.B) {
		d, err := db.Open(b.TempDir(), &db.Options{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		parts, err := db.OpenTree[benchPart](d, "parts")
		if err != nil {
			b.Fatal(err)
		}
		create := func(int) error {
			_, err := parts.Create(p)
			return err
		}
		parallel(b, create)
		if base, ok := baselines.Load("create/pebble"); ok {
			// Throughput ratio: Pebble's time per op over ours.
			b.ReportMetric(base.(float64)/nsPerOp(b), "x-pebble-throughput")
		}
		// The disk's sync time varies from run to run: the best of
		// alternating rounds of both compares them under the same load.
		pdb := openPebble(b)
		defer pdb.Close()
		const n = 400
		var errs [2]error
		td, tp := alternate(6, func() { errs[0] = writeAll(n, create) }, func() { errs[1] = writeAll(n, pebbleCreate(pdb)) })
		if errs[0] != nil || errs[1] != nil {
			b.Fatal(errs)
		}
		b.ReportMetric(float64(tp)/float64(td), "x-pebble-throughput-alt")
	})
}
