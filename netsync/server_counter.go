package netsync

// Counter deltas on the server. A delta (layout.KindDelta) needs the
// Adjust grant and no check-out; the server applies it to its own current
// value, in log order, and logs the record it makes as an update, which
// every replica applies as the server's word. A delta below the counter's
// floor is refused (wire.CodeBelowFloor). Every other writer of a record
// keeps the server's counters: a holder's pushed update or meta change
// has its counter fields replaced with the stored ones.

import (
	"errors"
	"fmt"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/wire"
)

// maxDelta bounds the bytes of a pushed delta: a field name and an int64.
const maxDelta = 64 + schema.MaxName

// checkDelta validates a counter delta and returns the record it makes,
// stamped by the server, and the record it changes; on success ch becomes
// that update. Called with a.mu held.
func (p *pushed) checkDelta(now int64) (rec, cur []byte, code uint16, msg string) {
	ch := p.ch
	if !p.origin.may(ch.Tree, Adjust) {
		return nil, nil, wire.CodePermission, fmt.Sprintf("%s: a counter delta needs %s (grants: %s)", p.where, Adjust, p.origin.accessText(ch.Tree))
	}
	if p.decl = p.a.trees[ch.Tree]; p.decl == nil {
		return nil, nil, wire.CodeBadTree, "undeclared tree " + ch.Tree
	}
	if len(ch.Record) > maxDelta {
		return nil, nil, wire.CodeBadRecord, fmt.Sprintf("%s: delta of %d bytes", p.where, len(ch.Record))
	}
	field, delta, err := schema.ParseDelta(ch.Record)
	if err != nil {
		return nil, nil, wire.CodeBadRecord, fmt.Sprintf("%s: malformed delta: %v", p.where, err)
	}
	sc := p.a.schemas[ch.Tree]
	if sc == nil {
		return nil, nil, wire.CodeBadRecord, fmt.Sprintf("%s: tree %s has no schema, so no counters", p.where, ch.Tree)
	}
	f, err := sc.Type.Counter(field)
	if err != nil {
		return nil, nil, wire.CodeBadRecord, fmt.Sprintf("%s: %v", p.where, err)
	}
	if p.cur = p.a.current(p.b, ch.Tree, ch.Key); p.cur == nil {
		return nil, nil, wire.CodeNotFound, p.where
	}
	m, data, err := record.Decode(p.cur, nil)
	if err != nil {
		return nil, nil, wire.CodeInternal, p.where + ": stored record: " + err.Error()
	}
	if m.Major != sc.Major {
		return nil, nil, wire.CodeBadRecord, fmt.Sprintf("%s: the record is of schema %d.%d, the counters of %d.%d", p.where, m.Major, m.Minor, sc.Major, sc.Minor)
	}
	v, err := schema.ReadInt(data, field)
	if err != nil {
		return nil, nil, wire.CodeInternal, p.where + ": stored record: " + err.Error()
	}
	next, err := f.AddDelta(v, delta)
	switch {
	case errors.Is(err, schema.ErrFloor):
		return nil, nil, wire.CodeBelowFloor, fmt.Sprintf("%s: %v", p.where, err)
	case err != nil:
		return nil, nil, wire.CodeBadRecord, fmt.Sprintf("%s: %v", p.where, err)
	}
	newData, err := schema.SetInts(data, map[string]int64{field: next})
	if err != nil {
		return nil, nil, wire.CodeInternal, p.where + ": stored record: " + err.Error()
	}
	newMeta := m
	ch.Kind = uint8(db.Updated)
	return stamp(&newMeta, &m, newData, p.origin.name, p.cl.ID, now), p.cur, wire.CodeOK, ""
}

// keepCounters gives a pushed update or meta change the stored record's
// counter values: only deltas change them. Called with a.mu held, after
// load.
func (p *pushed) keepCounters() (uint16, string) {
	sc := p.a.schemas[p.ch.Tree]
	if p.cur == nil || sc == nil || p.newMeta.Major != sc.Major || p.curMeta.Major != sc.Major {
		return wire.CodeOK, ""
	}
	data, err := schema.CopyCounters(p.newData, p.curData, &sc.Type)
	if err != nil {
		return wire.CodeBadRecord, p.where + ": " + err.Error()
	}
	p.newData = data
	return wire.CodeOK, ""
}

// checkFloors refuses a new record whose counters start below their
// floors. Called with a.mu held, after load.
func (p *pushed) checkFloors() (uint16, string) {
	sc := p.a.schemas[p.ch.Tree]
	if sc == nil || p.newMeta.Major != sc.Major {
		return wire.CodeOK, ""
	}
	for _, f := range sc.Type.Counters() {
		v, err := schema.ReadInt(p.newData, f.Name)
		if err != nil {
			return wire.CodeBadRecord, p.where + ": " + err.Error()
		}
		if lo, _ := f.Bounds(); v < lo {
			return wire.CodeBelowFloor, fmt.Sprintf("%s: %s starts at %d, below %d", p.where, f.Name, v, lo)
		}
	}
	return wire.CodeOK, ""
}

// isDelta reports whether a pushed change is a counter delta.
func isDelta(ch *layout.Change) bool { return ch.Kind == layout.KindDelta }
