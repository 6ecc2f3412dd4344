package mirror_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/mirror"
	"github.com/hillsdb/hills/internal/testkit"
)

// BenchmarkMirrorLag measures how long a change takes from its Create on
// a replica to its row committed in PostgreSQL by the mirror, with the
// replica creating 1,000 records a second (HILLS_MIRROR_CHANGES of them,
// default 2000). It reports the lag's p50 and p99.
//
//	go test ./internal/mirror -run '^$' -bench MirrorLag -benchtime 1x
func BenchmarkMirrorLag(b *testing.B) {
	n := 2000
	if s := os.Getenv("HILLS_MIRROR_CHANGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("HILLS_MIRROR_CHANGES=%q", s)
		}
	}
	url, srv, w, parts, mtok := setup(b)
	addr := srv.Addr().String()
	testkit.Create(b, parts, Part{Number: "first"})
	w.sync(b)

	var mu sync.Mutex
	created := map[uint32]time.Time{}
	var lags []time.Duration
	done, ready := make(chan struct{}), make(chan struct{})
	var once sync.Once
	m := startMirror(b, mirror.Options{Server: addr, Token: mtok, Postgres: url, Replica: filepath.Join(b.TempDir(), "m"),
		Flushed: func(_ uint64, keys []db.OpaqueKey) {
			now := time.Now()
			once.Do(func() { close(ready) }) // the first flush: the start's reconciliation
			mu.Lock()
			defer mu.Unlock()
			for _, k := range keys {
				if at, ok := created[k.ID]; ok {
					lags = append(lags, now.Sub(at))
					delete(created, k.ID)
				}
			}
			if len(lags) == n {
				close(done)
			}
		}})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		b.Fatal("the mirror did not start")
	}
	for b.Loop() {
		tick := time.NewTicker(time.Millisecond)
		for range n {
			<-tick.C
			mu.Lock()
			k, err := parts.Create(Part{Number: "p"})
			if err != nil {
				mu.Unlock()
				b.Fatal(err)
			}
			created[k.ID] = time.Now()
			mu.Unlock()
		}
		tick.Stop()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("%d of %d changes reached PostgreSQL", len(lags), n)
		}
	}
	m.stop(b)
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100])/1e6, "p99-ms")
}
