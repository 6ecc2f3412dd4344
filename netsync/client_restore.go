package netsync

// A replica meeting a server whose log is not the one it applied (the
// server's store was restored from a backup, with hills-server restore or
// by hand): it takes the server's state from a snapshot, keeps every
// record of its own the server lacks or holds otherwise in DB.Recovered
// (with an EditsRecovered event), keeps its unacknowledged changes and
// sends them again, and reports ErrServerRestored. Until the snapshot is
// in, the replica says so in each Hello (Resync), so a session cut short
// starts the same way again.

import (
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
)

// restoring is a session taking in a restored server's state.
type restoring struct {
	pin     pin    // the replica's, as it was at Welcome
	lineage string // the server's
	reason  string
	at      int64
	kept    int // records kept as Recovered so far
}

// RestoredError is Status().Err after the replica met a server restored
// from a backup and took its state. It matches ErrServerRestored.
type RestoredError struct {
	Reason string // what showed the server was restored
	Seq    uint64 // the server's log sequence the replica took
	// Kept counts the records this replica had that the server lacked or
	// held otherwise: they are in DB.Recovered.
	Kept int
}

func (e *RestoredError) Error() string {
	return fmt.Sprintf("%v: %s; the replica took the server's state at log %d and kept %d record(s) the server lacked or held otherwise in DB.Recovered",
		ErrServerRestored, e.Reason, e.Seq, e.Kept)
}

// Unwrap returns ErrServerRestored.
func (e *RestoredError) Unwrap() error { return ErrServerRestored }

// helloLineage adds to Hello the lineage of the log the replica applied
// (from its pin p, nil before the first contact) and whether it is still
// taking in a restored server's state.
func (c *Client) helloLineage(h *wire.Hello, p *pin) error {
	if p != nil {
		h.Lineage = p.Lineage
	}
	b, err := c.link.SyncState("resync")
	if err != nil {
		return err
	}
	h.Resync = len(b) > 0
	return nil
}

// meetServer compares the server's lineage and word (Welcome) with the
// log this replica applied (its pin p), and starts taking in a restored
// server's state when they differ. It also drops the ids the server does
// not know it granted this replica.
func (c *Client) meetServer(p *pin, wm *wire.Welcome) error {
	if err := c.link.KeepRanges(wm.Ranges); err != nil {
		return err
	}
	reason := ""
	switch {
	case p.Lineage != "" && wm.Lineage != p.Lineage:
		reason = fmt.Sprintf("the server's store has lineage %s, this replica applied the log of lineage %s", wm.Lineage, p.Lineage)
	case wm.Restored:
		reason = "the server's log does not continue the one this replica applied"
	}
	if reason == "" {
		c.mu.Lock()
		c.restoring = nil
		c.mu.Unlock()
		return c.pinLineage(p, wm.Lineage)
	}
	if err := c.link.SetSyncState("resync", []byte{1}); err != nil {
		return err
	}
	c.log.Warn("the server was restored from a backup: taking its state; records it lacks are kept in DB.Recovered",
		"server", wm.ServerID, "reason", reason, "replica_seq", c.link.Position().Seq, "server_seq", wm.Seq)
	c.mu.Lock()
	c.restoring = &restoring{pin: *p, lineage: wm.Lineage, reason: reason, at: time.Now().UnixNano()}
	c.mu.Unlock()
	return nil
}

// pinLineage records the server's lineage with the pin p when it
// changed.
func (c *Client) pinLineage(p *pin, lineage string) error {
	if p.Lineage == lineage {
		return nil
	}
	np := *p
	np.Lineage = lineage
	enc, err := msgpack.Marshal(&np)
	if err != nil {
		return err
	}
	return c.link.SetSyncState("pin", enc)
}

// note is what the replica keeps with each record set aside.
func (r *restoring) note() replica.Note {
	return replica.Note{Reason: "the server was restored from a backup: " + r.reason, At: r.at}
}

// preserve keeps, during a restored server's snapshot, this replica's
// copy of each record the snapshot holds otherwise.
func (c *Client) preserve(r *restoring, chs []layout.Change) error {
	if r == nil {
		return nil
	}
	n, err := c.link.Preserve(chs, r.note())
	r.kept += n
	return err
}

// restored ends a restored server's snapshot: the records the server
// lacks are kept and dropped, the replica's position is the server's, and
// the lineage is pinned.
func (c *Client) restored(r *restoring, keep map[string]map[uint64]bool, at replica.Pos) error {
	note := r.note()
	n, err := c.link.Prune(keep, at, &note)
	if err != nil {
		return err
	}
	r.kept += n
	if err := c.pinLineage(&r.pin, r.lineage); err != nil {
		return err
	}
	if err := c.link.SetSyncState("resync", nil); err != nil {
		return err
	}
	err = &RestoredError{Reason: r.reason, Seq: at.Seq, Kept: r.kept}
	c.log.Warn("took a restored server's state", "err", err)
	c.mu.Lock()
	c.restoring = nil
	// The server's log may end before what this replica had applied.
	c.status.LastSeq, c.sum = at.Seq, at.Sum
	c.setErrLocked(err)
	c.mu.Unlock()
	return nil
}
