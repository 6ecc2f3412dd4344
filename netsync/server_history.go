package netsync

// The history of every record: each accepted change (who, when, the kind,
// the record before and after) and each check-out event, kept in the
// server's store apart from the log, so log compaction leaves it. Rows are
// written in the batch of the step that makes them, with the stored
// record's bytes; they are rendered as JSON text with the tree's schema
// only when read. Retention (ServerOptions.HistoryKeep, HistoryMaxAge)
// trims them in the background.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/wire"
)

// BorrowEvent says what happened to a record's check-out, in a history
// row of kind db.BorrowChanged.
type BorrowEvent uint8

// Borrow events. New events are added at the end only.
const (
	// CheckedOut: By (also Holder) got the record, at the head of its
	// queue.
	CheckedOut BorrowEvent = iota + 1
	// CheckedIn: By (also Holder) gave the record back.
	CheckedIn
	// ForceReturned: an administrator, By, took the record from Holder,
	// for Reason.
	ForceReturned
)

func (e BorrowEvent) String() string {
	switch e {
	case CheckedOut:
		return "checked out"
	case CheckedIn:
		return "checked in"
	case ForceReturned:
		return "force-returned"
	}
	return "none"
}

// Change is one row of a record's history: an accepted change of the
// record, or an event of its check-out (Kind db.BorrowChanged). Values
// returned are the caller's.
type Change struct {
	// Seq is the change's log sequence; for a borrow event, the last log
	// sequence accepted before it.
	Seq uint64 `json:"seq"`
	// At is the server's clock when it accepted the change.
	At time.Time `json:"at"`
	// By is the authenticated client's name (on an open server the name
	// the replica gave itself); for a force-return, who asked it.
	By   string       `json:"by"`
	Kind db.EventKind `json:"kind"`
	// Old and New are the record's value as JSON text (as OpaqueTree.Text
	// renders it) before and after the change; "" when none: Old of a
	// create, New of a delete, both of a borrow event.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Borrow, Holder and Reason describe a borrow event: what happened,
	// the client that got, gave back or lost the record, and the reason
	// of a force-return.
	Borrow BorrowEvent `json:"borrow,omitempty"`
	Holder string      `json:"holder,omitempty"`
	Reason string      `json:"reason,omitempty"`
}

// History keys, after layout.PrefixServer (see server_store.go):
//
//	'h' tree 0 key pos   one row of the record's history; pos orders rows
//	'H'                  the last history position given
var (
	historyRowsPrefix = []byte{layout.PrefixServer, 'h'}
	historyPosKey     = []byte{layout.PrefixServer, 'H'}
)

func historyPrefix(tree string, key uint64) []byte {
	b := append(append(slices.Clone(historyRowsPrefix), tree...), 0)
	return binary.BigEndian.AppendUint64(b, key)
}

func historyKey(tree string, key, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(tree, key), pos)
}

// parseHistoryKey returns the record prefix of a history key and its
// position.
func parseHistoryKey(k []byte) (prefix []byte, pos uint64, ok bool) {
	if len(k) < len(historyRowsPrefix)+1+16 || !bytes.HasPrefix(k, historyRowsPrefix) || k[len(k)-17] != 0 {
		return nil, 0, false
	}
	return k[:len(k)-8], binary.BigEndian.Uint64(k[len(k)-8:]), true
}

// historyRow is a history row as stored: what happened, and for a change
// of the record, the stored record (meta and value) before it, rendered
// only when read. The record after a change is not stored: it is the
// "before" of the record's next change, or the record as it is now
// (historyPage finds it, checking the record's change counter).
type historyRow struct {
	_msgpack struct{} `msgpack:",as_array"`
	Seq      uint64
	At       int64 // Unix ns
	By       string
	Kind     uint8 // db.EventKind
	Borrow   uint8 // BorrowEvent
	Holder   string
	Reason   string
	Old      []byte // the stored record before; nil when none
}

// addHistory writes a history row of the record tree/key in b, when
// history is kept. Called with a.mu held; the step's commit stores the
// last position given (stepCommit.Prepare).
func (a *authority) addHistory(b *pebble.Batch, tree string, key uint64, row *historyRow) error {
	if !a.history {
		return nil
	}
	a.hpos++
	// The key and the row are made in buffers of the authority's: the
	// batch copies them.
	a.hkey = binary.BigEndian.AppendUint64(append(append(append(a.hkey[:0], historyRowsPrefix...), tree...), 0), key)
	a.hkey = binary.BigEndian.AppendUint64(a.hkey, a.hpos)
	a.hrow = row.appendTo(a.hrow[:0])
	return b.Set(a.hkey, a.hrow, nil)
}

// appendTo appends the row's msgpack encoding (an array, as
// msgpack.Marshal of historyRow makes it) to dst, without reflection:
// rows are written on every change.
func (r *historyRow) appendTo(dst []byte) []byte {
	dst = append(dst, 0x98) // an array of 8
	dst = appendUint(dst, r.Seq)
	dst = append(dst, 0xd3) // int64
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.At))
	dst = appendStr(dst, r.By)
	dst = appendUint(dst, uint64(r.Kind))
	dst = appendUint(dst, uint64(r.Borrow))
	dst = appendStr(dst, r.Holder)
	dst = appendStr(dst, r.Reason)
	if r.Old == nil {
		return append(dst, 0xc0) // nil
	}
	switch n := len(r.Old); {
	case n < 1<<8:
		dst = append(dst, 0xc4, byte(n))
	case n < 1<<16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, r.Old...)
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(dst, byte(v))
	case v < 1<<8:
		return append(dst, 0xcc, byte(v))
	case v < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v < 1<<32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

// appendStr appends s as a msgpack string; names and reasons are far
// below 4 GiB.
func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

// historyChange keeps an accepted change: old is the stored record
// before it (nil for a create). Called with a.mu held.
func (a *authority) historyChange(b *pebble.Batch, e *logEntry, by string, old []byte) error {
	return a.addHistory(b, e.Tree, e.Key, &historyRow{Seq: e.Seq, At: e.At, By: by, Kind: e.Kind, Old: old})
}

// historyBorrow keeps what a new queue does to a record's holder: the
// former holder gave it back (or lost it to f, a force-return) and the
// new one got it. A queue emptied by the record's delete keeps nothing:
// the delete says it. Called with a.mu held.
func (a *authority) historyBorrow(b *pebble.Batch, k recKey, old, q []wire.Holder, f *wire.Forced, deleted bool) error {
	var was, now wire.Holder
	if len(old) > 0 {
		was = old[0]
	}
	if len(q) > 0 {
		now = q[0]
	}
	if !a.history || was.ID == now.ID || deleted {
		return nil
	}
	at := time.Now().UnixNano()
	if was.ID != "" {
		row := historyRow{Seq: a.seq, At: at, By: was.Name, Kind: uint8(db.BorrowChanged), Borrow: uint8(CheckedIn), Holder: was.Name}
		if f != nil {
			row.By, row.Borrow, row.Reason = f.By, uint8(ForceReturned), f.Reason
		}
		if err := a.addHistory(b, k.tree, k.key, &row); err != nil {
			return err
		}
	}
	if now.ID != "" {
		return a.addHistory(b, k.tree, k.key, &historyRow{Seq: a.seq, At: at, By: now.Name,
			Kind: uint8(db.BorrowChanged), Borrow: uint8(CheckedOut), Holder: now.Name})
	}
	return nil
}

// loadHistory reads the last history position given.
func (a *authority) loadHistory() error {
	v, err := a.get(historyPosKey)
	if err != nil {
		return err
	}
	switch len(v) {
	case 0:
	case 8:
		a.hpos = binary.BigEndian.Uint64(v)
	default:
		return fmt.Errorf("netsync: server store: history position of %d bytes", len(v))
	}
	a.hposSaved = a.hpos
	return nil
}

// saveHistoryPos stores the last history position in b when the step
// gave one. Called with a.mu held.
func (a *authority) saveHistoryPos(b *pebble.Batch) {
	if a.hpos != a.hposSaved {
		b.Set(historyPosKey, binary.BigEndian.AppendUint64(nil, a.hpos), nil)
		a.hposSaved = a.hpos
	}
}

// History page bounds: a page holds at most historyPageRows rows and,
// past its first row, about historyPageBytes bytes of rendered text.
const (
	historyPageRows  = 256
	historyPageBytes = 1 << 20
)

// historyPage reads the rows of a record's history after position after,
// oldest first, rendered with the tree's schema: at most a page (see
// historyPageRows), and whether more are left. It reads one snapshot of
// the store, so the record after the last change is the record as it is
// in it.
func (a *authority) historyPage(tree string, key uint64, after uint64) ([]wire.HistoryChange, bool, error) {
	a.mu.Lock()
	sc := a.schemas[tree]
	a.mu.Unlock()
	h := &historyReader{t: &schema.Type{Kind: schema.Struct}, pending: -1}
	if sc != nil {
		h.t = &sc.Type
	}
	snap := a.pdb.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: historyKey(tree, key, after+1), UpperBound: layout.PrefixEnd(historyPrefix(tree, key))})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	more := false
	for ok := it.First(); ok; ok = it.Next() {
		full := len(h.out) >= historyPageRows || h.size > historyPageBytes
		if full && h.pending < 0 {
			more = true
			break
		}
		_, pos, _ := parseHistoryKey(it.Key())
		var row historyRow
		if err := msgpack.Unmarshal(it.Value(), &row); err != nil {
			return nil, false, fmt.Errorf("%w: history of %s/%s at %d: %w", ErrStoreCorrupt, tree, keyText(key), pos, err)
		}
		if full {
			// Past the page: only the record after its last change is
			// wanted, from the next change's record before.
			more = true
			if isRecordChange(row.Kind) {
				if err := h.resolve(row.Old, ""); err != nil {
					return nil, false, fmt.Errorf("%w: history of %s/%s at %d: %w", ErrStoreCorrupt, tree, keyText(key), pos, err)
				}
				break
			}
			continue
		}
		if err := h.add(pos, &row); err != nil {
			return nil, false, fmt.Errorf("%w: history of %s/%s at %d: %w", ErrStoreCorrupt, tree, keyText(key), pos, err)
		}
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	if h.pending >= 0 {
		cur, err := snapValue(snap, layout.RecordKey(tree, key))
		if err == nil {
			err = h.resolve(cur, "")
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: history of %s/%s: the record now: %w", ErrStoreCorrupt, tree, keyText(key), err)
		}
	}
	return h.out, more, nil
}

// historyReader renders a record's history rows as they are read.
type historyReader struct {
	t    *schema.Type
	out  []wire.HistoryChange
	size int
	// pending is the index in out of the last change whose record after
	// is not known yet, -1 when none; want is that record's change
	// counter.
	pending int
	want    uint32
}

// add renders a row; the record before a change is the record after the
// change before it.
func (h *historyReader) add(pos uint64, row *historyRow) error {
	hc := wire.HistoryChange{Pos: pos, Seq: row.Seq, At: row.At, By: row.By, Kind: row.Kind, Borrow: row.Borrow,
		Holder: row.Holder, Reason: row.Reason}
	old, changes, err := recordText(row.Old, h.t)
	if err != nil {
		return err
	}
	hc.Old = old
	if isRecordChange(row.Kind) {
		if err := h.resolve(row.Old, old); err != nil {
			return err
		}
		if db.EventKind(row.Kind) != db.Deleted {
			// A create makes change 1; every later change counts one more.
			h.pending, h.want = len(h.out), changes+1
			if row.Old == nil {
				h.want = 1
			}
		}
	}
	h.size += len(hc.Old) + len(hc.By) + len(hc.Reason) + 64
	h.out = append(h.out, hc)
	return nil
}

// resolve gives the pending change its record after: rec (text, when
// already rendered), when rec is that change's result. A record whose
// counter says otherwise (changes made while history was off) leaves it
// unknown: "".
func (h *historyReader) resolve(rec []byte, text string) error {
	if h.pending < 0 {
		return nil
	}
	i := h.pending
	h.pending = -1
	if rec == nil {
		return nil
	}
	m, _, err := record.Decode(rec, nil)
	if err != nil {
		return err
	}
	if m.Changes != h.want {
		return nil
	}
	if text == "" {
		if text, _, err = recordText(rec, h.t); err != nil {
			return err
		}
	}
	h.out[i].New = text
	h.size += len(text)
	return nil
}

// isRecordChange reports whether a row's kind is a change of the record,
// not a borrow event.
func isRecordChange(kind uint8) bool {
	return kind >= uint8(db.Created) && kind <= uint8(db.MetaChanged)
}

// snapValue reads key in snap, nil when absent.
func snapValue(snap *pebble.Snapshot, key []byte) ([]byte, error) {
	v, closer, err := snap.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return slices.Clone(v), nil
}

// recordText renders a stored record's value as JSON text, and returns
// its change counter; "" for none.
func recordText(rec []byte, t *schema.Type) (string, uint32, error) {
	if rec == nil {
		return "", 0, nil
	}
	m, data, err := record.Decode(rec, nil)
	if err != nil {
		return "", 0, err
	}
	text, err := schema.Text(data, t)
	if err != nil && t.Kind == schema.Struct && len(t.Fields) > 0 {
		// Written under a schema the tree's no longer fits (a major
		// version since): shown as stored, without the schema.
		text, err = schema.Text(data, &schema.Type{Kind: schema.Struct})
	}
	return text, m.Changes, err
}

// historyChanges turns wire rows into Changes.
func historyChanges(rows []wire.HistoryChange) []Change {
	out := make([]Change, len(rows))
	for i, r := range rows {
		out[i] = Change{Seq: r.Seq, At: time.Unix(0, r.At).UTC(), By: r.By, Kind: db.EventKind(r.Kind),
			Old: r.Old, New: r.New, Borrow: BorrowEvent(r.Borrow), Holder: r.Holder, Reason: r.Reason}
	}
	return out
}

// onHistoryRequest answers a client allowed to read the tree with a page
// of the record's history; any other gets a refusal that says nothing of
// the tree. The store is read on this connection's goroutine, outside the
// commit pipeline: the rows of every change the client was acknowledged
// are in it.
func (c *sconn) onHistoryRequest(m *wire.HistoryRequest) error {
	reply := &wire.History{Req: m.Req}
	a := c.s.a
	a.mu.Lock()
	known := a.trees[m.Tree] != nil
	a.mu.Unlock()
	switch {
	case !c.may(m.Tree, Read):
		reply.Code, reply.Msg = wire.CodePermission, fmt.Sprintf("tree %s: %s may not read it (grants: %s)", m.Tree, c.name, c.accessText(m.Tree))
	case !known:
		reply.Code, reply.Msg = wire.CodeNotFound, fmt.Sprintf("no tree %q", m.Tree)
	default:
		rows, more, err := c.s.historyPage(m.Tree, m.Key, m.After)
		if err != nil {
			c.s.log.Error("reading a record's history", "client", c.name, "tree", m.Tree, "key", keyText(m.Key), "err", err)
			reply.Code, reply.Msg = wire.CodeInternal, "the server could not read the history: "+err.Error()
		} else {
			reply.Changes, reply.More = rows, more
		}
	}
	c.out.put([]frame{{t: wire.THistory, v: reply}})
	return nil
}

// historyPage is authority.historyPage while the store is open.
func (s *Server) historyPage(tree string, key, after uint64) ([]wire.HistoryChange, bool, error) {
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return nil, false, ErrStoreClosed
	}
	return s.a.historyPage(tree, key, after)
}

// History returns the history of the record tree/key (key as ID.Rev, such
// as "12.0"), oldest first: every change and check-out event kept. The
// record need not exist any more. An unknown tree is db.ErrNoTree, a bad
// key db.ErrInvalidKey. Safe for concurrent use.
func (s *Server) History(tree, key string) ([]Change, error) {
	var out []Change
	after := uint64(0)
	for {
		rows, more, err := s.historyPageOf(tree, key, after)
		if err != nil {
			return nil, err
		}
		out = append(out, historyChanges(rows)...)
		if !more || len(rows) == 0 {
			return out, nil
		}
		after = rows[len(rows)-1].Pos
	}
}

// historyPageOf is historyPage for the record tree/key named by an
// administrator: a bad key or an unknown tree is an error.
func (s *Server) historyPageOf(tree, key string, after uint64) ([]wire.HistoryChange, bool, error) {
	id, rev, err := parseKeyText(key)
	if err != nil {
		return nil, false, err
	}
	s.a.mu.Lock()
	known := s.a.trees[tree] != nil
	s.a.mu.Unlock()
	if !known {
		return nil, false, fmt.Errorf("%w: %q", db.ErrNoTree, tree)
	}
	return s.historyPage(tree, layout.Pack(id, rev), after)
}

// History returns the history of the record k as the server keeps it,
// oldest first (see Change): every accepted change, who made it and when,
// the record before and after, and every check-out event. The client
// needs Read on the tree (db.ErrPermission otherwise) and the connection
// (db.ErrOffline otherwise). A long history comes in pages of at most 256
// rows (about 1 MiB); all of them are returned.
func (c *Client) History(ctx context.Context, k db.OpaqueKey) ([]Change, error) {
	var out []Change
	after := uint64(0)
	for {
		page, err := c.historyPage(ctx, k, after)
		if err != nil {
			return nil, err
		}
		out = append(out, historyChanges(page.Changes)...)
		if !page.More || len(page.Changes) == 0 {
			return out, nil
		}
		after = page.Changes[len(page.Changes)-1].Pos
	}
}

// historyPage asks the server one page of k's history.
func (c *Client) historyPage(ctx context.Context, k db.OpaqueKey, after uint64) (*wire.History, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w: history of %s/%s", db.ErrOffline, k.Tree, k)
	}
	req, ch, done := newRequest(c, c.histories)
	defer done()
	if err := s.send(wire.THistoryRequest, &wire.HistoryRequest{Req: req, Tree: k.Tree, Key: layout.Pack(k.ID, k.Rev), After: after}); err != nil {
		return nil, fmt.Errorf("%w: history of %s/%s: %w", db.ErrOffline, k.Tree, k, err)
	}
	h, err := await(c, ctx, s, ch)
	if errors.Is(err, errSessionEnded) {
		return nil, fmt.Errorf("%w: history of %s/%s: the connection ended", db.ErrOffline, k.Tree, k)
	}
	if err != nil {
		return nil, err
	}
	if h.Code != wire.CodeOK {
		return nil, fmt.Errorf("%w: history of %s/%s: %s", codeError(h.Code), k.Tree, k, h.Msg)
	}
	return h, nil
}

// onHistory hands a History reply to the call waiting for it.
func (c *Client) onHistory(_ *session, h *wire.History) error {
	c.mu.Lock()
	ch := c.histories[h.Req]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- h:
		default:
		}
	}
	return nil
}

// Retention: a row is deleted when it is not one of the last HistoryKeep
// rows of its record (HistoryKeep > 0), or when it is older than
// HistoryMaxAge (HistoryMaxAge > 0); either limit alone trims. It runs in
// the background while the server listens, at start and then every
// defaultHistoryEvery.

// defaultHistoryEvery is how often the history's retention runs.
const defaultHistoryEvery = 10 * time.Minute

// historyEvery, in nanoseconds, overrides defaultHistoryEvery when
// positive; tests shorten it. It is read when a server starts listening.
var historyEvery atomic.Int64

// RetainResult says what a run of the history's retention did: how many
// rows it kept and deleted, over how many records.
type RetainResult struct {
	Records  int           `json:"records"`
	Kept     int           `json:"kept"`
	ByCount  int           `json:"by_count"` // deleted: past the last HistoryKeep of their record
	ByAge    int           `json:"by_age"`   // deleted: older than HistoryMaxAge
	Removed  int           `json:"removed"`
	Duration time.Duration `json:"-"` // how long the run took
}

// RetainHistory applies the history's retention (HistoryKeep,
// HistoryMaxAge) once, at now, and logs what it deleted. Safe for
// concurrent use.
func (s *Server) RetainHistory(now time.Time) (RetainResult, error) {
	start := time.Now()
	res, err := s.retainHistory(now)
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	s.log.Info("history retention", "records", res.Records, "kept", res.Kept, "removed", res.Removed,
		"by_count", res.ByCount, "by_age", res.ByAge, "keep", s.opts.HistoryKeep, "max_age", s.opts.HistoryMaxAge,
		"took", res.Duration.Round(time.Millisecond))
	return res, nil
}

func (s *Server) retainHistory(now time.Time) (RetainResult, error) {
	var res RetainResult
	keep, age := s.opts.HistoryKeep, s.opts.HistoryMaxAge
	if keep <= 0 && age <= 0 {
		return res, nil
	}
	cutoff := int64(0)
	if age > 0 {
		cutoff = now.Add(-age).UnixNano()
	}
	var doomed [][]byte
	flush := func() error {
		if len(doomed) == 0 {
			return nil
		}
		err := s.a.commit(func(b *pebble.Batch, _ *delivery) error {
			for _, k := range doomed {
				b.Delete(k, nil)
			}
			return nil
		})
		doomed = doomed[:0]
		return err
	}
	// One record's rows at a time: the newest keep stay, older go; of
	// those left, the ones before cutoff go too.
	var rec []byte
	var rows [][]byte
	var ats []int64
	judge := func() {
		res.Records++
		for i, k := range rows {
			switch {
			case keep > 0 && len(rows)-i > keep:
				res.ByCount++
				doomed = append(doomed, k)
			case ats[i] < cutoff:
				res.ByAge++
				doomed = append(doomed, k)
			default:
				res.Kept++
			}
		}
		rows, ats = rows[:0], ats[:0]
	}
	err := s.scanHistory(func(k, v []byte) error {
		p, _, ok := parseHistoryKey(k)
		if !ok {
			return fmt.Errorf("%w: history key %x", ErrStoreCorrupt, k)
		}
		if rec != nil && !bytes.Equal(p, rec) {
			judge()
			if len(doomed) >= 4096 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		rec = append(rec[:0], p...)
		at, err := rowTime(v)
		if err != nil {
			return fmt.Errorf("%w: history row %x: %w", ErrStoreCorrupt, k, err)
		}
		rows, ats = append(rows, slices.Clone(k)), append(ats, at)
		return nil
	})
	if err != nil {
		return res, err
	}
	if rec != nil {
		judge()
	}
	res.Removed = res.ByCount + res.ByAge
	return res, flush()
}

// rowTime decodes only a stored row's time, not its record.
func rowTime(v []byte) (int64, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(v))
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if n < 2 {
		return 0, fmt.Errorf("a row of %d fields", n)
	}
	if err := dec.Skip(); err != nil {
		return 0, err
	}
	return dec.DecodeInt64()
}

// scanHistory calls fn with every history row, in key order, while the
// store is open.
func (s *Server) scanHistory(fn func(k, v []byte) error) error {
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return ErrStoreClosed
	}
	it, err := s.a.pdb.NewIter(&pebble.IterOptions{LowerBound: historyRowsPrefix, UpperBound: layout.PrefixEnd(historyRowsPrefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// startRetainer runs the history's retention in the background, when it
// has limits: at once, then every defaultHistoryEvery (historyEvery in
// tests).
func (s *Server) startRetainer() {
	if s.opts.HistoryKeep <= 0 && s.opts.HistoryMaxAge <= 0 {
		return
	}
	every := defaultHistoryEvery
	if d := time.Duration(historyEvery.Load()); d > 0 {
		every = d
	}
	s.startPeriodic(&s.retainer, every, func() {
		if _, err := s.RetainHistory(time.Now()); err != nil && !errors.Is(err, ErrStoreClosed) {
			s.log.Warn("history retention failed; trying again later", "err", err)
		}
	})
}

// stopRetainer stops the retention and waits for a run in progress.
func (s *Server) stopRetainer() { s.stopPeriodic(&s.retainer) }

// historyRequest is the body of POST /v1/history.
type historyRequest struct {
	Tree  string `json:"tree"`
	Key   string `json:"key"` // ID.Rev
	After uint64 `json:"after,omitempty"`
}

// historyReply answers POST /v1/history with a page of rows; Next is the
// After of the next page, 0 when none is left.
type historyReply struct {
	Changes []Change `json:"changes"`
	Next    uint64   `json:"next,omitempty"`
}

// historyHandlers serves POST /v1/history: the call of
// AdminClient.History.
func (s *Server) historyHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/history", func(w http.ResponseWriter, r *http.Request) {
		var req historyRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		if req.After == 0 { // its first page
			s.log.Info("admin history read", "tree", req.Tree, "key", req.Key, "peer_uid", peerOf(r))
		}
		rows, more, err := s.historyPageOf(req.Tree, req.Key, req.After)
		if err != nil {
			adminError(w, err)
			return
		}
		out := historyReply{Changes: historyChanges(rows)}
		if more && len(rows) > 0 {
			out.Next = rows[len(rows)-1].Pos
		}
		adminJSON(w, http.StatusOK, out)
	})
}

// History asks the server the history of the record tree/key (see
// Server.History), every page of it.
func (c *AdminClient) History(ctx context.Context, tree, key string) ([]Change, error) {
	var out []Change
	req := historyRequest{Tree: tree, Key: key}
	for {
		var page historyReply
		if err := c.do(ctx, http.MethodPost, "/v1/history", &req, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Changes...)
		if page.Next == 0 {
			return out, nil
		}
		req.After = page.Next
	}
}
