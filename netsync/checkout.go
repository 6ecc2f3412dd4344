package netsync

import (
	"context"
	"errors"
	"fmt"
	"time"

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
			case <-c.wait():
			case <-s.done:
				err = errSessionEnded
			case <-ctx.Done():
				c.forget(req)
				c.cancelCheckOut(s, tree, key)
				return ctx.Err()
			case <-c.ctx.Done():
				c.forget(req)
				return ErrClosed
			}
		}
		c.forget(req)
	}
}

// cancelCheckOut leaves a record's queue and waits for the server's
// answer, so that a grant given meanwhile is given back and Borrow no
// longer says Mine when CheckOut returns its error.
func (c *Client) cancelCheckOut(s *session, tree string, key uint64) {
	req, replies := c.request()
	defer c.forget(req)
	if err := s.send(wire.TCancel, &wire.CheckOut{Req: req, Tree: tree, Key: key}); err != nil {
		return
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-replies:
	case <-s.done:
	case <-c.ctx.Done():
	case <-t.C:
	}
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
		select {
		case <-ch:
		case <-s.done:
			return errSessionEnded
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return ErrClosed
		}
	}
	return nil
}

// CheckIn sends the record's pending changes, then gives it back. It needs
// the connection (db.ErrOffline otherwise) and waits at most until ctx ends.
func (c *Client) CheckIn(ctx context.Context, tree string, key uint64) error {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: %s/%s", db.ErrOffline, tree, keyText(key))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The record's changes go first. The server handles a connection's
	// messages in order, so they are applied before the check-in, and
	// their acks arrive before its reply.
	if err := c.sentUpTo(ctx, s, c.link.LastPending(tree, key)); err != nil {
		if errors.Is(err, errSessionEnded) {
			return fmt.Errorf("%w: %s/%s", db.ErrOffline, tree, keyText(key))
		}
		return err
	}
	req, replies := c.request()
	defer c.forget(req)
	if err := s.send(wire.TCheckIn, &wire.CheckIn{Req: req, Tree: tree, Key: key}); err != nil {
		return fmt.Errorf("%w: %s/%s: %v", db.ErrOffline, tree, keyText(key), err)
	}
	select {
	case r := <-replies:
		if r.Code != wire.CodeOK {
			return fmt.Errorf("%w: %s/%s: %s", codeError(r.Code), tree, keyText(key), r.Msg)
		}
		// The borrow state arrives before the reply.
		return nil
	case <-s.done:
		return fmt.Errorf("%w: %s/%s", db.ErrOffline, tree, keyText(key))
	case <-ctx.Done():
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
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextReq++
	ch := make(chan wire.Reply, 1)
	c.replies[c.nextReq] = ch
	return c.nextReq, ch
}

func (c *Client) forget(req uint64) {
	c.mu.Lock()
	delete(c.replies, req)
	c.mu.Unlock()
}
