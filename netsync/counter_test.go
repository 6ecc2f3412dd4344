package netsync_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// Reel is a record with a counter that never goes below 0.
type Reel struct {
	Part  string `msgpack:"part"`
	Stock int64  `msgpack:"stock" hills:"counter,min=0"`
	Note  string `msgpack:"note,omitempty"`
}

// station is a replica that holds reels.
type station struct {
	d     *db.DB
	c     *netsync.Client
	reels *db.Tree[Reel]
	dir   string
	name  string
}

func openStation(t testing.TB, dir, name, addr string, copts *netsync.ClientOptions) *station {
	t.Helper()
	d, err := db.Open(dir, &db.Options{Replica: true, Name: name, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	reels, err := db.OpenTree[Reel](d, "reels", db.Versioned())
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	s := &station{d: d, reels: reels, dir: dir, name: name}
	s.connect(t, addr, copts)
	t.Cleanup(s.close)
	return s
}

func newStation(t testing.TB, name, addr string) *station {
	return openStation(t, filepath.Join(t.TempDir(), name), name, addr, nil)
}

func (s *station) connect(t testing.TB, addr string, copts *netsync.ClientOptions) {
	t.Helper()
	if copts == nil {
		copts = &netsync.ClientOptions{}
	}
	if copts.Logger == nil {
		copts.Logger = quiet
	}
	c, err := netsync.Connect(s.d, addr, copts)
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
}

func (s *station) disconnect() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

func (s *station) close() {
	s.disconnect()
	if s.d != nil {
		s.d.Close()
		s.d = nil
	}
}

// sync waits until s is caught up with the server and its outbox is
// acknowledged; a refusal matching past (when not nil) is waited past.
func (s *station) sync(t testing.TB, past error) {
	t.Helper()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.c.WaitSynced(ctx)
		cancel()
		if err == nil {
			return
		}
		if past == nil || !errors.Is(err, past) {
			t.Fatalf("%s: WaitSynced: %v (status %+v)", s.name, err, s.c.Status())
		}
	}
	t.Fatalf("%s: still not synced (status %+v)", s.name, s.c.Status())
}

func (s *station) stock(t testing.TB, k db.Key[Reel]) int64 {
	t.Helper()
	r, _, err := s.reels.Get(k)
	if err != nil {
		t.Fatalf("%s: %v: %v", s.name, k, err)
	}
	return r.Stock
}

// serverStock reads the counter as the server has it: through a fresh
// replica that adds nothing, so it holds the server's records exactly.
func serverStock(t testing.TB, srv *testServer, k db.Key[Reel]) int64 {
	t.Helper()
	o := newStation(t, "observer", srv.addr)
	defer o.close()
	o.sync(t, nil)
	return o.stock(t, k)
}

// reelSetup starts a server and stations named names, the first of which
// creates a reel of stock items; every station has it when it returns.
func reelSetup(t *testing.T, stock int64, names ...string) (*testServer, []*station, db.Key[Reel]) {
	t.Helper()
	srv := startServer(t, t.TempDir(), "", nil)
	ss := make([]*station, len(names))
	for i, n := range names {
		ss[i] = newStation(t, n, srv.addr)
	}
	k := testkit.Create(t, ss[0].reels, Reel{Part: "R1", Stock: stock})
	for _, s := range ss {
		s.sync(t, nil)
	}
	return srv, ss, k
}

func TestCounterDeltasFromSeveralReplicasAddUp(t *testing.T) {
	_, ss, k := reelSetup(t, 100, "a", "b")
	a, b := ss[0], ss[1]

	events := make(chan db.Event[Reel], 256)
	cancel := b.reels.Subscribe(func(e db.Event[Reel]) { events <- e })
	defer cancel()
	done := make(chan error, 2)
	for _, s := range []*station{a, b} {
		go func() {
			for range 20 {
				if err := s.reels.Add(k, "stock", -1); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	a.sync(t, nil)
	b.sync(t, nil)
	a.sync(t, nil)
	for _, s := range []*station{a, b} {
		if got := s.stock(t, k); got != 60 {
			t.Errorf("%s: stock %d, want 60", s.name, got)
		}
	}
	if len(events) < 20 {
		t.Errorf("b saw %d events for its 20 deltas and a's", len(events))
	}
}

// A delta needs no check-out: it lands while another replica holds the
// record and edits it, and the holder's edit keeps the delta.
func TestCounterHolderEditKeepsDeltas(t *testing.T) {
	srv, ss, k := reelSetup(t, 10, "holder", "picker")
	holder, picker := ss[0], ss[1]

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := holder.reels.CheckOut(ctx, k); err != nil {
		t.Fatal(err)
	}
	// The holder edits offline while the picker takes stock: the
	// holder's pushed record carries its old count.
	holder.disconnect()
	if err := holder.reels.Update(k, func(r *Reel) error { r.Note = "moved to shelf 3"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := holder.reels.Update(k, func(r *Reel) error { r.Stock = 99; return nil }); !errors.Is(err, db.ErrCounterField) {
		t.Fatalf("update of the counter: %v, want ErrCounterField", err)
	}
	picker.sync(t, nil)
	if err := picker.reels.Add(k, "stock", -4); err != nil {
		t.Fatalf("add without the check-out: %v", err)
	}
	picker.sync(t, nil)
	holder.connect(t, srv.addr, nil)
	holder.sync(t, nil)
	picker.sync(t, nil)
	for _, s := range []*station{holder, picker} {
		r, _, err := s.reels.Get(k)
		if err != nil || r.Stock != 6 || r.Note != "moved to shelf 3" {
			t.Errorf("%s: %+v %v, want stock 6 and the holder's note", s.name, r, err)
		}
	}
	// The holder releases it; stock still moves.
	if err := holder.reels.Release(k); err != nil {
		t.Fatal(err)
	}
	holder.sync(t, nil)
	picker.sync(t, nil)
	if err := picker.reels.Add(k, "stock", 5); err != nil {
		t.Fatalf("add to a released record: %v", err)
	}
	picker.sync(t, nil)
	holder.sync(t, nil)
	for _, s := range []*station{holder, picker} {
		r, m, err := s.reels.Get(k)
		if err != nil || r.Stock != 11 || m.Version != db.Released {
			t.Errorf("%s: %+v %v %v, want stock 11, released", s.name, r, m.Version, err)
		}
	}
}

// Two replicas take the last stock while one is offline: the server
// refuses the delta that would go below the floor, the sender's value is
// put back with an event, and its status says why.
func TestCounterBelowFloorRefusedAndPutBack(t *testing.T) {
	srv, ss, k := reelSetup(t, 5, "a", "b")
	a, b := ss[0], ss[1]

	b.disconnect()
	if err := b.reels.Add(k, "stock", -4); err != nil {
		t.Fatalf("offline add: %v", err)
	}
	if err := b.reels.Add(k, "stock", -2); !errors.Is(err, db.ErrBelowFloor) {
		t.Fatalf("local floor: %v, want ErrBelowFloor", err)
	}
	if got := b.stock(t, k); got != 1 {
		t.Fatalf("offline add applied locally: %d, want 1", got)
	}
	if err := a.reels.Add(k, "stock", -3); err != nil {
		t.Fatal(err)
	}
	a.sync(t, nil)

	events := make(chan db.Event[Reel], 16)
	cancel := b.reels.Subscribe(func(e db.Event[Reel]) { events <- e })
	defer cancel()
	b.connect(t, srv.addr, nil)
	b.sync(t, db.ErrBelowFloor)
	st := b.c.Status().Err
	if !errors.Is(st, db.ErrBelowFloor) || !errors.Is(st, netsync.ErrRejected) {
		t.Fatalf("status error %v, want ErrBelowFloor and ErrRejected", st)
	}
	if got := b.stock(t, k); got != 2 {
		t.Fatalf("b's value after the refusal: %d, want the server's 2", got)
	}
	select {
	case e := <-events:
		if e.Key != k || !e.Remote {
			t.Fatalf("event %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event when the refused delta was taken back")
	}
	if got := serverStock(t, srv, k); got != 2 {
		t.Fatalf("server stock %d, want 2", got)
	}
}

// A delta is in the record's history as an update by the station that
// made it, with the values before and after.
func TestCounterDeltaInHistory(t *testing.T) {
	_, ss, k := reelSetup(t, 5, "clerk", "picker")
	picker := ss[1]
	if err := picker.reels.Add(k, "stock", -2); err != nil {
		t.Fatal(err)
	}
	picker.sync(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := picker.c.History(ctx, db.OpaqueKey{Tree: "reels", ID: k.ID, Rev: k.Rev})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) < 2 {
		t.Fatalf("history %+v", h)
	}
	last := h[len(h)-1]
	if last.Kind != db.Updated || last.By != "picker" || !strings.Contains(last.Old, `"stock": 5`) || !strings.Contains(last.New, `"stock": 3`) {
		t.Fatalf("the delta in the history: %+v", last)
	}
}
