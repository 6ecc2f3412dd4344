// Package commit is the group-commit pipeline of hills' stores: a replica
// or standalone database (db) and the server's store (netsync) are two
// callers of one Pipeline.
//
// A commit goes through four steps, each a method that cleans up after
// itself:
//
//	prepare  the caller fills a batch under its writer lock, and the
//	         commit takes the next ticket
//	apply    the batch is applied to the store in ticket order, without
//	         waiting for the log sync, and the writer lock is released
//	sync     the commit waits for the log sync it shares with concurrent
//	         commits (skipped for a lazy commit or an empty batch)
//	publish  the caller makes the commit visible (memory, events,
//	         deliveries to connections), strictly in ticket order, after
//	         every earlier commit was published
//
// The first storage failure is kept: the pipeline refuses every later
// commit with it.
//
// Locks. The caller owns both locks the pipeline uses, because they guard
// the caller's state: the writer lock (what Prepare reads and changes) and
// the publication lock (what Publish changes). Publish runs with the
// publication lock held and may take the writer lock; Prepare runs with the
// writer lock held and must never take the publication lock. So the order
// is publication lock, then writer lock.
//
// A Pipeline is safe for concurrent use.
package commit

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Committer is one commit's part of the environment: the callbacks the
// pipeline runs for it, in this order.
type Committer interface {
	// Prepare fills b with the commit's writes. It runs with the writer lock
	// held and may release it only through a sync.Cond on that lock. When
	// it returns an error, it has undone what it changed and the commit
	// ends with that error, taking no ticket.
	Prepare(b *pebble.Batch) error
	// Sync reports whether the commit waits for the log sync before it is
	// published. A commit that does not is lazy: a later synced commit
	// makes it durable with its own. Asked after Prepare, writer lock held.
	Sync() bool
	// Abort undoes what Prepare changed in the caller's state when the
	// store refused the batch. Writer lock held. Publish(false) follows.
	Abort()
	// Syncing runs while the log syncs, with no lock held: work that need
	// not wait for durability (encoding what will be sent, telling the sync
	// layer) overlaps the sync. Only synced commits of a non-empty batch.
	Syncing()
	// Publish makes the commit visible, with the publication lock held,
	// after every commit with an earlier ticket. ok is false when the
	// commit failed: there is nothing to publish, only the turn to pass.
	Publish(ok bool)
}

// Env is what a caller of the pipeline provides once.
type Env struct {
	// Store is the store batches are applied to.
	Store *pebble.DB
	// Indexed: batches are indexed, so Prepare reads its own writes
	// through them.
	Indexed bool
	// Writer and Publication are the caller's writer and publication
	// locks (see the package documentation).
	Writer, Publication sync.Locker
	// Refuse, when set, says why no commit is taken now (the caller was
	// closed). It runs first, with the writer lock held.
	Refuse func() error
	// Failure makes the error every later commit is refused with out of
	// the store's first failure.
	Failure func(err error) error
}

// Pipeline commits batches in ticket order. Make one with New.
type Pipeline struct {
	env Env

	// Guarded by the writer lock.
	next   uint64 // the ticket the next commit takes
	failed error  // the first storage failure; commits are refused after it

	// Guarded by the publication lock.
	published uint64 // tickets published: the next one to publish
	turn      *sync.Cond

	inflight sync.WaitGroup
}

// New returns the pipeline of env.
func New(env Env) *Pipeline {
	p := &Pipeline{env: env}
	p.turn = sync.NewCond(env.Publication)
	return p
}

// Commit runs c through the pipeline and returns once it is published.
func (p *Pipeline) Commit(c Committer) error {
	b, err := p.prepare(c)
	if err != nil {
		return err
	}
	ticket := p.next
	p.next++
	p.inflight.Add(1)
	defer p.inflight.Done()
	synced, err := p.apply(c, b)
	if err == nil && synced {
		err = p.sync(c, b)
	}
	b.Close()
	p.publish(ticket, c.Publish, err == nil)
	return err
}

// prepare takes the writer lock and has c fill a new batch. On success the
// writer lock stays held; on error it is released and the batch closed.
func (p *Pipeline) prepare(c Committer) (*pebble.Batch, error) {
	p.env.Writer.Lock()
	if err := p.refused(); err != nil {
		p.env.Writer.Unlock()
		return nil, err
	}
	var b *pebble.Batch
	if p.env.Indexed {
		b = p.env.Store.NewIndexedBatch()
	} else {
		b = p.env.Store.NewBatch()
	}
	if err := c.Prepare(b); err != nil {
		p.env.Writer.Unlock()
		b.Close()
		return nil, err
	}
	return b, nil
}

func (p *Pipeline) refused() error {
	if p.env.Refuse != nil {
		if err := p.env.Refuse(); err != nil {
			return err
		}
	}
	return p.failed
}

// apply applies b to the store and releases the writer lock. It reports
// whether the commit waits for a sync. A failure of the store is kept and
// c aborted; a panic of the store is such a failure too.
func (p *Pipeline) apply(c Committer, b *pebble.Batch) (synced bool, err error) {
	defer p.env.Writer.Unlock()
	if b.Empty() {
		return false, nil
	}
	synced = c.Sync()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store panicked: %v", r)
		}
		if err != nil {
			p.failed = p.env.Failure(err)
			err = p.failed
			synced = false
			c.Abort()
		}
	}()
	if synced {
		return true, p.env.Store.ApplyNoSyncWait(b, pebble.Sync)
	}
	return false, p.env.Store.Apply(b, pebble.NoSync)
}

// sync waits for b's log sync, letting c work meanwhile. A failure is kept.
func (p *Pipeline) sync(c Committer, b *pebble.Batch) error {
	c.Syncing()
	err := b.SyncWait()
	if err == nil {
		return nil
	}
	p.env.Writer.Lock()
	p.failed = p.env.Failure(err)
	err = p.failed
	p.env.Writer.Unlock()
	return err
}

// publish runs fn(ok) with the publication lock held once every earlier
// ticket was published, and passes the turn on.
func (p *Pipeline) publish(ticket uint64, fn func(ok bool), ok bool) {
	p.env.Publication.Lock()
	defer p.env.Publication.Unlock()
	for p.published != ticket {
		p.turn.Wait()
	}
	defer p.turn.Broadcast()
	defer func() { p.published++ }() // even if fn panics, later tickets go on
	fn(ok)
}

// InOrder runs fn in ticket order with the commits, as a commit with no
// batch: after every commit prepared before it was published, before every
// commit prepared after. It takes the writer lock, so the caller must not
// hold it.
func (p *Pipeline) InOrder(fn func()) {
	p.env.Writer.Lock()
	ticket := p.next
	p.next++
	p.env.Writer.Unlock()
	p.publish(ticket, func(bool) { fn() }, true)
}

// Next returns the ticket the next commit takes. Called with the writer
// lock held, by Prepare for instance.
func (p *Pipeline) Next() uint64 { return p.next }

// Published returns how many tickets were published. Called with the
// publication lock held: then no commit is being published.
func (p *Pipeline) Published() uint64 { return p.published }

// Failed returns the store's first failure, or nil. Called with the writer
// lock held.
func (p *Pipeline) Failed() error { return p.failed }

// Wait waits for the commits under way to be published. Commits the
// caller refuses (see Env.Refuse) before Wait do not start after it.
func (p *Pipeline) Wait() { p.inflight.Wait() }
