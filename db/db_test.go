package db_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
)

type Part struct {
	Number   string   `msgpack:"number"`
	Maker    string   `msgpack:"maker"`
	Quantity int      `msgpack:"quantity"`
	Tags     []string `msgpack:"tags,omitempty"`
}

func mustOpen(t testing.TB, dir string, opts *db.Options) *db.DB {
	t.Helper()
	d, err := db.Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustTree[T any](t testing.TB, d *db.DB, name string, opts ...db.TreeOption) *db.Tree[T] {
	t.Helper()
	tr, err := db.OpenTree[T](d, name, opts...)
	if err != nil {
		t.Fatalf("open tree %s: %v", name, err)
	}
	return tr
}

func TestCreateViewUpdateDeleteReopen(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, &db.Options{Name: "bench-1"})
	parts := mustTree[Part](t, d, "parts")
	k, err := parts.Create(Part{Number: "R1", Quantity: 10, Tags: []string{"smd"}})
	if err != nil {
		t.Fatal(err)
	}
	if k != (db.Key[Part]{ID: 1, Rev: 0}) {
		t.Fatalf("first key = %v, want 1.0", k)
	}
	if err := parts.Update(k, func(p *Part) error { p.Quantity -= 3; return nil }); err != nil {
		t.Fatal(err)
	}
	var got Part
	var meta db.Meta
	if err := parts.View(k, func(p *Part, m db.Meta) { got, meta = *p, m }); err != nil {
		t.Fatal(err)
	}
	if got.Quantity != 7 || meta.Changes != 2 || meta.CreatedBy != "bench-1" || meta.ModifiedBy != "bench-1" {
		t.Fatalf("after update: %+v %+v", got, meta)
	}
	k2, _ := parts.Create(Part{Number: "R2"})
	if err := parts.Delete(k2); err != nil {
		t.Fatal(err)
	}
	if err := parts.Delete(k2); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = mustOpen(t, dir, nil)
	parts = mustTree[Part](t, d, "parts")
	if parts.Len() != 1 {
		t.Fatalf("Len after reopen = %d, want 1", parts.Len())
	}
	p, m, err := parts.Get(k)
	if err != nil || p.Quantity != 7 || p.Tags[0] != "smd" || m.Changes != 2 {
		t.Fatalf("Get after reopen: %+v %+v %v", p, m, err)
	}
	// Ids are never reused, also after delete and reopen.
	k3, err := parts.Create(Part{Number: "R3"})
	if err != nil || k3.ID != 3 {
		t.Fatalf("create after reopen: %v %v, want id 3", k3, err)
	}
}

func TestGetIsACopy(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	parts := mustTree[Part](t, d, "parts")
	tags := []string{"a"}
	k, _ := parts.Create(Part{Number: "X", Tags: tags})
	tags[0] = "changed by caller"
	p, _, _ := parts.Get(k)
	p.Tags[0] = "changed by Get's caller"
	parts.View(k, func(v *Part, _ db.Meta) {
		if v.Tags[0] != "a" {
			t.Fatalf("stored value changed through a caller's slice: %q", v.Tags[0])
		}
	})
}

func TestEventsInOrderAfterDurable(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, nil)
	parts := mustTree[Part](t, d, "parts")
	var mu sync.Mutex
	var got []db.Event[Part]
	done := make(chan struct{})
	const n = 50
	parts.Subscribe(func(e db.Event[Part]) {
		// An event means the change is readable.
		if e.Kind != db.Deleted {
			if err := parts.View(e.Key, func(*Part, db.Meta) {}); err != nil {
				t.Errorf("event %v before the record is readable: %v", e, err)
			}
		}
		mu.Lock()
		got = append(got, e)
		if len(got) == 2*n {
			close(done)
		}
		mu.Unlock()
	})
	// A slow subscriber does not hold up writers.
	parts.Subscribe(func(db.Event[Part]) { time.Sleep(50 * time.Millisecond) })
	start := time.Now()
	for i := range n {
		k, err := parts.Create(Part{Number: "P", Quantity: i})
		if err != nil {
			t.Fatal(err)
		}
		if err := parts.Update(k, func(p *Part) error { p.Quantity++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("writes took %v: a slow subscriber blocked them", el)
	}
	<-done
	for i, e := range got {
		wantKind := db.Created
		if i%2 == 1 {
			wantKind = db.Updated
		}
		if e.Kind != wantKind || e.Key.ID != uint32(i/2+1) {
			t.Fatalf("event %d = %+v, want %v of id %d", i, e, wantKind, i/2+1)
		}
	}
}

func TestReplicaRefusesWithoutCheckOutOrIDs(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Replica: true})
	parts := mustTree[Part](t, d, "parts")
	if _, err := parts.Create(Part{Number: "X"}); !errors.Is(err, db.ErrNoIDs) {
		t.Fatalf("create without ids: %v, want ErrNoIDs", err)
	}
}

// CheckIn takes the caller's context: a standalone database grants it at
// once, and a context that has ended already gives its error and leaves
// the borrow as it was.
func TestCheckInStandalone(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	parts := mustTree[Part](t, d, "parts")
	k, _ := parts.Create(Part{Number: "X"})
	if err := parts.CheckIn(t.Context(), k); !errors.Is(err, db.ErrNotCheckedOut) {
		t.Fatalf("check-in of a free record: %v, want ErrNotCheckedOut", err)
	}
	if err := parts.CheckOut(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if err := parts.CheckIn(ended, k); !errors.Is(err, context.Canceled) {
		t.Fatalf("check-in with an ended context: %v, want context.Canceled", err)
	}
	if b := parts.Borrow(k); !b.Mine {
		t.Fatalf("a refused check-in gave the record back: %+v", b)
	}
	if err := parts.CheckIn(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if b := parts.Borrow(k); b.Held {
		t.Fatalf("after check-in: %+v", b)
	}
}

func TestStandaloneCannotBecomeReplica(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d, err := db.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := db.Open(dir, &db.Options{Replica: true}); !errors.Is(err, db.ErrReplica) {
		t.Fatalf("open standalone as replica: %v, want ErrReplica", err)
	}
}

func TestCheckOutStandalone(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	parts := mustTree[Part](t, d, "parts")
	k, _ := parts.Create(Part{Number: "X"})
	if b := parts.Borrow(k); b.Held {
		t.Fatalf("new record borrowed: %+v", b)
	}
	if err := parts.CheckOut(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if b := parts.Borrow(k); !b.Held || !b.Mine {
		t.Fatalf("after check-out: %+v", b)
	}
	if err := parts.CheckOut(context.Background(), db.Key[Part]{ID: 99}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("check-out of missing: %v", err)
	}
	if err := parts.Delete(k); err != nil {
		t.Fatal(err)
	}
	if b := parts.Borrow(k); b.Held {
		t.Fatalf("delete left the borrow: %+v", b)
	}
}
