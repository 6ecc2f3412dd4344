package netsync

// ClientOptions.Applied: the server's log entries a replica applied, with
// their sequences, told once they are applied. A reader that copies the
// replica elsewhere (the PostgreSQL mirror) keeps the position with its
// copy and, after a restart, knows which changes it has and which not.

import (
	"slices"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
)

// Applied is one step of a replica taking the server's log: the entries
// it applied, in log order, and its position after them.
type Applied struct {
	Changes []AppliedChange
	// Seq is the last log sequence the replica has applied, Sum the log's
	// digest there (nil when the server sent none).
	Seq uint64
	Sum []byte
	// Snapshot: the replica took the server's state from a snapshot (the
	// log was compacted past its position, or the server was restored
	// from a backup). The snapshot's records are not in Changes: the
	// replica holds the server's records at Seq, and any record may have
	// changed or gone.
	Snapshot bool
	// Lineage is the server store's lineage (a restore makes a new one).
	Lineage string
}

// AppliedChange is one log entry a replica applied.
type AppliedChange struct {
	Seq uint64 // its log sequence
	Sum []byte // the log's digest at Seq; nil when the server sent none
	// Key is the record it changed (created, updated or deleted); a
	// tree's declaration (schema, versioning) has only Key.Tree.
	Key  db.OpaqueKey
	Kind db.EventKind // 0 for a tree's declaration
}

// applied tells ClientOptions.Applied of the log entries chs applied
// up to position at (changes of a snapshot, sequence 0, are left out).
func (c *Client) applied(chs []layout.Change, at replica.Pos, snapshot bool) {
	if c.opts.Applied == nil {
		return
	}
	a := Applied{Seq: at.Seq, Sum: slices.Clone(at.Sum), Snapshot: snapshot}
	for _, ch := range chs {
		if ch.Seq == 0 {
			continue
		}
		ac := AppliedChange{Seq: ch.Seq, Sum: slices.Clone(ch.Sum), Key: db.OpaqueKey{Tree: ch.Tree}}
		if ch.Kind != wire.KindTree {
			ac.Key.ID, ac.Key.Rev = layout.Unpack(ch.Key)
			ac.Kind = db.EventKind(ch.Kind)
		}
		a.Changes = append(a.Changes, ac)
	}
	if len(a.Changes) == 0 && !snapshot && at.Seq == 0 {
		return
	}
	c.mu.Lock()
	a.Lineage = c.status.Lineage
	c.mu.Unlock()
	c.opts.Applied(a)
}
