package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
)

// DB is an open hills database: one directory, one Pebble store, and the
// records of every open tree decoded in memory. All methods are safe for
// concurrent use.
type DB struct {
	dir      string
	opts     Options
	pdb      *pebble.DB
	cache    interface{ Unref() }
	replica  bool
	clientID string
	closed   atomic.Bool
	wsync    *pebble.WriteOptions

	// mu serialises the preparation of writes: under mu, the store's
	// visible state is the latest state of every record (see write).
	mu        sync.Mutex
	trees     map[string]*core
	failed    error  // first storage failure; writes are refused after it
	ticket    uint64 // next write ticket
	outboxSeq uint64 // last outbox sequence used
	outboxLen int    // outbox entries not yet acknowledged
	acked     uint64 // last outbox sequence acknowledged
	remote    Remote
	recMarks  map[recMark]uint64 // last outbox sequence set aside per record (recover.go)
	inflight  sync.WaitGroup

	// Publication of writes in ticket order.
	pubMu   sync.Mutex
	pubCond *sync.Cond
	pubNext uint64

	people people
	hub    hub
	grants idGrants // wakes CreateWait (idwait.go)
}

// Open opens the database in dir, creating it when it does not exist.
// nil opts means the defaults: a standalone database.
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
	d := &DB{dir: abs, opts: *o, trees: map[string]*core{}}
	d.pubCond = sync.NewCond(&d.pubMu)
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
	cache := pebble.NewCache(d.opts.CacheSize)
	popts := &pebble.Options{
		Cache:              cache,
		Logger:             pebbleLogger{d.opts.Logger},
		MemTableSize:       32 << 20,
		FormatMajorVersion: pebble.FormatNewest,
	}
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloomPolicy
	}
	pdb, err := pebble.Open(d.dir, popts)
	if err != nil {
		cache.Unref()
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("%w: %s is open in another process", ErrInUse, d.dir)
		}
		return fmt.Errorf("db: open %s: %w", d.dir, err)
	}
	d.pdb, d.cache = pdb, cache
	if err := d.loadInfo(); err != nil {
		d.pdb.Close()
		cache.Unref()
		return err
	}
	return nil
}

func (d *DB) loadInfo() error {
	var info layout.DBInfo
	found, err := d.getMsgpack(layout.InfoKey, &info)
	if err != nil {
		return fmt.Errorf("%w: database info: %v", ErrCorrupt, err)
	}
	if !found {
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
			return fmt.Errorf("%w: %v", ErrStorage, err)
		}
	}
	if info.Format != 1 {
		return fmt.Errorf("db: %s has format %d; this version reads format 1", d.dir, info.Format)
	}
	if d.opts.Replica && !info.Replica {
		return fmt.Errorf("%w: %s is a standalone database, not a replica", ErrReplica, d.dir)
	}
	d.replica, d.clientID = info.Replica, info.ClientID
	return d.scanOutbox()
}

// scanOutbox finds the last outbox sequence used and counts the entries.
func (d *DB) scanOutbox() error {
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{layout.PrefixOutbox},
		UpperBound: []byte{layout.PrefixOutbox + 1},
	})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 9 {
			return fmt.Errorf("%w: outbox key %x", ErrCorrupt, k)
		}
		d.outboxSeq = layout.ItemID(k)
		d.outboxLen++
	}
	if err := it.Error(); err != nil {
		return err
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
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	d.outboxSeq = max(d.outboxSeq, epoch<<32)
	return nil
}

// getMsgpack reads key into v; found is false when the key is absent.
func (d *DB) getMsgpack(key []byte, v any) (found bool, err error) {
	b, closer, err := d.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	return true, msgpack.Unmarshal(b, v)
}

// get returns a copy of the value of key, or nil when it is absent.
func (d *DB) get(key []byte) ([]byte, error) {
	b, closer, err := d.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	defer closer.Close()
	return slices.Clone(b), nil
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
	d.mu.Unlock()
	d.grants.signal() // a waiting CreateWait sees ErrClosed
	d.inflight.Wait()
	d.hub.close()
	err := d.pdb.Close()
	d.cache.Unref()
	releaseDir(d.dir)
	if err != nil {
		return fmt.Errorf("db: close %s: %w", d.dir, err)
	}
	return nil
}

// Dir returns the database directory.
func (d *DB) Dir() string { return d.dir }

// Name returns the readable name of this client.
func (d *DB) Name() string { return d.opts.Name }

// ClientID returns the id this database was created with; it names this
// client to a server.
func (d *DB) ClientID() string { return d.clientID }

// IsReplica reports whether the database is a replica of a server.
func (d *DB) IsReplica() bool { return d.replica }

// Trees returns the names of the database's trees, sorted.
func (d *DB) Trees() []string {
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{layout.PrefixTree},
		UpperBound: []byte{layout.PrefixTree + 1},
	})
	if err != nil {
		return nil
	}
	defer it.Close()
	var names []string
	for ok := it.First(); ok; ok = it.Next() {
		names = append(names, string(it.Key()[1:]))
	}
	return names
}

// writable reports why the database takes no writes. Called with mu held.
func (d *DB) writable() error {
	if d.closed.Load() {
		return ErrClosed
	}
	return d.failed
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
// each record in memory holds two small numbers instead of four strings.
type people struct {
	mu    sync.Mutex
	index map[person]uint32
	list  atomic.Pointer[[]person]
}

type person struct{ name, id string }

func (p *people) intern(name, id string) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.index[person{name, id}]; ok {
		return i
	}
	if p.index == nil {
		p.index = map[person]uint32{}
	}
	var list []person
	if l := p.list.Load(); l != nil {
		list = *l
	}
	i := uint32(len(list))
	list = append(list, person{name, id})
	p.list.Store(&list)
	p.index[person{name, id}] = i
	return i
}

func (p *people) get(i uint32) person {
	l := p.list.Load()
	if l == nil || int(i) >= len(*l) {
		return person{}
	}
	return (*l)[i]
}

// pair returns persons a and b with one load of the list: View builds a
// Meta on every call.
func (p *people) pair(a, b uint32) (pa, pb person) {
	l := p.list.Load()
	if l == nil {
		return
	}
	if int(a) < len(*l) {
		pa = (*l)[a]
	}
	if int(b) < len(*l) {
		pb = (*l)[b]
	}
	return
}

type pebbleLogger struct {
	l interface{ Error(string, ...any) }
}

func (pebbleLogger) Infof(string, ...any) {}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("store: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("store: fatal: " + msg)
	panic("hills store: " + msg)
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
