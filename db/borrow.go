package db

import (
	"context"
	"slices"
	"strings"

	"github.com/hillsdb/hills/internal/replica"
)

// BorrowState is what a client knows of a record's check-out.
type BorrowState struct {
	Held    bool   // someone holds the check-out
	Mine    bool   // this client holds it
	Holder  string // the holder's readable name
	Waiting int    // this client's place in the queue; 0: not waiting
	Queued  int    // how many clients wait behind the holder (replicas)
	// Waiters names those who wait behind the holder, in queue order, as
	// text for people: "bob, carol" (replicas; "" when none). A string
	// keeps BorrowState comparable.
	Waiters string
}

type borrow struct {
	holder  string
	mine    bool
	waiting int
	queued  int
	waiters []string
}

func (b borrow) equal(o borrow) bool {
	return b.holder == o.holder && b.mine == o.mine && b.waiting == o.waiting && b.queued == o.queued &&
		slices.Equal(b.waiters, o.waiters)
}

func (b borrow) state() BorrowState {
	return BorrowState{Held: b.holder != "" || b.mine, Mine: b.mine, Holder: b.holder, Waiting: b.waiting, Queued: b.queued, Waiters: strings.Join(b.waiters, ", ")}
}

// Remote is the sync layer of a replica as the database sees it: it sends
// the outbox when notified, asks the server for check-outs and gives them
// back. netsync's Client implements it.
type Remote = replica.Remote

// CheckOut borrows a record for editing: it waits in the record's queue
// until granted or ctx ends (then it leaves the queue and returns ctx's
// error). The current holder gets nil at once. A standalone database grants
// it at once.
func (t *Tree[T]) CheckOut(ctx context.Context, k Key[T]) error {
	return t.c.checkOut(ctx, k.pack())
}

// CheckIn returns a borrowed record, after its pending changes reached the
// server. It waits for the server at most until ctx ends (then it returns
// ctx's error; the record is no longer treated as this client's, and the
// check-in is completed on the next connection). A standalone database
// grants it at once.
func (t *Tree[T]) CheckIn(ctx context.Context, k Key[T]) error {
	return t.c.checkIn(ctx, k.pack())
}

// Borrow returns what this client knows of a record's check-out.
func (t *Tree[T]) Borrow(k Key[T]) BorrowState { return t.c.borrowState(k.pack()) }

func (c *core) borrowState(key uint64) BorrowState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.borrows[key].state()
}

func (c *core) checkOut(ctx context.Context, key uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.d.mu.Lock()
	if err := c.d.writable(); err != nil {
		c.d.mu.Unlock()
		return err
	}
	if c.latest(key) == nil {
		c.d.mu.Unlock()
		return c.errKey(ErrNotFound, key)
	}
	if err := c.permit(replica.AccessEdit|replica.AccessRelease, "check-out"); err != nil {
		c.d.mu.Unlock()
		return c.errKey(err, key)
	}
	c.mu.Lock()
	b := c.borrows[key]
	if b.mine {
		c.mu.Unlock()
		c.d.mu.Unlock()
		return nil
	}
	if !c.d.replica {
		c.borrows[key] = borrow{holder: c.d.opts.Name, mine: true}
		c.mu.Unlock()
		c.d.mu.Unlock()
		c.d.emitBorrow(c, key)
		return nil
	}
	c.mu.Unlock()
	r := c.d.remote
	c.d.mu.Unlock()
	if r == nil {
		return c.errKey(ErrOffline, key)
	}
	return r.CheckOut(ctx, c.name, key)
}

func (c *core) checkIn(ctx context.Context, key uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.d.mu.Lock()
	if err := c.d.writable(); err != nil {
		c.d.mu.Unlock()
		return err
	}
	c.mu.Lock()
	b := c.borrows[key]
	if !b.mine {
		c.mu.Unlock()
		c.d.mu.Unlock()
		return c.errKey(ErrNotCheckedOut, key)
	}
	if !c.d.replica {
		delete(c.borrows, key)
		c.mu.Unlock()
		c.d.mu.Unlock()
		c.d.emitBorrow(c, key)
		return nil
	}
	c.mu.Unlock()
	r := c.d.remote
	c.d.mu.Unlock()
	if r == nil {
		return c.errKey(ErrOffline, key)
	}
	return r.CheckIn(ctx, c.name, key)
}

// emitBorrow delivers a BorrowChanged event in order with the writes.
func (d *DB) emitBorrow(c *core, key uint64) { d.emitKind(c, key, BorrowChanged) }

// emitKind delivers an event of kind in order with the writes.
func (d *DB) emitKind(c *core, key uint64, kind EventKind) {
	d.pipe.InOrder(func() { d.hub.emit(rawEvent{tree: c.name, kind: kind, key: key}) })
}
