package db

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestEntryMap checks the lock-free map against a Go map under random
// sets and deletes, with readers running all along.
func TestEntryMap(t *testing.T) {
	var m entryMap
	var mu sync.Mutex
	model := map[uint64]*entry{}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := rng.Uint64N(512)
				if e := m.get(k); e != nil && e.key != k {
					t.Errorf("get(%d) returned the entry of %d", k, e.key)
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := rng.Uint64N(512)
		mu.Lock()
		if rng.IntN(3) == 0 {
			got := m.del(k)
			if got != model[k] {
				t.Fatalf("step %d: del(%d) = %v, want %v", i, k, got, model[k])
			}
			delete(model, k)
		} else {
			e := &entry{key: k, state: uint32(i)}
			if got := m.set(e); got != model[k] {
				t.Fatalf("step %d: set(%d) replaced %v, want %v", i, k, got, model[k])
			}
			model[k] = e
		}
		if m.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", i, m.len(), len(model))
		}
		mu.Unlock()
		if i%1000 == 0 {
			for k := range uint64(512) {
				if m.get(k) != model[k] {
					t.Fatalf("step %d: get(%d) = %v, want %v", i, k, m.get(k), model[k])
				}
			}
		}
	}
	close(stop)
	readers.Wait()
}
