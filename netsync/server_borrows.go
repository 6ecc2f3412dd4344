package netsync

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/wire"
)

// setQueue stores a record's queue and delivers its new state to every
// connection. Called with a.mu held.
func (a *authority) setQueue(b *pebble.Batch, d *delivery, k recKey, q []wire.Holder) error {
	return a.setQueueFor(b, d, k, q, nil, false)
}

// setQueueFor is setQueue, for a force-return f or a record's delete
// when they are the cause: the history says so.
func (a *authority) setQueueFor(b *pebble.Batch, d *delivery, k recKey, q []wire.Holder, f *wire.Forced, deleted bool) error {
	var oldQ []wire.Holder
	if old := a.borrows[k]; old != nil && len(old.Queue) > 0 {
		oldQ = old.Queue
		a.held[old.Queue[0].ID]--
	}
	if err := a.historyBorrow(b, k, oldQ, q, f, deleted); err != nil {
		return err
	}
	if len(q) > 0 {
		a.held[q[0].ID]++
	}
	if len(q) == 0 {
		delete(a.borrows, k)
		b.Delete(layout.BorrowKey(k.tree, k.key), nil)
	} else {
		bs := &borrowState{Queue: q}
		a.borrows[k] = bs
		if err := putMsgpack(b, layout.BorrowKey(k.tree, k.key), bs); err != nil {
			return err
		}
	}
	d.borrows = append(d.borrows, wire.Borrow{Tree: k.tree, Key: k.key, Queue: slices.Clone(q)})
	return nil
}

func (a *authority) queue(k recKey) []wire.Holder {
	if bs := a.borrows[k]; bs != nil {
		return slices.Clone(bs.Queue)
	}
	return nil
}

func position(q []wire.Holder, id string) int {
	return slices.IndexFunc(q, func(h wire.Holder) bool { return h.ID == id })
}

// checkOut puts a client in a record's queue. The client learns it holds
// the record from the record's borrow state, delivered after every change
// made before, so it has the latest version when it sees the grant.
func (a *authority) checkOut(origin *sconn, req wire.CheckOut) error {
	return a.commit(func(b *pebble.Batch, d *delivery) error {
		d.origin = origin
		k := recKey{req.Tree, req.Key}
		where := fmt.Sprintf("%s/%s", req.Tree, keyText(req.Key))
		reply := func(code uint16, msg string) error {
			d.replies = append(d.replies, connReply{origin.clientID, wire.Reply{Req: req.Req, Code: code, Msg: msg}})
			return nil
		}
		if !origin.may(req.Tree, Edit|Release) || !origin.may(req.Tree, Read) {
			return reply(wire.CodePermission, fmt.Sprintf("%s: %s may not check out records of %s (grants: %s)",
				where, origin.name, req.Tree, origin.accessText(req.Tree)))
		}
		if a.current(b, req.Tree, req.Key) == nil {
			return reply(wire.CodeNotFound, where)
		}
		q := a.queue(k)
		if position(q, origin.clientID) >= 0 {
			d.borrows = append(d.borrows, wire.Borrow{Tree: k.tree, Key: k.key, Queue: q})
			return nil
		}
		if n := a.held[origin.clientID]; len(q) == 0 && n >= a.lim.MaxCheckOuts {
			return reply(wire.CodeLimit, fmt.Sprintf("%s: %s holds %d records (limit %d): check some in first",
				where, origin.name, n, a.lim.MaxCheckOuts))
		}
		d.lazy = len(q) > 0 // joins the waiting, holds nothing yet
		q = append(q, wire.Holder{ID: origin.clientID, Name: origin.name})
		return a.setQueue(b, d, k, q)
	})
}

// checkIn takes a client out of a record's queue (cancel leaves it too);
// the next in the queue holds the record.
func (a *authority) checkIn(origin *sconn, req wire.CheckIn, cancel bool) error {
	return a.commit(func(b *pebble.Batch, d *delivery) error {
		d.origin = origin
		k := recKey{req.Tree, req.Key}
		q := a.queue(k)
		i := position(q, origin.clientID)
		if i < 0 || !cancel && i != 0 {
			code := wire.CodeNotCheckedOut
			if cancel {
				code = wire.CodeOK // not in the queue: nothing to leave
			}
			d.replies = append(d.replies, connReply{origin.clientID,
				wire.Reply{Req: req.Req, Code: code, Msg: fmt.Sprintf("%s/%s", req.Tree, keyText(req.Key))}})
			return nil
		}
		// A cancel that comes after the grant gives the record back: the
		// client's CheckOut returned an error, so nobody uses it.
		d.lazy = i > 0
		if err := a.setQueue(b, d, k, slices.Delete(q, i, i+1)); err != nil {
			return err
		}
		d.replies = append(d.replies, connReply{origin.clientID, wire.Reply{Req: req.Req}})
		return nil
	})
}

// leave takes a disconnected client out of every queue it waits in; what it
// holds stays its own.
func (a *authority) leave(clientID string) error {
	return a.commit(func(b *pebble.Batch, d *delivery) error {
		d.lazy = true
		for k, bs := range a.borrows {
			i := position(bs.Queue, clientID)
			if i <= 0 {
				continue
			}
			if err := a.setQueue(b, d, k, slices.Delete(slices.Clone(bs.Queue), i, i+1)); err != nil {
				return err
			}
		}
		return nil
	})
}

// forceReturn takes a record from its holder; the next in the queue holds
// it. The former holder is told why, now if connected and else on its next
// connection (the notice is kept until it answers), and keeps its unsent
// edits aside.
func (a *authority) forceReturn(tree string, key uint64, reason, by string, now int64) (former string, err error) {
	err = a.commit(func(b *pebble.Batch, d *delivery) error {
		k := recKey{tree, key}
		q := a.queue(k)
		if len(q) == 0 {
			return fmt.Errorf("%w: %s/%s is held by nobody", db.ErrNotCheckedOut, tree, keyText(key))
		}
		former = q[0].Name + " (" + q[0].ID + ")"
		f := wire.Forced{Tree: tree, Key: key, Reason: reason, By: by, At: now}
		if err := putMsgpack(b, forcedKey(q[0].ID, tree, key), &f); err != nil {
			return err
		}
		d.forced = append(d.forced, connForced{q[0].ID, f})
		return a.setQueueFor(b, d, k, q[1:], &f, false)
	})
	return former, err
}

// forcedKey is the server key of a force-return notice not yet seen by
// the former holder: layout.PrefixServer 'f' client 0 tree 0 key.
func forcedKey(clientID, tree string, key uint64) []byte {
	b := append(forcedPrefix(clientID), tree...)
	return binary.BigEndian.AppendUint64(append(b, 0), key)
}

func forcedPrefix(clientID string) []byte {
	return append(append([]byte{layout.PrefixServer, 'f'}, clientID...), 0)
}

// forcedFor returns the force-return notices a client has not seen.
func (a *authority) forcedFor(clientID string) ([]wire.Forced, error) {
	p := forcedPrefix(clientID)
	it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: layout.PrefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []wire.Forced
	for ok := it.First(); ok; ok = it.Next() {
		var f wire.Forced
		if err := msgpack.Unmarshal(it.Value(), &f); err != nil {
			return nil, fmt.Errorf("netsync: force-return notice %x: %w", it.Key(), err)
		}
		out = append(out, f)
	}
	return out, it.Error()
}

// forcedSeen forgets a notice the client kept; a newer notice of the same
// record stays.
func (a *authority) forcedSeen(origin *sconn, m wire.Forced) error {
	return a.commit(func(b *pebble.Batch, _ *delivery) error {
		k := forcedKey(origin.clientID, m.Tree, m.Key)
		v := batchGet(b, k)
		if v == nil {
			return nil
		}
		var f wire.Forced
		if err := msgpack.Unmarshal(v, &f); err != nil || f.At == m.At {
			b.Delete(k, nil)
		}
		return nil
	})
}

// sendForced writes the notices the client has not seen, before anything
// else of the connection: the client sets its edits aside before it
// learns the outcome of the changes it sends.
func (c *sconn) sendForced(w *bufio.Writer) error {
	fs, err := c.s.a.forcedFor(c.clientID)
	if err != nil {
		return err
	}
	for i := range fs {
		if err := wire.Write(w, wire.TForced, &fs[i]); err != nil {
			return err
		}
	}
	return nil
}

// BorrowInfo describes one borrowed record on the server.
type BorrowInfo struct {
	Tree    string   `json:"tree"`
	Key     string   `json:"key"`               // ID.Rev
	Holder  string   `json:"holder"`            // readable name
	Client  string   `json:"client"`            // client id
	Waiting []string `json:"waiting,omitempty"` // readable names, in queue order
}

func keyText(k uint64) string {
	id, rev := layout.Unpack(k)
	return fmt.Sprintf("%d.%d", id, rev)
}

// borrowList returns every borrowed record, by tree and key.
func (a *authority) borrowList() []BorrowInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := slices.Collect(maps.Keys(a.borrows))
	slices.SortFunc(keys, func(x, y recKey) int {
		if c := strings.Compare(x.tree, y.tree); c != 0 {
			return c
		}
		return cmp.Compare(x.key, y.key)
	})
	out := make([]BorrowInfo, 0, len(keys))
	for _, k := range keys {
		q := a.borrows[k].Queue
		if len(q) == 0 {
			continue
		}
		bi := BorrowInfo{Tree: k.tree, Key: keyText(k.key), Holder: q[0].Name, Client: q[0].ID}
		for _, h := range q[1:] {
			bi.Waiting = append(bi.Waiting, h.Name)
		}
		out = append(out, bi)
	}
	return out
}

// borrowSnapshot lists every record's check-out, as of version ver: every
// step with a lower ticket is in it.
func (a *authority) borrowSnapshot(c *sconn) (list []wire.Borrow, ver uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]wire.Borrow, 0, len(a.borrows))
	for k, bs := range a.borrows {
		if c.may(k.tree, Read) {
			out = append(out, wire.Borrow{Tree: k.tree, Key: k.key, Queue: slices.Clone(bs.Queue)})
		}
	}
	return out, a.pipe.Next()
}

// ForceReturnClient takes back every record a client holds, as an
// administrator (ForceReturn, for each). It returns how many it took.
func (s *Server) ForceReturnClient(name, reason, by string) (int, error) {
	a := s.a
	a.mu.Lock()
	var ids []string
	for id, cl := range a.clients {
		if cl.Name == name {
			ids = append(ids, id)
		}
	}
	var keys []recKey
	for k, bs := range a.borrows {
		if len(bs.Queue) > 0 && slices.Contains(ids, bs.Queue[0].ID) {
			keys = append(keys, k)
		}
	}
	a.mu.Unlock()
	if len(ids) == 0 {
		return 0, fmt.Errorf("%w: %q", ErrUnknownClient, name)
	}
	slices.SortFunc(keys, func(x, y recKey) int {
		return cmp.Or(strings.Compare(x.tree, y.tree), cmp.Compare(x.key, y.key))
	})
	n := 0
	for _, k := range keys {
		_, err := a.forceReturn(k.tree, k.key, reason, by, time.Now().UnixNano())
		if errors.Is(err, db.ErrNotCheckedOut) {
			continue // given back meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	s.log.Warn("borrows of a client force-returned", "client", name, "records", n, "by", by, "reason", reason)
	return n, nil
}

// takeResnap reports whether a client's next catch-up is a snapshot
// because the trees it may read changed, and clears the flag.
func (a *authority) takeResnap(clientID string) (bool, error) {
	a.mu.Lock()
	cl := a.clients[clientID]
	flagged := cl != nil && cl.Resnap
	a.mu.Unlock()
	if !flagged {
		return false, nil // the common case: no commit for nothing
	}
	var resnap bool
	err := a.commit(func(b *pebble.Batch, _ *delivery) error {
		cl := a.clients[clientID]
		if cl == nil || !cl.Resnap {
			return nil
		}
		resnap, cl.Resnap = true, false
		return putMsgpack(b, clientKey(cl.ID), cl)
	})
	return resnap, err
}

// storeFailed returns the store's failure, nil while it works.
func (a *authority) storeFailed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pipe.Failed()
}
