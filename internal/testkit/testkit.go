// Package testkit is the harness the tests of several packages share:
// waiting for a condition within the test's context (Until, Context),
// creating a record once a replica has ids (Create), a buffer a goroutine
// writes while the test reads (LockedBuffer), and a real X display for
// tests that open windows (Display). Every helper cleans up after itself
// through t.Cleanup.
package testkit

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
)

// Timeout bounds every wait of this package: long enough for a loaded
// machine running test packages side by side, short enough that a hang
// fails the test with a message instead of the test binary's timeout.
const Timeout = 30 * time.Second

// Context returns the test's context (t.Context, which ends when the test
// does) bounded by Timeout.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Until checks cond every few milliseconds until it holds, and fails the
// test when it still does not after Timeout or when the test's context
// ends. It is for state that announces no change; where a change is
// signalled (a channel, an event), wait on the signal instead.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// Create creates v in tree with CreateWait, waiting (up to Timeout) while
// the replica has no ids yet; any error fails the test.
func Create[T any](t testing.TB, tree *db.Tree[T], v T) db.Key[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	k, err := tree.CreateWait(ctx, v)
	if err != nil {
		t.Fatalf("create in %s: %v", tree.Name(), err)
	}
	return k
}

// LockedBuffer is a bytes.Buffer that one goroutine (a logger, a command's
// output) writes while the test reads it. Its zero value is ready to use;
// its methods are safe for concurrent use.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns a copy of what was written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
