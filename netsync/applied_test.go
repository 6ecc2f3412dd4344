package netsync_test

import (
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// appliedLog gathers what ClientOptions.Applied tells.
type appliedLog struct {
	mu    sync.Mutex
	steps []netsync.Applied
}

func (l *appliedLog) add(a netsync.Applied) {
	l.mu.Lock()
	l.steps = append(l.steps, a)
	l.mu.Unlock()
}

func (l *appliedLog) get() []netsync.Applied {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.steps)
}

// ClientOptions.Applied tells every log entry a replica applies once, in
// log order, with its sequence and the record or tree it changed, and
// the position after each step; the replica has applied the step when
// it is told. A replica catching up past a compacted log is told of a
// snapshot, at the server's sequence.
func TestClientApplied(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	w := newReplica(t, "w", srv.addr)
	var log appliedLog
	var stale []string
	var rp atomic.Pointer[replicaT]
	r := openReplica(t, filepath.Join(t.TempDir(), "r"), "r", srv.addr, &netsync.ClientOptions{Applied: func(a netsync.Applied) {
		log.add(a)
		r := rp.Load()
		gone := map[db.OpaqueKey]bool{}
		for _, ch := range a.Changes {
			gone[ch.Key] = gone[ch.Key] || ch.Kind == db.Deleted
		}
		for _, ch := range a.Changes {
			if r != nil && ch.Kind == db.Created && !gone[ch.Key] {
				if _, _, err := r.parts.Get(db.Key[Part]{ID: ch.Key.ID, Rev: ch.Key.Rev}); err != nil {
					log.mu.Lock()
					stale = append(stale, ch.Key.String())
					log.mu.Unlock()
				}
			}
		}
	}})
	rp.Store(r)
	k := createWhenIDs(t, w, Part{Number: "a"})
	createWhenIDs(t, w, Part{Number: "b"})
	if err := w.parts.CheckOut(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if err := w.parts.Update(k, func(p *Part) error { p.Quantity = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := w.parts.Delete(k); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, w, r)
	eventually(t, "the last step told", func() bool {
		s := log.get()
		return len(s) > 0 && s[len(s)-1].Seq == srv.Seq()
	})
	var seqs []uint64
	var kinds []db.EventKind
	last := uint64(0)
	for _, a := range log.get() {
		if a.Snapshot || a.Seq < last || a.Lineage == "" {
			t.Fatalf("step %+v after position %d", a, last)
		}
		for _, ch := range a.Changes {
			if ch.Seq > a.Seq || len(ch.Sum) == 0 {
				t.Fatalf("entry %+v in a step to %d", ch, a.Seq)
			}
			seqs = append(seqs, ch.Seq)
			if ch.Key.Tree != "parts" {
				t.Fatalf("entry %+v: tree %q", ch, ch.Key.Tree)
			}
			if ch.Key.ID == k.ID && ch.Kind != 0 {
				kinds = append(kinds, ch.Kind)
			}
		}
		last = a.Seq
	}
	want := make([]uint64, srv.Seq())
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(seqs, want) {
		t.Fatalf("entries told %v, want every one of the log once, in order: %v", seqs, want)
	}
	if !slices.Equal(kinds, []db.EventKind{db.Created, db.Updated, db.Deleted}) {
		t.Fatalf("the changes of %v told as %v", k, kinds)
	}
	log.mu.Lock()
	if len(stale) > 0 {
		t.Errorf("told before the replica had them: %v", stale)
	}
	log.mu.Unlock()

	// A replica below the compacted log takes a snapshot.
	for i := range 5 {
		createWhenIDs(t, w, Part{Number: "c", Quantity: i})
	}
	waitSynced(t, w)
	if _, err := srv.Compact(1); err != nil {
		t.Fatal(err)
	}
	var log2 appliedLog
	late := openReplica(t, filepath.Join(t.TempDir(), "late"), "late", srv.addr, &netsync.ClientOptions{Applied: log2.add})
	waitSynced(t, late)
	eventually(t, "the snapshot told", func() bool {
		for _, a := range log2.get() {
			if a.Snapshot && a.Seq == srv.Seq() && a.Lineage != "" {
				return true
			}
		}
		return false
	})
}
