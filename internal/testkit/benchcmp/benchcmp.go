// Package benchcmp measures a piece of code against a baseline in the
// same benchmark, so the figure that matters is a ratio, not a time that
// depends on the machine. It imports nothing of hills, so any package's
// tests can use it.
package benchcmp

import (
	"runtime"
	"testing"
	"time"
)

// Ratio runs fn and base in turn, once each per iteration of b, and
// reports each one's ns/op and allocs/op and base-ns/fn-ns (how many
// times faster fn is). b's own ns/op covers both.
func Ratio(b *testing.B, fn, base func()) {
	b.Helper()
	var tFn, tBase time.Duration
	var aFn, aBase uint64
	var m0, m1, m2 runtime.MemStats
	for b.Loop() {
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		fn()
		t1 := time.Now()
		runtime.ReadMemStats(&m1)
		t2 := time.Now()
		base()
		t3 := time.Now()
		runtime.ReadMemStats(&m2)
		tFn += t1.Sub(t0)
		tBase += t3.Sub(t2)
		aFn += m1.Mallocs - m0.Mallocs
		aBase += m2.Mallocs - m1.Mallocs
	}
	n := float64(b.N)
	b.ReportMetric(float64(tFn.Nanoseconds())/n, "fn-ns/op")
	b.ReportMetric(float64(tBase.Nanoseconds())/n, "base-ns/op")
	b.ReportMetric(float64(aFn)/n, "fn-allocs/op")
	b.ReportMetric(float64(aBase)/n, "base-allocs/op")
	if tFn > 0 {
		b.ReportMetric(float64(tBase)/float64(tFn), "base/fn")
	}
}

// Apart runs fn and base as the sub-benchmarks "fn" and "base", each on
// its own (neither pays for the other's garbage), for benchstat to
// compare; Ratio is the figure that does not depend on the machine's
// load between the two.
func Apart(b *testing.B, fn, base func()) {
	b.Helper()
	for _, c := range []struct {
		name string
		fn   func()
	}{{"fn", fn}, {"base", base}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.fn()
			}
		})
	}
}
