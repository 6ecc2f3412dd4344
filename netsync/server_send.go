package netsync

// What the server sends one connection: the catch-up from the log (or a
// snapshot), then the deliveries of every commit, in commit order, on the
// connection's one stream. A client sees only the trees it may read.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/wire"
)

// write catches the client up from the log, then sends deliveries.
func (c *sconn) write(w *bufio.Writer, from, upto uint64, resnap bool) error {
	if err := c.sendForced(w); err != nil {
		return err
	}
	if resnap || from < upto && from < c.s.a.compacted() {
		// The entries after from are gone: send the state as it is.
		if err := c.sendSnapshot(w, upto); err != nil {
			return err
		}
		from = upto
	}
	if err := c.sendLog(w, from, upto); err != nil {
		return err
	}
	if err := wire.Write(w, wire.TCaughtUp, &wire.CaughtUp{Seq: upto}); err != nil {
		return err
	}
	list, ver := c.s.a.borrowSnapshot(c)
	if err := wire.Write(w, wire.TBorrows, &wire.Borrows{List: list, Ver: ver}); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	c.delivered(upto)
	return c.sendLive(w)
}

// sendSnapshot sends every tree declaration and record the client may
// read, as they are, standing for the log up to upto.
func (c *sconn) sendSnapshot(w *bufio.Writer, upto uint64) error {
	sum, err := c.s.a.sumAt(upto)
	if err != nil {
		return err
	}
	if err := wire.Write(w, wire.TSnapshot, &wire.Snapshot{Seq: upto, Sum: sum}); err != nil {
		return err
	}
	err = c.s.a.snapshotFrames(c, func(e *wire.Entries) error { return wire.Write(w, wire.TEntries, e) })
	if err != nil {
		return err
	}
	return wire.Write(w, wire.TSnapshot, &wire.Snapshot{Seq: upto, Done: true, Sum: sum})
}

// sendLog sends the log entries in (from, upto] the client may read:
// its own changes as acks, the others' as Entries of about 1 MiB at most,
// as framesFor would. Each entry goes from the store's memory into the
// frame being built, with no copy of its record in between.
func (c *sconn) sendLog(w *bufio.Writer, from, upto uint64) error {
	run := wire.NewEntriesFrame()
	defer run.Free()
	for from < upto {
		first := true
		last, err := c.s.a.eachLog(from, upto, 1024, func(e *logEntry) error {
			if first && e.Seq != from+1 {
				// Compacted meanwhile: the client reconnects for a snapshot.
				return fmt.Errorf("netsync: log compacted during catch-up at %d", from)
			}
			first = false
			if !c.sees(e) {
				return nil
			}
			if a := c.ownAck(e); a != nil {
				if err := run.Flush(w); err != nil {
					return err
				}
				return wire.Write(w, wire.TAck, a)
			}
			if err := run.Add(&e.Change); err != nil {
				return err
			}
			if run.Size() > 1<<20 {
				return run.Flush(w)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if first {
			break // nothing left
		}
		from = last
	}
	return run.Flush(w)
}

// sendLive sends the connection's deliveries until it closes. Deliveries
// that find it idle are written by the committing goroutine itself
// (sendNow); it writes what they queue.
func (c *sconn) sendLive(w *bufio.Writer) error {
	c.out.goLive()
	for {
		frames, err := c.out.take()
		if err != nil {
			return err
		}
		for _, f := range frames {
			if err := writeFrame(w, f); err != nil {
				return err
			}
			if f.seq != 0 {
				c.delivered(f.seq)
			}
		}
		if c.out.empty() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

// directWait bounds how long a committing goroutine writes to one
// connection's stream: a client whose stream takes longer (its flow
// control window is full) gets the rest from its own writer, and its
// deliveries queue until that writer has caught up.
const directWait = 50 * time.Microsecond

// directMax is the largest delivery a committing goroutine writes itself:
// a larger one would wait for the stream to send most of it, so its
// encoding goes to the connection's writer instead.
const directMax = 16 << 10

// sendNow writes fs to the stream from the caller's goroutine when the
// connection's writer is idle with nothing queued, and reports whether it
// took them: a delivery then reaches the client without waking the
// writer. What the stream does not take within directWait, or a delivery
// over directMax, is queued for the writer, encoded.
func (c *sconn) sendNow(fs []frame) bool {
	if !c.out.claim() {
		return false
	}
	buf := c.direct[:0]
	var seq uint64
	for _, f := range fs {
		var err error
		if f.raw != nil {
			buf = append(buf, f.raw...)
		} else if buf, err = wire.AppendFrame(buf, f.t, f.v); err != nil {
			c.out.release(nil, err)
			return true
		}
		seq = max(seq, f.seq)
	}
	if len(buf) > directMax {
		c.direct = nil // buf is the queue's now
		c.out.release([]frame{{raw: buf, seq: seq}}, nil)
		return true
	}
	c.direct = buf[:0]
	c.stream.SetWriteDeadline(time.Now().Add(directWait))
	n, err := c.stream.Write(buf)
	c.stream.SetWriteDeadline(time.Time{})
	var rest []frame
	if n < len(buf) {
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			c.out.release(nil, fmt.Errorf("netsync: writing to the client: %w", err))
			return true
		}
		rest = []frame{{raw: slices.Clone(buf[n:]), seq: seq}}
	} else if seq != 0 {
		c.delivered(seq)
	}
	c.out.release(rest, nil)
	return true
}

// mergeAcks puts the acks of rejected and duplicate changes among the
// frames of a push's accepted ones, so the origin gets every outcome in
// outbox order: an ack never removes an outbox entry whose own outcome
// has not arrived.
func mergeAcks(fs []frame, acks []wire.Ack) []frame {
	if len(acks) == 0 {
		return fs
	}
	out := make([]frame, 0, len(fs)+len(acks))
	i := 0
	for _, f := range fs {
		if a, ok := f.v.(*wire.Ack); ok && f.t == wire.TAck {
			for i < len(acks) && acks[i].Outbox < a.Outbox {
				out = append(out, frame{t: wire.TAck, v: &acks[i]})
				i++
			}
		}
		out = append(out, f)
	}
	for ; i < len(acks); i++ {
		out = append(out, frame{t: wire.TAck, v: &acks[i]})
	}
	return out
}

type frame struct {
	t   uint8
	v   any
	raw []byte // the whole frame, encoded once for many connections
	seq uint64 // not 0: once written, the connection was sent the log up to seq
}

func writeFrame(w *bufio.Writer, f frame) error {
	if f.raw != nil {
		_, err := w.Write(f.raw)
		return err
	}
	return wire.Write(w, f.t, f.v)
}

// sees reports whether the client is sent log entry e: one of a tree it
// may read, or its own.
func (c *sconn) sees(e *logEntry) bool { return c.may(e.Tree, Read) || e.Origin == c.clientID }

// ownAck is what the client is sent of e, its own change: an Ack with the
// change as accepted; nil when e is another's, or a tree declaration.
func (c *sconn) ownAck(e *logEntry) *wire.Ack {
	if e.Origin != c.clientID || e.Kind == wire.KindTree {
		return nil
	}
	return &wire.Ack{Outbox: e.OriginSeq, Seq: e.Seq, Tree: e.Tree, Key: e.Key, Kind: e.Kind, Record: e.Record, Sum: e.Sum}
}

// framesFor turns log entries into what this client is sent: its own
// changes as acks, the others' as entries, in sequence order.
func (c *sconn) framesFor(entries []logEntry) []frame {
	var out []frame
	var run []layout.Change
	size := 0
	flush := func() {
		if len(run) > 0 {
			out = append(out, frame{t: wire.TEntries, v: &wire.Entries{Changes: run}})
			run, size = nil, 0
		}
	}
	for i := range entries {
		e := &entries[i]
		if !c.sees(e) {
			continue
		}
		if a := c.ownAck(e); a != nil {
			flush()
			out = append(out, frame{t: wire.TAck, v: a})
			continue
		}
		run = append(run, e.Change)
		size += len(e.Record) + 32
		if size > 1<<20 {
			flush()
		}
	}
	flush()
	return out
}

// sendDelivery queues what a committed step sends this connection.
func (c *sconn) sendDelivery(d *delivery) {
	var fs []frame
	if d.shared != nil && !d.originOf(c.clientID) && c.readsAll(d.entries) {
		fs = append(fs, *d.shared)
	} else {
		fs = append(fs, c.framesFor(d.entries)...)
	}
	if d.origin == c {
		fs = mergeAcks(fs, d.acks)
		for i := range d.grants {
			fs = append(fs, frame{t: wire.TIDGrant, v: &d.grants[i]})
		}
		for i := range d.pongs {
			fs = append(fs, frame{t: wire.TPong, v: &d.pongs[i]})
		}
		for i := range d.notices {
			fs = append(fs, frame{t: wire.TNotice, v: &d.notices[i]})
		}
	}
	for i := range d.borrows {
		if c.may(d.borrows[i].Tree, Read) {
			fs = append(fs, frame{t: wire.TBorrow, v: &d.borrows[i]})
		}
	}
	for _, r := range d.replies {
		if r.clientID == c.clientID && (d.origin == c || d.origin == nil) {
			fs = append(fs, frame{t: wire.TReply, v: &r.reply})
		}
	}
	for _, f := range d.forced {
		if f.clientID == c.clientID {
			fs = append(fs, frame{t: wire.TForced, v: &f.forced})
		}
	}
	c.markDelivery(d, fs)
	if len(fs) > 0 && !c.sendNow(fs) {
		c.out.put(fs)
	}
}

// readsAll reports whether the client may read every entry's tree.
func (c *sconn) readsAll(entries []logEntry) bool {
	for i := range entries {
		if !c.may(entries[i].Tree, Read) {
			return false
		}
	}
	return true
}

// outq is a connection's queue of frames to send: never blocks the sender,
// and gives up on a client that falls too far behind. One goroutine at a
// time writes to the stream: the connection's writer, or a committing
// goroutine that found it idle (see sconn.sendNow).
type outq struct {
	mu     sync.Mutex
	frames []frame
	limit  int
	wake   chan struct{}
	closed bool
	slow   bool
	err    error // of a write by a committing goroutine

	live  bool  // the writer sends deliveries: the catch-up is done
	owner uint8 // who writes to the stream now: ownerNone, ownerWriter, ownerOther
}

const (
	ownerNone   = iota
	ownerWriter // the connection's writer, until it finds the queue empty
	ownerOther  // a committing goroutine, between claim and release
)

func (q *outq) init(limit int) {
	q.limit = limit
	q.wake = make(chan struct{}, 1)
}

func (q *outq) put(fs []frame) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.frames)+len(fs) > q.limit {
		q.slow, q.closed = true, true
		q.frames = nil
	} else {
		q.frames = append(q.frames, fs...)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *outq) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the frames queued, waiting for some, for the writer to
// write: it holds the stream until it comes back to find the queue empty
// (having flushed).
func (q *outq) take() ([]frame, error) {
	for {
		q.mu.Lock()
		switch {
		case q.slow:
			q.mu.Unlock()
			return nil, errSlow
		case q.err != nil:
			q.mu.Unlock()
			return nil, q.err
		case len(q.frames) > 0 && q.owner != ownerOther:
			fs := q.frames
			q.frames = nil
			q.owner = ownerWriter
			q.mu.Unlock()
			return fs, nil
		case q.closed:
			q.mu.Unlock()
			return nil, errQueueClosed
		}
		if q.owner == ownerWriter {
			q.owner = ownerNone
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// goLive says the writer is done with the catch-up.
func (q *outq) goLive() {
	q.mu.Lock()
	q.live = true
	q.mu.Unlock()
}

// claim takes the stream for a committing goroutine when the writer is
// idle with nothing queued.
func (q *outq) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.live || q.owner != ownerNone || len(q.frames) > 0 || q.closed || q.err != nil {
		return false
	}
	q.owner = ownerOther
	return true
}

// release gives the stream back after a claim: rest is what the stream
// did not take, which the writer sends before anything queued meanwhile;
// err ends the connection's writer.
func (q *outq) release(rest []frame, err error) {
	q.mu.Lock()
	q.owner = ownerNone
	if err != nil {
		q.err = err
	} else if len(rest) > 0 {
		q.frames = append(rest, q.frames...)
	}
	wake := err != nil || len(q.frames) > 0 || q.closed
	q.mu.Unlock()
	if wake {
		// Only then has the writer something to do: waking it for
		// nothing would cost every delivery a goroutine switch.
		q.signal()
	}
}

func (q *outq) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames) == 0
}

func (q *outq) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}
