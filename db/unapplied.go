package db

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
)

// UnappliedChange is a change from the server that this replica could not
// apply (its bytes do not decode, or do not fit the tree's schema), kept
// aside so that nothing is dropped without a trace while the replica goes
// on syncing the rest. The record stays as it was before the change.
type UnappliedChange struct {
	Key    OpaqueKey
	Seq    uint64    // the server's log sequence; 0 for a snapshot's record or an acknowledgement's
	Kind   EventKind // Created, Updated, Deleted or MetaChanged; 0 for a tree declaration
	Record []byte    // the change's stored form, as the server sent it
	At     time.Time // when it was set aside
	Reason string
}

func (l link) SetAside(ch layout.Change, seq uint64, reason string) error {
	d := l.d
	u := layout.Unapplied{Change: ch, At: time.Now().UnixNano(), Reason: reason}
	u.Change.Seq = seq
	enc, err := msgpack.Marshal(&u)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if err := d.writable(); err != nil {
		d.mu.Unlock()
		return err
	}
	err = d.pdb.Set(layout.UnappliedKey(seq, u.At), enc, pebble.Sync)
	var c *core
	if err == nil && validName(ch.Tree) {
		c, _ = d.remoteCore(ch.Tree)
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if c != nil {
		d.emitKind(c, ch.Key, Unapplied)
	}
	return nil
}

// Unapplied lists the changes from the server this replica set aside, in
// the server's order.
func (d *DB) Unapplied() ([]UnappliedChange, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	it, err := d.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{layout.PrefixUnappl},
		UpperBound: []byte{layout.PrefixUnappl + 1},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	defer it.Close()
	var out []UnappliedChange
	for ok := it.First(); ok; ok = it.Next() {
		var u layout.Unapplied
		if err := msgpack.Unmarshal(it.Value(), &u); err != nil {
			return out, fmt.Errorf("%w: set-aside change %x: %w", ErrCorrupt, it.Key(), err)
		}
		id, rev := layout.Unpack(u.Change.Key)
		kind := EventKind(u.Change.Kind)
		if kind > MetaChanged {
			kind = 0
		}
		out = append(out, UnappliedChange{Key: OpaqueKey{Tree: u.Change.Tree, ID: id, Rev: rev}, Seq: u.Change.Seq,
			Kind: kind, Record: u.Change.Record, At: time.Unix(0, u.At), Reason: u.Reason})
	}
	return out, it.Error()
}

// DiscardUnapplied forgets the changes set aside.
func (d *DB) DiscardUnapplied() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	if err := d.pdb.DeleteRange([]byte{layout.PrefixUnappl}, []byte{layout.PrefixUnappl + 1}, pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}
