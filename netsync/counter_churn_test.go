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

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// TestCounterDeltasUnderChurn has stations take and return stock of one
// reel concurrently, with deltas of magnitudes unique to each call, while
// a holder edits and releases the reel, connections drop and the server
// restarts. The server's log then says which deltas it accepted: each
// change of the value is one delta sent, none twice, the value never below
// the floor, and every replica ends with the server's value exactly.
func TestCounterDeltasUnderChurn(t *testing.T) {
	const nStations = 4
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	if os.Getenv("HILLS_LONG") == "1" {
		dur = 60 * time.Second
	}
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	addr := srv.addr
	holder := newStation(t, "holder", addr)
	k := testkit.Create(t, holder.reels, Reel{Part: "R1", Stock: 3000})
	holder.sync(t, nil)
	ss := make([]*station, nStations)
	for i := range ss {
		ss[i] = newStation(t, fmt.Sprintf("s%d", i), addr)
		ss[i].sync(t, nil)
	}
	all := append([]*station{holder}, ss...)

	var mu sync.Mutex // guards sent and the stations' clients
	sent := map[int64]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(rng.IntN(4000)) * time.Microsecond):
				}
				d := int64(1 + i + nStations*j) // unique to this call
				if rng.IntN(10) < 6 {
					d = -d
				}
				err := s.reels.Add(k, "stock", d)
				switch {
				case err == nil:
					mu.Lock()
					sent[d] = true
					mu.Unlock()
				case errors.Is(err, db.ErrBelowFloor):
				default:
					t.Errorf("%s: add %d: %v", s.name, d, err)
					return
				}
			}
		})
	}
	notes := 0
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(42, 3))
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			err := holder.reels.CheckOut(ctx, k)
			cancel()
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, db.ErrOffline) && !errors.Is(err, netsync.ErrClosed) {
					t.Errorf("holder: check-out: %v", err)
					return
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			note := fmt.Sprintf("edit %d", round)
			err = holder.reels.Update(k, func(r *Reel) error { r.Note = note; return nil })
			if errors.Is(err, db.ErrReleased) {
				return // released: only counters move now
			}
			if err != nil && !errors.Is(err, db.ErrNotCheckedOut) {
				t.Errorf("holder: update: %v", err)
				return
			}
			if err == nil {
				notes++
			}
			if round == 8 {
				if err := holder.reels.Release(k); err != nil && !errors.Is(err, db.ErrNotCheckedOut) {
					t.Errorf("holder: release: %v", err)
				}
			}
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		}
	})
	wg.Go(func() {
		chaos(t, stop, rand.New(rand.NewPCG(99, 3)), &srv, sdir, 250, func(rng *rand.Rand) {
			mu.Lock()
			s := all[rng.IntN(len(all))]
			s.disconnect()
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			s.connect(t, addr, nil)
			mu.Unlock()
		})
	})
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	for range 2 {
		for _, s := range all {
			s.sync(t, db.ErrBelowFloor)
		}
	}

	recs, err := netsync.LogRecords(srv.Server, "reels", layout.Pack(k.ID, k.Rev))
	if err != nil {
		t.Fatal(err)
	}
	values := make([]int64, len(recs))
	for i, rec := range recs {
		_, data, err := record.Decode(rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if values[i], err = schema.ReadInt(data, "stock"); err != nil {
			t.Fatal(err)
		}
		if values[i] < 0 {
			t.Fatalf("log entry %d: stock %d, below the floor", i, values[i])
		}
	}
	if values[0] != 3000 {
		t.Fatalf("first logged value %d, want 3000", values[0])
	}
	accepted := map[int64]bool{}
	var sum int64
	for i := 1; i < len(values); i++ {
		d := values[i] - values[i-1]
		if d == 0 {
			continue // the holder's edit or release
		}
		if !sent[d] {
			t.Fatalf("log entry %d changed stock by %d: no station sent that", i, d)
		}
		if accepted[d] {
			t.Fatalf("delta %d applied twice", d)
		}
		accepted[d] = true
		sum += d
	}
	final := values[len(values)-1]
	if final != 3000+sum {
		t.Fatalf("final %d, want 3000%+d", final, sum)
	}
	for _, s := range all {
		if got := s.stock(t, k); got != final {
			t.Errorf("%s: stock %d, the server's %d", s.name, got, final)
		}
		// Every delta was answered, and the only refusals were floors.
		st := s.c.Status()
		if st.Outbox != 0 || errors.Is(st.Err, netsync.ErrRejected) && !errors.Is(st.Err, db.ErrBelowFloor) {
			t.Errorf("%s: status %+v", s.name, st)
		}
	}
	if r, _, err := holder.reels.Get(k); err != nil || r.Note != fmt.Sprintf("edit %d", notes-1) && notes > 0 {
		t.Errorf("holder's record %+v %v after %d edits", r, err, notes)
	}
	// The server refuses a delta only at the floor: never one that adds.
	for d := range sent {
		if !accepted[d] && d > 0 {
			t.Errorf("delta %+d sent and never applied", d)
		}
	}
	t.Logf("%d deltas sent, %d accepted, %d refused by the server; %d holder edits; final stock %d",
		len(sent), len(accepted), len(sent)-len(accepted), notes, final)
	if len(accepted) < 20 {
		t.Fatalf("only %d deltas accepted in %v: too little progress", len(accepted), dur)
	}
}
