package db

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/google/btree"

	"github.com/hillsdb/hills/internal/fold"
	"github.com/hillsdb/hills/internal/layout"
)

// Index maps the records of a tree to index keys of type K, computed by an
// extraction function the application gives to NewIndex. It lives in
// memory: it is built from the tree's records when NewIndex is called (so
// an application calls NewIndex again after every Open) and kept up to date
// by every change to the tree, local or from the server.
//
// An Index is safe for concurrent use. Writers hold its lock only to apply
// one change; Lookup holds the read lock while it collects its result, and
// Range, IndexPrefix and IndexSearch hold it for one chunk of entries at a
// time, so a slow loop body never holds up writers. An index reflects a
// change by the time the write that made it returns, and before the
// change's event reaches subscribers.
type Index[T any, K cmp.Ordered] struct {
	c       *core
	name    string
	unique  bool
	extract func(k Key[T], v *T) []K

	mu   sync.RWMutex
	tree *btree.BTreeG[ixItem[K]]
	recs map[uint64][]K // each record's index keys, sorted and distinct

	// Reservations of a unique index, guarded by d.mu: the keys held by
	// the latest entries of records with a change written but not yet
	// published (core.pending).
	held  map[K][]uint64 // index key -> records whose pending entry holds it
	holds map[uint64][]K // record -> the keys of its pending entry
}

// ixItem is one entry of an index: an index key and a record holding it.
type ixItem[K cmp.Ordered] struct {
	k   K
	key uint64 // packed record key
}

func ixLess[K cmp.Ordered](a, b ixItem[K]) bool {
	if c := cmp.Compare(a.k, b.k); c != 0 {
		return c < 0
	}
	return a.key < b.key
}

// IndexOption configures NewIndex.
type IndexOption func(*indexConfig)

type indexConfig struct{ unique bool }

// Unique makes an index unique: an index key belongs to at most one
// record id. A Create, Update or Revise whose record would share an index
// key with a record of another id fails with ErrDuplicate and writes
// nothing; revisions of one record (same id) may share keys. Uniqueness is
// checked against the latest state, writes not yet published included, so
// of concurrent writers of the same key exactly one succeeds. Changes that
// come from the server are applied whatever they hold: the server is the
// authority, and Lookup then returns every record holding the key. A
// floating-point NaN index key is never a duplicate.
func Unique() IndexOption { return func(c *indexConfig) { c.unique = true } }

// NewIndex makes the index name of tree t, calling extract on every record
// present now and on every record written later. extract returns the
// index keys of a record (none, one or many; repeated keys count once).
// It gets the tree's shared value: it must not modify or keep it. It must
// be fast, safe to call from several goroutines at once, and must not
// write to the database (it runs while writes are serialised). A panic in
// extract is reported as an error of the write (unique indexes) or of
// NewIndex, or else logged, and the record gets no index keys.
//
// Index names follow the rule for tree names (ErrInvalidName); a tree has
// at most one index of a name (ErrExists). A unique index over records
// that already share a key fails with ErrDuplicate, and the tree is left
// without it. NewIndex builds the index without holding up writers, then
// holds them up briefly to apply the changes made meanwhile.
func NewIndex[T any, K cmp.Ordered](t *Tree[T], name string, extract func(k Key[T], v *T) []K, opts ...IndexOption) (*Index[T, K], error) {
	if t == nil || extract == nil {
		return nil, fmt.Errorf("db: NewIndex %q: nil tree or extract function", name)
	}
	c := t.c
	if !validName(name) {
		return nil, fmt.Errorf("%w: index %q of tree %s", ErrInvalidName, name, c.name)
	}
	var cfg indexConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	ix := &Index[T, K]{c: c, name: name, unique: cfg.unique, extract: extract,
		tree: btree.NewG(32, ixLess[K]), recs: map[uint64][]K{},
		held: map[K][]uint64{}, holds: map[uint64][]K{}}

	d := c.d
	if err := ix.register(false); err != nil {
		return nil, err
	}

	// Build from the published records as they are now, holding up no
	// writer meanwhile.
	d.pubMu.Lock()
	c.mu.RLock()
	ents := make([]*entry, 0, c.order.Len())
	c.order.Ascend(func(e *entry) bool {
		ents = append(ents, e)
		return true
	})
	c.mu.RUnlock()
	seen := d.pipe.Published()
	d.pubMu.Unlock()
	var items []ixItem[K]
	for _, e := range ents {
		keys, err := ix.keysOf(e)
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			ix.recs[e.key] = keys
			for _, k := range keys {
				items = append(items, ixItem[K]{k, e.key})
			}
		}
	}
	slices.SortFunc(items, func(a, b ixItem[K]) int {
		if c := cmp.Compare(a.k, b.k); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	for _, it := range items {
		ix.tree.ReplaceOrInsert(it)
	}

	// With pubMu no change is published and with d.mu none is prepared:
	// catch up with the changes published since, reserve the keys of
	// pending ones, and see every change after those.
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pipe.Published() != seen {
		if err := ix.catchUp(ents); err != nil {
			return nil, err
		}
	}
	if ix.unique {
		for key, e := range c.pending {
			keys, err := ix.keysOf(e)
			if err != nil {
				return nil, err
			}
			ix.reserve(key, keys)
		}
		if err := ix.checkAll(); err != nil {
			return nil, err
		}
	}
	if err := ix.register(true); err != nil {
		return nil, err
	}
	return ix, nil
}

// register adds the index to its tree, or only checks that it could when
// add is false. With add, d.mu and pubMu are held.
func (ix *Index[T, K]) register(add bool) error {
	c := ix.c
	if !add {
		c.d.mu.Lock()
		defer c.d.mu.Unlock()
	}
	if c.d.closed.Load() {
		return ErrClosed
	}
	for _, other := range c.indexes {
		if other.indexName() == ix.name {
			return fmt.Errorf("%w: index %s of tree %s", ErrExists, ix.name, c.name)
		}
	}
	if add {
		c.indexes = append(c.indexes, ix)
	}
	return nil
}

// catchUp applies the changes published since the index was built from
// ents, the tree's entries then, in key order: entries are immutable, so
// a record whose entry is another changed. Called with pubMu held.
func (ix *Index[T, K]) catchUp(ents []*entry) error {
	var err error
	set := func(key uint64, e *entry) {
		keys, kerr := ix.keysOf(e)
		if kerr != nil && err == nil {
			err = kerr
		}
		ix.setLocked(key, keys)
	}
	j := 0
	c := ix.c
	c.mu.RLock()
	c.order.Ascend(func(e *entry) bool {
		for j < len(ents) && ents[j].key < e.key {
			set(ents[j].key, nil) // deleted
			j++
		}
		if j < len(ents) && ents[j].key == e.key {
			if ents[j] != e {
				set(e.key, e)
			}
			j++
		} else {
			set(e.key, e)
		}
		return true
	})
	c.mu.RUnlock()
	for ; j < len(ents); j++ {
		set(ents[j].key, nil)
	}
	return err
}

// keysOf extracts the index keys of e, sorted and distinct. A deleted or
// untyped entry has none.
func (ix *Index[T, K]) keysOf(e *entry) (keys []K, err error) {
	if e == nil || e.deleted() {
		return nil, nil
	}
	v, ok := e.val.(*T)
	if !ok || v == nil {
		return nil, nil
	}
	defer func() {
		if p := recover(); p != nil {
			keys = nil
			err = fmt.Errorf("db: index %s of tree %s: extract panicked on %s: %v",
				ix.name, ix.c.name, formatKey(layout.Unpack(e.key)), p)
		}
	}()
	keys = ix.extract(unpackKey[T](e.key), v)
	if len(keys) > 1 {
		keys = slices.Clone(keys)
		slices.Sort(keys)
		keys = slices.Compact(keys)
	} else if len(keys) == 1 {
		keys = []K{keys[0]}
	}
	return keys, nil
}

// checkAll verifies that no two record ids share a key in the latest
// state: the published entries of records with nothing pending, and the
// reservations of the others. Called by NewIndex with d.mu held.
func (ix *Index[T, K]) checkAll() error {
	c := ix.c
	var group []uint64
	var cur K
	started := false
	check := func() error {
		if cur != cur {
			return nil // NaN
		}
		all := append(group, ix.held[cur]...)
		for _, o := range all {
			if keyID(o) != keyID(all[0]) {
				return ix.duplicate(cur, o, all[0])
			}
		}
		return nil
	}
	var err error
	ix.tree.Ascend(func(it ixItem[K]) bool {
		if started && cmp.Compare(it.k, cur) != 0 {
			if err = check(); err != nil {
				return false
			}
			group = group[:0]
		}
		cur, started = it.k, true
		if _, pend := c.pending[it.key]; !pend {
			group = append(group, it.key)
		}
		return true
	})
	if err == nil && started {
		err = check()
	}
	if err != nil {
		return err
	}
	for k, recs := range ix.held {
		for _, o := range recs {
			if keyID(o) != keyID(recs[0]) {
				return ix.duplicate(k, o, recs[0])
			}
		}
	}
	return nil
}

func keyID(key uint64) uint32 { return uint32(key >> 32) }

// duplicate is the error of record key taking index key k, held by owner.
func (ix *Index[T, K]) duplicate(k K, key, owner uint64) error {
	return fmt.Errorf("%w: %s/%s: index %s holds %#v for %s/%s", ErrDuplicate,
		ix.c.name, formatKey(layout.Unpack(key)), ix.name, k, ix.c.name, formatKey(layout.Unpack(owner)))
}

// The write path's side of an index.
type indexer interface {
	indexName() string
	isUnique() bool
	// check returns the index keys of o's new value and, for a local
	// change, refuses a duplicate of the latest state. Unique indexes
	// only. Called with d.mu held, after prepare.
	check(o *op) (keys any, err error)
	// reserveAny records the keys of a record's pending entry. Called with
	// d.mu held.
	reserveAny(key uint64, keys any)
	// unreserve forgets a record's reservation once its latest change is
	// published. Called with d.mu held.
	unreserve(key uint64)
	// publish applies a durable change. keys are those check returned, or
	// nil. Called in ticket order, with pubMu held.
	publish(o *op, old *entry, keys any)
}

func (ix *Index[T, K]) indexName() string { return ix.name }
func (ix *Index[T, K]) isUnique() bool    { return ix.unique }

func (ix *Index[T, K]) check(o *op) (any, error) {
	keys, err := ix.keysOf(o.e)
	if err != nil {
		if !o.remote {
			return nil, err
		}
		ix.c.d.opts.Logger.Error("db: index not updated", "err", err)
	}
	if o.remote {
		return keys, nil // the server is the authority
	}
	c := ix.c
	id := keyID(o.key)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, k := range keys {
		if k != k {
			continue // NaN
		}
		for _, owner := range ix.held[k] {
			if keyID(owner) != id {
				return nil, ix.duplicate(k, o.key, owner)
			}
		}
		var dup uint64
		found := false
		ix.tree.AscendGreaterOrEqual(ixItem[K]{k: k}, func(it ixItem[K]) bool {
			if cmp.Compare(it.k, k) != 0 {
				return false
			}
			if keyID(it.key) == id {
				return true
			}
			if _, pend := c.pending[it.key]; pend {
				return true // its latest entry is in held
			}
			dup, found = it.key, true
			return false
		})
		if found {
			return nil, ix.duplicate(k, o.key, dup)
		}
	}
	return keys, nil
}

func (ix *Index[T, K]) reserveAny(key uint64, keys any) {
	k, _ := keys.([]K)
	ix.reserve(key, k)
}

func (ix *Index[T, K]) reserve(key uint64, keys []K) {
	ix.unreserve(key)
	ix.holds[key] = keys
	for _, k := range keys {
		if k != k {
			continue // NaN, never a duplicate; a map cannot find it
		}
		ix.held[k] = append(ix.held[k], key)
	}
}

func (ix *Index[T, K]) unreserve(key uint64) {
	old, ok := ix.holds[key]
	if !ok {
		return
	}
	delete(ix.holds, key)
	for _, k := range old {
		recs := slices.DeleteFunc(ix.held[k], func(r uint64) bool { return r == key })
		if len(recs) == 0 {
			delete(ix.held, k)
		} else {
			ix.held[k] = recs
		}
	}
}

func (ix *Index[T, K]) publish(o *op, old *entry, keys any) {
	if o.e != nil && old != nil && o.e.val == old.val {
		return // the value is the same (a change of meta)
	}
	var nk []K
	if keys != nil {
		nk = keys.([]K)
	} else {
		var err error
		if nk, err = ix.keysOf(o.e); err != nil {
			ix.c.d.opts.Logger.Error("db: index not updated", "err", err)
		}
	}
	ix.mu.Lock()
	ix.setLocked(o.key, nk)
	ix.mu.Unlock()
}

// setLocked makes keys, sorted and distinct, the index keys of record key.
// Called with ix.mu held, or before the index is registered.
func (ix *Index[T, K]) setLocked(key uint64, keys []K) {
	old := ix.recs[key]
	if slices.Equal(old, keys) {
		return
	}
	for _, k := range old {
		ix.tree.Delete(ixItem[K]{k, key})
	}
	for _, k := range keys {
		ix.tree.ReplaceOrInsert(ixItem[K]{k, key})
	}
	if len(keys) == 0 {
		delete(ix.recs, key)
	} else {
		ix.recs[key] = keys
	}
}

// checkIndexes runs the checks of the tree's unique indexes on o. Called
// by write with d.mu held, after prepare.
func (c *core) checkIndexes(o *op) error {
	o.ixKeys = nil
	for i, ix := range c.indexes {
		if !ix.isUnique() {
			continue
		}
		keys, err := ix.check(o)
		if err != nil {
			return err
		}
		if o.ixKeys == nil {
			o.ixKeys = make([]any, len(c.indexes))
		}
		o.ixKeys[i] = keys
	}
	return nil
}

// reserveIndexes records the keys o holds while it is pending. Called by
// write with d.mu held, when o becomes the record's pending entry. When
// the store then fails the write, the reservation stays: the database
// refuses every later write anyway (DB.failed).
func (c *core) reserveIndexes(o *op) {
	for i, ix := range c.indexes {
		if ix.isUnique() && i < len(o.ixKeys) {
			ix.reserveAny(o.key, o.ixKeys[i])
		}
	}
}

// unreserveIndexes drops the reservations of key, whose latest change is
// now published. Called by publish with d.mu held.
func (c *core) unreserveIndexes(key uint64) {
	for _, ix := range c.indexes {
		if ix.isUnique() {
			ix.unreserve(key)
		}
	}
}

// publishIndexes applies a durable change to the tree's indexes. Called by
// publish, in ticket order, before the change's event is emitted.
func (c *core) publishIndexes(o *op, old *entry) {
	for i, ix := range c.indexes {
		var keys any
		if i < len(o.ixKeys) {
			keys = o.ixKeys[i]
		}
		ix.publish(o, old, keys)
	}
}

// Name returns the index's name.
func (ix *Index[T, K]) Name() string { return ix.name }

// Unique reports whether the index was made with the Unique option.
func (ix *Index[T, K]) Unique() bool { return ix.unique }

// Len returns the number of (index key, record) entries.
func (ix *Index[T, K]) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.tree.Len()
}

// Lookup returns the keys of the records holding index key k, in key
// order, as a new slice the caller owns; nil when there are none.
func (ix *Index[T, K]) Lookup(k K) []Key[T] {
	var out []Key[T]
	ix.mu.RLock()
	ix.tree.AscendGreaterOrEqual(ixItem[K]{k: k}, func(it ixItem[K]) bool {
		if cmp.Compare(it.k, k) != 0 {
			return false
		}
		out = append(out, unpackKey[T](it.key))
		return true
	})
	ix.mu.RUnlock()
	return out
}

// Range yields the index keys k with lo <= k < hi and the records holding
// them, in order of index key, then record key. A record holding several
// keys in the range comes once for each.
//
// Range reads the index in chunks under its read lock, not as a snapshot:
// the loop body may write to the tree, and changes made meanwhile may or
// may not be seen; an entry present during the whole iteration is yielded
// exactly once.
func (ix *Index[T, K]) Range(lo, hi K) iter.Seq2[K, Key[T]] {
	return ix.scan(lo, func(k K) bool { return cmp.Less(k, hi) })
}

// All yields every entry of the index in order, as Range does.
func (ix *Index[T, K]) All() iter.Seq2[K, Key[T]] {
	return func(yield func(K, Key[T]) bool) {
		ix.mu.RLock()
		first, ok := ix.tree.Min()
		ix.mu.RUnlock()
		if !ok {
			return
		}
		for k, key := range ix.scan(first.k, func(K) bool { return true }) {
			if !yield(k, key) {
				return
			}
		}
	}
}

const scanChunk = 128

// scan yields the entries from index key from on while in(k) holds.
func (ix *Index[T, K]) scan(from K, in func(K) bool) iter.Seq2[K, Key[T]] {
	return func(yield func(K, Key[T]) bool) {
		buf := make([]ixItem[K], 0, scanChunk)
		pivot := ixItem[K]{k: from}
		inclusive := true
		for {
			buf = buf[:0]
			more := false
			skip := !inclusive // only the first entry can be the pivot
			ix.mu.RLock()
			ix.tree.AscendGreaterOrEqual(pivot, func(it ixItem[K]) bool {
				if skip {
					skip = false
					if !ixLess(pivot, it) {
						return true // the last entry already yielded
					}
				}
				if !in(it.k) {
					return false
				}
				if len(buf) == scanChunk {
					more = true
					return false
				}
				buf = append(buf, it)
				return true
			})
			ix.mu.RUnlock()
			for _, it := range buf {
				if !yield(it.k, unpackKey[T](it.key)) {
					return
				}
			}
			if !more {
				return
			}
			pivot, inclusive = buf[len(buf)-1], false
		}
	}
}

// IndexPrefix yields the entries of a string-keyed index whose key starts
// with p, in order, as Range does.
func IndexPrefix[T any, K ~string](ix *Index[T, K], p K) iter.Seq2[K, Key[T]] {
	return ix.scan(p, func(k K) bool { return strings.HasPrefix(string(k), string(p)) })
}

// IndexSearch returns the records of a string-keyed index holding a key
// that contains substr, ignoring case: a key matches when its Unicode case
// folding contains that of substr ("MÜLLER" matches "müller", "Straße"
// matches "STRASSE"), the rule by which the widgets' table filters too. Records come in
// order of their first matching key, each once, at most limit of them
// (limit <= 0: all). The slice is new and owned by the caller. It reads
// every key of the index, in chunks as Range does.
func IndexSearch[T any, K ~string](ix *Index[T, K], substr string, limit int) []Key[T] {
	var out []Key[T]
	seen := map[uint64]struct{}{}
	folded := fold.String(substr)
	var last K
	lastMatch, started := false, false
	for k, key := range ix.All() {
		if !started || k != last {
			last, lastMatch, started = k, fold.Contains(string(k), folded), true
		}
		if !lastMatch {
			continue
		}
		pk := key.pack()
		if _, ok := seen[pk]; ok {
			continue
		}
		seen[pk] = struct{}{}
		out = append(out, key)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out
}
