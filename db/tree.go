package db

import (
	"fmt"
	"iter"
	"math"
	"reflect"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
)

// VersionState is where a record stands in versioning.
type VersionState uint8

// Version states.
const (
	NonVersioned VersionState = VersionState(record.NonVersioned) // the tree is not versioned
	Draft        VersionState = VersionState(record.Draft)        // data may change
	Released     VersionState = VersionState(record.Released)     // data is frozen
)

func (v VersionState) String() string {
	switch v {
	case NonVersioned:
		return "non-versioned"
	case Draft:
		return "draft"
	case Released:
		return "released"
	}
	return fmt.Sprintf("version state %d", uint8(v))
}

// Evolution is a schema version: records of the same major version are
// compatible both ways.
type Evolution struct{ Major, Minor uint16 }

func (e Evolution) String() string { return fmt.Sprintf("%d.%d", e.Major, e.Minor) }

// Meta is what the database knows about a record besides its value.
type Meta struct {
	Version               VersionState // NonVersioned, Draft, Released
	State                 uint32       // lifecycle number, changeable after release
	Evolution             Evolution    // schema version the record was written with
	Created, Modified     time.Time
	CreatedBy, ModifiedBy string // the writers' Options.Name
	// CreatedByID and ModifiedByID are the writers' client ids.
	CreatedByID, ModifiedByID string
	// Changes counts the writes of the record, its creation included.
	Changes uint32
}

// Tree is a typed handle on a named collection of records of type T.
// Opening the same tree again returns the same handle. All methods are
// safe for concurrent use.
type Tree[T any] struct {
	c     *core
	ver   Evolution
	known *schema.Type // the schema of T
}

// OpenTree opens (creating when needed) the tree name holding values of T,
// and loads its records into memory. A tree holds one Go type per process:
// opening it with another is ErrTypeMismatch.
//
// T is reflected into the tree's Schema, checked against the stored one
// and stored (see SchemaVersion and Migrate); a type the schema cannot
// describe is ErrSchema, naming the field. A Key[U] field is recorded as a
// reference (KindRef) to U's Go type; tag it `hills:"ref=tree"` to record
// which tree U's records are in, since a key does not know its tree.
// Without the tag a tool can still find the tree: the one whose schema's
// Type.Name is the reference's Name.
func OpenTree[T any](d *DB, name string, opts ...TreeOption) (*Tree[T], error) {
	t, err := openTree[T](d, name, opts)
	if err == nil && d.replica {
		d.notifyRemote() // the sync layer declares the tree and asks for ids
	}
	return t, err
}

func openTree[T any](d *DB, name string, opts []TreeOption) (*Tree[T], error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	cfg := treeConfig{major: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.major == 0 {
		return nil, fmt.Errorf("%w: tree %s: schema major version 0; versions start at 1", ErrTreeOptions, name)
	}
	typ := reflect.TypeFor[T]()
	known, err := reflectSchema(name, typ)
	if err != nil {
		return nil, err
	}
	decode := func(b []byte) (any, error) {
		v := new(T)
		if err := unmarshalValue(b, v); err != nil {
			return nil, err
		}
		return v, nil
	}
	cfg.decode = decode
	boxes := func(n int) ([]*entry, []any) {
		type box struct {
			e entry
			v T
		}
		block := make([]box, n)
		es, vs := make([]*entry, n), make([]any, n)
		for i := range block {
			es[i], vs[i] = &block[i].e, &block[i].v
		}
		return es, vs
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return nil, ErrClosed
	}
	c, err := d.treeCore(name, true, &cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if c.unloaded {
			// Refused before its records were loaded: load them
			// without a Go type, as any tree this process knows.
			c.reload()
		}
	}()
	if c.versioned != cfg.versioned {
		return nil, fmt.Errorf("%w: tree %s is versioned: %v, opened with versioned: %v",
			ErrTreeOptions, name, c.versioned, cfg.versioned)
	}
	if c.typ == nil && len(c.pending) > 0 {
		// Writes of an opaque handle are under way: hold new ones back
		// (see dbCommit.Prepare) and let these be published before the records
		// are decoded again with the Go type. From then on d.mu stays
		// held, so no write starts before the type is in place.
		c.opening = true
		for len(c.pending) > 0 {
			d.settled.Wait()
		}
		c.opening = false
		d.settled.Broadcast() // writes held back see opening end (dbCommit.Prepare)
		if d.closed.Load() {
			return nil, ErrClosed
		}
	}
	if c.typ != nil {
		if c.typ != typ {
			return nil, fmt.Errorf("%w: tree %s is open as %v, not %v", ErrTypeMismatch, name, c.typ, typ)
		}
		t := c.handle.(*Tree[T])
		if t.ver != (Evolution{cfg.major, cfg.minor}) {
			return nil, fmt.Errorf("%w: tree %s is open with schema version %v, not %d.%d",
				ErrTreeOptions, name, t.ver, cfg.major, cfg.minor)
		}
		return t, nil
	}
	next, err := c.evolve(known, &cfg)
	if err != nil {
		return nil, err
	}
	c.decode, c.boxes = decode, boxes
	migrate, err := typedMigrations[T](c, &cfg)
	if err == nil {
		err = c.storeSchema(next)
	}
	if err == nil {
		c.major, c.migrate = cfg.major, migrate
		err = c.reload()
	}
	ver := Evolution{cfg.major, cfg.minor}
	if err == nil {
		err = c.migrateStored(ver)
	}
	if err != nil {
		c.decode, c.boxes, c.major, c.migrate = nil, nil, 0, nil
		c.reload()
		return nil, err
	}
	c.typ = typ
	t := &Tree[T]{c: c, ver: ver, known: &known}
	c.handle = t
	return t, nil
}

// reload decodes the tree's records again, now with the tree's type.
func (c *core) reload() error {
	c.unloaded = false
	c.mu.Lock()
	c.m.reset(0)
	c.order.Clear(false)
	c.sorted.Store(nil)
	c.bad = map[uint64]error{}
	c.mu.Unlock()
	return c.load()
}

// Name returns the tree's name.
func (t *Tree[T]) Name() string { return t.c.name }

// DB returns the database the tree belongs to.
func (t *Tree[T]) DB() *DB { return t.c.d }

// View calls fn with the record's value and meta as held in memory: no
// decoding, no copy, no allocation. The value is shared and immutable:
// fn must not modify it nor keep it, or anything it points to, after it
// returns (use Get for a copy). fn may call other methods of the tree.
func (t *Tree[T]) View(k Key[T], fn func(v *T, m Meta)) error {
	c := t.c
	key := k.pack()
	e := c.m.get(key)
	if e == nil || c.closed.Load() {
		return c.missing(key)
	}
	var m Meta
	c.fillPublicMeta(&m, e)
	fn(e.val.(*T), m)
	return nil
}

// Get returns a deep copy of the record's value, which the caller owns,
// and its meta.
func (t *Tree[T]) Get(k Key[T]) (T, Meta, error) {
	var zero T
	c := t.c
	key := k.pack()
	e := c.published(key)
	if e == nil || c.d.closed.Load() {
		return zero, Meta{}, c.missing(key)
	}
	v, err := copyValue(e.val.(*T))
	if err != nil {
		return zero, Meta{}, c.errKey(err, key)
	}
	return *v, c.meta(e), nil
}

// copyValue makes a deep copy of v through its stored form.
func copyValue[T any](v *T) (*T, error) {
	data, err := marshal(v)
	if err != nil {
		return nil, err
	}
	cp := new(T)
	if err := msgpack.Unmarshal(data, cp); err != nil {
		return nil, err
	}
	return cp, nil
}

// All yields the records in key order, with values shared as in View: do
// not modify or keep them. It walks a snapshot taken when iteration
// starts (kept for later calls until the tree changes), so the loop body
// may write to the tree.
func (t *Tree[T]) All() iter.Seq2[Key[T], *T] {
	return func(yield func(Key[T], *T) bool) {
		for _, e := range t.c.inOrder() {
			if !yield(unpackKey[T](e.key), e.val.(*T)) {
				return
			}
		}
	}
}

// Len returns the number of records.
func (t *Tree[T]) Len() int {
	c := t.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m.len()
}

// Create stores a new record and returns its key. The tree keeps its own
// copy of v. A replica takes the id from the ranges the server granted and
// fails with ErrNoIDs when none are left.
func (t *Tree[T]) Create(v T) (Key[T], error) {
	data, val, err := t.encode(&v)
	if err != nil {
		return Key[T]{}, err
	}
	key, err := t.c.create(data, val, t.ver)
	if err != nil {
		return Key[T]{}, err
	}
	return unpackKey[T](key), nil
}

// typedValue decodes data into *val when the writer had no value to give:
// opaque writes, which leave the decoding to this point, where the tree's
// Go type (if any) cannot change. Called with d.mu held.
func (c *core) typedValue(val *any, ver Evolution, data []byte) error {
	if *val != nil || c.decode == nil {
		return nil
	}
	v, err := c.decodeValue(ver.Major, data)
	if err != nil {
		return fmt.Errorf("%w: tree %s: does not decode as the tree's Go type: %w", ErrInvalidText, c.name, err)
	}
	*val = v
	return nil
}

// create stores a new record with the given data, decoded value and
// schema version, and returns its key.
func (c *core) create(data []byte, val any, ver Evolution) (uint64, error) {
	o := &op{c: c, kind: Created, data: data}
	err := c.d.write(o, func(o *op, b *pebble.Batch) error {
		if err := c.permit(replica.AccessCreate, "create"); err != nil {
			return err
		}
		id, err := c.allocID(b)
		if err != nil {
			return err
		}
		o.key = layout.Pack(id, 0)
		if c.latest(o.key) != nil {
			return c.errKey(ErrExists, o.key)
		}
		if err := c.checkFloors(o.key, data); err != nil {
			return err
		}
		if err := c.typedValue(&val, ver, data); err != nil {
			return err
		}
		o.e = c.newEntry(val, nil)
		o.e.key = o.key
		o.e.major, o.e.minor = ver.Major, ver.Minor
		return nil
	})
	return o.key, err
}

// encode returns the stored form of v and the tree's own decoded copy.
func (t *Tree[T]) encode(v *T) ([]byte, any, error) {
	data, err := marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("db: tree %s: encoding %T: %w", t.c.name, v, err)
	}
	val, err := t.c.decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("db: tree %s: %T does not decode from its own encoding: %w", t.c.name, v, err)
	}
	return data, val, nil
}

// Update changes a record: fn gets a copy of the current value to modify;
// when fn returns an error, nothing is written and Update returns it.
// fn may run more than once when another writer changed the record
// meanwhile. A replica needs the record's check-out (ErrNotCheckedOut);
// a released record cannot change (ErrReleased).
//
// Fields of the stored record that T does not know (written by a newer
// minor version) are kept byte for byte, and the record keeps that newer
// version in its Meta.Evolution; otherwise it gets the tree's version. A
// record of an older major version is read through its migration.
//
// Counter fields (`hills:"counter"`) change only by Add: an fn that
// changes one makes Update return ErrCounterField, and nothing is written.
func (t *Tree[T]) Update(k Key[T], fn func(v *T) error) error {
	c := t.c
	return c.update(k.pack(), func(m record.Meta, data []byte) ([]byte, any, Evolution, error) {
		va, err := c.decodeValue(m.Major, data)
		if err != nil {
			return nil, nil, Evolution{}, fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, c.name, k, err)
		}
		v := va.(*T)
		if err := fn(v); err != nil {
			return nil, nil, Evolution{}, err
		}
		newData, val, err := t.encode(v)
		if err != nil {
			return nil, nil, Evolution{}, err
		}
		return keepUnknown(c, newData, val, m, data, t.known, t.ver)
	})
}

// keepUnknown adds to newData the fields of the stored record (meta m,
// data old) that the writer's schema known does not describe, and returns
// the version the record is written with.
func keepUnknown(c *core, newData []byte, val any, m record.Meta, old []byte, known *schema.Type, ver Evolution) ([]byte, any, Evolution, error) {
	if m.Major != ver.Major {
		return newData, val, ver, nil
	}
	merged, err := schema.MergeUnknown(newData, old, known)
	if err != nil {
		return nil, nil, Evolution{}, fmt.Errorf("%w: %s: stored data: %w", ErrCorrupt, c.name, err)
	}
	if m.Minor > ver.Minor {
		ver.Minor = m.Minor
	}
	return merged, val, ver, nil
}

// update changes the data of a record: change gets the stored meta and
// data and returns the new data, its decoded value (nil when the tree has
// no Go type) and the schema version to record. change may run more than
// once when another writer changed the record meanwhile.
func (c *core) update(key uint64, change func(m record.Meta, data []byte) ([]byte, any, Evolution, error)) error {
	for {
		var prev *entry
		var m record.Meta
		var data []byte
		c.d.mu.Lock()
		err := c.d.writable()
		if err == nil {
			err = c.permit(replica.AccessEdit, "update")
		}
		if err == nil {
			prev, err = c.changeable(key)
		}
		if err == nil {
			m, data, err = c.stored(key)
		}
		c.d.mu.Unlock()
		if err != nil {
			return err
		}
		newData, val, ver, err := change(m, data)
		if err != nil {
			return err
		}
		o := &op{c: c, kind: Updated, key: key, data: newData}
		err = c.d.write(o, func(o *op, _ *pebble.Batch) error {
			cur, err := c.changeable(key)
			if err != nil {
				return err
			}
			if cur != prev {
				return errStale
			}
			if err := c.checkCounters(key, m.Major, data, newData); err != nil {
				return err
			}
			if err := c.typedValue(&val, ver, newData); err != nil {
				return err
			}
			o.e = c.newEntry(val, cur)
			o.e.major, o.e.minor = ver.Major, ver.Minor
			return nil
		})
		if err != errStale {
			return err
		}
	}
}

// changeable returns the latest entry of key if this client may change its
// data. Called with d.mu held.
func (c *core) changeable(key uint64) (*entry, error) {
	e := c.latest(key)
	if e == nil {
		return nil, c.missing(key)
	}
	if e.version == record.Released {
		return nil, c.errKey(ErrReleased, key)
	}
	return e, c.checkBorrow(key)
}

// checkBorrow refuses a change to a record a replica does not hold.
// Called with d.mu held.
func (c *core) checkBorrow(key uint64) error {
	if !c.d.replica {
		return nil
	}
	c.mu.RLock()
	b := c.borrows[key]
	c.mu.RUnlock()
	if !b.mine {
		return c.errKey(ErrNotCheckedOut, key)
	}
	return nil
}

// Delete removes a record and ends its check-out. A replica needs the
// check-out; a released record cannot be deleted.
func (t *Tree[T]) Delete(k Key[T]) error { return t.c.delete(k.pack()) }

func (c *core) delete(key uint64) error {
	return c.d.write(&op{c: c, kind: Deleted, key: key}, func(o *op, _ *pebble.Batch) error {
		if err := c.permit(replica.AccessEdit, "delete"); err != nil {
			return c.errKey(err, key)
		}
		if c.latest(key) == nil {
			c.mu.RLock()
			_, bad := c.bad[key]
			c.mu.RUnlock()
			if bad {
				return c.checkBorrow(key) // a corrupt record can be deleted
			}
			return c.missing(key)
		}
		_, err := c.changeable(key)
		return err
	})
}

// SetState sets a record's lifecycle number; released records too.
func (t *Tree[T]) SetState(k Key[T], state uint32) error { return t.c.setState(k.pack(), state) }

func (c *core) setState(key uint64, state uint32) error {
	return c.changeMeta(key, func(e *entry) error {
		e.state = state
		return nil
	})
}

// Release freezes a draft record's data; its state stays changeable.
// Releasing a released record does nothing.
func (t *Tree[T]) Release(k Key[T]) error { return t.c.release(k.pack()) }

func (c *core) release(key uint64) error {
	if !c.versioned {
		return fmt.Errorf("%w: %s", ErrNotVersioned, c.name)
	}
	return c.changeMeta(key, func(e *entry) error {
		if e.version == record.Released {
			return errNothing
		}
		e.version = record.Released
		return nil
	})
}

// changeMeta writes a change of a record's meta; its data stays as stored,
// byte for byte.
func (c *core) changeMeta(key uint64, change func(e *entry) error) error {
	err := c.d.write(&op{c: c, kind: MetaChanged, key: key}, func(o *op, _ *pebble.Batch) error {
		if err := c.permit(replica.AccessRelease, "release or state change"); err != nil {
			return c.errKey(err, key)
		}
		cur := c.latest(key)
		if cur == nil {
			return c.missing(key)
		}
		if err := c.checkBorrow(key); err != nil {
			return err
		}
		_, data, err := c.stored(key)
		if err != nil {
			return err
		}
		e := c.newEntry(cur.val, cur)
		if err := change(e); err != nil {
			return err
		}
		o.e, o.data = e, data
		return nil
	})
	if err == errNothing {
		return nil
	}
	return err
}

// Revise makes revision Rev+1 of a released record as a draft copy with
// the same id and returns its key; the released revision stays as it is.
// The new revision has state 0 and the data and schema version of the
// released one. ErrNotReleased for a draft, ErrExists when revision Rev+1
// exists, ErrNotVersioned for a tree not opened with Versioned.
func (t *Tree[T]) Revise(k Key[T]) (Key[T], error) {
	c := t.c
	if !c.versioned {
		return Key[T]{}, fmt.Errorf("%w: %s", ErrNotVersioned, c.name)
	}
	if k.Rev == math.MaxUint32 {
		return Key[T]{}, fmt.Errorf("%w: %s/%s has the last revision", ErrExists, c.name, k)
	}
	from, next := k.pack(), Key[T]{ID: k.ID, Rev: k.Rev + 1}
	err := c.d.write(&op{c: c, kind: Created, key: next.pack()}, func(o *op, _ *pebble.Batch) error {
		if err := c.permit(replica.AccessRelease, "revise"); err != nil {
			return c.errKey(err, from)
		}
		cur := c.latest(from)
		if cur == nil {
			return c.missing(from)
		}
		if cur.version != record.Released {
			return c.errKey(ErrNotReleased, from)
		}
		if c.latest(o.key) != nil {
			return c.errKey(ErrExists, o.key)
		}
		if err := c.checkBorrow(from); err != nil {
			return err
		}
		_, data, err := c.stored(from)
		if err != nil {
			return err
		}
		e := c.newEntry(cur.val, nil)
		e.key = o.key
		e.major, e.minor = cur.major, cur.minor
		o.e, o.data = e, data
		return nil
	})
	if err != nil {
		return Key[T]{}, err
	}
	return next, nil
}

// Subscribe calls fn for every change to the tree after it is durable, in
// order, on a goroutine of the subscription's own: a slow fn delays only
// its own events. The returned cancel stops deliveries; it may be called
// from fn.
func (t *Tree[T]) Subscribe(fn func(Event[T])) (cancel func()) {
	return t.c.d.hub.subscribe(t.c.name, func(ev rawEvent) {
		fn(Event[T]{Kind: ev.kind, Key: unpackKey[T](ev.key), Remote: ev.remote})
	})
}

// Corrupt returns the keys of records whose stored bytes could not be
// decoded, with the reason. They are left out of View, Get and All, and
// can be deleted.
func (t *Tree[T]) Corrupt() map[Key[T]]error {
	c := t.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[Key[T]]error, len(c.bad))
	for k, err := range c.bad {
		out[unpackKey[T](k)] = err
	}
	return out
}
