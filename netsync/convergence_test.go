package netsync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// TestRandomizedConvergence runs clients doing random creates, check-outs,
// updates, deletes and check-ins, with random disconnects, and checks that
// every replica ends equal to the server's state (read by a fresh replica).
func TestRandomizedConvergence(t *testing.T) {
	clients, steps := 4, 40
	if os.Getenv("HILLS_LONG") != "" {
		clients, steps = 8, 400
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	srv := startServer(t, t.TempDir(), "", nil)
	rs := make([]*replicaT, clients)
	for i := range rs {
		name := fmt.Sprintf("station-%d", i)
		rs[i] = openReplica(t, filepath.Join(t.TempDir(), name), name, srv.addr, &netsync.ClientOptions{RangeSize: 8, Logger: quiet})
	}
	waitSynced(t, rs...) // every client starts with ids
	var wg sync.WaitGroup
	for i, r := range rs {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() { randomClient(t, r, srv.addr, rng, steps) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitSynced(t, rs...) // CheckIn needs the connection
	for _, r := range rs {
		for k := range r.parts.All() {
			if r.parts.Borrow(k).Mine {
				if err := r.parts.CheckIn(context.Background(), k); err != nil {
					t.Fatalf("%s check-in %v: %v", r.d.Name(), k, err)
				}
			}
		}
	}
	waitSynced(t, rs...)
	fresh := newReplica(t, "fresh", srv.addr)
	waitSynced(t, fresh)
	waitSynced(t, rs...) // everyone has the last check-ins
	want := snapshot(fresh)
	if len(want) == 0 {
		t.Fatal("nothing was created")
	}
	for _, r := range rs {
		if got := snapshot(r); !equalSnap(got, want) {
			t.Fatalf("%s differs from the server:\n got %v\nwant %v", r.d.Name(), got, want)
		}
		if st := r.c.Status(); st.Outbox != 0 {
			t.Fatalf("%s outbox %d", r.d.Name(), st.Outbox)
		}
	}
	t.Logf("%d records converged on %d replicas", len(want), len(rs)+1)
}

type snapRec struct {
	p       Part
	changes uint32
}

func snapshot(r *replicaT) map[db.Key[Part]]snapRec {
	out := map[db.Key[Part]]snapRec{}
	for k := range r.parts.All() {
		r.parts.View(k, func(p *Part, m db.Meta) { out[k] = snapRec{*p, m.Changes} })
	}
	return out
}

func equalSnap(a, b map[db.Key[Part]]snapRec) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func randomClient(t *testing.T, r *replicaT, addr string, rng *rand.Rand, steps int) {
	name := r.d.Name()
	for range steps {
		keys := make([]db.Key[Part], 0, 16)
		for k := range r.parts.All() {
			keys = append(keys, k)
		}
		pick := func() (db.Key[Part], bool) {
			if len(keys) == 0 {
				return db.Key[Part]{}, false
			}
			return keys[rng.IntN(len(keys))], true
		}
		switch n := rng.IntN(100); {
		case n < 30:
			r.parts.Create(Part{Number: name, Quantity: rng.IntN(1000)}) // ErrNoIDs is fine
		case n < 55:
			if k, ok := pick(); ok {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				r.parts.CheckOut(ctx, k)
				cancel()
			}
		case n < 75:
			if k, ok := pick(); ok && r.parts.Borrow(k).Mine {
				if err := r.parts.Update(k, func(p *Part) error { p.Quantity++; p.Number = name; return nil }); err != nil {
					t.Errorf("%s update %v held: %v", name, k, err)
					return
				}
			}
		case n < 82:
			if k, ok := pick(); ok && r.parts.Borrow(k).Mine {
				if err := r.parts.Delete(k); err != nil {
					t.Errorf("%s delete %v held: %v", name, k, err)
					return
				}
			}
		case n < 94:
			if k, ok := pick(); ok && r.parts.Borrow(k).Mine {
				r.parts.CheckIn(context.Background(), k) // ErrOffline is fine
			}
		default:
			// Disconnect for a while, keep working offline, reconnect.
			r.c.Close()
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			c, err := netsync.Connect(r.d, addr, &netsync.ClientOptions{RangeSize: 8, Logger: quiet})
			if err != nil {
				t.Errorf("%s reconnect: %v", name, err)
				return
			}
			r.c = c
		}
	}
}
