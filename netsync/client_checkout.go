package netsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/wire"
)

var _ db.Remote = (*Client)(nil)

// CheckOut joins a record's queue on the server and waits until this client
// holds it or ctx ends; then it leaves the queue. While offline it waits
// for the connection. Called by db's CheckOut on a replica.
func (c *Client) CheckOut(ctx context.Context, tree string, key uint64) error {
	for {
		if c.link.Borrow(tree, key).Mine {
			return nil
		}
		s, err := c.session1(ctx)
		if err != nil {
			return err
		}
		// A give-back whose answer was lost goes first, or the server
		// would take it after this request.
		if err := c.settle(ctx, s, recKey{tree, key}); err != nil {
			if errors.Is(err, errSessionEnded) {
				continue
			}
			return err
		}
		// The record's changes go before the request: a create must reach
		// the server first, and a change made under a check-out since
		// lost must be refused, not accepted under the new one.
		if err := c.sentUpTo(ctx, s, c.link.LastPending(tree, key)); err != nil {
			if errors.Is(err, errSessionEnded) {
				continue
			}
			return err
		}
		req, replies := c.request()
		err = s.send(wire.TCheckOut, &wire.CheckOut{Req: req, Tree: tree, Key: key})
		for err == nil {
			changed := c.wait() // before looking: no change is missed
			if c.link.Borrow(tree, key).Mine {
				c.forget(req)
				return nil
			}
			if !c.link.Exists(tree, key) {
				// Deleted by its holder while this client waited: the
				// server dropped the queue.
				c.forget(req)
				return fmt.Errorf("%w: %s/%s", db.ErrNotFound, tree, keyText(key))
			}
			select {
			case r := <-replies:
				c.forget(req)
				if r.Code != wire.CodeOK {
					return fmt.Errorf("%w: %s/%s: %s", codeError(r.Code), tree, keyText(key), r.Msg)
				}
			case <-changed:
			case <-s.done:
				err = errSessionEnded
			case <-ctx.Done():
				c.forget(req)
				c.giveBack(s, recKey{tree, key})
				return ctx.Err()
			case <-c.ctx.Done():
				c.forget(req)
				return ErrClosed
			}
		}
		c.forget(req)
	}
}

// giveBack leaves a record's queue, or gives it back when the server
// granted it meanwhile, and waits for the server's answer, so that Borrow
// no longer says Mine when CheckOut returns its error. When the answer is
// lost, the record is marked: this client no longer treats it as its own,
// and gives it back again on its next connection (settle).
func (c *Client) giveBack(s *session, k recKey) {
	c.mu.Lock()
	c.givingBack[k] = true
	c.mu.Unlock()
	c.saveGivingBack()
	if b := c.link.Borrow(k.tree, k.key); b.Mine {
		b.Mine = false
		if err := c.link.SetBorrow(k.tree, k.key, b); err != nil {
			c.log.Error("giving back a check-out", "tree", k.tree, "key", keyText(k.key), "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := c.settle(ctx, s, k); err != nil {
		c.log.Debug("check-out given back on the next connection", "tree", k.tree, "key", keyText(k.key), "err", err)
	}
}

// settle sends a marked record's give-back on s and waits for the answer.
func (c *Client) settle(ctx context.Context, s *session, k recKey) error {
	c.mu.Lock()
	marked := c.givingBack[k]
	c.mu.Unlock()
	if !marked {
		return nil
	}
	// Changes made before the record was given back go first.
	if err := c.sentUpTo(ctx, s, c.link.LastOutbox()); err != nil {
		return err
	}
	req, replies := c.request()
	defer c.forget(req)
	if err := s.send(wire.TCancel, &wire.CheckOut{Req: req, Tree: k.tree, Key: k.key}); err != nil {
		return errSessionEnded
	}
	if _, err := await(c, ctx, s, replies); err != nil {
		return err
	}
	// The borrow state after the give-back arrived before.
	c.mu.Lock()
	delete(c.givingBack, k)
	c.mu.Unlock()
	c.saveGivingBack()
	return nil
}

// await waits for a value on ch and returns it, or returns the error of
// what ended first: the session (errSessionEnded), ctx, or the client
// (ErrClosed).
func await[T any](c *Client, ctx context.Context, s *session, ch <-chan T) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-s.done:
		return zero, errSessionEnded
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-c.ctx.Done():
		return zero, ErrClosed
	}
}

// settleAll gives back, on a new connection, what earlier ones could not.
func (c *Client) settleAll(s *session) {
	c.mu.Lock()
	keys := slices.Collect(maps.Keys(c.givingBack))
	c.mu.Unlock()
	for _, k := range keys {
		if err := c.settle(c.ctx, s, k); err != nil {
			return
		}
	}
}

// givingBackLocked reports whether the record is being given back. Called
// with c.mu held.
func (c *Client) givingBackLocked(tree string, key uint64) bool {
	return c.givingBack[recKey{tree, key}]
}

// sentUpTo waits until the session has sent the outbox up to seq.
func (c *Client) sentUpTo(ctx context.Context, s *session, seq uint64) error {
	if seq == 0 || s.sent.Load() >= seq {
		return nil
	}
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for s.sent.Load() < seq {
		ch := c.wait()
		c.Notify()
		if s.sent.Load() >= seq {
			return nil
		}
		if _, err := await(c, ctx, s, ch); err != nil {
			return err
		}
	}
	return nil
}

// CheckIn sends the record's pending changes, then gives it back. It needs
// the connection (db.ErrOffline otherwise) and waits at most until ctx ends:
// the caller's ctx is the only bound. Called by db's CheckIn on a replica.
func (c *Client) CheckIn(ctx context.Context, tree string, key uint64) error {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: %s/%s", db.ErrOffline, tree, keyText(key))
	}
	// The changes made so far go first, those of the record and those made
	// under its check-out (a revision Revise created). The server handles
	// a connection's messages in order, so they are applied before the
	// check-in, and their acks arrive before its reply.
	if err := c.sentUpTo(ctx, s, c.link.LastOutbox()); err != nil {
		if errors.Is(err, errSessionEnded) {
			return fmt.Errorf("%w: %s/%s", db.ErrOffline, tree, keyText(key))
		}
		return err
	}
	req, replies := c.request()
	defer c.forget(req)
	if err := s.send(wire.TCheckIn, &wire.CheckIn{Req: req, Tree: tree, Key: key}); err != nil {
		return fmt.Errorf("%w: %s/%s: %w", db.ErrOffline, tree, keyText(key), err)
	}
	select {
	case r := <-replies:
		if r.Code != wire.CodeOK {
			return fmt.Errorf("%w: %s/%s: %s", codeError(r.Code), tree, keyText(key), r.Msg)
		}
		// The borrow state arrives before the reply.
		return nil
	case <-s.done:
		// The server may have taken it back or not: no longer treat it
		// as ours, and give it back again on the next connection.
		c.giveBack(s, recKey{tree, key})
		return fmt.Errorf("%w: %s/%s: the connection ended; the check-in is completed on the next", db.ErrOffline, tree, keyText(key))
	case <-ctx.Done():
		c.giveBack(s, recKey{tree, key})
		return ctx.Err()
	}
}

// session1 waits for a connection.
func (c *Client) session1(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, fatal, ch := c.sess, c.fatal, c.changed
		c.mu.Unlock()
		if fatal != nil {
			return nil, fatal
		}
		if s != nil {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

func (c *Client) request() (uint64, chan wire.Reply) {
	req, ch, _ := newRequest(c, c.replies)
	return req, ch
}

func (c *Client) forget(req uint64) { forgetRequest(c, c.replies, req) }

// newRequest takes the next request number and registers a channel for
// its answer in waiting, one of the client's maps of them (guarded by
// c.mu); done forgets it.
func newRequest[T any](c *Client, waiting map[uint64]chan T) (req uint64, ch chan T, done func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextReq++
	req, ch = c.nextReq, make(chan T, 1)
	waiting[req] = ch
	return req, ch, func() { forgetRequest(c, waiting, req) }
}

func forgetRequest[T any](c *Client, waiting map[uint64]chan T, req uint64) {
	c.mu.Lock()
	delete(waiting, req)
	c.mu.Unlock()
}

// givenBack is a record this client gave back, as kept in the replica
// until the server confirmed it.
type givenBack struct {
	Tree string `msgpack:"tree"`
	Key  uint64 `msgpack:"key"`
}

// saveGivingBack keeps the records being given back in the replica, so a
// restart before the server confirmed them still gives them back.
func (c *Client) saveGivingBack() {
	c.mu.Lock()
	list := make([]givenBack, 0, len(c.givingBack))
	for k := range c.givingBack {
		list = append(list, givenBack{k.tree, k.key})
	}
	c.mu.Unlock()
	enc, err := msgpack.Marshal(list)
	if err == nil {
		err = c.link.SetSyncState("giveback", enc)
	}
	if err != nil {
		c.log.Error("keeping the check-outs given back", "err", err)
	}
}

// loadGivingBack reads what saveGivingBack kept.
func (c *Client) loadGivingBack() error {
	b, err := c.link.SyncState("giveback")
	if err != nil || b == nil {
		return err
	}
	var list []givenBack
	if err := msgpack.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("netsync: stored check-outs given back: %w", err)
	}
	for _, g := range list {
		c.givingBack[recKey{g.Tree, g.Key}] = true
	}
	return nil
}
