package netsync

import (
	"errors"
	"fmt"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/wire"
)

// Errors of the sync layer; match them with errors.Is.
var (
	// ErrIdentity: the server is not the one this replica pinned (its UUID
	// or certificate changed). Nothing from it is applied.
	ErrIdentity = errors.New("netsync: server identity differs from the pinned one")
	// ErrAppID: the server serves another application.
	ErrAppID = errors.New("netsync: application id differs")
	// ErrProtocolVersion: client and server speak different protocol
	// versions.
	ErrProtocolVersion = errors.New("netsync: protocol version mismatch")
	// ErrRejected: the server rejected a change; the local copy was put
	// back to the server's. The error also matches the reason, such as
	// db.ErrNotCheckedOut.
	ErrRejected = errors.New("netsync: change rejected")
	// ErrServerBehind: the server's log is behind this replica's. Servers
	// of this version no longer refuse such a replica: they send it their
	// state and the replica reports ErrServerRestored. Kept for code that
	// matches it.
	ErrServerBehind = errors.New("netsync: server is behind this replica")
	// ErrServerRestored: the server's log does not continue the one this
	// replica applied: it was restored from a backup (another lineage, a
	// log that differs or ends before the replica's). The replica took the
	// server's state, kept every record the server lacks or holds
	// otherwise in DB.Recovered, and sends its unacknowledged changes
	// again. Reported in Status().Err as a *RestoredError; not final.
	ErrServerRestored = errors.New("netsync: server was restored from a backup")
	// ErrUnreachable: no server answered at the address (nothing
	// listens there, a firewall drops UDP, the host name does not
	// resolve). Not final: the client keeps trying, and says so in
	// Status().Err meanwhile.
	ErrUnreachable = errors.New("netsync: server unreachable")
	// ErrUnauthorized: the server does not know this client's credential:
	// unknown, used, expired or revoked token, a revoked client, or a
	// client that was never enrolled. Final: the client stops trying.
	ErrUnauthorized = errors.New("netsync: not authorized")
	// ErrLimit: the client went over one of the server's limits (sessions,
	// message rate, check-outs held, id grants). The message says which.
	ErrLimit = errors.New("netsync: over the server's limit")
	// ErrSchema: the server refused a tree declaration: its schema is
	// invalid or incompatible with the server's. Nothing of it was stored.
	ErrSchema = errors.New("netsync: schema refused")
	// ErrServerUnavailable: the server cannot store changes now (its store
	// failed, for example its disk is full). The client keeps its outbox
	// and tries again.
	ErrServerUnavailable = errors.New("netsync: server cannot store changes")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("netsync: client closed")
	// ErrProtocol: the peer sent a malformed or unexpected message. It is
	// the same error the wire framing wraps in its own, so errors.Is
	// matches both.
	ErrProtocol = wire.ErrProtocol
	// ErrStoreCorrupt: the server store's files are damaged; the error
	// names the file. Restore the directory from a backup (see
	// docs/operations.md).
	ErrStoreCorrupt = errors.New("netsync: server store corrupt")
	// ErrStoreFailed: the server store failed a write; the server refuses
	// every later change until it is restarted. Nothing acknowledged is
	// affected.
	ErrStoreFailed = errors.New("netsync: server store failed")
	// ErrStoreClosed is returned by the accessors after Shutdown.
	ErrStoreClosed = errors.New("netsync: server store closed")
	// ErrNoAdmin: nothing answers on the administration socket (no server
	// runs, or it runs without one).
	ErrNoAdmin = errors.New("netsync: no administration endpoint")
)

// Errors that end a server's listening or name a client.
var (
	// ErrNotServerStore: the directory holds a hills database (a replica
	// or a standalone one), not a server's store.
	ErrNotServerStore = errors.New("netsync: not a server store")
	// ErrServerClosed is returned by ListenAndServe after Shutdown.
	ErrServerClosed = errors.New("netsync: server closed")
	// ErrUnknownClient: no enrolled client has that name.
	ErrUnknownClient = errors.New("netsync: unknown client")
)

// Errors that never leave the package.
var (
	// errSessionEnded: the connection a request waited on ended.
	errSessionEnded = errors.New("netsync: connection lost")
	// errRegrant: the server closed the connection because this client's
	// grants changed; the client reconnects and learns them.
	errRegrant = errors.New("netsync: grants changed")
	// errSlow: a client fell too far behind its deliveries.
	errSlow = errors.New("netsync: client too slow")
	// errQueueClosed: the connection's delivery queue closed.
	errQueueClosed = errors.New("netsync: connection closing")
)

// codeError maps a wire code to the error it stands for.
func codeError(code uint16) error {
	switch code {
	case wire.CodeNotCheckedOut:
		return db.ErrNotCheckedOut
	case wire.CodeNotFound:
		return db.ErrNotFound
	case wire.CodeOutOfRange:
		return db.ErrNoIDs
	case wire.CodeExists:
		return db.ErrExists
	case wire.CodeReleased:
		return db.ErrReleased
	case wire.CodeBadRecord:
		return db.ErrCorrupt
	case wire.CodeAppID:
		return ErrAppID
	case wire.CodeServerBehind:
		return ErrServerBehind
	case wire.CodeProtocol, wire.CodeBadTree:
		return ErrProtocol
	case wire.CodeUnauthorized:
		return ErrUnauthorized
	case wire.CodePermission:
		return db.ErrPermission
	case wire.CodeLimit:
		return ErrLimit
	case wire.CodeBadSchema:
		return ErrSchema
	case wire.CodeUnavailable:
		return ErrServerUnavailable
	case wire.CodeBelowFloor:
		return db.ErrBelowFloor
	}
	return fmt.Errorf("netsync: server error %d", code)
}

// ForcedError is Status().Err after an administrator returned a check-out
// this client held. It matches db.ErrNotCheckedOut. The record's edits the
// server had not accepted are in the database's Recovered (Kept says
// whether there were any).
type ForcedError struct {
	Tree, Key  string
	By, Reason string
	At         time.Time
	Kept       bool
}

func (e *ForcedError) Error() string {
	return fmt.Sprintf("%v: %s/%s was returned by %s at %s: %s (unaccepted edits kept: %v)",
		db.ErrNotCheckedOut, e.Tree, e.Key, e.By, e.At.UTC().Format(time.RFC3339), e.Reason, e.Kept)
}

// Unwrap returns db.ErrNotCheckedOut.
func (e *ForcedError) Unwrap() error { return db.ErrNotCheckedOut }

// rejection is the error of a rejected change: ErrRejected and its reason.
type rejection struct {
	reason error
	msg    string
}

func (r *rejection) Error() string        { return fmt.Sprintf("%v: %v: %s", ErrRejected, r.reason, r.msg) }
func (r *rejection) Is(target error) bool { return target == ErrRejected }
func (r *rejection) Unwrap() error        { return r.reason }

func parseKeyText(s string) (id, rev uint32, err error) {
	k, err := db.ParseKey[struct{}](s)
	return k.ID, k.Rev, err
}
