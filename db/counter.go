package db

// Counters: top-level integer fields tagged `hills:"counter"` that change
// only by deltas (Tree.Add). A delta needs no check-out and is allowed on
// a released record; on a replica it travels to the server as a change of
// its own (layout.KindDelta), which the server applies to its current
// value in log order and may refuse (ErrBelowFloor). Until the server
// answers, a replica's value of a counter is the server's last word plus
// the deltas of its own still in the outbox: pendingDeltas keeps their
// sums, and a record from the server is rebased onto them (rebase).

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
)

// Add adds delta to the counter field (its msgpack name) of record k,
// without a check-out and on a released record too. It is durable before
// it returns and delivers one Updated event. A delta that would take the
// value below the counter's floor is ErrBelowFloor, one past its integer
// type's range ErrCounterRange; a field that is not a counter is
// ErrNotCounter, naming it. A delta of 0 writes nothing.
//
// On a replica the value changes at once and the delta goes to the
// server, which applies it to its own current value: the replica ends
// with the server's value, whatever other replicas added meanwhile. A
// delta the server refuses (below the floor there) is taken back, with an
// event, and the sync client's Status().Err matches ErrBelowFloor.
func (t *Tree[T]) Add(k Key[T], field string, delta int64) error {
	return t.c.add(k.pack(), field, delta)
}

// pendingDelta is a delta of this replica the server has not answered.
type pendingDelta struct {
	seq   uint64 // outbox sequence
	mk    recMark
	field string
	delta int64
}

// counterField returns the counter field name of the tree's schema.
// Called with d.mu held.
func (c *core) counterField(name string) (*schema.Field, error) {
	if c.schema == nil {
		return nil, fmt.Errorf("%w: tree %s has no schema, so no counter %q", ErrNotCounter, c.name, name)
	}
	f, err := c.schema.Type.Counter(name)
	if err != nil {
		return nil, fmt.Errorf("%w: tree %s: %w", ErrNotCounter, c.name, err)
	}
	return f, nil
}

// counters returns the counter fields of the tree; nil when none. Called
// with d.mu held.
func (c *core) counters() []*schema.Field {
	if c.schema == nil {
		return nil
	}
	return c.schema.Type.Counters()
}

// counterErr turns an error of schema.Field.AddDelta into the database's.
func (c *core) counterErr(err error, key uint64) error {
	switch {
	case errors.Is(err, schema.ErrFloor):
		return c.errKey(fmt.Errorf("%w: %w", ErrBelowFloor, err), key)
	case errors.Is(err, schema.ErrOverflow):
		return c.errKey(fmt.Errorf("%w: %w", ErrCounterRange, err), key)
	}
	return c.errKey(fmt.Errorf("%w: %w", ErrCorrupt, err), key)
}

func (c *core) add(key uint64, field string, delta int64) error {
	o := &op{c: c, kind: Updated, key: key, delta: &layout.Delta{Field: field, Delta: delta}}
	err := c.d.write(o, func(o *op, _ *pebble.Batch) error {
		if err := c.permit(replica.AccessAdjust, "add to a counter"); err != nil {
			return c.errKey(err, key)
		}
		f, err := c.counterField(field)
		if err != nil {
			return err
		}
		cur := c.latest(key)
		if cur == nil {
			return c.missing(key)
		}
		if delta == 0 {
			return errNothing
		}
		_, data, err := c.stored(key)
		if err != nil {
			return err
		}
		v, err := schema.ReadInt(data, field)
		if err != nil {
			return c.counterErr(err, key)
		}
		next, err := f.AddDelta(v, delta)
		if err != nil {
			return c.counterErr(err, key)
		}
		newData, err := schema.SetInts(data, map[string]int64{field: next})
		if err != nil {
			return c.counterErr(err, key)
		}
		var val any
		if err := c.typedValue(&val, Evolution{cur.major, cur.minor}, newData); err != nil {
			return err
		}
		o.e, o.data = c.newEntry(val, cur), newData
		return nil
	})
	if err == errNothing {
		return nil
	}
	return err
}

// checkCounters refuses an update that changes a counter: old and new are
// the record's data before and after, old written with schema major
// version major. A record of an older major version is being migrated:
// its fields are not the schema's, and it is not checked. Called with
// d.mu held.
func (c *core) checkCounters(key uint64, major uint16, old, new []byte) error {
	cs := c.counters()
	if len(cs) == 0 || major != c.schema.Major {
		return nil
	}
	name, err := schema.ChangedCounter(old, new, &c.schema.Type)
	if err != nil {
		return c.errKey(fmt.Errorf("%w: %w", ErrCorrupt, err), key)
	}
	if name != "" {
		return c.errKey(fmt.Errorf("%w: field %q (change it with Add)", ErrCounterField, name), key)
	}
	return nil
}

// checkFloors refuses a new record whose counters start below their
// floors. Called with d.mu held.
func (c *core) checkFloors(key uint64, data []byte) error {
	for _, f := range c.counters() {
		v, err := schema.ReadInt(data, f.Name)
		if err != nil {
			return c.errKey(fmt.Errorf("%w: %w", ErrInvalidText, err), key)
		}
		if lo, _ := f.Bounds(); v < lo {
			return c.errKey(fmt.Errorf("%w: %s starts at %d, below %d", ErrBelowFloor, f.Name, v, lo), key)
		}
	}
	return nil
}

// outboxChange is the outbox entry of local change o: its stored record,
// or its delta.
func outboxChange(seq uint64, o *op, rec []byte) (layout.Change, error) {
	ch := layout.Change{Seq: seq, Tree: o.c.name, Key: o.key, Kind: uint8(o.kind), Record: rec}
	if o.delta != nil {
		enc, err := msgpack.Marshal(o.delta)
		if err != nil {
			return ch, err
		}
		ch.Kind, ch.Record = layout.KindDelta, enc
	}
	return ch, nil
}

// notePending records a local change about to enter the outbox at seq: a
// delta in the pending sums, any other change as the record's last edit.
// The returned func undoes it (dbCommit.Abort). Called with d.mu held.
func (d *DB) notePending(seq uint64, o *op) func() {
	mk := recMark{o.c.name, o.key}
	if o.delta == nil {
		prev, had := d.lastEdit[mk]
		d.lastEdit[mk] = seq
		return func() {
			if had {
				d.lastEdit[mk] = prev
			} else {
				delete(d.lastEdit, mk)
			}
		}
	}
	d.addPending(seq, pendingDelta{mk: mk, field: o.delta.Field, delta: o.delta.Delta})
	return func() { d.dropPending(seq) }
}

func (d *DB) addPending(seq uint64, p pendingDelta) {
	p.seq = seq
	d.deltas[seq] = p.mk
	d.deltaOut[p.mk] = append(d.deltaOut[p.mk], p)
}

// dropPending forgets the delta at outbox sequence seq, if any: the
// server answered it. Called with d.mu held.
func (d *DB) dropPending(seq uint64) {
	mk, ok := d.deltas[seq]
	if !ok {
		return
	}
	delete(d.deltas, seq)
	list := d.deltaOut[mk]
	for i, p := range list {
		if p.seq == seq {
			list = slices.Delete(list, i, i+1)
			break
		}
	}
	if len(list) == 0 {
		delete(d.deltaOut, mk)
	} else {
		d.deltaOut[mk] = list
	}
}

// pendingSums sums the record's pending deltas after outbox sequence
// after, by field. Called with d.mu held.
func (d *DB) pendingSums(mk recMark, after uint64) map[string]int64 {
	var sums map[string]int64
	for _, p := range d.deltaOut[mk] {
		if p.seq <= after {
			continue
		}
		if sums == nil {
			sums = map[string]int64{}
		}
		sums[p.field] += p.delta
	}
	return sums
}

// scanPending notes an outbox entry read when the database opens.
func (d *DB) scanPending(ch *layout.Change) error {
	mk := recMark{ch.Tree, ch.Key}
	if ch.Kind != layout.KindDelta {
		d.lastEdit[mk] = ch.Seq
		return nil
	}
	var dl layout.Delta
	if err := msgpack.Unmarshal(ch.Record, &dl); err != nil {
		return fmt.Errorf("%w: outbox delta %d: %w", ErrCorrupt, ch.Seq, err)
	}
	d.addPending(ch.Seq, pendingDelta{mk: mk, field: dl.Field, delta: dl.Delta})
	return nil
}

// rebase makes a record from the server (op o, from the log: another
// writer's change) what this replica shows: the server's counters plus
// this replica's deltas still pending; and, while edits of this
// replica's own are pending too (it holds the record), its own other
// fields, which those edits carry to the server. A record this replica
// deleted, the delete pending, stays deleted. Called with d.mu held.
func (c *core) rebase(o *op) error {
	d := c.d
	mk := recMark{c.name, o.key}
	sums := d.pendingSums(mk, o.answered)
	edit := d.lastEdit[mk] > max(d.acked, o.answered)
	if o.e == nil || len(sums) == 0 && !edit || len(c.counters()) == 0 {
		return nil
	}
	data := o.data
	if edit {
		if c.latest(o.key) == nil {
			o.kind, o.e, o.data = Deleted, nil, nil
			return nil
		}
		_, mine, err := c.stored(o.key)
		if err != nil {
			return err
		}
		if data, err = schema.CopyCounters(mine, data, &c.schema.Type); err != nil {
			return c.errKey(fmt.Errorf("%w: from the server: %w", ErrCorrupt, err), o.key)
		}
	}
	if len(sums) > 0 {
		vals, err := schema.CounterValues(data, &c.schema.Type)
		if err != nil {
			return c.errKey(fmt.Errorf("%w: from the server: %w", ErrCorrupt, err), o.key)
		}
		for f, s := range sums {
			if _, ok := vals[f]; ok {
				vals[f] += s
			}
		}
		if data, err = schema.SetInts(data, vals); err != nil {
			return c.errKey(fmt.Errorf("%w: from the server: %w", ErrCorrupt, err), o.key)
		}
	}
	if c.decode != nil {
		v, err := c.decodeValue(o.e.major, data)
		if err != nil {
			return c.errKey(fmt.Errorf("%w: from the server: %w", ErrCorrupt, err), o.key)
		}
		o.e.val = v
	} else {
		o.e.val = nil
	}
	o.data = data
	return nil
}

// rebaseAll rebases the changes of ops from the server's log. Called with
// d.mu held.
func rebaseAll(ops []*op) error {
	for _, o := range ops {
		if o.fromLog || o.answered != 0 {
			if err := o.c.rebase(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// ApplyAnswer implements replica.Link: on a tree with counters, the
// server's record answering outbox change outbox is applied, rebased onto
// the record's later changes still pending here; on any other tree the
// answers of those later changes bring the record, and nothing is done.
func (l link) ApplyAnswer(ch layout.Change, at replica.Pos, outbox uint64) error {
	d := l.d
	d.mu.Lock()
	c, err := d.remoteCore(ch.Tree)
	counted := err == nil && len(c.counters()) > 0
	d.mu.Unlock()
	if !counted || outbox == 0 {
		return err
	}
	return l.apply([]layout.Change{ch}, at, outbox)
}

// keepCounters gives the counters the JSON text of an opaque update
// leaves out their stored values (in old; nil: none): data is the text's
// record.
func keepCounters(text string, data, old []byte, t *schema.Type) ([]byte, error) {
	cs := t.Counters()
	if len(cs) == 0 || old == nil {
		return data, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &members); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidText, err)
	}
	keep := map[string]int64{}
	for _, f := range cs {
		if _, ok := members[f.Name]; ok {
			continue
		}
		v, err := schema.ReadInt(old, f.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: stored record: %w", ErrCorrupt, err)
		}
		keep[f.Name] = v
	}
	if len(keep) == 0 {
		return data, nil
	}
	return schema.SetInts(data, keep)
}
