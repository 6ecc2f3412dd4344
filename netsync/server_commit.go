package netsync

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// stepCommit is one step of the authority going through the commit
// pipeline: the pipeline's callbacks for it.
type stepCommit struct {
	a    *authority
	step func(b *pebble.Batch, d *delivery) error
	d    *delivery
	// syncing is when the step's log sync began, for the fsync metric.
	syncing time.Time
}

// Prepare runs the step with a.mu held. A failed step gives its log
// sequences back. The borrows it announces carry the version of this
// commit's ticket.
func (c *stepCommit) Prepare(b *pebble.Batch) error {
	a := c.a
	seq0, sum0, hpos0 := a.seq, a.sum, a.hpos
	if err := c.step(b, c.d); err != nil {
		a.seq, a.sum, a.hpos = seq0, sum0, hpos0
		return err
	}
	a.saveHistoryPos(b)
	ver := a.pipe.Next() + 1 // 0 means unversioned
	for i := range c.d.borrows {
		c.d.borrows[i].Ver = ver
	}
	return nil
}

// Sync reports whether the step waits for the log sync: a lazy one
// changed only what a restart forgets anyway.
func (c *stepCommit) Sync() bool { return !c.d.lazy }

// Abort keeps what the step changed in memory: after a failure of the
// store the authority refuses every later commit anyway.
func (c *stepCommit) Abort() {}

// Syncing encodes what clients get while the log syncs, not after.
func (c *stepCommit) Syncing() {
	c.syncing = time.Now()
	if len(c.d.entries) > 0 {
		c.d.shareEntries()
	}
}

// Publish delivers the step, in ticket order.
func (c *stepCommit) Publish(ok bool) {
	if ok {
		if !c.syncing.IsZero() {
			c.a.metrics.synced(time.Since(c.syncing))
		}
		c.a.deliver(c.d)
		c.a.metrics.published(c.a, c.d)
	}
}

// loadStore loads the server's state (see load), turning damage to the
// store found meanwhile, reported or by a panic, into an error that wraps
// ErrStoreCorrupt and names the file.
func (a *authority) loadStore() (err error) {
	defer a.pdb.Guard(&err, "loading the server store")
	err = a.load()
	if err == nil {
		err = a.loadHistory()
	}
	return a.pdb.Check(err, "loading the server store")
}
