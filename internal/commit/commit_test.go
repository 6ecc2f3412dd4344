package commit_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hillsdb/hills/internal/commit"
)

// env is a caller of the pipeline: a counter of prepared commits and the
// list of published ones.
type env struct {
	pdb       *pebble.DB
	mu, pubMu sync.Mutex
	p         *commit.Pipeline
	prepared  int   // guarded by mu
	published []int // guarded by pubMu
	closed    bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pdb, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{pdb: pdb}
	t.Cleanup(func() {
		if !e.closed {
			pdb.Close()
		}
	})
	e.p = commit.New(commit.Env{Store: pdb, Writer: &e.mu, Publication: &e.pubMu,
		Failure: func(err error) error { return fmt.Errorf("failed: %w", err) }})
	return e
}

type write struct {
	e       *env
	n       int
	lazy    bool
	fail    error
	syncing bool
}

func (w *write) Prepare(b *pebble.Batch) error {
	if w.fail != nil {
		return w.fail
	}
	w.n = w.e.prepared
	w.e.prepared++
	return b.Set(fmt.Appendf(nil, "k%08d", w.n), []byte("v"), nil)
}
func (w *write) Sync() bool { return !w.lazy }
func (w *write) Abort()     {}
func (w *write) Syncing()   { w.syncing = true }
func (w *write) Publish(ok bool) {
	if ok {
		w.e.published = append(w.e.published, w.n)
	}
}

// TestOrder: concurrent commits, synced and lazy, are published in the
// order they were prepared, each once, after they are in the store.
func TestOrder(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				w := &write{e: e, lazy: (g+i)%3 == 0}
				if err := e.p.Commit(w); err != nil {
					t.Error(err)
					return
				}
				if w.syncing == w.lazy {
					t.Errorf("commit lazy=%v: Syncing called %v", w.lazy, w.syncing)
				}
				if _, c, err := e.pdb.Get(fmt.Appendf(nil, "k%08d", w.n)); err != nil {
					t.Errorf("commit %d published but not in the store: %v", w.n, err)
				} else {
					c.Close()
				}
			}
		})
	}
	wg.Wait()
	if len(e.published) != 400 {
		t.Fatalf("published %d commits, want 400", len(e.published))
	}
	for i, n := range e.published {
		if n != i {
			t.Fatalf("published[%d] = commit %d: out of order", i, n)
		}
	}
	if got := e.p.Published(); got != 400 {
		t.Fatalf("Published() = %d, want 400", got)
	}
}

// TestPrepareError: a commit whose Prepare fails takes no ticket, and
// InOrder runs in turn with commits.
func TestPrepareError(t *testing.T) {
	e := newEnv(t)
	bad := errors.New("bad")
	if err := e.p.Commit(&write{e: e, fail: bad}); !errors.Is(err, bad) {
		t.Fatalf("Commit: %v, want %v", err, bad)
	}
	e.mu.Lock()
	next := e.p.Next()
	e.mu.Unlock()
	if next != 0 {
		t.Fatalf("a failed Prepare took ticket %d", next)
	}
	if err := e.p.Commit(&write{e: e}); err != nil {
		t.Fatal(err)
	}
	ran := false
	e.p.InOrder(func() { ran = len(e.published) == 1 })
	if !ran || e.p.Published() != 2 {
		t.Fatalf("InOrder ran %v, published %d", ran, e.p.Published())
	}
}

// TestFailure: after the store fails a commit, every later commit is
// refused with the failure, and the turn still passes.
func TestFailure(t *testing.T) {
	e := newEnv(t)
	if err := e.p.Commit(&write{e: e}); err != nil {
		t.Fatal(err)
	}
	e.pdb.Close() // applying to a closed store panics: a failure
	e.closed = true
	err := e.p.Commit(&write{e: e})
	if err == nil {
		t.Fatal("commit to a closed store succeeded")
	}
	if err2 := e.p.Commit(&write{e: e}); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("later commit: %v, want the first failure %v", err2, err)
	}
	if e.p.Published() != 2 || len(e.published) != 1 {
		t.Fatalf("published %d tickets, %d commits", e.p.Published(), len(e.published))
	}
}
