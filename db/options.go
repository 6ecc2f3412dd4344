package db

import (
	"fmt"
	"log/slog"
	"os"
)

// Durability says when a write reaches the disk.
type Durability int

const (
	// SyncOnCommit makes every write durable (fsync of the log) before it
	// returns. Concurrent writers share one sync. The default.
	SyncOnCommit Durability = iota
	// NoSync returns once the write is in the log buffer; a crash of the
	// machine (not of the process) may lose the last writes. For tests and
	// bulk imports.
	NoSync
)

// Options configure Open. The zero value and nil are the defaults.
type Options struct {
	// Replica makes the database a replica of a server: ids come from the
	// server and changes need the record's check-out. Fixed when the
	// database is created: a standalone database cannot be opened as a
	// replica, and a replica stays one whatever this says. Default false.
	Replica bool
	// Name is the readable name other users see for this client, recorded
	// in every record it writes. Default: the host name.
	Name string
	// Durability of writes. Default SyncOnCommit.
	Durability Durability
	// CacheSize is the size of the store's block cache in bytes. Records
	// are read from memory, so this matters only for opening and catch-up.
	// Default 32 MiB.
	CacheSize int64
	// Logger receives the store's warnings and errors. Default
	// slog.Default().
	Logger *slog.Logger
	// MustExist refuses a directory that holds no database yet (missing
	// or empty) with ErrNotDatabase, rather than create one: for tools
	// that open a database a user named. Default false. A directory that
	// holds other files is refused whatever this says.
	MustExist bool
}

func (o *Options) withDefaults() (*Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "hills"
		}
		c.Name = h
	}
	if len(c.Name) > 256 {
		return nil, fmt.Errorf("db: Options.Name is %d bytes, at most 256", len(c.Name))
	}
	if c.Durability != SyncOnCommit && c.Durability != NoSync {
		return nil, fmt.Errorf("db: unknown Options.Durability %d", c.Durability)
	}
	if c.CacheSize < 0 {
		return nil, fmt.Errorf("db: negative Options.CacheSize %d", c.CacheSize)
	}
	if c.CacheSize == 0 {
		c.CacheSize = 32 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &c, nil
}

// TreeOption configures OpenTree.
type TreeOption func(*treeConfig)

type treeConfig struct {
	versioned    bool
	major, minor uint16
	migrations   map[uint16]migration // by major version migrated from
	// decode, when set, decodes the values of a tree loaded now, so that
	// OpenTree does not load the tree twice.
	decode func([]byte) (any, error)
}

// Versioned makes a tree versioned: new records are drafts, Release freezes
// a record's data and Revise makes the next revision. A tree is versioned
// or not from its first opening on.
func Versioned() TreeOption { return func(c *treeConfig) { c.versioned = true } }

// SchemaVersion declares the version of the tree's Go type. Records carry
// the version they were written with (Meta.Evolution). Default 1.0; major
// versions start at 1.
//
// Within one major version, fields may be added and removed: code of any
// minor version reads records of any other (missing fields are zero), and
// an Update by older code keeps the fields it does not know, byte for
// byte: those of the record and of the structs nested in it (not those of
// structs inside lists or maps, whose elements have no identity to
// match).
//
// OpenTree refuses (ErrIncompatible, nothing written) a type whose field
// changed kind against the tree's stored schema, a newer major version
// without a Migrate from the stored one, and an older major version than
// the stored one. An enum is the integer it is made of, a
// pointer is the kind it points to, slices and arrays are one kind, and
// numbers keep their size and sign (int32 to int64 needs a new major
// version: a value one writes must fit the other).
func SchemaVersion(major, minor uint16) TreeOption {
	return func(c *treeConfig) { c.major, c.minor = major, minor }
}
