package sqlmap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/store"
)

// Errors of Open.
var (
	// ErrInUse: another process has the directory open (a running server
	// or application).
	ErrInUse = errors.New("sqlmap: hills directory in use")
	// ErrNoStore: the directory holds no hills store.
	ErrNoStore = errors.New("sqlmap: no hills store")
	// ErrCorrupt: the store's files or records are damaged.
	ErrCorrupt = errors.New("sqlmap: corrupt store")
)

// Source is a hills directory open for reading: a server's store, a
// replica or a standalone database (they share the layout of records,
// trees and schemas). It reads from one snapshot taken when it opens.
type Source struct {
	Dir  string
	Kind string // "server store", "replica", "standalone database"
	st   *store.Store
	snap *pebble.Snapshot
}

// Open opens the hills directory dir read-only. A directory another
// process holds open is ErrInUse.
func Open(dir string) (*Source, error) {
	if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoStore, dir)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, store.Options{CacheSize: 64 << 20, Logger: quiet, Corrupt: ErrCorrupt, ReadOnly: true})
	if err != nil {
		if isLocked(err) {
			return nil, fmt.Errorf("%w: %s is open in another process (a running server or application): "+
				"stop it first, or export a running server through its admin socket", ErrInUse, dir)
		}
		return nil, fmt.Errorf("sqlmap: open %s: %w", dir, err)
	}
	s := &Source{Dir: dir, st: st, Kind: "server store"}
	var info layout.DBInfo
	if ok, err := st.GetMsgpack(layout.InfoKey, &info); err != nil {
		st.Close()
		return nil, err
	} else if ok {
		s.Kind = "standalone database"
		if info.Replica {
			s.Kind = "replica"
		}
	}
	s.snap = st.NewSnapshot()
	return s, nil
}

// isLocked reports whether err is Pebble's refusal of a directory another
// process has locked.
func isLocked(err error) bool {
	// Another process holds the flock (EAGAIN); this process holds it
	// already: Pebble says "lock held by current process".
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) ||
		strings.Contains(err.Error(), "lock held")
}

// Close releases the directory. Closing again does nothing.
func (s *Source) Close() error {
	if s.snap == nil {
		return nil
	}
	s.snap.Close()
	s.snap = nil
	return s.st.Close()
}

// Trees returns the trees of the store in name order; a tree without a
// stored schema has an empty struct schema.
func (s *Source) Trees() (trees []Tree, err error) {
	defer s.st.Guard(&err, "listing trees")
	p := []byte{layout.PrefixTree}
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: layout.PrefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		name := string(it.Key()[1:])
		var info layout.TreeInfo
		if err := msgpack.Unmarshal(it.Value(), &info); err != nil {
			return nil, fmt.Errorf("%w: tree info of %s: %w", ErrCorrupt, name, err)
		}
		sc := &schema.Schema{Tree: name, Major: info.Major, Minor: info.Minor, Type: schema.Type{Kind: schema.Struct}}
		b, closer, err := s.snap.Get(layout.SchemaKey(name))
		switch {
		case err == nil:
			dec, derr := schema.Decode(b)
			closer.Close()
			if derr != nil {
				return nil, fmt.Errorf("%w: schema of %s: %w", ErrCorrupt, name, derr)
			}
			sc = dec
		case !errors.Is(err, pebble.ErrNotFound):
			return nil, s.st.Check(err, "reading the schema of "+name)
		}
		trees = append(trees, Tree{Name: name, Versioned: info.Versioned, Schema: sc})
	}
	return trees, s.st.Check(it.Error(), "listing trees")
}

// Scan calls fn with the key and stored form of every record of tree, in
// key order, until fn returns an error, which Scan returns. rec is valid
// only inside fn.
func (s *Source) Scan(tree string, fn func(key uint64, rec []byte) error) (err error) {
	defer s.st.Guard(&err, "scanning tree "+tree)
	lo := layout.RecordPrefix(tree)
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: layout.PrefixEnd(lo)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(layout.ItemID(it.Key()), it.Value()); err != nil {
			return err
		}
	}
	return s.st.Check(it.Error(), "scanning tree "+tree)
}

// Select returns the trees named in names (all when names is empty), or
// an error naming one the store does not have.
func Select(trees []Tree, names []string) ([]Tree, error) {
	if len(names) == 0 {
		return trees, nil
	}
	var out []Tree
	for _, n := range names {
		i := slices.IndexFunc(trees, func(t Tree) bool { return t.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("sqlmap: no tree %q", n)
		}
		out = append(out, trees[i])
	}
	return out, nil
}
