package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/commit"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/store"
)

// DB is an open hills database: one directory, one Pebble store, and the
// records of every open tree decoded in memory. All methods are safe for
// concurrent use.
type DB struct {
	dir      string
	opts     Options
	pdb      *store.Store
	replica  bool
	clientID string
	ident    *identity // what the server said of this client; nil before it said anything
	closed   atomic.Bool
	wsync    *pebble.WriteOptions

	// Lock order: pubMu, then mu, then a tree's core.mu; people.mu and
	// the hub's locks are taken last and alone. The commit pipeline
	// (internal/commit) prepares a write under mu and publishes it under
	// pubMu, taking mu inside it when needed; nothing takes pubMu with mu
	// held.
	//
	// mu serialises the preparation of writes: under mu, the store's
	// visible state is the latest state of every record (see dbCommit.Prepare).
	mu        sync.Mutex
	settled   *sync.Cond // on mu: broadcast when a write was published or a tree opened
	trees     map[string]*core
	outboxSeq uint64 // last outbox sequence used
	outboxLen int    // outbox entries not yet acknowledged
	acked     uint64 // last outbox sequence acknowledged
	// lastOut is the outbox sequence of each record's last local change
	// (its entry may be acknowledged since: compare with acked), so that
	// the sync layer asks "is a later change of this record pending" at
	// the cost of a map lookup, for every acknowledgement.
	lastOut  map[recMark]uint64
	remote   Remote
	recMarks map[recMark]uint64 // last outbox sequence set aside per record (recover.go)
	// Counter deltas not answered by the server, by outbox sequence, and
	// their sums per record and field; the outbox sequence of each
	// record's last change other than a delta (counter.go).
	deltas   map[uint64]recMark
	deltaOut map[recMark][]pendingDelta // in outbox order
	lastEdit map[recMark]uint64

	// pubMu is held while a write is published, in ticket order; it
	// guards what publication changes (indexes, see index.go).
	pubMu sync.Mutex
	pipe  *commit.Pipeline

	people people
	hub    hub
	grants idGrants // wakes CreateWait (idwait.go)
}

// Open opens the database in dir, creating it when it does not exist
// (unless Options.MustExist). A directory that holds other files, or a
// hills server's store, is refused with ErrNotDatabase, and nothing is
// written into it. nil opts means the defaults: a standalone database.
func Open(dir string, opts *Options) (*DB, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", dir, err)
	}
	if !claimDir(abs) {
		return nil, fmt.Errorf("%w: %s is open in this process", ErrInUse, dir)
	}
	d := &DB{dir: abs, opts: *o, trees: map[string]*core{}, lastOut: map[recMark]uint64{},
		deltas: map[uint64]recMark{}, deltaOut: map[recMark][]pendingDelta{}, lastEdit: map[recMark]uint64{}}
	d.settled = sync.NewCond(&d.mu)
	d.wsync = pebble.Sync
	if o.Durability == NoSync {
		d.wsync = pebble.NoSync
	}
	d.hub.init()
	if err := d.open(); err != nil {
		releaseDir(abs)
		return nil, err
	}
	return d, nil
}

func (d *DB) open() error {
	st, err := store.Open(d.dir, store.Options{CacheSize: d.opts.CacheSize, MemTableSize: 32 << 20,
		Logger: d.opts.Logger, Corrupt: ErrCorrupt, MustExist: d.opts.MustExist})
	if err != nil {
		if errors.Is(err, store.ErrNoStore) {
			return fmt.Errorf("%w: %s holds no hills database", ErrNotDatabase, d.dir)
		}
		if errors.Is(err, store.ErrOtherFiles) {
			return fmt.Errorf("%w: %w: nothing was written there; use an empty or new directory", ErrNotDatabase, err)
		}
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("%w: %s is open in another process", ErrInUse, d.dir)
		}
		if errors.Is(err, ErrCorrupt) {
			return err // it names the damaged file
		}
		return fmt.Errorf("db: open %s: %w", d.dir, err)
	}
	d.pdb = st
	d.pipe = commit.New(commit.Env{
		Store:       st.DB,
		Writer:      &d.mu,
		Publication: &d.pubMu,
		Refuse: func() error {
			if d.closed.Load() {
				return ErrClosed
			}
			return nil
		},
		Failure: func(err error) error { return fmt.Errorf("%w: %w", ErrStorage, err) },
	})
	if err := d.loadInfo(); err != nil {
		d.pdb.Close()
		return err
	}
	return nil
}

func (d *DB) loadInfo() (err error) {
	defer d.pdb.Guard(&err, "loading the database info")
	var info layout.DBInfo
	found, err := d.pdb.GetMsgpack(layout.InfoKey, &info)
	if err != nil {
		return corrupt("database info", err)
	}
	if !found {
		if v, _ := d.pdb.Value([]byte{layout.PrefixServer, 'i'}); v != nil {
			return fmt.Errorf("%w: %s is a hills server's store, not a database (open it with hills-server)", ErrNotDatabase, d.dir)
		}
		info = layout.DBInfo{
			Format:   1,
			Replica:  d.opts.Replica,
			ClientID: uuid.NewString(),
			Created:  time.Now().UnixNano(),
		}
		b, err := msgpack.Marshal(&info)
		if err != nil {
			return err
		}
		if err := d.pdb.Set(layout.InfoKey, b, pebble.Sync); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	if info.Format != 1 {
		return fmt.Errorf("db: %s has format %d; this version reads format 1", d.dir, info.Format)
	}
	if d.opts.Replica && !info.Replica {
		return fmt.Errorf("%w: %s is a standalone database, not a replica", ErrReplica, d.dir)
	}
	d.replica, d.clientID = info.Replica, info.ClientID
	if err := d.loadIdentity(); err != nil {
		return err
	}
	return d.scanOutbox()
}

// scanOutbox finds the last outbox sequence used and counts the entries.
func (d *DB) scanOutbox() error {
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{layout.PrefixOutbox},
		UpperBound: []byte{layout.PrefixOutbox + 1},
	})
	if err != nil {
		return d.storeErr("reading the outbox", err)
	}
	defer it.Close()
	var r layout.Reader
	var ch layout.Change
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 9 {
			return fmt.Errorf("%w: outbox key %x", ErrCorrupt, k)
		}
		d.outboxSeq = layout.ItemID(k)
		d.outboxLen++
		ch = layout.Change{}
		if err := layout.UnmarshalChange(&r, it.Value(), &ch); err != nil {
			return fmt.Errorf("%w: outbox entry %x: %w", ErrCorrupt, k, err)
		}
		d.lastOut[recMark{ch.Tree, ch.Key}] = d.outboxSeq
		ch.Seq = d.outboxSeq
		if err := d.scanPending(&ch); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return d.storeErr("reading the outbox", err)
	}
	// An empty outbox keeps counting where the last one stopped, so the
	// server never sees a sequence twice.
	b, err := d.get(layout.SyncKey("outbox"))
	if err != nil {
		return err
	}
	if len(b) == 8 {
		d.acked = binary.BigEndian.Uint64(b)
		d.outboxSeq = max(d.outboxSeq, d.acked)
	}
	if !d.replica {
		return nil
	}
	// Each opening starts a new epoch of outbox sequences: a change the
	// server got before a crash lost it here is never confused with a
	// new one of the same number.
	var epoch uint64
	if e, err := d.get(layout.SyncKey("epoch")); err != nil {
		return err
	} else if len(e) == 8 {
		epoch = binary.BigEndian.Uint64(e)
	}
	epoch++
	if err := d.pdb.Set(layout.SyncKey("epoch"), binary.BigEndian.AppendUint64(nil, epoch), pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	d.outboxSeq = max(d.outboxSeq, epoch<<32)
	return nil
}

// get returns a copy of the value of key, or nil when it is absent.
func (d *DB) get(key []byte) ([]byte, error) {
	b, err := d.pdb.Value(key)
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return b, err
}

// corrupt is the error of stored bytes of what that could not be read or
// decoded: it wraps ErrCorrupt once, and the cause.
func corrupt(what string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
}

// Close waits for writes under way, delivers the events already queued to
// subscribers, and closes the store. A subscriber's callback must not call
// Close. Calls after Close return ErrClosed.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed.Load() {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed.Store(true)
	for _, c := range d.trees {
		c.closed.Store(true)
	}
	d.mu.Unlock()
	d.grants.signal() // a waiting CreateWait sees ErrClosed
	d.pipe.Wait()
	d.hub.close()
	err := d.pdb.Close()
	releaseDir(d.dir)
	if err != nil {
		return fmt.Errorf("db: close %s: %w", d.dir, err)
	}
	return nil
}

// Dir returns the database directory.
func (d *DB) Dir() string { return d.dir }

// Checkpoint writes a consistent copy of the database into dir, which must
// not exist, while the database is open: every write returned before the
// call is in it. Files are hard-linked when dir is on the same file
// system, so it is fast and small. Tools read the copy (an export opens
// it read-only); writes wait while it is taken.
func (d *DB) Checkpoint(dir string) error {
	if dir == "" {
		return errors.New("db: checkpoint needs a directory")
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("db: checkpoint: %s exists", dir)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	if err := d.pdb.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("db: checkpoint %s: %w", dir, err)
	}
	return nil
}

// Name returns the readable name of this client.
func (d *DB) Name() string { return d.opts.Name }

// ClientID returns the id this database was created with; it names this
// client to a server.
func (d *DB) ClientID() string { return d.clientID }

// IsReplica reports whether the database is a replica of a server.
func (d *DB) IsReplica() bool { return d.replica }

// Trees returns the names of the database's trees, sorted. When the
// store cannot be read it returns the names read before the failure, and
// logs the failure.
func (d *DB) Trees() []string {
	names, err := d.treeNames()
	if err != nil {
		d.opts.Logger.Error("db: listing trees", "dir", d.dir, "err", err)
	}
	return names
}

// treeNames reads the names of the database's trees from the store.
func (d *DB) treeNames() (names []string, err error) {
	defer d.pdb.Guard(&err, "listing trees")
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{layout.PrefixTree},
		UpperBound: []byte{layout.PrefixTree + 1},
	})
	if err != nil {
		return nil, d.pdb.Check(err, "listing trees")
	}
	for ok := it.First(); ok; ok = it.Next() {
		names = append(names, string(it.Key()[1:]))
	}
	if err := it.Close(); err != nil {
		return names, d.pdb.Check(err, "listing trees")
	}
	return names, nil
}

// writable reports why the database takes no writes. Called with mu held.
func (d *DB) writable() error {
	if d.closed.Load() {
		return ErrClosed
	}
	return d.pipe.Failed()
}

var openDirs struct {
	sync.Mutex
	m map[string]bool
}

func claimDir(abs string) bool {
	openDirs.Lock()
	defer openDirs.Unlock()
	if openDirs.m == nil {
		openDirs.m = map[string]bool{}
	}
	if openDirs.m[abs] {
		return false
	}
	openDirs.m[abs] = true
	return true
}

func releaseDir(abs string) {
	openDirs.Lock()
	delete(openDirs.m, abs)
	openDirs.Unlock()
}

// people interns the (name, client id) pairs records were written by, so
// each record in memory points to two shared persons instead of holding
// four strings.
type people struct {
	mu    sync.Mutex
	index map[person]*person
}

// person is a writer of records. Interned persons are never changed.
type person struct{ name, id string }

// nobody stands for the writer of an entry that has none.
var nobody = new(person)

func (p *people) intern(name, id string) *person {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q, ok := p.index[person{name, id}]; ok {
		return q
	}
	if p.index == nil {
		p.index = map[person]*person{}
	}
	q := &person{name, id}
	p.index[*q] = q
	return q
}

// of returns the person q, or nobody.
func (q *person) of() *person {
	if q == nil {
		return nobody
	}
	return q
}

// internBytes returns a function that makes strings of names, sharing
// one string per distinct name. Not safe for concurrent use.
func (p *people) internBytes() func([]byte) string {
	local := map[string]string{}
	return func(b []byte) string {
		if s, ok := local[string(b)]; ok {
			return s
		}
		s := string(b)
		local[s] = s
		return s
	}
}
