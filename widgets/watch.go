package widgets

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// Watcher coalesces change notifications into at most one call of its
// invalidate function per frame. Events may come from any goroutine at any
// rate: Notify never blocks and never calls invalidate again until the
// window has drawn the frame (see Frame). The zero value is not usable:
// create one with NewWatcher. All methods are safe for concurrent use.
type Watcher struct {
	invalidate func()
	pending    atomic.Bool   // a notification has not been seen by a frame yet
	gen        atomic.Uint64 // counts notifications
	seen       uint64        // gen at the last Frame; used by Frame's goroutine only

	mu      sync.Mutex
	cancels []func()
	done    chan struct{}
	closed  bool
	wg      sync.WaitGroup
}

// NewWatcher returns a watcher that calls invalidate (such as
// gioui.org/app.Window.Invalidate) when something changed. invalidate must
// not block; it may be nil (then the watcher only counts changes, as in
// tests and benchmarks).
func NewWatcher(invalidate func()) *Watcher {
	return &Watcher{invalidate: invalidate, done: make(chan struct{})}
}

// Notify records a change and asks for a frame unless one is already
// pending. It never blocks.
func (w *Watcher) Notify() {
	w.gen.Add(1)
	w.Wake()
}

// Wake asks for a frame without recording a change, unless one is already
// pending: for work of the window's own that finished in another
// goroutine (a record it loaded), which must not look like a change of
// the database. It never blocks.
func (w *Watcher) Wake() {
	if w.pending.CompareAndSwap(false, true) && w.invalidate != nil {
		w.invalidate()
	}
}

// Frame is called at the start of each frame, on the window's goroutine.
// It re-arms the watcher, so the next Notify asks for a new frame, and
// reports whether anything changed since the previous call.
func (w *Watcher) Frame() (changed bool) {
	w.pending.Store(false)
	g := w.gen.Load()
	changed = g != w.seen
	w.seen = g
	return changed
}

// Generation returns the number of notifications so far. A widget that
// caches what it derived from the database compares it with the
// generation it saw last.
func (w *Watcher) Generation() uint64 { return w.gen.Load() }

// Add registers a cancel function (such as the one Subscribe returns) to
// be called by Close.
func (w *Watcher) Add(cancel func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		cancel()
		return
	}
	w.cancels = append(w.cancels, cancel)
}

// WatchTree notifies w on every event of t: its records and their borrows.
func WatchTree[T any](w *Watcher, t *db.Tree[T]) {
	w.Add(t.Subscribe(func(db.Event[T]) { w.Notify() }))
}

// WatchOpaque notifies w on every event of the tree t.
func (w *Watcher) WatchOpaque(t db.OpaqueTree) {
	w.Add(t.Subscribe(func(db.EventKind, db.OpaqueKey) { w.Notify() }))
}

// WatchClient notifies w whenever the sync status of c changes: the
// connection, catch-up, the server's sequence, errors and the outbox
// length (checked every poll interval, default one second when poll is 0).
func (w *Watcher) WatchClient(c *netsync.Client, poll time.Duration) {
	if poll <= 0 {
		poll = time.Second
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(poll)
		defer t.Stop()
		last := c.Status().Outbox
		for {
			ch := c.Changed()
			select {
			case <-w.done:
				return
			case <-ch:
				w.Notify()
			case <-t.C:
				if n := c.Status().Outbox; n != last {
					last = n
					w.Notify()
				}
			}
		}
	}()
}

// Close cancels every subscription and stops the watcher's goroutines.
// Notify still works after Close but nothing calls it any more.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	cancels := w.cancels
	w.cancels = nil
	close(w.done)
	w.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	w.wg.Wait()
}
