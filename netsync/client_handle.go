package netsync

// What a client does with each message of the server: one method per
// message type, one generic decode.

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
)

// chandler handles one message body from the server.
type chandler func(c *Client, s *session, body []byte) error

// onServer makes a chandler of a method taking the decoded message.
func onServer[M any](fn func(c *Client, s *session, m *M) error) chandler {
	return func(c *Client, s *session, body []byte) error {
		var m M
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return fn(c, s, &m)
	}
}

// clientHandlers handle each message type but Entries, which readAhead
// decodes and receive applies.
var clientHandlers = map[uint8]chandler{
	wire.TAck:      onServer((*Client).onAck),
	wire.TSnapshot: onServer((*Client).onSnapshot),
	wire.TCaughtUp: onServer((*Client).onCaughtUp),
	wire.TBorrows:  onServer((*Client).onBorrows),
	wire.TBorrow:   onServer((*Client).onBorrow),
	wire.TReply:    onServer((*Client).onReply),
	wire.TIDGrant:  onServer((*Client).onIDGrant),
	wire.TPong:     onServer((*Client).onPong),
	wire.TForced:   onServer((*Client).forced),
	wire.TRefuse:   onServer((*Client).onRefuse),
	wire.TNotice:   onServer((*Client).onNotice),
	wire.THistory:  onServer((*Client).onHistory), // server_history.go
}

// receive applies what the server sends until the connection ends. Until
// the catch-up is done, a goroutine reads ahead: it decodes the next
// messages, the records of Entries included, while the last ones are
// applied. Live changes are then applied as they arrive, without a hand-off.
func (c *Client) receive(s *session, r *bufio.Reader) error {
	// One message waits while the next is read: enough to overlap
	// decoding with applying, and a server's large frames cost at most
	// three in memory at once.
	in := make(chan inbound, 1)
	stop := make(chan struct{})
	defer close(stop)
	go c.readAhead(r, in, stop)
	for m := range in {
		if err := m.handle(c, s); err != nil {
			return err
		}
	}
	// readAhead stopped after CaughtUp: r is this goroutine's now.
	var buf []byte
	for {
		t, body, err := wire.Read(r, c.opts.MaxFrame, buf)
		if err != nil {
			return err
		}
		buf = body[:0] // a message is handled before the next is read
		m := c.decode(t, body, false)
		if err := m.handle(c, s); err != nil {
			return err
		}
	}
}

// inbound is a message read: the runs of an Entries (h nil), or another
// message's handler and body, or the error that ends the session.
type inbound struct {
	runs []entriesRun
	h    chandler
	body []byte
	err  error
}

// entriesRun is a part of an Entries applied at once: one tree
// declaration, or the record changes between two. pre, when not nil, is
// the records prepared by the replica.
type entriesRun struct {
	chs []layout.Change
	pre replica.Prepared
}

// decode makes an inbound of a message of type t. With ahead set, the
// runs of logged records are prepared too (decoded by the replica); a run
// that does not decode is left to applyRecords, which sets aside what
// fails.
func (c *Client) decode(t uint8, body []byte, ahead bool) inbound {
	if t != wire.TEntries {
		if h := clientHandlers[t]; h != nil {
			return inbound{h: h, body: body}
		}
		return inbound{err: fmt.Errorf("%w: unknown message type %d", ErrProtocol, t)}
	}
	var m wire.Entries
	if err := wire.Decode(body, &m); err != nil {
		return inbound{err: err}
	}
	runs := splitRuns(m.Changes)
	for i, r := range runs {
		if ahead && r.chs[0].Kind != wire.KindTree && r.chs[len(r.chs)-1].Seq != 0 {
			runs[i].pre, _ = c.link.Prepare(r.chs)
		}
	}
	return inbound{runs: runs}
}

// handle applies m.
func (m *inbound) handle(c *Client, s *session) error {
	switch {
	case m.err != nil:
		return m.err
	case m.h != nil:
		return m.h(c, s, m.body)
	}
	return c.applyEntries(m.runs)
}

// readAhead reads and decodes messages for receive until CaughtUp (which
// it passes on), the connection ends or stop is closed.
func (c *Client) readAhead(r *bufio.Reader, in chan<- inbound, stop <-chan struct{}) {
	defer close(in)
	var buf []byte // the last Entries' body: decoding copied what it holds
	for {
		t, body, err := wire.Read(r, c.opts.MaxFrame, buf)
		buf = nil
		m := inbound{err: err}
		if err == nil {
			m = c.decode(t, body, true)
			if t == wire.TEntries {
				buf = body[:0]
			}
		}
		select {
		case in <- m:
		case <-stop:
			return
		}
		if m.err != nil || t == wire.TCaughtUp {
			return
		}
	}
}

// splitRuns splits an Entries' changes into what is applied at once:
// each tree declaration alone, the record changes between them together.
func splitRuns(chs []layout.Change) []entriesRun {
	var runs []entriesRun
	for i := 0; i < len(chs); {
		n := 1
		for chs[i].Kind != wire.KindTree && i+n < len(chs) && chs[i+n].Kind != wire.KindTree {
			n++
		}
		runs = append(runs, entriesRun{chs: chs[i : i+n]})
		i += n
	}
	return runs
}

func (c *Client) onAck(_ *session, m *wire.Ack) error { return c.ack(m) }

func (c *Client) onSnapshot(_ *session, m *wire.Snapshot) error {
	c.mu.Lock()
	if !m.Done {
		c.snapshot = map[string]map[uint64]bool{}
		c.mu.Unlock()
		return nil
	}
	keep := c.snapshot
	c.snapshot = nil
	r := c.restoring
	c.mu.Unlock()
	if keep == nil {
		return fmt.Errorf("%w: snapshot end without a start", ErrProtocol)
	}
	at := replica.Pos{Seq: m.Seq, Sum: m.Sum}
	if r != nil {
		if err := c.restored(r, keep, at); err != nil {
			return err
		}
	} else {
		if _, err := c.link.Prune(keep, at, nil); err != nil {
			return err
		}
		c.setPos(at)
	}
	c.applied(nil, at, true)
	return nil
}

func (c *Client) onCaughtUp(_ *session, m *wire.CaughtUp) error {
	c.update(func(st *Status) {
		st.CaughtUp = true
		st.ServerSeq = max(st.ServerSeq, m.Seq)
	})
	return nil
}

func (c *Client) onBorrows(s *session, m *wire.Borrows) error {
	list := map[string]map[uint64]replica.Borrow{}
	for _, b := range m.List {
		if list[b.Tree] == nil {
			list[b.Tree] = map[uint64]replica.Borrow{}
		}
		list[b.Tree][b.Key] = c.borrowOf(b.Tree, b.Key, b.Queue)
	}
	if err := c.link.ResetBorrows(list); err != nil {
		return err
	}
	s.borrowVer = m.Ver
	c.update(func(*Status) {})
	return nil
}

func (c *Client) onBorrow(s *session, m *wire.Borrow) error {
	if m.Ver != 0 && m.Ver <= s.borrowVer {
		return nil // the list sent on connecting had it already, or newer
	}
	if err := c.link.SetBorrow(m.Tree, m.Key, c.borrowOf(m.Tree, m.Key, m.Queue)); err != nil {
		return err
	}
	c.update(func(*Status) {})
	return nil
}

func (c *Client) onReply(_ *session, m *wire.Reply) error {
	c.mu.Lock()
	ch := c.replies[m.Req]
	c.mu.Unlock()
	if ch != nil {
		ch <- *m
	}
	return nil
}

func (c *Client) onIDGrant(_ *session, m *wire.IDGrant) error {
	if m.Hi <= m.Lo {
		return fmt.Errorf("%w: empty id grant", ErrProtocol)
	}
	if err := c.link.AddRange(m.Tree, layout.Range{Lo: m.Lo, Hi: m.Hi}); err != nil {
		return err
	}
	c.mu.Lock()
	c.rangeReq[m.Tree] = false
	c.changedLocked()
	c.mu.Unlock()
	return nil
}

func (c *Client) onPong(_ *session, m *wire.Pong) error {
	c.mu.Lock()
	ch := c.pongs[m.Nonce]
	c.mu.Unlock()
	if ch != nil {
		ch <- m.Seq
	}
	return nil
}

func (c *Client) onRefuse(_ *session, m *wire.Refuse) error {
	return fmt.Errorf("%w: %s", codeError(m.Code), m.Msg)
}

// onNotice reports a refusal of something this client sent; the session
// goes on. A refused id request is not waited for any longer.
func (c *Client) onNotice(_ *session, m *wire.Notice) error {
	err := &NoticeError{Tree: m.Tree, Code: m.Code, Msg: m.Msg, reason: codeError(m.Code)}
	c.log.Warn("the server refused a request", "tree", m.Tree, "err", err)
	c.mu.Lock()
	if m.Of == wire.TIDRequest {
		delete(c.rangeReq, m.Tree)
	}
	c.setErrLocked(err)
	c.mu.Unlock()
	return nil
}

// NoticeError is Status().Err after the server refused something other
// than a change: a tree declaration (ErrSchema, db.ErrPermission), an id
// request (db.ErrPermission, ErrLimit), or messages over the rate limit
// (ErrLimit). It matches its reason with errors.Is.
type NoticeError struct {
	Tree string // the tree it concerns; "" when none
	Code uint16
	Msg  string

	reason error
}

func (e *NoticeError) Error() string { return fmt.Sprintf("%v: %s", e.reason, e.Msg) }

// Unwrap returns the reason.
func (e *NoticeError) Unwrap() error { return e.reason }

// setErrLocked reports err in Status().Err and wakes WaitSynced. Called
// with c.mu held.
func (c *Client) setErrLocked(err error) {
	c.status.Err = err
	c.errGen++
	c.changedLocked()
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.setErrLocked(err)
	c.mu.Unlock()
}

func (c *Client) borrowOf(tree string, key uint64, q []wire.Holder) replica.Borrow {
	if len(q) == 0 {
		return replica.Borrow{}
	}
	c.mu.Lock()
	me := c.me
	giving := c.givingBackLocked(tree, key)
	c.mu.Unlock()
	b := replica.Borrow{Holder: q[0].Name, HolderID: q[0].ID, Mine: q[0].ID == me && !giving, Queued: len(q) - 1}
	for i, h := range q[1:] {
		if h.ID == me {
			b.Waiting = i + 1
		}
		b.Waiters = append(b.Waiters, h.Name)
	}
	return b
}

// ApplyError is Status().Err after this replica received a change it
// could not apply: the change is kept aside (db.DB.Unapplied, with an
// Unapplied event) and the replica goes on with the next one.
type ApplyError struct {
	Tree, Key string // Key is "" for a tree declaration
	Seq       uint64
	Err       error
}

func (e *ApplyError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("netsync: tree %s from the server (log %d) set aside: %v", e.Tree, e.Seq, e.Err)
	}
	return fmt.Sprintf("netsync: change of %s/%s from the server (log %d) set aside: %v", e.Tree, e.Key, e.Seq, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// setAside keeps a change the replica cannot apply and reports it; the
// replica's sequence moves past it.
func (c *Client) setAside(ch layout.Change, seq uint64, cause error) error {
	if err := c.link.SetAside(ch, seq, cause.Error()); err != nil {
		return err
	}
	ae := &ApplyError{Tree: ch.Tree, Seq: seq, Err: cause}
	if ch.Kind != wire.KindTree {
		ae.Key = keyText(ch.Key)
	}
	c.log.Error("a change from the server could not be applied; kept aside", "err", ae)
	c.setErr(ae)
	return nil
}

// applyEntries applies log entries in order: tree declarations one by
// one, record changes in batches. A change the replica cannot apply is
// set aside, not retried forever.
func (c *Client) applyEntries(runs []entriesRun) error {
	for _, r := range runs {
		var err error
		if r.chs[0].Kind == wire.KindTree {
			err = c.applyTree(r.chs[0])
		} else {
			err = c.applyRecords(r.chs, r.pre)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) applyTree(ch layout.Change) error {
	var decl replica.TreeDecl
	err := wire.Decode(ch.Record, &decl)
	if err == nil {
		err = c.link.ApplyTree(decl)
	}
	if err := c.keepOrFail(ch, ch.Seq, err); err != nil {
		return err
	}
	if ch.Seq != 0 {
		at := replica.Pos{Seq: ch.Seq, Sum: ch.Sum}
		if err := c.link.Apply(nil, at); err != nil {
			return err
		}
		c.setPos(at)
		c.applied([]layout.Change{ch}, at, false)
	}
	return nil
}

// applyRecords applies a run of record changes as one batch; when the
// batch fails, one by one, setting aside those that fail. pre, when not
// nil, is chs prepared by the replica (logged records only).
func (c *Client) applyRecords(chs []layout.Change, pre replica.Prepared) error {
	at := replica.Pos{Seq: chs[len(chs)-1].Seq, Sum: chs[len(chs)-1].Sum}
	batch := chs
	logged := at.Seq != 0
	if !logged {
		// A snapshot's records: the sequence moves at its end, and
		// records with changes still in the outbox keep them.
		pending, err := c.pendingKeys()
		if err != nil {
			return err
		}
		batch = make([]layout.Change, 0, len(chs))
		c.mu.Lock()
		at = c.posLocked()
		r := c.restoring
		for _, ch := range chs {
			if c.snapshot != nil {
				if c.snapshot[ch.Tree] == nil {
					c.snapshot[ch.Tree] = map[uint64]bool{}
				}
				c.snapshot[ch.Tree][ch.Key] = true
			}
			if !pending[recordRef{ch.Tree, ch.Key}] {
				batch = append(batch, ch)
			}
		}
		c.mu.Unlock()
		if err := c.preserve(r, batch); err != nil {
			return err
		}
	}
	var err error
	if logged && pre != nil {
		err = c.link.ApplyPrepared(pre, at)
	} else {
		err = c.link.Apply(batch, at)
	}
	if err != nil && !localFailure(err) {
		err = c.applyEach(batch, at)
	}
	if err != nil {
		return err
	}
	c.setPos(at)
	if logged {
		c.applied(chs, at, false)
	}
	return nil
}

// applyEach applies changes one at a time, setting aside those that
// cannot be applied.
func (c *Client) applyEach(chs []layout.Change, last replica.Pos) error {
	for _, ch := range chs {
		at := replica.Pos{Seq: ch.Seq, Sum: ch.Sum}
		if at.Seq == 0 {
			at = last
		}
		if err := c.applyOrSetAside(ch, at, ch.Seq); err != nil {
			return err
		}
	}
	return c.link.Apply(nil, last)
}

// setPos records that the replica applied the log up to at.
func (c *Client) setPos(at replica.Pos) {
	c.update(func(st *Status) {
		if at.Seq > st.LastSeq {
			st.LastSeq, c.sum = at.Seq, at.Sum
		}
		st.ServerSeq = max(st.ServerSeq, st.LastSeq)
	})
}

// posLocked returns the replica's position. Called with c.mu held.
func (c *Client) posLocked() replica.Pos { return replica.Pos{Seq: c.status.LastSeq, Sum: c.sum} }

// forced handles an administrator's force-return of a record this client
// held: the record's changes not yet accepted are set aside in the
// replica (the server refuses them when they arrive, which puts the local
// copy back to the server's version), then the server is told it may
// forget the notice.
func (c *Client) forced(s *session, m *wire.Forced) error {
	at := m.At
	if at == 0 {
		at = time.Now().UnixNano()
	}
	kept, err := c.link.Recover(m.Tree, m.Key, math.MaxUint64, replica.Note{Reason: m.Reason, By: m.By, At: at, Forced: true})
	if err != nil {
		return err
	}
	c.log.Warn("check-out returned by an administrator", "tree", m.Tree, "key", keyText(m.Key), "by", m.By,
		"reason", m.Reason, "edits_kept", kept)
	c.setErr(&ForcedError{Tree: m.Tree, Key: keyText(m.Key), By: m.By, Reason: m.Reason, At: time.Unix(0, at), Kept: kept})
	return s.send(wire.TForcedSeen, m)
}

// ack handles the outcome of one pushed change: the record as the server
// now has it (unless a later change of it is pending here), the outbox
// entry acknowledged, a rejection reported.
func (c *Client) ack(m *wire.Ack) error {
	later := c.link.PendingAfter(m.Tree, m.Key, m.Outbox)
	if err := c.takeAccepted(m, later); err != nil {
		return err
	}
	if err := c.keepRefused(m); err != nil {
		return err
	}
	if err := c.takeServers(m, later); err != nil {
		return err
	}
	if m.Code != wire.CodeOK {
		// Before the outbox entry goes: a WaitSynced that sees the
		// outbox acknowledged sees the rejection in Status().Err too.
		c.reportRejected(m)
	}
	if err := c.link.Ack(m.Outbox, replica.Pos{Seq: m.Seq, Sum: m.Sum}); err != nil {
		return err
	}
	if m.Code != wire.CodeOK {
		return nil
	}
	if m.Seq != 0 {
		at := replica.Pos{Seq: m.Seq, Sum: m.Sum}
		c.setPos(at)
		var chs []layout.Change
		if m.Tree != "" && m.Kind != 0 {
			chs = []layout.Change{{Seq: m.Seq, Sum: m.Sum, Tree: m.Tree, Key: m.Key, Kind: m.Kind}}
		}
		c.applied(chs, at, false)
	} else {
		c.update(func(*Status) {})
	}
	return nil
}

// takeAccepted applies an accepted change as the server stamped it (who
// and when are the server's word). This also brings back a change this
// replica made and then lost in a crash before it was durable here.
func (c *Client) takeAccepted(m *wire.Ack, later bool) error {
	if m.Seq == 0 || m.Code != wire.CodeOK || m.Kind == 0 {
		return nil
	}
	ch := layout.Change{Tree: m.Tree, Key: m.Key, Kind: m.Kind, Record: m.Record}
	at := replica.Pos{Seq: m.Seq, Sum: m.Sum}
	if later {
		return c.rebaseAnswer(ch, at, m.Outbox)
	}
	return c.applyOrSetAside(ch, at, m.Seq)
}

// keepRefused sets aside the edits of a change the server refused for
// what it knows of the record — made under a check-out it does not know,
// of a record it lacks, a create in ids it did not grant or of a key it
// has, a change of a released record (all of which a server restored from
// a backup refuses of work done since): the record as this replica's
// edits left it (the later ones are refused as well) is kept before the
// server's version replaces it.
func (c *Client) keepRefused(m *wire.Ack) error {
	if m.Tree == "" {
		return nil
	}
	switch m.Code {
	case wire.CodeNotCheckedOut, wire.CodeNotFound, wire.CodeOutOfRange, wire.CodeExists, wire.CodeReleased:
	default:
		return nil
	}
	_, err := c.link.Recover(m.Tree, m.Key, math.MaxUint64, replica.Note{
		Reason: "refused by the server: " + m.Msg, At: time.Now().UnixNano()})
	return err
}

// takeServers puts the local copy back to the server's version after a
// rejection, or a duplicate whose outcome was lost.
func (c *Client) takeServers(m *wire.Ack, later bool) error {
	if m.Seq != 0 || m.Tree == "" {
		return nil
	}
	ch := layout.Change{Tree: m.Tree, Key: m.Key, Kind: uint8(db.Updated), Record: m.Record}
	if m.Record == nil {
		ch.Kind = uint8(db.Deleted)
	}
	c.mu.Lock()
	at := c.posLocked()
	c.mu.Unlock()
	if later {
		if m.Record == nil {
			return nil
		}
		return c.rebaseAnswer(ch, at, m.Outbox)
	}
	return c.applyOrSetAside(ch, at, 0)
}

// rebaseAnswer applies the server's answer to outbox change outbox while
// later changes of the record are pending here: on a tree with counters
// the replica rebases it onto them (so a refused delta is taken back at
// once); elsewhere the later answers bring the record.
func (c *Client) rebaseAnswer(ch layout.Change, at replica.Pos, outbox uint64) error {
	return c.keepOrFail(ch, 0, c.link.ApplyAnswer(ch, at, outbox))
}

// applyOrSetAside applies one change at the replica's position at; one
// it cannot apply is set aside (at log sequence logSeq) instead.
func (c *Client) applyOrSetAside(ch layout.Change, at replica.Pos, logSeq uint64) error {
	return c.keepOrFail(ch, logSeq, c.link.Apply([]layout.Change{ch}, at))
}

// keepOrFail decides what an error applying ch means: the replica's own
// failure (its store, or it was closed) ends the session; any other is
// the change's, which is set aside (at log sequence logSeq).
func (c *Client) keepOrFail(ch layout.Change, logSeq uint64, err error) error {
	if err == nil || localFailure(err) {
		return err
	}
	return c.setAside(ch, logSeq, err)
}

// localFailure reports an error of the replica itself, not of a change.
func localFailure(err error) bool {
	return errors.Is(err, db.ErrStorage) || errors.Is(err, db.ErrClosed)
}

// reportRejected reports a rejected change in Status().Err, unless a
// force-return of the record says more already.
func (c *Client) reportRejected(m *wire.Ack) {
	err := &rejection{reason: codeError(m.Code), msg: m.Msg}
	c.log.Warn("change rejected", "err", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	var f *ForcedError
	if m.Code == wire.CodeNotCheckedOut && errors.As(c.status.Err, &f) && f.Tree == m.Tree && f.Key == keyText(m.Key) {
		c.changedLocked()
		return
	}
	c.setErrLocked(err)
}
