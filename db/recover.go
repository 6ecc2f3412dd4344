package db

import (
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
)

// Recovered is a replica's edits of one record that the server did not
// accept because the replica lost the record's check-out: an administrator
// returned it (Forced), or the server refused a change made without it.
// The replica's copy of the record was put back to the server's version;
// the edits are kept here, in the replica's store, until DiscardRecovered.
// A Recovered is a copy: the caller owns it.
type Recovered struct {
	Key OpaqueKey
	// Kind is what the last edit set aside did: Updated, MetaChanged or
	// Deleted.
	Kind EventKind
	// Text is the record as the edits left it, as JSON in the form of
	// OpaqueTree.Text; "" for a delete, or when the bytes do not render
	// (then Err says why).
	Text string
	// Data is the record's msgpack value; nil for a delete.
	Data []byte
	// Meta is the record's meta as the edits left it.
	Meta Meta
	// At is when the edits were set aside.
	At time.Time
	// Reason is the administrator's reason, or the server's refusal.
	Reason string
	// By is the administrator who returned the check-out; "" when the
	// server refused a change.
	By string
	// Forced: an administrator returned the check-out.
	Forced bool
	// Err is set when Text could not be rendered.
	Err error
	seq uint64
}

// Recovered returns the edits this replica set aside, oldest first. A
// standalone database has none.
func (d *DB) Recovered() []Recovered {
	if d.closed.Load() {
		return nil
	}
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{layout.PrefixRecov},
		UpperBound: []byte{layout.PrefixRecov + 1},
	})
	if err != nil {
		return nil
	}
	var items []layout.Recovered
	for ok := it.First(); ok; ok = it.Next() {
		var r layout.Recovered
		if msgpack.Unmarshal(it.Value(), &r) == nil {
			items = append(items, r)
		}
	}
	it.Close()
	out := make([]Recovered, 0, len(items))
	for _, r := range items {
		out = append(out, d.recovered(&r))
	}
	slices.SortStableFunc(out, func(a, b Recovered) int { return a.At.Compare(b.At) })
	return out
}

func (d *DB) recovered(r *layout.Recovered) Recovered {
	id, rev := layout.Unpack(r.Key)
	out := Recovered{Key: OpaqueKey{Tree: r.Tree, ID: id, Rev: rev}, Kind: EventKind(r.Kind),
		At: time.Unix(0, r.At).UTC(), Reason: r.Reason, By: r.By, Forced: r.By != "", seq: r.Seq}
	if r.Record == nil {
		return out
	}
	m, data, err := record.Decode(r.Record, nil)
	if err != nil {
		out.Err = fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, r.Tree, out.Key, err)
		return out
	}
	out.Data = data
	d.mu.Lock()
	c, err := d.treeCore(r.Tree, false, nil)
	d.mu.Unlock()
	if err != nil {
		out.Err = err
		return out
	}
	e := &entry{}
	c.fillMeta(e, &m, new(personCache))
	out.Meta = c.meta(e)
	s := (&opaqueTree{c: c}).schema()
	if out.Text, err = schema.Text(data, &s.Type); err != nil {
		out.Err = fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, r.Tree, out.Key, err)
	}
	return out
}

// RecoveredValue decodes the record a Recovered holds as T.
func (t *Tree[T]) RecoveredValue(r Recovered) (*T, error) {
	if r.Key.Tree != t.c.name {
		return nil, fmt.Errorf("%w: recovered %s/%s used with tree %s", ErrInvalidKey, r.Key.Tree, r.Key, t.c.name)
	}
	if r.Data == nil {
		return nil, fmt.Errorf("%w: %s/%s: the recovered edit is a delete", ErrNotFound, r.Key.Tree, r.Key)
	}
	t.c.d.mu.Lock()
	dec := t.c.valueDecoder()
	t.c.d.mu.Unlock()
	if dec == nil {
		return nil, fmt.Errorf("%w: tree %s has no Go type", ErrTypeMismatch, t.c.name)
	}
	v, err := dec(r.Meta.Evolution.Major, r.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, r.Key.Tree, r.Key, err)
	}
	p, ok := v.(*T)
	if !ok {
		return nil, fmt.Errorf("%w: tree %s", ErrTypeMismatch, t.c.name)
	}
	return p, nil
}

// DiscardRecovered forgets edits set aside, once the application has taken
// what it needs from them.
func (d *DB) DiscardRecovered(r Recovered) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	key := layout.RecoveredKey(r.Key.Tree, layout.Pack(r.Key.ID, r.Key.Rev), r.seq)
	if err := d.pdb.Delete(key, pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

type recMark struct {
	tree string
	key  uint64
}

// Recover implements replica.Link: it keeps the record as the last of its
// unacknowledged changes up to upto left it, unless an earlier call kept
// that change already, and ends this replica's check-out of it.
func (l link) Recover(tree string, key, upto uint64, n replica.Note) (bool, error) {
	d := l.d
	d.mu.Lock()
	if err := d.writable(); err != nil {
		d.mu.Unlock()
		return false, err
	}
	c, err := d.remoteCore(tree)
	if err != nil {
		d.mu.Unlock()
		return false, err
	}
	kept, err := d.recoverLocked(tree, key, upto, n)
	d.mu.Unlock()
	if err != nil {
		return false, err
	}
	// No more edits under a check-out the server took back or never knew;
	// its word on the record follows.
	c.mu.RLock()
	b := c.borrows[key]
	c.mu.RUnlock()
	if b.mine {
		if err := c.setBorrow(key, borrow{}); err != nil {
			return kept, err
		}
	}
	if kept {
		d.emitKind(c, key, EditsRecovered)
	}
	return kept, nil
}

func (d *DB) recoverLocked(tree string, key, upto uint64, n replica.Note) (bool, error) {
	mk := recMark{tree, key}
	mark := d.recMarks[mk]
	if mark == 0 {
		// After a restart: the last change kept, from the store.
		it, err := d.pdb.NewIter(&pebble.IterOptions{
			LowerBound: layout.RecoveredPrefix(tree, key),
			UpperBound: layout.PrefixEnd(layout.RecoveredPrefix(tree, key)),
		})
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if it.Last() {
			mark = layout.ItemID(it.Key())
		}
		it.Close()
	}
	chs, err := d.outbox(d.acked, 1<<30)
	if err != nil {
		return false, err
	}
	var last *layout.Change
	for i := range chs {
		ch := &chs[i]
		if ch.Tree == tree && ch.Key == key && ch.Seq <= upto && ch.Seq > mark && ch.Kind != layout.KindDelta {
			last = ch
		}
	}
	if last == nil {
		return false, nil
	}
	enc, err := msgpack.Marshal(&layout.Recovered{Tree: tree, Key: key, Seq: last.Seq, Kind: last.Kind,
		Record: last.Record, At: n.At, Reason: n.Reason, By: n.By})
	if err != nil {
		return false, err
	}
	if err := d.pdb.Set(layout.RecoveredKey(tree, key, last.Seq), enc, pebble.Sync); err != nil {
		return false, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if d.recMarks == nil {
		d.recMarks = map[recMark]uint64{}
	}
	d.recMarks[mk] = last.Seq
	return true, nil
}

// LastOutbox implements replica.Link.
func (l link) LastOutbox() uint64 {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.outboxLen == 0 {
		return 0
	}
	return d.outboxSeq
}

// LastPending implements replica.Link.
func (l link) LastPending(tree string, key uint64) uint64 {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pendingLocked(tree, key) {
		return d.lastOut[recMark{tree, key}]
	}
	return 0
}

// pendingLocked reports whether the outbox holds a change of the record.
// Called with d.mu held.
func (d *DB) pendingLocked(tree string, key uint64) bool {
	return d.lastOut[recMark{tree, key}] > d.acked
}

// Exists implements replica.Link.
func (l link) Exists(tree string, key uint64) bool {
	d := l.d
	d.mu.Lock()
	c := d.trees[tree]
	d.mu.Unlock()
	return c != nil && c.published(key) != nil
}
