package db

// A replica meeting a server restored from a backup: it takes the server's
// state from a snapshot, but first keeps, as Recovered, every record of
// its own that the server lacks or holds otherwise, so nothing it had is
// lost silently.

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
)

// Prune implements replica.Link.
func (l link) Prune(keep map[string]map[uint64]bool, at replica.Pos, lost *replica.Note) (int, error) {
	d := l.d
	var ops []*op
	d.mu.Lock()
	for _, name := range d.Trees() {
		c, err := d.remoteCore(name)
		if err != nil {
			d.mu.Unlock()
			return 0, err
		}
		c.mu.RLock()
		c.order.Ascend(func(e *entry) bool {
			if !keep[name][e.key] && !d.pendingLocked(name, e.key) {
				ops = append(ops, &op{c: c, kind: Deleted, key: e.key, remote: true})
			}
			return true
		})
		for k := range c.bad {
			if !keep[name][k] && !d.pendingLocked(name, k) {
				ops = append(ops, &op{c: c, kind: Deleted, key: k, remote: true})
			}
		}
		c.mu.RUnlock()
	}
	var kept []*op
	var keeps []recoveredRow
	if lost != nil {
		for _, o := range ops {
			rec, err := d.get(layout.RecordKey(o.c.name, o.key))
			if err != nil {
				d.mu.Unlock()
				return 0, err
			}
			if rec == nil {
				continue
			}
			keeps = append(keeps, d.recoveredRow(o.c.name, o.key, Created, rec, *lost))
			kept = append(kept, o)
		}
	}
	d.mu.Unlock()
	wo := pebble.NoSync // the server has the records: a crash fetches them again
	if len(keeps) > 0 {
		wo = pebble.Sync // the records kept exist nowhere else
	}
	err := d.commit(ops, func(b *pebble.Batch) error {
		for _, r := range keeps {
			if err := b.Set(r.key, r.val, nil); err != nil {
				return err
			}
		}
		return setPosition(b, at)
	}, wo)
	if err != nil {
		return 0, err
	}
	d.keptRecovered(kept)
	return len(kept), nil
}

// Preserve implements replica.Link.
func (l link) Preserve(chs []layout.Change, n replica.Note) (int, error) {
	d := l.d
	var kept []*op
	b := d.pdb.NewBatch()
	defer b.Close()
	d.mu.Lock()
	if err := d.writable(); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	for _, ch := range chs {
		if d.pendingLocked(ch.Tree, ch.Key) {
			continue
		}
		rec, err := d.get(layout.RecordKey(ch.Tree, ch.Key))
		if err != nil {
			d.mu.Unlock()
			return 0, err
		}
		if rec == nil || bytes.Equal(rec, ch.Record) {
			continue
		}
		c, err := d.remoteCore(ch.Tree)
		if err != nil {
			d.mu.Unlock()
			return 0, err
		}
		r := d.recoveredRow(ch.Tree, ch.Key, Updated, rec, n)
		b.Set(r.key, r.val, nil)
		kept = append(kept, &op{c: c, key: ch.Key})
	}
	d.mu.Unlock()
	if len(kept) == 0 {
		return 0, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	d.keptRecovered(kept)
	return len(kept), nil
}

type recoveredRow struct{ key, val []byte }

// recoveredRow makes the Recovered of a record as this replica has it,
// numbered with the last outbox sequence: the record has no change after
// it, so a later set-aside of its changes is not taken for this one.
// Called with d.mu held.
func (d *DB) recoveredRow(tree string, key uint64, kind EventKind, rec []byte, n replica.Note) recoveredRow {
	enc, _ := msgpack.Marshal(&layout.Recovered{Tree: tree, Key: key, Seq: d.outboxSeq, Kind: uint8(kind),
		Record: rec, At: n.At, Reason: n.Reason, By: n.By})
	if d.recMarks == nil {
		d.recMarks = map[recMark]uint64{}
	}
	d.recMarks[recMark{tree, key}] = d.outboxSeq
	return recoveredRow{key: layout.RecoveredKey(tree, key, d.outboxSeq), val: enc}
}

// keptRecovered tells subscribers of each record kept.
func (d *DB) keptRecovered(ops []*op) {
	for _, o := range ops {
		d.emitKind(o.c, o.key, EditsRecovered)
	}
}

// KeepRanges implements replica.Link.
func (l link) KeepRanges(server map[string][]layout.Range) error {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.writable(); err != nil {
		return err
	}
	b := d.pdb.NewBatch()
	defer b.Close()
	changed := map[*core]layout.TreeInfo{}
	for _, name := range d.Trees() {
		c, err := d.remoteCore(name)
		if err != nil {
			return err
		}
		in := intersect(c.info.Ranges, server[name])
		if idsIn(in) == idsIn(c.info.Ranges) {
			continue
		}
		info := c.info
		info.Ranges = in
		if err := putInfo(b, name, &info); err != nil {
			return err
		}
		changed[c] = info
	}
	if len(changed) == 0 {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	for c, info := range changed {
		c.info = info
	}
	return nil
}

func putInfo(b *pebble.Batch, tree string, info *layout.TreeInfo) error {
	enc, err := msgpack.Marshal(info)
	if err != nil {
		return err
	}
	return b.Set(layout.TreeKey(tree), enc, nil)
}

// intersect returns the ids of mine that are also in theirs.
func intersect(mine, theirs []layout.Range) []layout.Range {
	var out []layout.Range
	for _, m := range mine {
		for _, t := range theirs {
			lo, hi := max(m.Lo, t.Lo), min(m.Hi, t.Hi)
			if lo < hi {
				out = append(out, layout.Range{Lo: lo, Hi: hi})
			}
		}
	}
	return out
}
