package widgets

import (
	"cmp"
	"image"
	"iter"

	"gioui.org/io/event"
	"gioui.org/layout"
	"gioui.org/op/clip"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/db"
)

// List is a virtualized list of the records of a Tree[T], or of the keys
// an index yields. Only the visible rows are laid out; each row reads its
// record in place through Tree.View (no decoding, no copy). Rows have the
// theme's fixed RowHeight. Click selects a row; with the keyboard focus,
// up/down, page up/down, home and end move the selection.
//
// The key order is kept in a slice rebuilt when the Watcher reports a
// change, so a frame without changes does no work proportional to the
// tree's size. List's methods must be called from the window's goroutine.
type List[T any] struct {
	Tree *db.Tree[T]
	// Keys yields the keys to show, in order. nil: every record of Tree
	// in key order. See IndexKeys and IndexPrefixKeys.
	Keys func() iter.Seq[db.Key[T]]
	// Watcher tells the list when to rebuild its keys; nil: rebuild only
	// on Refresh.
	Watcher *Watcher

	// Selected is the selected key, valid when HasSelection.
	Selected     db.Key[T]
	HasSelection bool

	list    widget.List
	keys    []db.Key[T]
	gen     uint64
	built   bool
	changed bool
	rows
}

// IndexKeys lists the records whose index keys k satisfy lo ≤ k < hi, in
// index order, for List.Keys.
func IndexKeys[T any, K cmp.Ordered](ix *db.Index[T, K], lo, hi K) func() iter.Seq[db.Key[T]] {
	return func() iter.Seq[db.Key[T]] {
		return func(yield func(db.Key[T]) bool) {
			for _, k := range ix.Range(lo, hi) {
				if !yield(k) {
					return
				}
			}
		}
	}
}

// IndexPrefixKeys lists the records with an index key starting with p, in
// index order, for List.Keys. p is read at every rebuild.
func IndexPrefixKeys[T any, K ~string](ix *db.Index[T, K], p *string) func() iter.Seq[db.Key[T]] {
	return func() iter.Seq[db.Key[T]] {
		return func(yield func(db.Key[T]) bool) {
			for _, k := range db.IndexPrefix(ix, K(*p)) {
				if !yield(k) {
					return
				}
			}
		}
	}
}

// Focus gives the list the keyboard focus at its next Layout (and
// selects the first row when none is).
func (l *List[T]) Focus() { l.focusNext = true }

// Refresh makes the list rebuild its keys in the next frame.
func (l *List[T]) Refresh() { l.built = false }

// Len returns the number of rows as of the last frame.
func (l *List[T]) Len() int { return len(l.keys) }

// Key returns the key of row i as of the last frame.
func (l *List[T]) Key(i int) db.Key[T] { return l.keys[i] }

func (l *List[T]) rebuild() {
	l.keys = l.keys[:0]
	if l.Keys != nil {
		for k := range l.Keys() {
			l.keys = append(l.keys, k)
		}
	} else if l.Tree != nil {
		for k := range l.Tree.All() {
			l.keys = append(l.keys, k)
		}
	}
	l.built = true
	l.selIdx = -1
	if l.HasSelection {
		for i, k := range l.keys {
			if k == l.Selected {
				l.selIdx = i
				break
			}
		}
	}
}

func (l *List[T]) sync() {
	if l.Watcher != nil {
		if g := l.Watcher.Generation(); g != l.gen {
			l.gen = g
			l.built = false
		}
	}
	if !l.built {
		l.rebuild()
	}
}

func (l *List[T]) selectIndex(i int) {
	if len(l.keys) == 0 {
		return
	}
	i = max(0, min(i, len(l.keys)-1))
	if !l.HasSelection || l.Selected != l.keys[i] {
		l.changed = true
	}
	l.selIdx, l.Selected, l.HasSelection = i, l.keys[i], true
	l.keepInView(&l.list, i)
}

// Update handles the list's input and reports whether the selection
// changed since the last call. Layout calls it too.
func (l *List[T]) Update(gtx layout.Context) bool {
	l.sync()
	l.takeFocus(gtx, l, len(l.keys), l.selectIndex)
	l.navigate(gtx, l, l.list.Position, len(l.keys), l.selectIndex)
	c := l.changed
	l.changed = false
	return c
}

// RowFunc lays out one row: the record's value and meta are those held in
// memory, valid only during the call (do not keep or modify them).
type RowFunc[T any] func(gtx layout.Context, k db.Key[T], v *T, m db.Meta, selected bool) layout.Dimensions

// Layout handles input and lays out the visible rows with row.
func (l *List[T]) Layout(gtx layout.Context, th *Theme, row RowFunc[T]) layout.Dimensions {
	l.Update(gtx)
	l.list.Axis = layout.Vertical
	l.rowPx = max(1, gtx.Dp(th.RowHeight))
	l.visible = (gtx.Constraints.Max.Y + l.rowPx - 1) / l.rowPx
	defer clip.Rect{Max: gtx.Constraints.Max}.Push(gtx.Ops).Pop()
	event.Op(gtx.Ops, l)
	if gtx.Focused(l) {
		defer FocusRing(gtx, th, gtx.Constraints.Max)
	}
	return material.List(th.Theme, &l.list).Layout(gtx, len(l.keys), func(gtx layout.Context, i int) layout.Dimensions {
		gtx.Constraints.Min.Y, gtx.Constraints.Max.Y = l.rowPx, l.rowPx
		gtx.Constraints.Min.X = gtx.Constraints.Max.X
		k := l.keys[i]
		sel := l.HasSelection && k == l.Selected
		if sel {
			fill(gtx, th.Select)
		} else if i%2 == 1 {
			fill(gtx, th.Stripe)
		}
		// A record deleted since the keys were rebuilt leaves an empty
		// row until the next rebuild.
		_ = l.Tree.View(k, func(v *T, m db.Meta) { row(gtx, k, v, m, sel) })
		return layout.Dimensions{Size: image.Pt(gtx.Constraints.Max.X, l.rowPx)}
	})
}
