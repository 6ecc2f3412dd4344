package widgets

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

func TestWatcherCoalesces(t *testing.T) {
	var calls atomic.Int64
	w := NewWatcher(func() { calls.Add(1) })
	defer w.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				w.Notify()
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("8000 notifications before a frame: %d invalidations, want 1", n)
	}
	if !w.Frame() {
		t.Fatal("Frame: no change reported after notifications")
	}
	if w.Frame() {
		t.Fatal("second Frame: change reported with no notification in between")
	}
	w.Notify()
	w.Notify()
	if n := calls.Load(); n != 2 {
		t.Fatalf("after a frame: %d invalidations, want 2", n)
	}
}

func TestWatcherTreeEvents(t *testing.T) {
	_, pt := mustDemo(t, 3, nil)
	var calls atomic.Int64
	w := NewWatcher(func() { calls.Add(1) })
	WatchTree(w, pt)
	g := w.Generation()
	if _, err := pt.Create(demo.NewPart(99, db.Key[demo.Supplier]{ID: 1})); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "an invalidation after Create", func() bool { return calls.Load() == 1 })
	if w.Generation() == g {
		t.Fatal("generation did not move")
	}
	w.Close()
	w.Frame()
	before := calls.Load()
	if _, err := pt.Create(demo.NewPart(100, db.Key[demo.Supplier]{ID: 1})); err != nil {
		t.Fatal(err)
	}
	// After Close nothing is subscribed: the count stays.
	if calls.Load() != before {
		t.Fatal("notified after Close")
	}
}

func TestSyncProgress(t *testing.T) {
	for _, c := range []struct {
		s        netsync.Status
		p        float32
		catching bool
	}{
		{netsync.Status{}, 1, false},
		{netsync.Status{Connected: true, ServerSeq: 200, LastSeq: 50}, 0.25, true},
		{netsync.Status{Connected: true, ServerSeq: 0}, 0, true},
		{netsync.Status{Connected: true, CaughtUp: true, ServerSeq: 200, LastSeq: 200}, 1, false},
	} {
		p, catching := Progress(c.s)
		if p != c.p || catching != c.catching {
			t.Errorf("Progress(%+v) = %v %v, want %v %v", c.s, p, catching, c.p, c.catching)
		}
	}
	b := &SyncBar{}
	if got := b.Text(netsync.Status{Connected: true, Server: "h:1", LastSeq: 9, Outbox: 2}); got != "catching up · h:1 · seq 9 · 2 to send" {
		t.Errorf("Text: %q", got)
	}
}
