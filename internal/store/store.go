// Package store opens the Pebble store of a replica database (db) or of the
// server (netsync) with one set of options, and holds the small helpers
// both read and write it with.
//
// There is one type, Store: a *pebble.DB with its block cache, which tells
// damaged files apart from other failures. Open, the read helpers and
// Guard turn the store's corruption into errors that wrap the caller's
// sentinel and name the damaged file; Pebble's fatal reports and panics
// never leave the calls that recover them (see Guard).
//
// Values returned by the helpers are copies, owned by the caller. A Store
// is safe for concurrent use, as *pebble.DB is.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/vmihailenco/msgpack/v5"
)

// Options of Open.
type Options struct {
	// CacheSize is the block cache's size in bytes. Required.
	CacheSize int64
	// MemTableSize is the size of a memtable in bytes; 0 means Pebble's
	// default (4 MiB).
	MemTableSize uint64
	// Logger receives the store's errors as "store: ..." messages.
	// Required.
	Logger *slog.Logger
	// Corrupt is the sentinel every error about damaged files wraps.
	// Required.
	Corrupt error
	// MustExist refuses a directory that holds no store yet (ErrNoStore)
	// rather than create one. Default false.
	MustExist bool
	// ReadOnly opens the store for reading only: nothing is written to
	// its directory (a log left by a crash is replayed in memory). It
	// still takes the directory's lock. Default false.
	ReadOnly bool
}

// ErrNoStore: the directory holds no store, and Options.MustExist was
// set.
var ErrNoStore = errors.New("store: no store in the directory")

// WrapFS, when set, wraps the file system of every store opened after:
// crash tests set it in a child process to hold back the log's syncs, so
// a kill loses what was not yet durable as a power cut would. Nil in
// applications and servers.
var WrapFS func(vfs.FS) vfs.FS

// ErrOtherFiles: the directory holds files but no store: it is not one of
// hills's, and Open writes nothing into it.
var ErrOtherFiles = errors.New("store: the directory holds other files, not a store")

// ownFiles are the names a store's directory holds beside Pebble's own
// (which are checked by their patterns): the server's admin socket and
// pid file.
var ownFiles = []string{"admin.sock", "hills-server.pid"}

// pebbleFile reports whether name is one Pebble writes in a store's
// directory.
func pebbleFile(name string) bool {
	for _, p := range []string{"LOCK", "CURRENT", "MANIFEST-*", "OPTIONS-*", "*.log", "*.sst", "*.blob", "marker.*", "temporary.*", "archive", "*.dbtmp"} {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return slices.Contains(ownFiles, name)
}

// checkDir refuses a directory that is not a store's: one holding files
// that none of Pebble writes (nothing is written into it), and, with
// mustExist, one holding no store (missing, empty, or never finished).
func checkDir(dir string, mustExist bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	manifest := false
	for _, e := range entries {
		if !pebbleFile(e.Name()) {
			return fmt.Errorf("%w: %s holds %s", ErrOtherFiles, dir, e.Name())
		}
		if strings.HasPrefix(e.Name(), "MANIFEST-") {
			manifest = true
		}
	}
	if mustExist && !manifest {
		if len(entries) == 0 {
			return fmt.Errorf("%w: %s is missing or empty", ErrNoStore, dir)
		}
		return fmt.Errorf("%w: %s", ErrNoStore, dir)
	}
	return nil
}

// Store is an open Pebble store. The embedded *pebble.DB is used directly
// for batches and iterators; Close closes it and releases the cache.
type Store struct {
	*pebble.DB
	dir     string
	cache   *pebble.Cache
	corrupt error

	mu      sync.Mutex
	damaged []string // files the store found damaged, first first
}

// Open opens (or creates) the store in dir. An error about damaged files
// (a checksum mismatch, a truncated table, a malformed MANIFEST or OPTIONS
// file) wraps o.Corrupt and names the file; any other error of Pebble is
// returned as it is, to be told apart with errors.Is.
func Open(dir string, o Options) (_ *Store, err error) {
	if err := checkDir(dir, o.MustExist); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, corrupt: o.Corrupt}
	s.cache = pebble.NewCache(o.CacheSize)
	popts := &pebble.Options{
		Cache:              s.cache,
		Logger:             Logger{o.Logger},
		MemTableSize:       o.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		ReadOnly:           o.ReadOnly,
		EventListener: &pebble.EventListener{
			// Damage found while reading is an error of that read, not the
			// end of the process (Pebble's default is a fatal report).
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				s.found(info.Path)
				o.Logger.Error("store: damaged file", "file", info.Path, "err", info.Details.Error())
			},
		},
	}
	if WrapFS != nil {
		popts.FS = WrapFS(vfs.Default)
	}
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	defer func() {
		if err != nil {
			s.cache.Unref()
		}
	}()
	defer s.Guard(&err, "opening "+dir)
	pdb, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, s.openError(popts, err)
	}
	s.DB = pdb
	return s, nil // a panic above returns nil too
}

// openError classifies a failure of pebble.Open.
func (s *Store) openError(popts *pebble.Options, err error) error {
	// Pebble reads the OPTIONS files first; its error about one it cannot
	// parse does not say which file.
	if name := badOptions(s.dir, popts); name != "" {
		return fmt.Errorf("%w: %s: %w", s.corrupt, name, err)
	}
	if pebble.IsCorruptionError(err) {
		return s.Check(err, "")
	}
	// Pebble's check that every table the MANIFEST lists is on disk with
	// its size reports a failure as a plain error: look at the tables.
	if files := badTables(s.dir, popts); len(files) > 0 {
		return fmt.Errorf("%w: %s: %w", s.corrupt, strings.Join(files, ", "), err)
	}
	return err
}

// badOptions returns the path of an OPTIONS file in dir that does not
// parse, or "".
func badOptions(dir string, popts *pebble.Options) string {
	names, _ := filepath.Glob(filepath.Join(dir, "OPTIONS-*"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		o := popts.Clone()
		o.EnsureDefaults()
		if err := o.CheckCompatibility(dir, string(b)); err != nil {
			return name
		}
	}
	return ""
}

// badTables opens the store in dir read-only, without the consistency
// check, and returns the table files that are missing or whose size
// differs from the MANIFEST's.
func badTables(dir string, popts *pebble.Options) (files []string) {
	o := popts.Clone()
	o.ReadOnly, o.DisableConsistencyCheck = true, true
	o.EventListener = &pebble.EventListener{DataCorruption: func(pebble.DataCorruptionInfo) {}}
	defer func() { recover() }() // no answer, then
	pdb, err := pebble.Open(dir, o)
	if err != nil {
		return nil
	}
	defer pdb.Close()
	levels, err := pdb.SSTables()
	if err != nil {
		return nil
	}
	for _, tables := range levels {
		for _, t := range tables {
			if t.Virtual {
				continue
			}
			path := filepath.Join(dir, fmt.Sprintf("%06d.sst", t.FileNum))
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(t.Size) {
				files = append(files, path)
			}
		}
	}
	return files
}

func (s *Store) found(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.damaged, path) {
		s.damaged = append(s.damaged, path)
	}
}

// Check returns err, wrapping the corruption sentinel and naming what was
// being done and the damaged files when err is the store's report of
// damage. nil stays nil.
func (s *Store) Check(err error, doing string) error {
	if err == nil || errors.Is(err, s.corrupt) || !pebble.IsCorruptionError(err) {
		return err
	}
	s.mu.Lock()
	files := strings.Join(s.damaged, ", ")
	s.mu.Unlock()
	if files == "" {
		files = s.dir
	}
	if doing != "" {
		files = doing + ": " + files
	}
	return fmt.Errorf("%w: %s: %w", s.corrupt, files, err)
}

// Guard, deferred, turns a panic of the store into *err: an error that
// wraps the corruption sentinel and says what was being done. Pebble
// panics on some damage it finds while reading; hills recovers at the
// boundary of each of its loads and scans.
func (s *Store) Guard(err *error, doing string) {
	r := recover()
	if r == nil {
		return
	}
	s.mu.Lock()
	files := strings.Join(s.damaged, ", ")
	s.mu.Unlock()
	if files == "" {
		files = s.dir
	}
	if e, ok := r.(error); ok {
		*err = fmt.Errorf("%w: %s: %s: %w", s.corrupt, doing, files, e)
		return
	}
	*err = fmt.Errorf("%w: %s: %s: %v", s.corrupt, doing, files, r)
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the store and releases its cache.
func (s *Store) Close() error {
	err := s.DB.Close()
	s.cache.Unref()
	return err
}

// Value returns a copy of the value of key, or nil when key is absent.
func (s *Store) Value(key []byte) (v []byte, err error) {
	defer s.Guard(&err, fmt.Sprintf("reading key %x", key))
	b, closer, err := s.DB.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, s.Check(err, fmt.Sprintf("reading key %x", key))
	}
	defer closer.Close()
	return slices.Clone(b), nil
}

// GetMsgpack decodes the value of key into v; found is false when key is
// absent.
func (s *Store) GetMsgpack(key []byte, v any) (found bool, err error) {
	b, err := s.Value(key)
	if err != nil || b == nil {
		return false, err
	}
	return true, msgpack.Unmarshal(b, v)
}

// SetMsgpack stores v, encoded, as the value of key.
func (s *Store) SetMsgpack(key []byte, v any, wo *pebble.WriteOptions) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return s.DB.Set(key, b, wo)
}

// BatchValue returns a copy of the value of key as batch b sees it (its
// own writes over the store), or nil when key is absent or cannot be read.
func BatchValue(b *pebble.Batch, key []byte) []byte {
	v, closer, err := b.Get(key)
	if err != nil {
		return nil
	}
	defer closer.Close()
	return slices.Clone(v)
}

// Logger is the store's logger: Pebble's informational messages are
// dropped, its errors logged. A fatal report is logged and then panics with
// a *Fatal, which Guard turns into an error where hills calls the store;
// Pebble reports fatal only what it cannot go on from.
type Logger struct{ L *slog.Logger }

// Fatal is the panic value of Logger.Fatalf.
type Fatal struct{ Msg string }

func (f *Fatal) Error() string { return "store: fatal: " + f.Msg }

// Infof drops the message.
func (Logger) Infof(string, ...any) {}

// Errorf logs the message as an error.
func (l Logger) Errorf(format string, args ...any) {
	l.L.Error("store: " + fmt.Sprintf(format, args...))
}

// Fatalf logs the message and panics with a *Fatal.
func (l Logger) Fatalf(format string, args ...any) {
	f := &Fatal{Msg: fmt.Sprintf(format, args...)}
	l.L.Error(f.Error())
	panic(f)
}
