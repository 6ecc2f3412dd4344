package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// idGrants wakes the creators waiting for ids (CreateWait) when the sync
// layer stores a range the server granted (link.AddRange), and when the
// database closes. The zero value is ready to use; it is safe for
// concurrent use.
type idGrants struct {
	mu   sync.Mutex
	next chan struct{} // closed at the next grant; nil while nobody waits
}

// wait returns a channel that is closed at the next grant.
func (g *idGrants) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == nil {
		g.next = make(chan struct{})
	}
	return g.next
}

// signal wakes every waiter.
func (g *idGrants) signal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next != nil {
		close(g.next)
		g.next = nil
	}
}

// CreateWait is Create that waits for ids: it creates v at once when the
// tree has ids, and otherwise (a replica whose server has not granted
// ids yet, or whose ranges ran out while offline) waits until the server
// grants some or ctx ends, when it returns an error matching both ErrNoIDs
// and ctx's error. It wakes on the grant itself; it does not poll. A
// standalone database never waits: it allocates its own ids.
func (t *Tree[T]) CreateWait(ctx context.Context, v T) (Key[T], error) {
	data, val, err := t.encode(&v)
	if err != nil {
		return Key[T]{}, err
	}
	key, err := t.c.createWait(ctx, func() (uint64, error) { return t.c.create(data, val, t.ver) })
	if err != nil {
		return Key[T]{}, err
	}
	return unpackKey[T](key), nil
}

// createWait runs create, and again after each grant of ids while it
// fails with ErrNoIDs on a replica, until ctx ends.
func (c *core) createWait(ctx context.Context, create func() (uint64, error)) (uint64, error) {
	asked := false
	for {
		// Taken before trying, so a grant stored between the try and
		// the wait is not missed.
		granted := c.d.grants.wait()
		key, err := create()
		if err == nil || !c.d.replica || !errors.Is(err, ErrNoIDs) {
			return key, err
		}
		if !asked {
			// The sync layer asks the server for ids when it is told
			// of a change and the tree is short of them.
			c.d.notifyRemote()
			asked = true
		}
		select {
		case <-granted:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: tree %s: waiting for ids: %w", ErrNoIDs, c.name, ctx.Err())
		}
	}
}
