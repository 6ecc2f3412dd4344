package netsync

// What a client asks the server to store: tree declarations, id requests
// and pushed changes. Each is checked against the client's grants and the
// server's limits, and every record and schema is validated, before
// anything is logged or forwarded. The server trusts nothing in them: who
// made a change and when is the server's word.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/wire"
)

// refused is a refusal of a declaration or an id request: the session
// goes on, the client gets a Notice.
type refused struct {
	code uint16
	msg  string
}

func (r *refused) Error() string { return r.msg }

func refuse(code uint16, format string, args ...any) *refused {
	return &refused{code: code, msg: fmt.Sprintf(format, args...)}
}

// declare records a tree a client declared, when it is new, adds to the
// schema or raises the schema version, as a log entry every replica
// applies. The stored schema is the union of the compatible ones
// declared; an incompatible or invalid one is refused to its sender and
// never reaches anyone else.
func (a *authority) declare(origin *sconn, decl replica.TreeDecl) error {
	return a.commit(func(b *pebble.Batch, d *delivery) error {
		d.origin = origin
		next, sc, err := a.checkDecl(origin, decl)
		var r *refused
		if errors.As(err, &r) {
			d.notices = append(d.notices, wire.Notice{Code: r.code, Msg: r.msg, Tree: decl.Name, Of: wire.TTree})
			return nil
		}
		if err != nil || next == nil {
			return err
		}
		nextID := max(a.next[decl.Name], 1)
		if err := putMsgpack(b, layout.TreeKey(next.Name), &layout.TreeInfo{NextID: nextID,
			Versioned: next.Versioned, Major: next.Major, Minor: next.Minor}); err != nil {
			return err
		}
		if len(next.Schema) > 0 {
			b.Set(layout.SchemaKey(next.Name), next.Schema, nil)
		}
		enc, err := msgpack.Marshal(next)
		if err != nil {
			return err
		}
		e := logEntry{Change: layout.Change{Tree: next.Name, Kind: wire.KindTree, Record: enc}, At: time.Now().UnixNano()}
		if err := a.appendLog(b, &e); err != nil {
			return err
		}
		d.entries = append(d.entries, e)
		a.trees[next.Name] = next
		if sc != nil {
			a.schemas[next.Name] = sc
		}
		a.next[next.Name] = nextID
		return nil
	})
}

// checkDecl returns the declaration to store (nil: nothing changes) and
// its decoded schema, or a refusal. The schema rules are those of
// DB.OpenTree (schema.CheckDeclaration). Called with a.mu held.
func (a *authority) checkDecl(origin *sconn, decl replica.TreeDecl) (*replica.TreeDecl, *schema.Schema, error) {
	name := decl.Name
	if !layout.ValidTreeName(name) {
		return nil, nil, refuse(wire.CodeBadTree, "invalid tree name %q", name)
	}
	if !origin.may(name, AllAccess) {
		// The same answer whether the tree exists or not: a client with
		// no access to a tree does not learn of it.
		return nil, nil, refuse(wire.CodePermission, "tree %s: %s has no access to it", name, origin.name)
	}
	if len(decl.Schema) > a.lim.MaxRecord {
		return nil, nil, refuse(wire.CodeBadSchema, "tree %s: schema of %d bytes (limit %d)", name, len(decl.Schema), a.lim.MaxRecord)
	}
	old := a.trees[name]
	if old != nil && old.Versioned != decl.Versioned {
		return nil, nil, refuse(wire.CodeBadTree, "tree %s is versioned: %v on the server, %v in the declaration", name, old.Versioned, decl.Versioned)
	}
	if old != nil && decl.Major != 0 && decl.Major < old.Major {
		return nil, nil, nil // older code: the server's schema stays
	}
	merged, changed, err := schema.CheckDeclaration(name, a.schemas[name], decl.Schema, decl.Major, decl.Minor)
	if err != nil {
		return nil, nil, refuse(wire.CodeBadSchema, "%v", err)
	}
	next := replica.TreeDecl{Name: name, Versioned: decl.Versioned, Major: decl.Major, Minor: decl.Minor}
	switch {
	case merged != nil:
		enc, err := schema.Encode(merged)
		if err != nil {
			return nil, nil, refuse(wire.CodeBadSchema, "tree %s: schema: %v", name, err)
		}
		next.Major, next.Minor, next.Schema = merged.Major, merged.Minor, enc
	case old != nil:
		next.Major, next.Minor = max(old.Major, decl.Major), old.Minor
		if decl.Major == old.Major {
			next.Minor = max(old.Minor, decl.Minor)
		}
	}
	if old != nil && !changed && next.Major == old.Major && next.Minor == old.Minor {
		return nil, nil, nil
	}
	if !origin.may(name, Create|Edit|Release|Admin) {
		what := "change the schema of"
		if old == nil {
			what = "create"
		}
		return nil, nil, refuse(wire.CodePermission, "tree %s: %s may not %s the tree (grants: %s)", name, origin.name, what, origin.accessText(name))
	}
	return &next, merged, nil
}

// grant gives a client n ids of a tree, within its grants and the
// server's limits.
func (a *authority) grant(origin *sconn, req wire.IDRequest) error {
	n := min(max(req.N, 1), a.lim.MaxIDGrant)
	now := time.Now().UnixNano()
	return a.commit(func(b *pebble.Batch, d *delivery) error {
		d.origin = origin
		lo, hi, err := a.checkGrant(origin, req.Tree, n, now)
		if err != nil {
			var r *refused
			if errors.As(err, &r) {
				d.notices = append(d.notices, wire.Notice{Code: r.code, Msg: r.msg, Tree: req.Tree, Of: wire.TIDRequest})
				return nil
			}
			return err
		}
		decl := a.trees[req.Tree]
		cl := a.clients[origin.clientID]
		a.next[req.Tree] = hi
		if err := putMsgpack(b, layout.TreeKey(req.Tree), &layout.TreeInfo{NextID: hi,
			Versioned: decl.Versioned, Major: decl.Major, Minor: decl.Minor}); err != nil {
			return err
		}
		cl.Ranges[req.Tree] = append(cl.Ranges[req.Tree], layout.Range{Lo: lo, Hi: hi})
		if cl.IDGrants == nil {
			cl.IDGrants = map[string][]int64{}
		}
		cl.IDGrants[req.Tree] = append(cl.IDGrants[req.Tree], now)
		if err := putMsgpack(b, clientKey(cl.ID), cl); err != nil {
			return err
		}
		d.grants = append(d.grants, wire.IDGrant{Tree: req.Tree, Lo: lo, Hi: hi})
		return nil
	})
}

// checkGrant returns the ids to grant, or a refusal. Called with a.mu
// held.
func (a *authority) checkGrant(origin *sconn, tree string, n uint32, now int64) (lo, hi uint32, err error) {
	// Grants first: whether a tree the client may not read exists is
	// none of its business.
	if !origin.may(tree, Create) || !origin.may(tree, Read) {
		return 0, 0, refuse(wire.CodePermission, "tree %s: %s may not create records (grants: %s; ids need read and create)",
			tree, origin.name, origin.accessText(tree))
	}
	if a.trees[tree] == nil {
		return 0, 0, refuse(wire.CodeBadTree, "ids of undeclared tree %q", tree)
	}
	cl := a.clients[origin.clientID]
	recent := cl.IDGrants[tree][:0]
	for _, t := range cl.IDGrants[tree] {
		if now-t < int64(time.Hour) {
			recent = append(recent, t)
		}
	}
	if cl.IDGrants != nil {
		cl.IDGrants[tree] = recent
	}
	if len(recent) >= a.lim.IDGrantsPerHour {
		return 0, 0, refuse(wire.CodeLimit, "tree %s: %s was granted ids %d times in the last hour (limit %d)",
			tree, origin.name, len(recent), a.lim.IDGrantsPerHour)
	}
	lo = max(a.next[tree], 1)
	if uint64(lo)+uint64(n) > 1<<32-1 {
		return 0, 0, refuse(wire.CodeOutOfRange, "tree %s has used every id", tree)
	}
	return lo, lo + n, nil
}

// push validates and applies a client's outbox changes in order. Each gets
// an outcome: accepted with a log sequence, a duplicate of one processed
// before, or rejected with the server's version of the record. An
// accepted record is stamped with the client's name and the server's
// clock, whatever the client wrote.
func (a *authority) push(origin *sconn, changes []layout.Change, now int64) error {
	return a.commit(func(b *pebble.Batch, d *delivery) error {
		d.origin = origin
		cl := a.clients[origin.clientID]
		for _, ch := range changes {
			if ch.Seq <= cl.LastOutbox {
				d.acks = append(d.acks, wire.Ack{Outbox: ch.Seq, Code: wire.CodeOK, Msg: "duplicate",
					Tree: ch.Tree, Key: ch.Key, Record: a.readable(origin, b, ch.Tree, ch.Key)})
				continue
			}
			cl.LastOutbox = ch.Seq
			rec, old, code, msg := a.check(b, origin, cl, &ch, now)
			if code != wire.CodeOK {
				d.acks = append(d.acks, wire.Ack{Outbox: ch.Seq, Code: code, Msg: msg,
					Tree: ch.Tree, Key: ch.Key, Record: a.readable(origin, b, ch.Tree, ch.Key)})
				continue
			}
			ch.Record = rec
			e := logEntry{Change: ch, Origin: cl.ID, OriginSeq: ch.Seq, At: now}
			if err := a.appendLog(b, &e); err != nil {
				return err
			}
			rk := layout.RecordKey(ch.Tree, ch.Key)
			if db.EventKind(ch.Kind) == db.Deleted {
				b.Delete(rk, nil)
				b.Set(tombKey(ch.Tree, ch.Key), binary.BigEndian.AppendUint64(nil, a.seq), nil)
				if err := a.endBorrow(b, d, recKey{ch.Tree, ch.Key}); err != nil {
					return err
				}
			} else {
				b.Set(rk, ch.Record, nil)
			}
			if err := a.historyChange(b, &e, origin.name, old); err != nil {
				return err
			}
			d.entries = append(d.entries, e)
		}
		return b.Set(outboxMarkKey(cl.ID), binary.BigEndian.AppendUint64(nil, cl.LastOutbox), nil)
	})
}

// readable returns the stored record for a client allowed to read its
// tree, nil otherwise.
func (a *authority) readable(c *sconn, b *pebble.Batch, tree string, key uint64) []byte {
	if !c.may(tree, Read) {
		return nil
	}
	return a.current(b, tree, key)
}

// check validates one change of client cl and returns the record to store,
// stamped by the server, and the record stored before (nil: none). Called
// with a.mu held.
func (a *authority) check(b *pebble.Batch, origin *sconn, cl *clientState, ch *layout.Change, now int64) (rec, cur []byte, code uint16, msg string) {
	p := &pushed{a: a, b: b, origin: origin, cl: cl, ch: ch, kind: db.EventKind(ch.Kind)}
	p.id, p.rev = layout.Unpack(ch.Key)
	p.where = fmt.Sprintf("%s/%d.%d", ch.Tree, p.id, p.rev)
	if isDelta(ch) {
		return p.checkDelta(now)
	}
	if code, msg := p.load(); code != wire.CodeOK {
		return nil, nil, code, msg
	}
	if p.kind == db.Created {
		if code, msg := p.checkCreate(); code != wire.CodeOK {
			return nil, nil, code, msg
		}
		if code, msg := p.checkFloors(); code != wire.CodeOK {
			return nil, nil, code, msg
		}
		return stamp(&p.newMeta, nil, p.newData, origin.name, cl.ID, now), nil, wire.CodeOK, ""
	}
	if p.kind != db.Deleted {
		if code, msg := p.keepCounters(); code != wire.CodeOK {
			return nil, nil, code, msg
		}
	}
	if code, msg := p.checkChange(); code != wire.CodeOK || p.kind == db.Deleted {
		return nil, p.cur, code, msg
	}
	return stamp(&p.newMeta, &p.curMeta, p.newData, origin.name, cl.ID, now), p.cur, wire.CodeOK, ""
}

// pushed is one pushed change under check.
type pushed struct {
	a       *authority
	b       *pebble.Batch
	origin  *sconn
	cl      *clientState
	ch      *layout.Change
	kind    db.EventKind
	id, rev uint32
	where   string
	decl    *replica.TreeDecl
	cur     []byte // the stored record; nil when none
	newMeta record.Meta
	newData []byte
	curMeta record.Meta
	curData []byte
}

// load checks the grants, the tree and the record's bytes, and reads the
// stored record. Grants come first: whether a tree the client may not
// touch exists is none of its business.
func (p *pushed) load() (uint16, string) {
	ch := p.ch
	if need := accessFor(p.kind, p.rev); !p.origin.may(ch.Tree, need) {
		return wire.CodePermission, fmt.Sprintf("%s: %s needs %s (grants: %s)", p.where, p.kind, need, p.origin.accessText(ch.Tree))
	}
	if p.decl = p.a.trees[ch.Tree]; p.decl == nil {
		return wire.CodeBadTree, "undeclared tree " + ch.Tree
	}
	if p.kind < db.Created || p.kind > db.MetaChanged {
		return wire.CodeProtocol, fmt.Sprintf("%s: unknown change kind %d", p.where, ch.Kind)
	}
	if p.kind != db.Deleted {
		m, data, err := p.a.validRecord(p.decl, ch.Record)
		if err != nil {
			return wire.CodeBadRecord, p.where + ": " + err.Error()
		}
		p.newMeta, p.newData = m, data
	}
	if p.cur = p.a.current(p.b, ch.Tree, ch.Key); p.cur != nil {
		m, data, err := record.Decode(p.cur, nil)
		if err != nil {
			return wire.CodeInternal, p.where + ": stored record: " + err.Error()
		}
		p.curMeta, p.curData = m, data
	}
	return wire.CodeOK, ""
}

// holds reports whether the client holds the tree's record k.
func (p *pushed) holds(k uint64) bool {
	bs := p.a.borrows[recKey{p.ch.Tree, k}]
	return bs != nil && len(bs.Queue) > 0 && bs.Queue[0].ID == p.cl.ID
}

// checkCreate checks a new record: a new id in the client's ranges, or
// the next revision of a record it holds.
func (p *pushed) checkCreate() (uint16, string) {
	ch, decl := p.ch, p.decl
	if p.cur != nil {
		return wire.CodeExists, p.where + " exists"
	}
	if batchGet(p.b, tombKey(ch.Tree, ch.Key)) != nil {
		return wire.CodeExists, p.where + " was deleted"
	}
	if decl.Versioned && p.newMeta.Version != record.Draft || !decl.Versioned && p.newMeta.Version != record.NonVersioned {
		return wire.CodeBadRecord, fmt.Sprintf("%s: a new record of a %s tree cannot be %s", p.where, versionedText(decl.Versioned), versionText(p.newMeta.Version))
	}
	if p.rev == 0 {
		if !p.cl.owns(ch.Tree, p.id) {
			return wire.CodeOutOfRange, p.where + ": id not granted to " + p.cl.Name
		}
		return wire.CodeOK, ""
	}
	prev := layout.Pack(p.id, p.rev-1)
	if p.a.current(p.b, ch.Tree, prev) == nil {
		return wire.CodeNotFound, fmt.Sprintf("%s/%d.%d to revise", ch.Tree, p.id, p.rev-1)
	}
	if !p.holds(prev) {
		return wire.CodeNotCheckedOut, fmt.Sprintf("%s/%d.%d", ch.Tree, p.id, p.rev-1)
	}
	return wire.CodeOK, ""
}

// checkChange checks an update, meta change or delete: the record exists,
// the client holds it, and its version state allows the change.
func (p *pushed) checkChange() (uint16, string) {
	if p.cur == nil {
		return wire.CodeNotFound, p.where
	}
	if !p.holds(p.ch.Key) {
		return wire.CodeNotCheckedOut, p.where
	}
	if p.kind == db.Deleted {
		if p.curMeta.Version == record.Released {
			return wire.CodeReleased, p.where
		}
		return wire.CodeOK, ""
	}
	if code, msg := versionChange(p.kind, &p.curMeta, &p.newMeta, p.curData, p.newData); code != wire.CodeOK {
		return code, p.where + ": " + msg
	}
	return wire.CodeOK, ""
}

// versionChange checks what an update or a meta change does to a record's
// version state: an update keeps it and may not touch a released record;
// a meta change keeps the data and may only release a draft.
func versionChange(kind db.EventKind, cur, next *record.Meta, curData, newData []byte) (uint16, string) {
	if kind == db.Updated {
		if cur.Version == record.Released {
			return wire.CodeReleased, "released"
		}
		if next.Version != cur.Version {
			return wire.CodeBadRecord, fmt.Sprintf("an update cannot make a %s record %s", versionText(cur.Version), versionText(next.Version))
		}
		return wire.CodeOK, ""
	}
	if !bytes.Equal(curData, newData) {
		if cur.Version == record.Released {
			return wire.CodeReleased, "released"
		}
		return wire.CodeBadRecord, "a meta change cannot change the record's data"
	}
	if next.Version != cur.Version && !(cur.Version == record.Draft && next.Version == record.Released) {
		if cur.Version == record.Released {
			return wire.CodeReleased, "released"
		}
		return wire.CodeBadRecord, fmt.Sprintf("a %s record cannot become %s", versionText(cur.Version), versionText(next.Version))
	}
	return wire.CodeOK, ""
}

func versionText(v uint8) string { return db.VersionState(v).String() }

func versionedText(v bool) string {
	if v {
		return "versioned"
	}
	return "non-versioned"
}

// accessFor is the access a change needs: creating a revision is
// revising.
func accessFor(kind db.EventKind, rev uint32) Access {
	switch {
	case kind == db.Created && rev == 0:
		return Create
	case kind == db.Created, kind == db.MetaChanged:
		return Release
	}
	return Edit
}

// validRecord decodes a pushed record and checks its value against the
// tree's schema. Called with a.mu held.
func (a *authority) validRecord(decl *replica.TreeDecl, rec []byte) (record.Meta, []byte, error) {
	if len(rec) > a.lim.MaxRecord {
		return record.Meta{}, nil, fmt.Errorf("record of %d bytes (limit %d)", len(rec), a.lim.MaxRecord)
	}
	m, data, err := record.Decode(rec, nil)
	if err != nil {
		return m, nil, err
	}
	switch {
	case m.Major == 0:
		return m, nil, fmt.Errorf("schema version %d.%d: major versions start at 1", m.Major, m.Minor)
	case m.Major > decl.Major:
		return m, nil, fmt.Errorf("written with schema %d.%d, newer than the tree's %d.%d (declare the tree first)", m.Major, m.Minor, decl.Major, decl.Minor)
	}
	if sc := a.schemas[decl.Name]; sc != nil && m.Major == sc.Major {
		err = validateValue(data, &sc.Type)
	} else {
		err = schema.Check(data)
	}
	if err != nil {
		return m, nil, fmt.Errorf("value does not fit the schema of %s %d.%d: %w", decl.Name, decl.Major, decl.Minor, err)
	}
	return m, data, nil
}

// stamp encodes a record with the server's word on who and when: the
// client's name on the server and the server's clock. An update keeps the
// creation's from the stored record and counts the change.
func stamp(m, cur *record.Meta, data []byte, name, id string, now int64) []byte {
	if cur == nil {
		m.Created, m.CreatedBy, m.CreatedByID, m.Changes = now, name, id, 1
	} else {
		m.Created, m.CreatedBy, m.CreatedByID, m.Changes = cur.Created, cur.CreatedBy, cur.CreatedByID, cur.Changes+1
	}
	m.Modified, m.ModifiedBy, m.ModifiedByID = now, name, id
	return record.Encode(nil, m, data)
}

// endBorrow drops a deleted record's queue; clients waiting learn the
// record is gone from the delete, delivered before. Called with a.mu held.
func (a *authority) endBorrow(b *pebble.Batch, d *delivery, k recKey) error {
	if a.borrows[k] == nil {
		return nil
	}
	return a.setQueueFor(b, d, k, nil, nil, true)
}

// validateValue checks a record's value against its type.
func validateValue(data []byte, t *schema.Type) error {
	return schema.ValidateRecord(data, t, schema.Limits{})
}
