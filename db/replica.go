package db

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
)

func init() {
	replica.Open = func(x any) (replica.Link, error) {
		d, ok := x.(*DB)
		if !ok || d == nil {
			return nil, fmt.Errorf("replica: %T is not a *db.DB", x)
		}
		if !d.replica {
			return nil, fmt.Errorf("%w: %s", replica.ErrNotReplica, d.dir)
		}
		return link{d}, nil
	}
}

// link implements replica.Link for the sync layer.
type link struct{ d *DB }

var _ replica.Link = link{}

func (l link) ClientID() string { return l.d.clientID }
func (l link) Name() string     { return l.d.opts.Name }

func (l link) SyncState(name string) ([]byte, error) {
	if l.d.closed.Load() {
		return nil, ErrClosed
	}
	return l.d.get(layout.SyncKey(name))
}

func (l link) SetSyncState(name string, v []byte) error {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	if err := d.pdb.Set(layout.SyncKey(name), v, pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

// Position implements replica.Link: the "seq" sync state holds the
// sequence, then the log's digest there when the server sent one.
func (l link) Position() replica.Pos {
	b, err := l.SyncState("seq")
	if err != nil || len(b) < 8 {
		return replica.Pos{}
	}
	p := replica.Pos{Seq: binary.BigEndian.Uint64(b)}
	if len(b) > 8 {
		p.Sum = slices.Clone(b[8:])
	}
	return p
}

// setPosition writes the position into b.
func setPosition(b *pebble.Batch, at replica.Pos) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(at.Sum)), at.Seq)
	return b.Set(layout.SyncKey("seq"), append(v, at.Sum...), nil)
}

// remoteCore returns the core of a tree named by the server, loading it
// (without a Go type when the application has not opened it). Called with
// d.mu held.
func (d *DB) remoteCore(name string) (*core, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q from the server", ErrInvalidName, name)
	}
	return d.treeCore(name, true, &treeConfig{major: 1})
}

// Apply applies changes from the server in one batch with the new last
// sequence. The server holds them durably, so the batch is not synced
// before it is published: a crash loses at most changes the replica
// fetches again, because the sequence is lost with them.
func (l link) Apply(changes []layout.Change, at replica.Pos) error {
	return l.apply(changes, at, 0)
}

// apply applies changes from the server; answered, when not 0, is the
// outbox sequence of this replica's change they answer (see ApplyAnswer).
func (l link) apply(changes []layout.Change, at replica.Pos, answered uint64) error {
	ops, err := l.prepare(changes, answered)
	if err != nil {
		return err
	}
	return l.applyOps(ops, at)
}

func (l link) Prepare(changes []layout.Change) (replica.Prepared, error) {
	ops, err := l.prepare(changes, 0)
	if err != nil {
		return nil, err
	}
	return preparedOps(ops), nil
}

func (l link) ApplyPrepared(p replica.Prepared, at replica.Pos) error {
	ops, ok := p.(preparedOps)
	if !ok {
		return fmt.Errorf("db: ApplyPrepared of %T", p)
	}
	return l.applyOps(ops, at)
}

// preparedOps is what Prepare makes: the ops of the changes.
type preparedOps []*op

// prepare makes the ops of changes from the server, their records and
// values decoded. The values of a tree with a Go type are allocated
// beside their entries (see core.boxes), and ops in one block.
func (l link) prepare(changes []layout.Change, answered uint64) ([]*op, error) {
	d := l.d
	type typed struct {
		dec   func(uint16, []byte) (any, error)
		boxes func(int) ([]*entry, []any)
		major uint16
		es    []*entry // allocated, not yet taken
		vs    []any
	}
	block := make([]op, len(changes))
	ops := make([]*op, len(changes))
	vals := make([]any, len(changes)) // an op's value to decode into, or nil
	trees := map[*core]*typed{}
	var pc personCache
	d.mu.Lock()
	for i, ch := range changes {
		c, err := d.remoteCore(ch.Tree)
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		o := &block[i]
		*o = op{c: c, kind: EventKind(ch.Kind), key: ch.Key, remote: true, fromLog: ch.Seq != 0, answered: answered}
		ops[i] = o
		tt := trees[c]
		if tt == nil {
			tt = &typed{dec: c.valueDecoder(), boxes: c.boxes, major: c.major}
			if tt.dec == nil {
				tt.boxes = nil
			}
			trees[c] = tt
		}
		if ch.Record == nil {
			if o.kind != Deleted {
				d.mu.Unlock()
				return nil, c.errKey(fmt.Errorf("%w: %v without a record from the server", ErrCorrupt, o.kind), ch.Key)
			}
			continue
		}
		m, data, err := record.Decode(ch.Record, nil)
		if err != nil {
			d.mu.Unlock()
			return nil, c.errKey(fmt.Errorf("%w: from the server: %w", ErrCorrupt, err), ch.Key)
		}
		o.data = data
		if tt.boxes != nil && len(tt.es) == 0 {
			tt.es, tt.vs = tt.boxes(min(len(changes)-i, 1024))
		}
		if len(tt.es) > 0 {
			o.e, tt.es = tt.es[0], tt.es[1:]
			vals[i], tt.vs = tt.vs[0], tt.vs[1:]
		} else {
			o.e = new(entry)
		}
		o.e.key = o.key
		c.fillMeta(o.e, &m, &pc)
	}
	d.mu.Unlock()
	// Decode outside the lock; commit decodes what a tree typed meanwhile.
	for i, o := range ops {
		tt := trees[o.c]
		if o.e == nil || tt.dec == nil {
			continue
		}
		var err error
		if o.e.val, err = decodeValueInto(tt.dec, tt.major, vals[i], o.e.major, o.data); err != nil {
			return nil, o.c.errKey(fmt.Errorf("%w: from the server: %w", ErrCorrupt, err), o.key)
		}
	}
	return ops, nil
}

// applyOps commits ops made by prepare, and the position at.
func (l link) applyOps(ops []*op, at replica.Pos) error {
	return l.d.commit(ops, func(b *pebble.Batch) error {
		if err := rebaseAll(ops); err != nil {
			return err
		}
		return setPosition(b, at)
	}, pebble.NoSync)
}

func (l link) ApplyTree(t replica.TreeDecl) error {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	c, err := d.remoteCore(t.Name)
	if err != nil {
		return err
	}
	info := c.info
	info.Versioned = t.Versioned
	notOlder := t.Major > info.Major || t.Major == info.Major && t.Minor >= info.Minor
	if notOlder {
		info.Major, info.Minor = t.Major, t.Minor
	}
	var sc *schema.Schema
	if len(t.Schema) > 0 && notOlder {
		if sc, err = schema.Decode(t.Schema); err != nil {
			return fmt.Errorf("%w: schema of tree %s from the server: %w", ErrCorrupt, t.Name, err)
		}
	}
	b := d.pdb.NewBatch()
	defer b.Close()
	enc, err := msgpack.Marshal(&info)
	if err != nil {
		return err
	}
	b.Set(layout.TreeKey(t.Name), enc, nil)
	if sc != nil {
		b.Set(layout.SchemaKey(t.Name), t.Schema, nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if sc != nil {
		// Keep the schema in memory in step with the store: opaque
		// readers (the viewer) render records through it.
		c.schema = sc
	}
	c.info = info
	c.versioned = info.Versioned
	return nil
}

func (l link) Trees() ([]replica.TreeDecl, error) {
	d := l.d
	names, err := d.treeNames()
	if err != nil {
		return nil, err
	}
	var out []replica.TreeDecl
	for _, name := range names {
		var info layout.TreeInfo
		if _, err := d.pdb.GetMsgpack(layout.TreeKey(name), &info); err != nil {
			return nil, corrupt("tree "+name+" info", err)
		}
		schema, err := d.get(layout.SchemaKey(name))
		if err != nil {
			return nil, err
		}
		out = append(out, replica.TreeDecl{Name: name, Versioned: info.Versioned,
			Major: info.Major, Minor: info.Minor, Schema: schema})
	}
	return out, nil
}

func (l link) Outbox(after uint64, max int) ([]layout.Change, error) {
	d := l.d
	d.mu.Lock()
	if after < d.acked {
		after = d.acked // acknowledged entries are deleted: start past them
	}
	d.mu.Unlock()
	return d.outbox(after, max)
}

// outbox returns up to max outbox entries of sequence > after. It takes
// no lock.
func (d *DB) outbox(after uint64, max int) (_ []layout.Change, err error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	defer d.pdb.Guard(&err, "reading the outbox")
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: layout.OutboxKey(after + 1),
		UpperBound: []byte{layout.PrefixOutbox + 1},
	})
	if err != nil {
		return nil, d.storeErr("reading the outbox", err)
	}
	defer it.Close()
	var out []layout.Change
	var r layout.Reader
	for ok := it.First(); ok && len(out) < max; ok = it.Next() {
		var ch layout.Change
		if err := layout.UnmarshalChange(&r, it.Value(), &ch); err != nil {
			return nil, fmt.Errorf("%w: outbox entry %x: %w", ErrCorrupt, it.Key(), err)
		}
		out = append(out, ch)
	}
	return out, d.storeErr("reading the outbox", it.Error())
}

func (l link) OutboxLen() int {
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	return l.d.outboxLen
}

func (l link) Ack(outbox uint64, at replica.Pos) error {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	b := d.pdb.NewBatch()
	defer b.Close()
	// Point deletes of the entries acknowledged now: range deletions
	// would pile up and slow every later read of the outbox.
	gone := 0
	if outbox > d.acked {
		it, err := d.pdb.NewIter(&pebble.IterOptions{
			LowerBound: layout.OutboxKey(d.acked + 1),
			UpperBound: layout.OutboxKey(outbox + 1),
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			b.Delete(it.Key(), nil)
			d.dropPending(layout.ItemID(it.Key()))
			gone++
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], outbox)
	b.Set(layout.SyncKey("outbox"), v[:], nil)
	if at.Seq != 0 {
		setPosition(b, at)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if outbox > d.acked {
		d.acked = outbox
	}
	d.outboxLen -= gone
	if d.outboxLen == 0 && len(d.lastOut) > 0 {
		clear(d.lastOut) // every change is acknowledged
		clear(d.lastEdit)
	}
	return nil
}

func (l link) PendingAfter(tree string, key uint64, after uint64) bool {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	last := d.lastOut[recMark{tree, key}]
	return last > after && last > d.acked
}

func (l link) AddRange(tree string, r layout.Range) error {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	c, err := d.remoteCore(tree)
	if err != nil {
		return err
	}
	info := c.info
	info.Ranges = append(append([]layout.Range(nil), info.Ranges...), r)
	enc, err := msgpack.Marshal(&info)
	if err != nil {
		return err
	}
	if err := d.pdb.Set(layout.TreeKey(tree), enc, pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	c.info = info
	d.grants.signal() // wakes CreateWait
	return nil
}

func (l link) IDsLeft(tree string) int {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.trees[tree]
	if c == nil {
		var info layout.TreeInfo
		if found, err := d.pdb.GetMsgpack(layout.TreeKey(tree), &info); err != nil || !found {
			return 0
		}
		return idsIn(info.Ranges)
	}
	return idsIn(c.info.Ranges)
}

func idsIn(rs []layout.Range) int {
	n := 0
	for _, r := range rs {
		if r.Hi > r.Lo {
			n += int(r.Hi - r.Lo)
		}
	}
	return n
}

func (l link) SetBorrow(tree string, key uint64, b replica.Borrow) error {
	d := l.d
	d.mu.Lock()
	c, err := d.remoteCore(tree)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return c.setBorrow(key, borrow{holder: b.Holder, mine: b.Mine, waiting: b.Waiting, queued: b.Queued, waiters: b.Waiters})
}

// setBorrow records a record's check-out state; what this client holds is
// kept on disk, so it keeps editing it offline and after a restart.
func (c *core) setBorrow(key uint64, nb borrow) error {
	c.mu.Lock()
	old := c.borrows[key]
	if nb.equal(borrow{}) {
		delete(c.borrows, key)
	} else {
		c.borrows[key] = nb
	}
	c.mu.Unlock()
	if old.equal(nb) {
		return nil
	}
	if old.mine != nb.mine {
		var err error
		// Not synced: an edit made under the borrow is written after it
		// and synced, which makes the borrow durable too; a borrow lost
		// in a crash before any edit is learnt again from the server.
		bk := layout.BorrowKey(c.name, key)
		if nb.mine {
			err = c.d.pdb.Set(bk, []byte(nb.holder), pebble.NoSync)
		} else {
			err = c.d.pdb.Delete(bk, pebble.NoSync)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	c.d.emitBorrow(c, key)
	return nil
}

func (l link) ResetBorrows(list map[string]map[uint64]replica.Borrow) error {
	d := l.d
	d.mu.Lock()
	cores := make([]*core, 0, len(d.trees))
	for _, c := range d.trees {
		cores = append(cores, c)
	}
	d.mu.Unlock()
	for name := range list {
		d.mu.Lock()
		c, err := d.remoteCore(name)
		d.mu.Unlock()
		if err != nil {
			return err
		}
		cores = append(cores, c)
	}
	seen := map[*core]bool{}
	for _, c := range cores {
		if seen[c] {
			continue
		}
		seen[c] = true
		c.mu.RLock()
		keys := slices.Collect(maps.Keys(c.borrows))
		c.mu.RUnlock()
		for _, k := range keys {
			if _, ok := list[c.name][k]; !ok {
				if err := c.setBorrow(k, borrow{}); err != nil {
					return err
				}
			}
		}
		for k, b := range list[c.name] {
			if err := c.setBorrow(k, borrow{holder: b.Holder, mine: b.Mine, waiting: b.Waiting, queued: b.Queued, waiters: b.Waiters}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l link) Borrow(tree string, key uint64) replica.Borrow {
	d := l.d
	d.mu.Lock()
	c := d.trees[tree]
	d.mu.Unlock()
	if c == nil {
		return replica.Borrow{}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	b := c.borrows[key]
	return replica.Borrow{Holder: b.holder, Mine: b.mine, Waiting: b.waiting, Queued: b.queued, Waiters: b.waiters}
}

func (l link) Attach(r replica.Remote) {
	l.d.mu.Lock()
	l.d.remote = r
	l.d.mu.Unlock()
}

func (l link) Detach(r replica.Remote) {
	l.d.mu.Lock()
	if l.d.remote == r {
		l.d.remote = nil
	}
	l.d.mu.Unlock()
}

// notifyRemote tells the sync layer that the outbox or the trees changed.
func (d *DB) notifyRemote() {
	d.mu.Lock()
	r := d.remote
	d.mu.Unlock()
	if r != nil {
		r.Notify()
	}
}
