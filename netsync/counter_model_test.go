package netsync_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
)

// counterModel runs random deltas on offline replicas, their syncs (one at
// a time, so the server's order is known) and reopenings against a plain
// model: the server's value, and per replica the value it last saw and its
// pending deltas. A replica shows what it saw plus its pending deltas;
// after a sync, the server's value exactly.
type counterModel struct {
	t       *testing.T
	addr    string
	ss      []*station
	k       db.Key[Reel]
	server  int64
	seen    []int64
	pending [][]int64
	refused int // deltas the server refused, in all sequences
}

func (m *counterModel) local(i int) int64 {
	v := m.seen[i]
	for _, d := range m.pending[i] {
		v += d
	}
	return v
}

func (m *counterModel) Add(rt *rapid.T) {
	i := rapid.IntRange(0, len(m.ss)-1).Draw(rt, "replica")
	d := rapid.SampledFrom([]int64{-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 9}).Draw(rt, "delta")
	err := m.ss[i].reels.Add(m.k, "stock", d)
	switch {
	case d == 0:
		if err != nil {
			rt.Fatalf("add 0: %v", err)
		}
	case m.local(i)+d < 0:
		if !errors.Is(err, db.ErrBelowFloor) {
			rt.Fatalf("replica %d: %d%+d: %v, want ErrBelowFloor", i, m.local(i), d, err)
		}
	case err != nil:
		rt.Fatalf("replica %d: add %+d: %v", i, d, err)
	default:
		m.pending[i] = append(m.pending[i], d)
	}
}

// TakeAll takes everything a replica sees: two replicas doing it before
// they sync make the server refuse the second.
func (m *counterModel) TakeAll(rt *rapid.T) {
	i := rapid.IntRange(0, len(m.ss)-1).Draw(rt, "replica")
	v := m.local(i)
	if v <= 0 {
		return
	}
	if err := m.ss[i].reels.Add(m.k, "stock", -v); err != nil {
		rt.Fatalf("replica %d: take all %d: %v", i, v, err)
	}
	m.pending[i] = append(m.pending[i], -v)
}

func (m *counterModel) Sync(rt *rapid.T) {
	i := rapid.IntRange(0, len(m.ss)-1).Draw(rt, "replica")
	s := m.ss[i]
	refused := false
	for _, d := range m.pending[i] {
		if m.server+d < 0 {
			refused = true
			m.refused++
			continue
		}
		m.server += d
	}
	m.pending[i], m.seen[i] = nil, m.server
	s.connect(m.t, m.addr, nil)
	defer s.disconnect()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.c.WaitSynced(ctx)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, db.ErrBelowFloor) {
			rt.Fatalf("replica %d: sync: %v", i, err)
		}
	}
	if got := errors.Is(s.c.Status().Err, db.ErrBelowFloor); got != refused {
		rt.Fatalf("replica %d: status %v, refused in the model: %v", i, s.c.Status().Err, refused)
	}
}

func (m *counterModel) Reopen(rt *rapid.T) {
	i := rapid.IntRange(0, len(m.ss)-1).Draw(rt, "replica")
	s := m.ss[i]
	s.close()
	d, err := db.Open(s.dir, &db.Options{Replica: true, Name: s.name, Logger: quiet})
	if err != nil {
		rt.Fatal(err)
	}
	if s.reels, err = db.OpenTree[Reel](d, "reels", db.Versioned()); err != nil {
		d.Close()
		rt.Fatal(err)
	}
	s.d = d
}

func (m *counterModel) Check(rt *rapid.T) {
	for i, s := range m.ss {
		r, _, err := s.reels.Get(m.k)
		if err != nil || r.Stock != m.local(i) {
			rt.Fatalf("replica %d: stock %d %v, model %d (saw %d, pending %v; server %d)",
				i, r.Stock, err, m.local(i), m.seen[i], m.pending[i], m.server)
		}
	}
}

// TestCounterReplicaModel checks 10 random sequences (all of rapid's
// checks with HILLS_LONG=1).
func TestCounterReplicaModel(t *testing.T) {
	runs, refused, long := 0, 0, os.Getenv("HILLS_LONG") == "1"
	rapid.Check(t, func(rt *rapid.T) {
		if runs++; runs > 10 && !long {
			return
		}
		srv := startServer(t, t.TempDir(), "", nil)
		m := &counterModel{t: t, addr: srv.addr, server: 10}
		for i := range 3 {
			name := fmt.Sprintf("r%d", i)
			s := openStation(t, filepath.Join(t.TempDir(), name), name, srv.addr, nil)
			m.ss = append(m.ss, s)
		}
		m.k = testkit.Create(t, m.ss[0].reels, Reel{Part: "R1", Stock: 10})
		for _, s := range m.ss {
			s.sync(t, nil)
			s.disconnect()
		}
		m.seen, m.pending = []int64{10, 10, 10}, make([][]int64, 3)
		defer func() {
			for _, s := range m.ss {
				s.close()
			}
			srv.stop(t)
		}()
		rt.Repeat(rapid.StateMachineActions(m))
		refused += m.refused
	})
	if !long {
		runs = min(runs, 10)
	}
	t.Logf("%d sequences, %d deltas refused by the server", runs, refused)
	if refused == 0 {
		t.Fatal("no delta was refused by the server: the sequences do not test refusals")
	}
}
