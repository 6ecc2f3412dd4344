package db

import "errors"

// Errors returned by the database. They are wrapped with the tree and key
// they concern; match them with errors.Is.
var (
	// ErrNotFound: the record does not exist (or was deleted).
	ErrNotFound = errors.New("db: not found")
	// ErrNotCheckedOut: a replica may change a record only while it holds
	// the record's check-out.
	ErrNotCheckedOut = errors.New("db: not checked out")
	// ErrReleased: a released record's data is frozen.
	ErrReleased = errors.New("db: released")
	// ErrNotReleased: only a released record can be revised.
	ErrNotReleased = errors.New("db: not released")
	// ErrNotVersioned: the tree was not opened with Versioned.
	ErrNotVersioned = errors.New("db: tree is not versioned")
	// ErrExists: the record or revision exists already.
	ErrExists = errors.New("db: exists")
	// ErrNoIDs: a replica has no ids left for the tree; the sync layer
	// refills them from the server.
	ErrNoIDs = errors.New("db: no ids left")
	// ErrClosed: the database was closed.
	ErrClosed = errors.New("db: closed")
	// ErrInUse: the database directory is open elsewhere, in this process
	// or another.
	ErrInUse = errors.New("db: database in use")
	// ErrCorrupt: stored bytes could not be decoded, or the store's files
	// are damaged (the error names the file). A damaged store is restored
	// from a backup or, on a replica, synced again: see docs/operations.md.
	ErrCorrupt = errors.New("db: corrupt data")
	// ErrInvalidName: a tree name does not match [a-z0-9][a-z0-9_.-]*.
	ErrInvalidName = errors.New("db: invalid tree name")
	// ErrInvalidKey: text is not a key of the form ID.Rev.
	ErrInvalidKey = errors.New("db: invalid key")
	// ErrTypeMismatch: a tree is already open with another Go type.
	ErrTypeMismatch = errors.New("db: tree open with another type")
	// ErrTreeOptions: the options of OpenTree contradict the stored tree.
	ErrTreeOptions = errors.New("db: tree options differ")
	// ErrNotDatabase: the directory holds another kind of store (a hills
	// server's), not a database.
	ErrNotDatabase = errors.New("db: not a hills database")
	// ErrReplica: an operation that does not fit the database's mode.
	ErrReplica = errors.New("db: wrong database mode")
	// ErrStorage: the store failed a write; the database refuses further
	// writes until it is reopened. Nothing acknowledged is affected.
	ErrStorage = errors.New("db: storage failed")
	// ErrDuplicate: a unique index already holds the value.
	ErrDuplicate = errors.New("db: duplicate")
	// ErrNoTree: the database has no tree of that name.
	ErrNoTree = errors.New("db: no such tree")
	// ErrSchema: a tree's Go type cannot be described by a schema (a
	// channel, function, interface, ... field).
	ErrSchema = errors.New("db: unsupported type")
	// ErrIncompatible: a tree's Go type does not fit the records it holds
	// (a field changed kind, or a new major version has no migration).
	ErrIncompatible = errors.New("db: incompatible schema")
	// ErrInvalidText: a record's JSON text does not fit the tree's schema.
	ErrInvalidText = errors.New("db: invalid text")
	// ErrPermission: the client's grants on the server do not allow it.
	ErrPermission = errors.New("db: permission denied")
	// ErrOffline: a replica needs its server for this and has none attached.
	ErrOffline = errors.New("db: not connected to a server")
	// ErrCounterField: an Update changed a counter field, which changes
	// only by Tree.Add; nothing was written.
	ErrCounterField = errors.New("db: counter field changed by Update")
	// ErrBelowFloor: a delta would take a counter below its minimum
	// (`hills:"counter,min=N"`), here or on the server.
	ErrBelowFloor = errors.New("db: counter below its minimum")
	// ErrNotCounter: Add named a field that is not a counter.
	ErrNotCounter = errors.New("db: not a counter field")
	// ErrCounterRange: a delta would take a counter past the range of its
	// integer type.
	ErrCounterRange = errors.New("db: counter out of range")
)

// Errors that never leave the package.
var (
	// errStale makes a writer start again: the record changed meanwhile.
	errStale = errors.New("db: stale")
	// errNothing: a change that changes nothing, so nothing is written.
	errNothing = errors.New("db: nothing to do")
)
