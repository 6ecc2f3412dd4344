package db

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// OpaqueScanner is implemented by the OpaqueTree of a DB: tools that read
// every record of a tree (the viewer sorting or filtering a million rows)
// find it by type assertion.
type OpaqueScanner interface {
	// Scan calls fn with the key and JSON text (as Text) of every record
	// of the tree in key order, until fn returns false. It reads the
	// store sequentially, several times faster than Text per key, from a
	// snapshot of the store taken when it starts: records written
	// meanwhile may or may not be seen. Safe for concurrent use; fn may
	// call other methods of the tree.
	Scan(fn func(k OpaqueKey, text string) bool) error
}

var _ OpaqueScanner = (*opaqueTree)(nil)

func (o *opaqueTree) Scan(fn func(k OpaqueKey, text string) bool) (err error) {
	c := o.c
	if c.d.closed.Load() {
		return ErrClosed
	}
	s := o.schema()
	defer c.d.pdb.Guard(&err, "scanning tree "+c.name)
	lo := layout.RecordPrefix(c.name)
	it, err := c.d.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: layout.PrefixEnd(lo)})
	if err != nil {
		return c.d.storeErr("scanning tree "+c.name, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		key := layout.ItemID(it.Key())
		_, data, err := record.Decode(it.Value(), nil)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, c.name, o.key(key), err)
		}
		text, err := schema.Text(data, &s.Type)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, c.name, o.key(key), err)
		}
		if !fn(o.key(key), text) {
			return nil
		}
	}
	return c.d.storeErr("scanning tree "+c.name, it.Error())
}
