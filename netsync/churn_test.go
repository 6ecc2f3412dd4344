package netsync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// lockInput is an operation on one record's check-out, as a lock.
type lockInput struct {
	record  int
	client  int
	acquire bool // false: release
}

// lockModel is a lock per record: acquire needs it free, release needs the
// releaser to hold it.
var lockModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			r := op.Input.(lockInput).record
			by[r] = append(by[r], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return -1 },
	Step: func(state, input, _ any) (bool, any) {
		holder, in := state.(int), input.(lockInput)
		if in.acquire {
			return holder == -1, in.client
		}
		return holder == in.client, -1
	},
	DescribeOperation: func(input, _ any) string {
		in := input.(lockInput)
		if in.acquire {
			return fmt.Sprintf("c%d acquire r%d", in.client, in.record)
		}
		return fmt.Sprintf("c%d release r%d", in.client, in.record)
	},
}

type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in lockInput, call, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Return: ret})
	h.mu.Unlock()
}

// TestCheckOutExclusiveUnderChurn has clients compete for few records
// while connections drop and the server restarts, records every hold, and
// checks with porcupine that the holds are those of one lock per record:
// never two holders at once.
func TestCheckOutExclusiveUnderChurn(t *testing.T) {
	const nClients, nRecords = 6, 3
	dur := 6 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	if os.Getenv("HILLS_LONG") == "1" {
		dur = 60 * time.Second
	}
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	addr := srv.addr
	rs := make([]*replicaT, nClients)
	for i := range rs {
		rs[i] = newReplica(t, fmt.Sprintf("c%d", i), addr)
	}
	keys := make([]db.Key[Part], nRecords)
	for i := range keys {
		keys[i] = createWhenIDs(t, rs[0], Part{Number: fmt.Sprintf("R%d", i)})
	}
	waitSynced(t, rs...)

	h := &history{start: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var connMu sync.Mutex // guards the replicas' clients against the disconnector
	client := func(i int) *replicaT { return rs[i] }
	edits := make([]int, nRecords)
	var editMu sync.Mutex

	for ci := range nClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			r := client(ci)
			for {
				select {
				case <-stop:
					return
				default:
				}
				ri := rng.IntN(nRecords)
				k := keys[ri]
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(50+rng.IntN(400))*time.Millisecond)
				call := h.now()
				err := r.parts.CheckOut(ctx, k)
				ret := h.now()
				cancel()
				if err != nil {
					// A client closed under it (reconnect) ends it too.
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, db.ErrOffline) && !errors.Is(err, netsync.ErrClosed) {
						t.Errorf("c%d check-out: %v", ci, err)
						return
					}
					continue
				}
				h.add(ci, lockInput{ri, ci, true}, call, ret)
				// Hold it a little; edit it.
				if err := r.parts.Update(k, func(p *Part) error { p.Quantity++; return nil }); err != nil {
					t.Errorf("c%d update while holding: %v", ci, err)
				} else {
					editMu.Lock()
					edits[ri]++
					editMu.Unlock()
				}
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				call = h.now()
				for {
					err := r.parts.CheckIn(context.Background(), k)
					if err == nil {
						h.add(ci, lockInput{ri, ci, false}, call, h.now())
						break
					}
					if errors.Is(err, db.ErrNotCheckedOut) {
						// The check-in was processed before the
						// connection dropped: observed lost.
						h.add(ci, lockInput{ri, ci, false}, call, h.now())
						break
					}
					if !errors.Is(err, db.ErrOffline) && !errors.Is(err, netsync.ErrClosed) {
						t.Errorf("c%d check-in: %v", ci, err)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Go(func() {
		chaos(t, stop, rand.New(rand.NewPCG(99, 1)), &srv, sdir, 300, func(rng *rand.Rand) {
			connMu.Lock()
			r := rs[rng.IntN(nClients)]
			r.reconnect(t, addr)
			connMu.Unlock()
		})
	})
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	acquires := 0
	for _, op := range h.ops {
		if op.Input.(lockInput).acquire {
			acquires++
		}
	}
	t.Logf("%d operations, %d holds, %d edits", len(h.ops), acquires, edits)
	if acquires < nRecords*3 {
		t.Fatalf("only %d holds in %v: too little progress", acquires, dur)
	}
	if !porcupine.CheckOperations(lockModel, h.ops) {
		t.Fatal("the history of holds is not that of one lock per record")
	}
	// Every accepted edit arrived everywhere: the quantities add up. The
	// second round finds on every replica what the first one pushed.
	waitSynced(t, rs...)
	waitSynced(t, rs...)
	for _, r := range rs {
		for ri, k := range keys {
			if got := qty(t, r, k); got != edits[ri] {
				t.Errorf("%s: record %d has quantity %d, want %d edits", r.d.Name(), ri, got, edits[ri])
			}
		}
	}
	for _, r := range rs {
		for _, rec := range r.d.Recovered() {
			t.Errorf("%s set edits aside: %+v", r.d.Name(), rec)
		}
	}
}

// chaos drops connections (drop) and restarts the server *srv (its store
// in sdir, on the same address) at random, every 100 ms to 100+spread ms,
// until stop closes.
func chaos(t *testing.T, stop <-chan struct{}, rng *rand.Rand, srv **testServer, sdir string, spread int, drop func(rng *rand.Rand)) {
	addr := (*srv).addr
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(100+rng.IntN(spread)) * time.Millisecond):
		}
		if rng.IntN(4) == 0 {
			(*srv).stop(t)
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			*srv = startServer(t, sdir, addr, nil)
			continue
		}
		drop(rng)
	}
}

// TestLockModelRejectsTwoHolders makes sure the checker can fail.
func TestLockModelRejectsTwoHolders(t *testing.T) {
	ops := []porcupine.Operation{
		{ClientId: 0, Input: lockInput{0, 0, true}, Call: 0, Return: 1},
		{ClientId: 1, Input: lockInput{0, 1, true}, Call: 2, Return: 3},
		{ClientId: 0, Input: lockInput{0, 0, false}, Call: 4, Return: 5},
	}
	if porcupine.CheckOperations(lockModel, ops) {
		t.Fatal("two holders at once accepted")
	}
	ops[1].Call, ops[1].Return = 4, 6
	if !porcupine.CheckOperations(lockModel, ops) {
		t.Fatal("an acquire concurrent with the release refused")
	}
}
