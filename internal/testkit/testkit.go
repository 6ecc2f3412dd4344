// Package testkit holds the waiting that tests of several packages share:
// polling a condition, and creating a record once a replica has ids.
package testkit

import (
	"errors"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
)

// Timeout is how long Until and Create wait.
const Timeout = 10 * time.Second

// Until polls cond every few milliseconds until it holds, and fails the
// test when it still does not after Timeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(Timeout); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Create creates v in tree, waiting while the replica has no ids yet (the
// server's grant is on its way); any other error fails the test.
func Create[T any](t testing.TB, tree *db.Tree[T], v T) db.Key[T] {
	t.Helper()
	for deadline := time.Now().Add(Timeout); ; time.Sleep(5 * time.Millisecond) {
		k, err := tree.Create(v)
		if err == nil {
			return k
		}
		if !errors.Is(err, db.ErrNoIDs) || time.Now().After(deadline) {
			t.Fatalf("create in %s: %v", tree.Name(), err)
		}
	}
}
