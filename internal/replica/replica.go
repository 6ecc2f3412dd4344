// Package replica is the bridge between a replica database (package db) and
// the sync layer (package netsync). It keeps the sync layer's privileged
// operations — applying the server's changes, reading and acknowledging the
// outbox, storing granted id ranges — out of db's public API: db registers
// Open at init, netsync calls it.
package replica

import (
	"context"
	"errors"
	"strings"

	"github.com/hillsdb/hills/internal/layout"
)

// Link is what the sync layer may do with a replica database. Its methods
// are safe for concurrent use.
type Link interface {
	// ClientID and Name identify this client to the server.
	ClientID() string
	Name() string
	// SyncState reads a named piece of the replica's sync state; nil when
	// it was never written.
	SyncState(name string) ([]byte, error)
	// SetSyncState durably writes a named piece of sync state.
	SetSyncState(name string, v []byte) error
	// Position is the last server log sequence applied, and the log's
	// digest there (nil when unknown).
	Position() Pos
	// Apply applies changes from the server, in order, as one batch that
	// also records the position at. Subscribers see them with Remote set.
	Apply(changes []layout.Change, at Pos) error
	// Prepare decodes changes as Apply would, without applying them, so
	// a caller can decode the next changes while earlier ones are being
	// applied; ApplyPrepared applies what it returned, as Apply. A tree
	// given its Go type in between gets its values decoded when applied.
	Prepare(changes []layout.Change) (Prepared, error)
	ApplyPrepared(p Prepared, at Pos) error
	// ApplyAnswer applies the record the server answered the outbox
	// change outbox with (accepted or not) while later changes of the
	// record are still pending here, and records the position at: on a
	// tree with counters the record is rebased onto them (counters: the
	// server's plus the pending deltas; other fields: this replica's
	// while its edits are pending); on other trees it does nothing.
	ApplyAnswer(ch layout.Change, at Pos, outbox uint64) error
	// Prune ends a snapshot catch-up: it deletes every record not in keep,
	// but those with changes still in the outbox, and records the position
	// at. With lost set, each record it deletes is first kept as a
	// Recovered (the server does not have it); it returns how many.
	Prune(keep map[string]map[uint64]bool, at Pos, lost *Note) (int, error)
	// Preserve keeps, as a Recovered, the replica's copy of each record
	// of chs that differs from the change's and has no change in the
	// outbox: the server's version is about to replace it. It returns how
	// many it kept.
	Preserve(chs []layout.Change, n Note) (int, error)
	// KeepRanges drops the ids of the replica's ranges that the server's
	// ranges (per tree) do not hold: a restored server does not know them.
	KeepRanges(server map[string][]layout.Range) error
	// ApplyTree records a tree declared on the server (versioning, schema
	// version, schema).
	ApplyTree(t TreeDecl) error
	// Trees returns the declaration of every tree of the replica.
	Trees() ([]TreeDecl, error)
	// Outbox returns up to max local changes with outbox sequence > after.
	Outbox(after uint64, max int) ([]layout.Change, error)
	// OutboxLen counts the changes not yet acknowledged.
	OutboxLen() int
	// Ack drops the outbox entries up to outbox and, when at.Seq is not
	// 0, records it as the position. Not synced: a lost ack makes the
	// change be sent again, and the server knows it.
	Ack(outbox uint64, at Pos) error
	// PendingAfter reports whether the outbox holds a change of the record
	// later than outbox sequence after.
	PendingAfter(tree string, key uint64, after uint64) bool
	// AddRange stores ids the server granted for tree.
	AddRange(tree string, r layout.Range) error
	// IDsLeft counts the granted ids of tree not used yet.
	IDsLeft(tree string) int
	// SetBorrow records what the server says of a record's check-out.
	SetBorrow(tree string, key uint64, b Borrow) error
	// ResetBorrows replaces every record's check-out state with the
	// server's list; records not in it are free.
	ResetBorrows(list map[string]map[uint64]Borrow) error
	// Borrow returns what the replica knows of a record's check-out.
	Borrow(tree string, key uint64) Borrow
	// LastPending returns the outbox sequence of the record's last change
	// not yet acknowledged; 0 when none.
	LastPending(tree string, key uint64) uint64
	// LastOutbox returns the outbox sequence of the last change not
	// acknowledged yet; 0 when there is none.
	LastOutbox() uint64
	// Exists reports whether the replica has the record.
	Exists(tree string, key uint64) bool
	// Recover sets aside the record's changes not yet acknowledged, up to
	// outbox sequence upto, that were not set aside before: the record as
	// the last of them left it is kept in the replica's store, for the
	// application to see and take back. The changes stay in the outbox
	// (the server refuses them; see netsync). The replica stops holding
	// the record at once. It reports whether anything was set aside.
	Recover(tree string, key uint64, upto uint64, n Note) (bool, error)
	// SetIdentity durably records who the server knows this client as and
	// what it may do; the database refuses at once what the grants do not
	// allow (db.ErrPermission) and names the client so in what it writes.
	SetIdentity(name string, g Grants) error
	// SetAside keeps a change from the server that the replica could not
	// apply, with why, in the replica's store (DB.Unapplied), and tells
	// subscribers; the replica goes on with the next change.
	SetAside(ch layout.Change, seq uint64, reason string) error
	// Attach installs the sync layer; Detach removes it.
	Attach(r Remote)
	Detach(r Remote)
}

// Remote is the sync layer as the database calls it.
type Remote interface {
	// Notify tells that the outbox or the set of trees changed. It must
	// not block.
	Notify()
	CheckOut(ctx context.Context, tree string, key uint64) error
	CheckIn(ctx context.Context, tree string, key uint64) error
}

// Pos is a replica's position in the server's log: the last sequence
// applied and the log's digest there (nil when the server sent none).
// Prepared is changes decoded by Link.Prepare, for Link.ApplyPrepared:
// the database's own type.
type Prepared any

type Pos struct {
	Seq uint64
	Sum []byte
}

// TreeDecl declares a tree: what every replica must agree on.
type TreeDecl struct {
	Name      string `msgpack:"name"`
	Versioned bool   `msgpack:"versioned"`
	Major     uint16 `msgpack:"major"`
	Minor     uint16 `msgpack:"minor"`
	Schema    []byte `msgpack:"schema,omitempty"`
}

// Access bits of a client's grants (netsync.Access has the same values).
const (
	AccessRead uint8 = 1 << iota
	AccessCreate
	AccessEdit
	AccessRelease
	AccessAdjust
	AccessAdmin
)

// AccessNames names the access bits, bit i as AccessNames[i]: the text of
// grants on both sides.
var AccessNames = [...]string{"read", "create", "edit", "release", "adjust", "admin"}

// AccessText lists the accesses of a, comma-separated ("read,create");
// "none" when empty.
func AccessText(a uint8) string {
	var parts []string
	for i, n := range AccessNames {
		if a&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// ParseAccess reads one access name; ok is false for an unknown one.
func ParseAccess(name string) (a uint8, ok bool) {
	for i, n := range AccessNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// Grants is what the server said a client may do: access bits per tree
// name, "*" for every tree. A nil Grants is not known yet: the database
// allows everything and leaves refusals to the server.
type Grants map[string]uint8

// Allows reports whether the grants allow any of the accesses want on
// tree.
func (g Grants) Allows(tree string, want uint8) bool {
	if g == nil {
		return true
	}
	return (g[tree]|g["*"])&want != 0
}

// Borrow is the server's word on a record's check-out.
type Borrow struct {
	Holder   string `msgpack:"holder"`    // readable name; "" when free
	HolderID string `msgpack:"holder_id"` // client id
	Mine     bool   `msgpack:"mine"`
	Waiting  int    `msgpack:"waiting"` // this client's place in the queue
	Queued   int    `msgpack:"queued"`  // how many wait behind the holder
	// Waiters are the readable names of those who wait, in queue order.
	Waiters []string `msgpack:"waiters,omitempty"`
}

// Note says why a replica's changes were set aside.
type Note struct {
	Reason string
	By     string // the administrator; "" when the server refused a change
	At     int64  // Unix ns
	Forced bool   // the check-out was taken back by an administrator
}

// Open returns the Link of a database; set by package db.
var Open func(db any) (Link, error)

// ErrNotReplica: the database is standalone.
var ErrNotReplica = errors.New("replica: database is not a replica")
