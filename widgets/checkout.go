package widgets

import (
	"context"
	"fmt"
	"image/color"
	"sync"

	"gioui.org/layout"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/db"
)

// Borrower is the check-out of one record: see OpaqueBorrower and
// TreeBorrower. Its methods are called from the window's goroutine
// (Borrow, in every frame: it reads memory only) and from a goroutine
// (CheckOut, which waits in the queue; CheckIn, which waits for the
// server). Both wait at most until ctx ends.
type Borrower interface {
	Borrow() db.BorrowState
	CheckOut(ctx context.Context) error
	CheckIn(ctx context.Context) error
}

type opaqueBorrower struct {
	t db.OpaqueTree
	k db.OpaqueKey
}

func (b opaqueBorrower) Borrow() db.BorrowState              { return b.t.Borrow(b.k) }
func (b opaqueBorrower) CheckOut(ctx context.Context) error  { return b.t.CheckOut(ctx, b.k) }
func (b opaqueBorrower) CheckIn(ctx context.Context) error   { return b.t.CheckIn(ctx, b.k) }
func (b treeBorrower[T]) Borrow() db.BorrowState             { return b.t.Borrow(b.k) }
func (b treeBorrower[T]) CheckOut(ctx context.Context) error { return b.t.CheckOut(ctx, b.k) }
func (b treeBorrower[T]) CheckIn(ctx context.Context) error  { return b.t.CheckIn(ctx, b.k) }

// OpaqueBorrower is the check-out of record k of t.
func OpaqueBorrower(t db.OpaqueTree, k db.OpaqueKey) Borrower { return opaqueBorrower{t, k} }

// TreeBorrower is the check-out of record k of t.
func TreeBorrower[T any](t *db.Tree[T], k db.Key[T]) Borrower { return treeBorrower[T]{t, k} }

type treeBorrower[T any] struct {
	t *db.Tree[T]
	k db.Key[T]
}

// CheckOut is the check-out button of one record. It shows the record's
// borrow as read in each frame: "Check out" when free, "Check in" when
// this client holds it, "Held by NAME" (click to queue) when another
// client does, and "Waiting: N in queue" (click to give up) while this
// client waits. The holder sees how many wait behind it ("Check in · 2
// waiting"). The request runs in a goroutine; its outcome asks the
// Watcher for a frame. Set Record when the shown record changes.
type CheckOut struct {
	Record  Borrower
	Watcher *Watcher
	// OnLeave, when set, is called on the window's goroutine when a click
	// gives up waiting: with the borrow state as the click found it
	// (Waiting > 0: the client left the queue; otherwise it stopped
	// waiting for the check-out or check-in to be answered), so that the
	// application can say so.
	OnLeave func(s db.BorrowState)

	btn  widget.Clickable
	mu   sync.Mutex
	busy bool
	stop context.CancelFunc
	err  error
}

// Err returns the error of the last request, or nil.
func (c *CheckOut) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Busy reports whether a request is running (waiting in the queue).
func (c *CheckOut) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busy
}

// Label returns the button's text for borrow state s.
func (c *CheckOut) Label(s db.BorrowState) string {
	switch {
	case s.Mine && s.Waiters != "" && s.Queued <= 2:
		return fmt.Sprintf("Check in · %s waiting", s.Waiters)
	case s.Mine && s.Queued > 0:
		return fmt.Sprintf("Check in · %d waiting", s.Queued)
	case s.Mine:
		return "Check in"
	case s.Waiting > 0:
		return fmt.Sprintf("Waiting: %d in queue", s.Waiting)
	case c.Busy():
		return "Checking out…"
	case s.Held:
		return "Held by " + s.Holder
	}
	return "Check out"
}

func (c *CheckOut) notify() {
	if c.Watcher != nil {
		c.Watcher.Notify()
	}
}

// Update handles clicks and reports whether one started a request.
func (c *CheckOut) Update(gtx layout.Context) bool {
	if c.Record == nil {
		return false
	}
	if !c.btn.Clicked(gtx) {
		return false
	}
	s := c.Record.Borrow()
	c.mu.Lock()
	if c.busy {
		// A click while waiting leaves the queue, or stops waiting for
		// the server's answer to a check-in.
		c.stop()
		c.mu.Unlock()
		if c.OnLeave != nil {
			c.OnLeave(s)
		}
		return true
	}
	defer c.mu.Unlock()
	r := c.Record
	c.err = nil
	ctx, stop := context.WithCancel(context.Background())
	c.busy, c.stop = true, stop
	do := r.CheckOut
	if s.Mine {
		do = r.CheckIn
	}
	go func() {
		err := do(ctx)
		stop()
		if ctx.Err() != nil && err != nil {
			err = nil // given up by the user
		}
		c.mu.Lock()
		c.busy, c.err = false, err
		c.mu.Unlock()
		c.notify()
	}()
	return true
}

// Click acts as a click on the button at the next Update.
func (c *CheckOut) Click() { c.btn.Click() }

// Cancel gives up a waiting check-out or check-in; call it when the
// record is no longer shown.
func (c *CheckOut) Cancel() {
	c.mu.Lock()
	if c.busy && c.stop != nil {
		c.stop()
	}
	c.mu.Unlock()
}

// Layout handles clicks and draws the button with the borrow state.
func (c *CheckOut) Layout(gtx layout.Context, th *Theme) layout.Dimensions {
	c.Update(gtx)
	if c.Record == nil {
		return layout.Dimensions{}
	}
	s := c.Record.Borrow()
	var bg color.NRGBA
	switch {
	case s.Mine:
		bg = th.Good
	case s.Waiting > 0 || c.Busy() || s.Held:
		bg = th.Warn
	default:
		bg = th.ContrastBg
	}
	b := material.Button(th.Theme, &c.btn, c.Label(s))
	b.Background = bg
	b.TextSize = th.TextSize
	b.CornerRadius = 4
	b.Inset = layout.Inset{Top: 7, Bottom: 7, Left: 14, Right: 14}
	return Focused(gtx, th, gtx.Focused(&c.btn), b.Layout)
}
