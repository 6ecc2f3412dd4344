package db

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/btree"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// entry is one record in memory. An entry is immutable once published:
// a change publishes a new entry.
type entry struct {
	key uint64
	// val is a *T of the tree's type; nil when the tree has no Go type,
	// or had none when the change was written (dbCommit.write decodes
	// it); gone for a pending delete.
	val        any
	created    int64
	modified   int64
	state      uint32
	changes    uint32
	createdBy  *person // interned in DB.people
	modifiedBy *person
	major      uint16
	minor      uint16
	version    uint8
}

// gone marks a pending delete.
var gone = new(struct{})

func (e *entry) deleted() bool { return e.val == any(gone) }

func entryLess(a, b *entry) bool { return a.key < b.key }

// core is the state of one tree shared by its typed handle, its opaque
// handle and the sync layer: the records in memory, and what the writer
// needs.
type core struct {
	d         *DB
	name      string
	versioned bool // fixed when the tree is created

	// mu guards order, bad and borrows, and is held by m's writers.
	mu sync.RWMutex
	m  entryMap // published entries, read without a lock
	// closed is set by DB.Close, beside m: View reads both.
	closed atomic.Bool
	order  *btree.BTreeG[*entry] // published entries in key order
	// sorted holds order as a slice, for All and Keys, until order next
	// changes (nil: not made since). Written with mu held.
	sorted  atomic.Pointer[[]*entry]
	bad     map[uint64]error  // records whose bytes could not be decoded
	borrows map[uint64]borrow // known borrow state by record key

	// Guarded by d.mu.
	info    layout.TreeInfo
	pending map[uint64]*entry // written to the store, not yet published
	typ     reflect.Type      // the Go type bound to the tree, nil if none
	decode  func([]byte) (any, error)
	// boxes, with decode, allocates n entries and values of the Go type
	// together, each value beside its entry: a View then finds both in
	// neighbouring memory.
	boxes  func(n int) ([]*entry, []any)
	handle any // *Tree[T]

	// Schema and evolution, guarded by d.mu.
	schema   *schema.Schema                       // the stored schema; nil if none
	major    uint16                               // schema major version of the Go type; 0 if none
	migrate  map[uint16]func([]byte) (any, error) // decoders of older major versions
	opening  bool                                 // OpenTree waits for pending writes: hold new ones
	unloaded bool                                 // records not loaded yet: OpenTree loads them

	// indexes of the tree (see index.go); appended to with both d.mu and
	// pubMu held, read with either.
	indexes []indexer
}

// treeCore returns the loaded core of tree name, creating the tree when
// create is set. Called with d.mu held.
func (d *DB) treeCore(name string, create bool, cfg *treeConfig) (*core, error) {
	if c := d.trees[name]; c != nil {
		return c, nil
	}
	c := &core{d: d, name: name, pending: map[uint64]*entry{},
		order: btree.NewG(32, entryLess), bad: map[uint64]error{}, borrows: map[uint64]borrow{}}
	found, err := d.pdb.GetMsgpack(layout.TreeKey(name), &c.info)
	if err != nil {
		return nil, corrupt("tree "+name+" info", err)
	}
	if !found {
		if !create {
			return nil, fmt.Errorf("%w: %s", ErrNoTree, name)
		}
		c.info = layout.TreeInfo{NextID: 1, Versioned: cfg.versioned, Major: cfg.major, Minor: cfg.minor}
		if err := d.putInfo(c, c.info); err != nil {
			return nil, err
		}
	}
	c.versioned = c.info.Versioned
	if err := c.loadSchema(); err != nil {
		return nil, err
	}
	if cfg != nil && cfg.decode != nil {
		// OpenTree binds its type and loads the records once, decoding
		// them (see openTree).
		c.unloaded = true
	} else if err := c.load(); err != nil {
		return nil, err
	}
	d.trees[name] = c
	return c, nil
}

func (d *DB) putInfo(c *core, info layout.TreeInfo) error {
	b, err := msgpack.Marshal(&info)
	if err != nil {
		return err
	}
	if err := d.pdb.Set(layout.TreeKey(c.name), b, d.wsync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

// load reads every record of the tree into memory, decoding values when
// the tree has a Go type. Decoding runs on all cores; records are inserted
// in key order. Called with d.mu held, so no write runs meanwhile.
func (c *core) load() error {
	it, err := c.d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: layout.RecordPrefix(c.name),
		UpperBound: layout.PrefixEnd(layout.RecordPrefix(c.name)),
	})
	if err != nil {
		return c.d.storeErr("reading tree "+c.name, err)
	}
	defer it.Close()

	const chunkLen = 512
	type chunk struct {
		keys  []uint64
		vals  [][]byte
		out   []*entry
		errs  []error
		ready chan struct{}
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	boxes := c.boxes
	work := make(chan *chunk, workers*2)
	inOrder := make(chan *chunk, workers*4)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			intern := c.d.people.internBytes()
			var pc personCache
			for ch := range work {
				ch.errs = make([]error, len(ch.keys))
				var vals []any
				if boxes != nil {
					ch.out, vals = boxes(len(ch.keys))
				} else {
					ch.out = make([]*entry, len(ch.keys))
					block := make([]entry, len(ch.keys))
					for i := range block {
						ch.out[i] = &block[i]
					}
				}
				for i, v := range ch.vals {
					e := ch.out[i]
					e.key = ch.keys[i]
					var into any
					if vals != nil {
						into = vals[i]
					}
					ch.errs[i] = c.decodeInto(e, v, into, intern, &pc)
				}
				ch.keys, ch.vals = nil, nil // let the arena go
				close(ch.ready)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.mu.Lock()
		defer c.mu.Unlock()
		var chunks []*chunk
		n := 0
		for ch := range inOrder {
			<-ch.ready
			for i, e := range ch.out {
				if err := ch.errs[i]; err != nil {
					c.bad[e.key] = err
					ch.out[i] = nil
					continue
				}
				c.order.ReplaceOrInsert(e)
				c.sorted.Store(nil)
				n++
			}
			chunks = append(chunks, ch)
		}
		// The map grows once, when the count is known.
		c.m.grow(n)
		for _, ch := range chunks {
			for _, e := range ch.out {
				if e != nil {
					c.m.set(e)
				}
			}
		}
	}()
	var ch *chunk
	var arena []byte
	flush := func() {
		if ch != nil {
			inOrder <- ch
			work <- ch
			ch = nil
		}
	}
	// The scan recovers a panic of the store, so the workers and the
	// collector above always end.
	scanErr := c.scanRecords(it, func(k, v []byte) {
		if ch == nil {
			// Chunks share arenas: a value is copied once, into the
			// space the last chunk left.
			ch = &chunk{ready: make(chan struct{}),
				keys: make([]uint64, 0, chunkLen), vals: make([][]byte, 0, chunkLen)}
		}
		if cap(arena)-len(arena) < len(v) {
			arena = make([]byte, 0, max(64<<10, len(v)))
		}
		start := len(arena)
		arena = append(arena, v...)
		ch.keys = append(ch.keys, layout.ItemID(k))
		ch.vals = append(ch.vals, arena[start:len(arena):len(arena)])
		if len(ch.keys) == chunkLen {
			flush()
		}
	})
	flush()
	close(work)
	close(inOrder)
	wg.Wait()
	<-done
	if scanErr != nil {
		return scanErr
	}
	if err := c.loadBorrows(); err != nil {
		return err
	}
	for k, err := range c.bad {
		id, rev := layout.Unpack(k)
		c.d.opts.Logger.Error("db: unreadable record", "tree", c.name, "key", formatKey(id, rev), "err", err)
	}
	return nil
}

// scanRecords passes each record of the tree to fn, in key order. A key
// of the wrong length, a failure of the store or its panic ends the scan
// with an error.
func (c *core) scanRecords(it *pebble.Iterator, fn func(k, v []byte)) (err error) {
	defer c.d.pdb.Guard(&err, "reading tree "+c.name)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != len(layout.RecordPrefix(c.name))+8 {
			return fmt.Errorf("%w: tree %s: record key %x", ErrCorrupt, c.name, k)
		}
		fn(k, it.Value())
	}
	return c.d.storeErr("reading tree "+c.name, it.Error())
}

// storeErr is the error of a failed read of the store while doing what:
// ErrCorrupt when the store found damage, ErrStorage otherwise; nil stays
// nil.
func (d *DB) storeErr(what string, err error) error {
	if err = d.pdb.Check(err, what); err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrStorage, what, err)
}

// loadBorrows reads the check-outs this replica holds.
func (c *core) loadBorrows() (err error) {
	defer c.d.pdb.Guard(&err, "reading the borrows of tree "+c.name)
	it, err := c.d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: layout.BorrowPrefix(c.name),
		UpperBound: layout.PrefixEnd(layout.BorrowPrefix(c.name)),
	})
	if err != nil {
		return c.d.storeErr("reading the borrows of tree "+c.name, err)
	}
	defer it.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for ok := it.First(); ok; ok = it.Next() {
		c.borrows[layout.ItemID(it.Key())] = borrow{holder: string(it.Value()), mine: true}
	}
	return c.d.storeErr("reading the borrows of tree "+c.name, it.Error())
}

// decodeInto fills e from the stored bytes b. into, when not nil, is a
// new value of the tree's Go type for the record's (see core.boxes).
func (c *core) decodeInto(e *entry, b []byte, into any, intern func([]byte) string, pc *personCache) error {
	m, data, err := record.Decode(b, intern)
	if err != nil {
		return err
	}
	c.fillMeta(e, &m, pc)
	if c.decode != nil {
		e.val, err = decodeValueInto(c.decodeValue, c.major, into, m.Major, data)
	}
	return err
}

// decodeValueInto decodes data, written with schema major version major,
// with dec; into into when it is given (a value of the Go type, see
// core.boxes) and major is the Go type's, cur.
func decodeValueInto(dec func(uint16, []byte) (any, error), cur uint16, into any, major uint16, data []byte) (any, error) {
	if into == nil || major != cur {
		return dec(major, data)
	}
	if err := unmarshalValue(data, into); err != nil {
		return nil, err
	}
	return into, nil
}

func (c *core) fillMeta(e *entry, m *record.Meta, pc *personCache) {
	e.version = m.Version
	e.state = m.State
	e.major, e.minor = m.Major, m.Minor
	e.created, e.modified = m.Created, m.Modified
	e.changes = m.Changes
	e.createdBy = pc.intern(&c.d.people, m.CreatedBy, m.CreatedByID)
	e.modifiedBy = pc.intern(&c.d.people, m.ModifiedBy, m.ModifiedByID)
}

// personCache remembers the person a loading worker interned last: most
// records of a tree were written by a few clients, so this spares the
// shared people's lock and map on almost every record.
type personCache struct{ last *person }

func (pc *personCache) intern(p *people, name, id string) *person {
	if pc.last != nil && name == pc.last.name && id == pc.last.id {
		return pc.last
	}
	pc.last = p.intern(name, id)
	return pc.last
}

// recordMeta is the stored header of e.
func (c *core) recordMeta(e *entry) record.Meta {
	cb, mb := e.createdBy.of(), e.modifiedBy.of()
	return record.Meta{
		Version: e.version, State: e.state, Major: e.major, Minor: e.minor,
		Created: e.created, Modified: e.modified, Changes: e.changes,
		CreatedBy: cb.name, CreatedByID: cb.id, ModifiedBy: mb.name, ModifiedByID: mb.id,
	}
}

// meta is the public form of e's meta.
func (c *core) meta(e *entry) Meta {
	var m Meta
	c.fillPublicMeta(&m, e)
	return m
}

// fillPublicMeta sets *m to the public form of e's meta. View uses it
// rather than meta: filling the caller's Meta in place spares a copy, and
// View builds one on every call.
func (c *core) fillPublicMeta(m *Meta, e *entry) {
	cb, mb := e.createdBy.of(), e.modifiedBy.of()
	m.Version = VersionState(e.version)
	m.State = e.state
	m.Evolution = Evolution{e.major, e.minor}
	m.Created = time.Unix(e.created/1e9, e.created%1e9).UTC()
	m.Modified = time.Unix(e.modified/1e9, e.modified%1e9).UTC()
	m.CreatedBy, m.ModifiedBy = cb.name, mb.name
	m.CreatedByID, m.ModifiedByID = cb.id, mb.id
	m.Changes = e.changes
}

// published returns the published entry of key, or nil.
func (c *core) published(key uint64) *entry { return c.m.get(key) }

// inOrder returns the published entries in key order: a slice shared by
// every caller until the tree next changes, which must not be modified.
func (c *core) inOrder() []*entry {
	if p := c.sorted.Load(); p != nil {
		return *p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.sorted.Load(); p != nil {
		return *p
	}
	s := make([]*entry, 0, c.order.Len())
	c.order.Ascend(func(e *entry) bool {
		s = append(s, e)
		return true
	})
	c.sorted.Store(&s)
	return s
}

// latest returns the newest entry of key, written or published, or nil.
// Called with d.mu held.
func (c *core) latest(key uint64) *entry {
	if e, ok := c.pending[key]; ok {
		if e.deleted() {
			return nil
		}
		return e
	}
	return c.published(key)
}

// errKey wraps err with the tree and key it concerns.
func (c *core) errKey(err error, key uint64) error {
	id, rev := layout.Unpack(key)
	return fmt.Errorf("%w: %s/%s", err, c.name, formatKey(id, rev))
}

// missing explains why key has no entry.
func (c *core) missing(key uint64) error {
	if c.d.closed.Load() {
		return ErrClosed
	}
	c.mu.RLock()
	bad := c.bad[key]
	c.mu.RUnlock()
	if bad != nil {
		return fmt.Errorf("%w: %s/%s: %v", ErrCorrupt, c.name, formatKey(layout.Unpack(key)), bad)
	}
	return c.errKey(ErrNotFound, key)
}

// stored returns the latest stored bytes of key. Called with d.mu held:
// then the store's visible state is the latest state (see dbCommit.Prepare).
func (c *core) stored(key uint64) (record.Meta, []byte, error) {
	b, err := c.d.get(layout.RecordKey(c.name, key))
	if err != nil {
		return record.Meta{}, nil, err
	}
	if b == nil {
		return record.Meta{}, nil, c.errKey(ErrNotFound, key)
	}
	m, data, err := record.Decode(b, nil)
	if err != nil {
		return m, nil, fmt.Errorf("%w: %s/%s: %v", ErrCorrupt, c.name, formatKey(layout.Unpack(key)), err)
	}
	return m, data, nil
}

// op is one change to one record.
type op struct {
	c      *core
	kind   EventKind
	key    uint64
	e      *entry // the new entry; nil for a delete
	data   []byte // the record's msgpack value; nil for a delete
	remote bool   // the change came from the server
	// fromLog: a change from the server's log, written by another
	// replica (not the answer to one of this replica's own); it is
	// rebased onto this replica's pending changes (see core.rebase).
	fromLog bool
	// answered: the record from the server answers this replica's
	// outbox change of that sequence, and later ones are pending; it is
	// rebased onto those (see core.rebase).
	answered uint64
	delta    *layout.Delta // a counter delta (Tree.Add): the outbox gets it, not the record
	ixKeys   []any         // index keys extracted by checkIndexes, by index position
}

// write commits one change. prepare runs with d.mu held and fills in o
// from the latest state; it may read the store, whose visible state then is
// the latest. See commit.
func (d *DB) write(o *op, prepare func(o *op, b *pebble.Batch) error) error {
	return d.commit([]*op{o}, func(b *pebble.Batch) error { return prepare(o, b) }, d.wsync)
}

// commit writes ops as one batch through the commit pipeline. prepare,
// when not nil, runs first with d.mu held. The batch is applied to the
// store in preparation order, made durable together with concurrent writes
// (one log sync for many writers) unless wo says not to, then published to
// memory and to subscribers in the same order.
func (d *DB) commit(ops []*op, prepare func(b *pebble.Batch) error, wo *pebble.WriteOptions) error {
	c := &dbCommit{d: d, ops: ops, prepare: prepare, sync: wo.Sync}
	if err := d.pipe.Commit(c); err != nil {
		return err
	}
	if !c.early && d.replica && hasLocal(ops) {
		d.notifyRemote()
	}
	return nil
}

// dbCommit is one write of the database going through the commit
// pipeline: the pipeline's callbacks for it, and what they share.
type dbCommit struct {
	d       *DB
	ops     []*op
	prepare func(b *pebble.Batch) error
	sync    bool
	early   bool // the sync layer was told while the log synced

	// What prepare changed, for Abort to undo.
	undos     []undo
	outUndos  []outUndo
	pendUndos []func() // see DB.notePending
	pends     []*entry // the pending entry of each op
	outboxSeq uint64
	outboxLen int
}

// outUndo is a record's last outbox sequence before a write.
type outUndo struct {
	mk   recMark
	prev uint64
	had  bool
}

type undo struct {
	c    *core
	key  uint64
	prev *entry
	had  bool
}

// Prepare runs with d.mu held: it waits for trees being opened, checks the
// database takes writes, runs the caller's prepare and the unique indexes'
// checks, and writes the ops to b as the latest, pending state.
func (w *dbCommit) Prepare(b *pebble.Batch) error {
	d := w.d
	for opening(w.ops) {
		d.settled.Wait()
	}
	if err := d.writable(); err != nil {
		return err
	}
	if w.prepare != nil {
		if err := w.prepare(b); err != nil {
			return err
		}
	}
	for _, o := range w.ops {
		if err := o.c.checkIndexes(o); err != nil {
			return err
		}
	}
	w.undos = make([]undo, 0, len(w.ops))
	w.pends = make([]*entry, len(w.ops))
	w.outboxSeq, w.outboxLen = d.outboxSeq, d.outboxLen
	for i, o := range w.ops {
		if err := w.write(b, i, o); err != nil {
			w.Abort()
			return err
		}
	}
	return nil
}

// write adds op o to b and makes it the record's pending entry.
func (w *dbCommit) write(b *pebble.Batch, i int, o *op) error {
	d, c := w.d, o.c
	rk := layout.RecordKey(c.name, o.key)
	var rec []byte
	if o.e != nil {
		if o.e.val == nil && c.decode != nil {
			// A change decoded before the tree got its type.
			v, err := c.decodeValue(o.e.major, o.data)
			if err != nil {
				return c.errKey(fmt.Errorf("%w: %w", ErrCorrupt, err), o.key)
			}
			o.e.val = v
		}
		m := c.recordMeta(o.e)
		rec = record.Encode(make([]byte, 0, 64+len(o.data)), &m, o.data)
		b.Set(rk, rec, nil)
	} else {
		b.Delete(rk, nil)
		b.Delete(layout.BorrowKey(c.name, o.key), nil)
	}
	if d.replica && !o.remote {
		d.outboxSeq++
		d.outboxLen++
		mk := recMark{c.name, o.key}
		prev, had := d.lastOut[mk]
		w.outUndos = append(w.outUndos, outUndo{mk, prev, had})
		d.lastOut[mk] = d.outboxSeq
		if err := d.appendOutbox(b, d.outboxSeq, o, rec); err != nil {
			return err
		}
		w.pendUndos = append(w.pendUndos, d.notePending(d.outboxSeq, o))
	}
	pend := o.e
	if pend == nil {
		pend = &entry{key: o.key, val: gone}
	}
	prev, had := c.pending[o.key]
	w.undos = append(w.undos, undo{c, o.key, prev, had})
	c.pending[o.key] = pend
	c.reserveIndexes(o)
	w.pends[i] = pend
	return nil
}

// Sync reports whether the write waits for the log sync.
func (w *dbCommit) Sync() bool { return w.sync }

// Abort puts back the pending entries and the outbox counters as they
// were before Prepare. Called with d.mu held.
func (w *dbCommit) Abort() {
	for i := len(w.undos) - 1; i >= 0; i-- {
		u := w.undos[i]
		u.c.unreserveIndexes(u.key)
		if u.had {
			u.c.pending[u.key] = u.prev
		} else {
			delete(u.c.pending, u.key)
		}
	}
	w.undos = nil
	for i := len(w.outUndos) - 1; i >= 0; i-- {
		u := w.outUndos[i]
		if u.had {
			w.d.lastOut[u.mk] = u.prev
		} else {
			delete(w.d.lastOut, u.mk)
		}
	}
	w.outUndos = nil
	for i := len(w.pendUndos) - 1; i >= 0; i-- {
		w.pendUndos[i]()
	}
	w.pendUndos = nil
	w.d.outboxSeq, w.d.outboxLen = w.outboxSeq, w.outboxLen
}

// Syncing tells the sync layer of local changes while the log syncs.
func (w *dbCommit) Syncing() {
	if w.d.replica && hasLocal(w.ops) {
		// The change is in the store's memory: the sync layer sends it to
		// the server while the log syncs here. Outbox sequences are never
		// reused (see DB.scanOutbox), so a crash before the sync cannot
		// make the server take a later change for this one.
		w.early = true
		w.d.notifyRemote()
	}
}

// Publish makes the durable changes visible in memory and delivers their
// events, in ticket order (pubMu held).
func (w *dbCommit) Publish(ok bool) {
	d := w.d
	if !ok {
		// Abort changed the pending entries: wake who waits for them.
		d.settled.Broadcast()
		return
	}
	olds := make([]*entry, len(w.ops))
	for lo := 0; lo < len(w.ops); {
		// A run of ops of one tree is published under one lock.
		c := w.ops[lo].c
		hi := lo + 1
		for hi < len(w.ops) && w.ops[hi].c == c {
			hi++
		}
		c.mu.Lock()
		c.m.grow(hi - lo)
		for i := lo; i < hi; i++ {
			o := w.ops[i]
			if o.e != nil {
				olds[i] = c.m.set(o.e)
				c.order.ReplaceOrInsert(o.e)
			} else if olds[i] = c.m.del(o.key); olds[i] != nil {
				c.order.Delete(olds[i])
			}
			delete(c.bad, o.key)
			if o.kind == Deleted {
				delete(c.borrows, o.key)
			}
		}
		c.sorted.Store(nil)
		c.mu.Unlock()
		for i := lo; i < hi; i++ {
			c.publishIndexes(w.ops[i], olds[i])
		}
		lo = hi
	}
	d.mu.Lock()
	for i, o := range w.ops {
		if c := o.c; c.pending[o.key] == w.pends[i] {
			delete(c.pending, o.key)
			c.unreserveIndexes(o.key)
		}
	}
	d.mu.Unlock()
	evs := make([]rawEvent, len(w.ops))
	for i, o := range w.ops {
		evs[i] = rawEvent{tree: o.c.name, kind: o.kind, key: o.key, remote: o.remote}
	}
	d.hub.emitAll(evs)
	d.settled.Broadcast()
}

// hasLocal reports whether ops hold a change made here.
func hasLocal(ops []*op) bool {
	for _, o := range ops {
		if !o.remote {
			return true
		}
	}
	return false
}

// opening reports whether a tree of ops is being opened with a Go type;
// its writes wait. Called with d.mu held.
func opening(ops []*op) bool {
	for _, o := range ops {
		if o.c.opening {
			return true
		}
	}
	return false
}

// newEntry makes the entry of a record written now by this client.
func (c *core) newEntry(val any, from *entry) *entry {
	now := time.Now().UnixNano()
	me := c.d.people.intern(c.d.writer(), c.d.clientID)
	e := &entry{val: val, modified: now, modifiedBy: me}
	if from == nil {
		e.created, e.createdBy = now, me
		e.major, e.minor = c.info.Major, c.info.Minor
		if c.versioned {
			e.version = record.Draft
		}
		e.changes = 1
		return e
	}
	e.key = from.key
	e.created, e.createdBy = from.created, from.createdBy
	e.state, e.version = from.state, from.version
	e.major, e.minor = from.major, from.minor
	e.changes = from.changes + 1
	return e
}

// allocID takes the next id for a new record. Called with d.mu held; the
// tree info it changes is written with the record.
func (c *core) allocID(b *pebble.Batch) (uint32, error) {
	info := c.info
	var id uint32
	if c.d.replica {
		for len(info.Ranges) > 0 && info.Ranges[0].Lo >= info.Ranges[0].Hi {
			info.Ranges = info.Ranges[1:]
		}
		if len(info.Ranges) == 0 {
			return 0, fmt.Errorf("%w: tree %s", ErrNoIDs, c.name)
		}
		info.Ranges = append([]layout.Range(nil), info.Ranges...)
		id = info.Ranges[0].Lo
		info.Ranges[0].Lo++
	} else {
		if info.NextID == 0 {
			return 0, fmt.Errorf("%w: tree %s has used every id", ErrNoIDs, c.name)
		}
		id = info.NextID
		info.NextID++
	}
	enc, err := msgpack.Marshal(&info)
	if err != nil {
		return 0, err
	}
	b.Set(layout.TreeKey(c.name), enc, nil)
	c.info = info
	return id, nil
}

// marshal encodes a value as the msgpack map stored for it.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unmarshalValue decodes the msgpack value b into v like msgpack.Unmarshal,
// with a pooled decoder and reader: loading a tree decodes every record.
func unmarshalValue(b []byte, v any) error {
	vd := valueDecoders.Get().(*valueDecoder)
	vd.r.Reset(b)
	if vd.dec == nil {
		vd.dec = msgpack.NewDecoder(&vd.r)
	} else {
		vd.dec.Reset(&vd.r)
	}
	err := vd.dec.Decode(v)
	vd.r.Reset(nil)
	valueDecoders.Put(vd)
	return err
}

type valueDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var valueDecoders = sync.Pool{New: func() any { return new(valueDecoder) }}

// appendOutbox adds a local change of a replica to its outbox, in the same
// batch as the change, for the sync layer to send.
func (d *DB) appendOutbox(b *pebble.Batch, seq uint64, o *op, rec []byte) error {
	ch, err := outboxChange(seq, o, rec)
	if err != nil {
		return err
	}
	enc, err := msgpack.Marshal(&ch)
	if err != nil {
		return err
	}
	b.Set(layout.OutboxKey(seq), enc, nil)
	return nil
}
