package netsync

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/wire"
)

// ImportTree is one tree Server.Import brings into the server's store:
// its declaration, as a client would declare it, and its records.
type ImportTree struct {
	Name      string         `json:"name"`
	Versioned bool           `json:"versioned"`
	Major     uint16         `json:"major"`
	Minor     uint16         `json:"minor"`
	Schema    []byte         `json:"schema"` // the schema's stored form; nil: none
	Records   []ImportRecord `json:"records"`
}

// ImportRecord is one record: its key (id and revision packed,
// ID<<32|Rev; 0 for a new record, which gets the tree's next id) and
// stored form, meta included.
type ImportRecord struct {
	Key    uint64 `json:"key"`
	Record []byte `json:"record"`
}

// importedBy is who the history names for an imported record.
const importedBy = "hills-server import"

// ErrImport is wrapped by the errors of Import about what it was given.
var ErrImport = errors.New("netsync: import refused")

// Import stores trees and their records in the server's store as one
// step: every record or none. A tree new to the server is declared, one
// it has must have a compatible schema (the rules of a client's
// declaration). Records keep their keys and meta and go into the server's
// log, so every replica receives them like any change; the ids are
// reserved, so no client is granted them later. A record whose key the
// server has (or had: deleted), whose id is in a range a client holds, or
// whose value does not fit the schema is refused with an error naming the
// tree and key, and nothing is stored. It returns the number of records
// stored.
func (s *Server) Import(trees []ImportTree) (int, error) {
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return 0, ErrStoreClosed
	}
	if err := s.a.room.check(); err != nil {
		return 0, err
	}
	n := 0
	a := s.a
	err := a.commit(func(b *pebble.Batch, d *delivery) error {
		n = 0
		now := time.Now().UnixNano()
		saved := a.saveTrees(trees)
		for i := range trees {
			c, err := a.importTree(b, d, &trees[i], now)
			n += c
			if err != nil {
				saved.restore(a)
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// importer is the origin of an import's declarations: the administrator,
// with every access.
var importer = &sconn{name: "import", grants: []wire.Grant{{Tree: "*", Access: uint8(AllAccess)}}}

// importTree adds one tree's declaration and records to the batch.
// Called with a.mu held.
func (a *authority) importTree(b *pebble.Batch, d *delivery, t *ImportTree, now int64) (int, error) {
	decl := replica.TreeDecl{Name: t.Name, Versioned: t.Versioned, Major: t.Major, Minor: t.Minor, Schema: t.Schema}
	next, sc, err := a.checkDecl(importer, decl)
	var r *refused
	if errors.As(err, &r) {
		return 0, fmt.Errorf("%w: tree %s: %s", ErrImport, t.Name, r.msg)
	}
	if err != nil {
		return 0, err
	}
	nextID := max(a.next[t.Name], 1)
	if next != nil {
		enc, err := msgpack.Marshal(next)
		if err != nil {
			return 0, err
		}
		e := logEntry{Change: layout.Change{Tree: next.Name, Kind: wire.KindTree, Record: enc}, At: now}
		if err := a.appendLog(b, &e); err != nil {
			return 0, err
		}
		d.entries = append(d.entries, e)
		a.trees[next.Name] = next
		if sc != nil {
			a.schemas[next.Name] = sc
		}
		if len(next.Schema) > 0 {
			b.Set(layout.SchemaKey(next.Name), next.Schema, nil)
		}
	}
	cur := a.trees[t.Name]
	for _, rec := range t.Records {
		id, rev := layout.Unpack(rec.Key)
		if id == 0 && rev == 0 {
			// A new record: the tree's next id, which no client holds.
			id, rec.Key = nextID, layout.Pack(nextID, 0)
		}
		where := fmt.Sprintf("%s/%d.%d", t.Name, id, rev)
		if id == 0 {
			return 0, fmt.Errorf("%w: %s: ids start at 1", ErrImport, where)
		}
		if a.current(b, t.Name, rec.Key) != nil {
			return 0, fmt.Errorf("%w: %s exists on the server", ErrImport, where)
		}
		if batchGet(b, tombKey(t.Name, rec.Key)) != nil {
			return 0, fmt.Errorf("%w: %s was deleted on the server", ErrImport, where)
		}
		if holder := a.rangeHolder(t.Name, id); holder != "" {
			return 0, fmt.Errorf("%w: %s: the id is granted to client %s", ErrImport, where, holder)
		}
		m, _, err := a.validRecord(cur, rec.Record)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrImport, where, err)
		}
		if t.Versioned == (m.Version == 0) {
			return 0, fmt.Errorf("%w: %s: a record of a %s tree cannot be %s", ErrImport, where, versionedText(t.Versioned), versionText(m.Version))
		}
		b.Set(layout.RecordKey(t.Name, rec.Key), rec.Record, nil)
		e := logEntry{Change: layout.Change{Tree: t.Name, Key: rec.Key, Kind: uint8(db.Created), Record: rec.Record}, At: now}
		if err := a.appendLog(b, &e); err != nil {
			return 0, err
		}
		if err := a.historyChange(b, &e, importedBy, nil); err != nil {
			return 0, err
		}
		d.entries = append(d.entries, e)
		nextID = max(nextID, id+1)
	}
	a.next[t.Name] = nextID
	info := layout.TreeInfo{NextID: nextID, Versioned: cur.Versioned, Major: cur.Major, Minor: cur.Minor}
	if err := putMsgpack(b, layout.TreeKey(t.Name), &info); err != nil {
		return 0, err
	}
	return len(t.Records), nil
}

// savedTrees is what an import changes of the authority's trees in
// memory, kept to put back when the import is refused.
type savedTrees struct {
	trees   map[string]*replica.TreeDecl
	schemas map[string]*schema.Schema
	next    map[string]uint32
}

func (a *authority) saveTrees(trees []ImportTree) *savedTrees {
	s := &savedTrees{trees: map[string]*replica.TreeDecl{}, schemas: map[string]*schema.Schema{}, next: map[string]uint32{}}
	for _, t := range trees {
		s.trees[t.Name], s.schemas[t.Name], s.next[t.Name] = a.trees[t.Name], a.schemas[t.Name], a.next[t.Name]
	}
	return s
}

func (s *savedTrees) restore(a *authority) {
	for name, t := range s.trees {
		restore(a.trees, name, t)
		restore(a.schemas, name, s.schemas[name])
		if n := s.next[name]; n != 0 {
			a.next[name] = n
		} else {
			delete(a.next, name)
		}
	}
}

func restore[V any](m map[string]*V, k string, v *V) {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
}

// rangeHolder names the client holding a range of tree's ids with id in
// it, "" when none does.
func (a *authority) rangeHolder(tree string, id uint32) string {
	for _, cl := range a.clients {
		if cl.owns(tree, id) {
			return cl.Name
		}
	}
	return ""
}
