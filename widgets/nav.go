package widgets

import (
	"image"
	"image/color"

	"gioui.org/io/event"
	"gioui.org/io/key"
	"gioui.org/io/pointer"
	"gioui.org/layout"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/widget"
)

// rows is the selection state that the record list and the table share:
// a click selects the row under the pointer; the arrow keys, Page Up/Down,
// Home and End move the selection; Enter opens the selected row
// (Activated).
type rows struct {
	selIdx    int  // selected row; -1: none
	rowPx     int  // a row's height in the last frame
	visible   int  // rows on screen in the last frame
	activated bool // Enter since the last Activated
	focusNext bool // Focus was called: take the focus in the next Update
}

// Focuser is a widget that can take the keyboard focus, such as a Table
// or a List: the search and filter boxes move the focus to one on Down.
type Focuser interface {
	Focus()
}

// takeFocus gives tag the focus if Focus asked for it, and selects the
// first row when none is selected, so the arrow keys start from there.
func (r *rows) takeFocus(gtx layout.Context, tag event.Tag, n int, sel func(int)) {
	if !r.focusNext {
		return
	}
	r.focusNext = false
	gtx.Execute(key.FocusCmd{Tag: tag})
	if r.selIdx < 0 && n > 0 {
		sel(0)
	}
}

// navigate handles the pointer and key events of tag, a list laid out
// from pos with n rows; sel selects a row.
func (r *rows) navigate(gtx layout.Context, tag event.Tag, pos layout.Position, n int, sel func(int)) {
	for {
		ev, ok := gtx.Event(
			pointer.Filter{Target: tag, Kinds: pointer.Press},
			key.FocusFilter{Target: tag},
			key.Filter{Focus: tag, Name: key.NameUpArrow},
			key.Filter{Focus: tag, Name: key.NameDownArrow},
			key.Filter{Focus: tag, Name: key.NamePageUp},
			key.Filter{Focus: tag, Name: key.NamePageDown},
			key.Filter{Focus: tag, Name: key.NameHome},
			key.Filter{Focus: tag, Name: key.NameEnd},
			key.Filter{Focus: tag, Name: key.NameReturn},
			key.Filter{Focus: tag, Name: key.NameEnter},
		)
		if !ok {
			return
		}
		switch e := ev.(type) {
		case pointer.Event:
			gtx.Execute(key.FocusCmd{Tag: tag})
			if r.rowPx > 0 {
				if i := pos.First + (int(e.Position.Y)+pos.Offset)/r.rowPx; i < n {
					sel(i)
				}
			}
		case key.Event:
			if e.State != key.Press {
				break
			}
			page := max(1, r.visible-1)
			switch e.Name {
			case key.NameUpArrow:
				sel(r.selIdx - 1)
			case key.NameDownArrow:
				sel(r.selIdx + 1)
			case key.NamePageUp:
				sel(r.selIdx - page)
			case key.NamePageDown:
				sel(r.selIdx + page)
			case key.NameHome:
				sel(0)
			case key.NameEnd:
				sel(n - 1)
			case key.NameReturn, key.NameEnter:
				r.activated = r.selIdx >= 0
			}
		}
	}
}

// keepInView scrolls list so row i is on screen.
func (r *rows) keepInView(list *widget.List, i int) {
	first := list.Position.First
	if i < first {
		list.ScrollTo(i)
	} else if r.visible > 0 && i >= first+r.visible-1 {
		list.ScrollTo(i - r.visible + 2)
	}
}

// Activated reports whether the selected row was opened (Enter) since
// the last call.
func (r *rows) Activated() bool {
	a := r.activated
	r.activated = false
	return a
}

// FocusRing draws a ring just inside the edges of an area of size sz, the
// mark of the widget with the keyboard focus: two pixels of th.Focus and,
// inside them, one of the background, so that it shows on a button of
// the focus color too.
func FocusRing(gtx layout.Context, th *Theme, sz image.Point) {
	w := max(1, gtx.Dp(2))
	ring := func(inset, width int, c color.NRGBA) {
		rr := clip.UniformRRect(image.Rectangle{Min: image.Pt(inset, inset), Max: sz.Sub(image.Pt(inset, inset))}, gtx.Dp(3))
		paint.FillShape(gtx.Ops, c, clip.Stroke{Path: rr.Path(gtx.Ops), Width: float32(width)}.Op())
	}
	ring(w/2, w, th.Focus)
	ring(w+max(1, gtx.Dp(1))/2, max(1, gtx.Dp(1)), th.Bg)
}

// Focused wraps w: when focused it draws FocusRing around what w drew.
func Focused(gtx layout.Context, th *Theme, focused bool, w layout.Widget) layout.Dimensions {
	d := w(gtx)
	if focused {
		FocusRing(gtx, th, d.Size)
	}
	return d
}

// Shortcut reports whether the shortcut modifier (Ctrl, or Command on
// macOS) with key name was pressed in this frame, wherever the focus is
// (unless the focused widget takes that key itself). hills windows use
// Shortcut(gtx, "S") to save and Shortcut(gtx, "F") to find (FilterBox
// handles that one). Call it once per frame per name, before or after the
// widgets, from the window's goroutine.
func Shortcut(gtx layout.Context, name key.Name) bool {
	hit := false
	for {
		ev, ok := gtx.Event(key.Filter{Name: name, Required: key.ModShortcut})
		if !ok {
			return hit
		}
		if e, ok := ev.(key.Event); ok && e.State == key.Press {
			hit = true
		}
	}
}
