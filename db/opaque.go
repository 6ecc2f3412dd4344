package db

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// OpaqueKey names a record of any tree, without its Go type.
type OpaqueKey struct {
	Tree    string
	ID, Rev uint32
}

// String returns the key's text form "ID.Rev", such as "42.0".
func (k OpaqueKey) String() string { return formatKey(k.ID, k.Rev) }

// OpaqueTree is a tree seen without its Go type, through its stored
// schema: for tools such as the viewer. Records are read and written as
// JSON text (see Text). Its methods behave as those of Tree of the same
// name, and are safe for concurrent use.
type OpaqueTree interface {
	Name() string
	// Schema returns a copy of the tree's stored schema.
	Schema() Schema
	Len() int
	// Keys yields the keys in order, from a snapshot taken when
	// iteration starts.
	Keys() iter.Seq[OpaqueKey]
	Meta(k OpaqueKey) (Meta, error)
	// Text returns the record as pretty JSON (indented by two spaces):
	// an object whose members are the msgpack field names, in schema
	// order, followed by the fields the schema does not know (written by
	// newer versions); times in RFC 3339 with nanoseconds, bytes in
	// standard base64, keys of other records as "ID.Rev", map members
	// sorted by key, and floats JSON cannot hold as "NaN", "+Inf", "-Inf".
	Text(k OpaqueKey) (string, error)
	// Create stores a new record from JSON text checked against the
	// schema: a member the schema does not know, a value of the wrong
	// kind or a number out of range is ErrInvalidText naming the field,
	// and nothing is written. Members left out are stored absent (their
	// zero value for the Go type).
	Create(text string) (OpaqueKey, error)
	// CreateWait is Create that waits for ids, as Tree.CreateWait.
	CreateWait(ctx context.Context, text string) (OpaqueKey, error)
	// Update replaces the record's data with JSON text checked as by
	// Create. Fields of the stored record the schema does not know are
	// kept byte for byte; the text may repeat them only unchanged. So
	// Update(k, Text(k)) changes no field. Counter fields (Field.Counter)
	// change only by Add: a counter the text leaves out keeps its value,
	// one it changes is ErrCounterField.
	Update(k OpaqueKey, text string) error
	// Add adds delta to the counter field (its msgpack name) without a
	// check-out, as Tree.Add.
	Add(k OpaqueKey, field string, delta int64) error
	Delete(k OpaqueKey) error
	CheckOut(ctx context.Context, k OpaqueKey) error
	CheckIn(ctx context.Context, k OpaqueKey) error
	Borrow(k OpaqueKey) BorrowState
	Release(k OpaqueKey) error
	SetState(k OpaqueKey, state uint32) error
	Subscribe(fn func(kind EventKind, k OpaqueKey)) (cancel func())
}

// Opaque returns the tree name without its Go type, from its stored
// schema. It works whether or not this process opened the tree with
// OpenTree; when it did, both handles share the tree's records, so each
// sees the other's writes. ErrNoTree when the tree does not exist.
func (d *DB) Opaque(name string) (OpaqueTree, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return nil, ErrClosed
	}
	c, err := d.treeCore(name, false, nil)
	if err != nil {
		return nil, err
	}
	return &opaqueTree{c: c}, nil
}

type opaqueTree struct{ c *core }

var _ OpaqueTree = (*opaqueTree)(nil)

func (o *opaqueTree) Name() string { return o.c.name }

// schema returns the tree's stored schema; a tree without one (written by
// no Go type yet) has an empty struct schema.
func (o *opaqueTree) schema() *schema.Schema {
	c := o.c
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if c.schema == nil {
		return &schema.Schema{Tree: c.name, Major: c.info.Major, Minor: c.info.Minor, Type: schema.Type{Kind: schema.Struct}}
	}
	return c.schema
}

func (o *opaqueTree) Schema() Schema { return publicSchema(o.schema()) }

func (o *opaqueTree) Len() int {
	o.c.mu.RLock()
	defer o.c.mu.RUnlock()
	return o.c.m.len()
}

func (o *opaqueTree) Keys() iter.Seq[OpaqueKey] {
	return func(yield func(OpaqueKey) bool) {
		for _, e := range o.c.inOrder() {
			if !yield(o.key(e.key)) {
				return
			}
		}
	}
}

func (o *opaqueTree) key(k uint64) OpaqueKey {
	id, rev := layout.Unpack(k)
	return OpaqueKey{Tree: o.c.name, ID: id, Rev: rev}
}

// pack checks that k names a record of this tree.
func (o *opaqueTree) pack(k OpaqueKey) (uint64, error) {
	if k.Tree != o.c.name {
		return 0, fmt.Errorf("%w: key %s/%s used with tree %s", ErrInvalidKey, k.Tree, k, o.c.name)
	}
	return layout.Pack(k.ID, k.Rev), nil
}

func (o *opaqueTree) Meta(k OpaqueKey) (Meta, error) {
	key, err := o.pack(k)
	if err != nil {
		return Meta{}, err
	}
	c := o.c
	e := c.published(key)
	if e == nil || c.d.closed.Load() {
		return Meta{}, c.missing(key)
	}
	return c.meta(e), nil
}

func (o *opaqueTree) Text(k OpaqueKey) (string, error) {
	key, err := o.pack(k)
	if err != nil {
		return "", err
	}
	c := o.c
	if c.published(key) == nil || c.d.closed.Load() {
		return "", c.missing(key)
	}
	s := o.schema()
	b, err := c.d.get(layout.RecordKey(c.name, key))
	if err != nil {
		return "", err
	}
	if b == nil {
		return "", c.errKey(ErrNotFound, key)
	}
	_, data, err := record.Decode(b, nil)
	if err == nil {
		var text string
		text, err = schema.Text(data, &s.Type)
		if err == nil {
			return text, nil
		}
	}
	return "", fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, c.name, k, err)
}

func textError(tree string, err error) error {
	if errors.Is(err, schema.ErrText) {
		msg := strings.TrimPrefix(err.Error(), schema.ErrText.Error()+": ")
		return fmt.Errorf("%w: tree %s: %s", ErrInvalidText, tree, msg)
	}
	return fmt.Errorf("%w: tree %s: does not decode as the tree's Go type: %w", ErrInvalidText, tree, err)
}

func (o *opaqueTree) Create(text string) (OpaqueKey, error) {
	c := o.c
	s := o.schema()
	data, err := schema.FromText(text, &s.Type, nil)
	if err != nil {
		return OpaqueKey{}, textError(c.name, err)
	}
	// With nil for the value, the writer decodes data for the tree's Go
	// type, if it has one by then (see typedValue).
	key, err := c.create(data, nil, Evolution{s.Major, s.Minor})
	if err != nil {
		return OpaqueKey{}, err
	}
	return o.key(key), nil
}

func (o *opaqueTree) CreateWait(ctx context.Context, text string) (OpaqueKey, error) {
	c := o.c
	s := o.schema()
	data, err := schema.FromText(text, &s.Type, nil)
	if err != nil {
		return OpaqueKey{}, textError(c.name, err)
	}
	ver := Evolution{s.Major, s.Minor}
	key, err := c.createWait(ctx, func() (uint64, error) { return c.create(data, nil, ver) })
	if err != nil {
		return OpaqueKey{}, err
	}
	return o.key(key), nil
}

func (o *opaqueTree) Update(k OpaqueKey, text string) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	c := o.c
	return c.update(key, func(m record.Meta, old []byte) ([]byte, any, Evolution, error) {
		s := o.schema()
		if m.Major != s.Major {
			// The record is of an older major version (a replica keeps
			// them until they are written): its stored fields are not
			// those of the schema.
			old = nil
		}
		data, err := schema.FromText(text, &s.Type, old)
		if err != nil {
			return nil, nil, Evolution{}, textError(c.name, err)
		}
		if data, err = keepCounters(text, data, old, &s.Type); err != nil {
			return nil, nil, Evolution{}, c.errKey(err, key)
		}
		ver := Evolution{s.Major, s.Minor}
		if m.Major == s.Major && m.Minor > s.Minor {
			ver.Minor = m.Minor
		}
		return data, nil, ver, nil
	})
}

func (o *opaqueTree) Add(k OpaqueKey, field string, delta int64) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	return o.c.add(key, field, delta)
}

func (o *opaqueTree) Delete(k OpaqueKey) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	return o.c.delete(key)
}

func (o *opaqueTree) CheckOut(ctx context.Context, k OpaqueKey) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	return o.c.checkOut(ctx, key)
}

func (o *opaqueTree) CheckIn(ctx context.Context, k OpaqueKey) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	return o.c.checkIn(ctx, key)
}

func (o *opaqueTree) Borrow(k OpaqueKey) BorrowState {
	key, err := o.pack(k)
	if err != nil {
		return BorrowState{}
	}
	return o.c.borrowState(key)
}

func (o *opaqueTree) Release(k OpaqueKey) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	return o.c.release(key)
}

func (o *opaqueTree) SetState(k OpaqueKey, state uint32) error {
	key, err := o.pack(k)
	if err != nil {
		return err
	}
	return o.c.setState(key, state)
}

func (o *opaqueTree) Subscribe(fn func(kind EventKind, k OpaqueKey)) (cancel func()) {
	return o.c.d.hub.subscribe(o.c.name, func(ev rawEvent) { fn(ev.kind, o.key(ev.key)) })
}
