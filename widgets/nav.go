package widgets

import (
	"gioui.org/io/event"
	"gioui.org/io/key"
	"gioui.org/io/pointer"
	"gioui.org/layout"
	"gioui.org/widget"
)

// rows is the selection state that the record list and the table share:
// a click selects the row under the pointer; the arrow keys, Page Up/Down,
// Home and End move the selection.
type rows struct {
	selIdx  int // selected row; -1: none
	rowPx   int // a row's height in the last frame
	visible int // rows on screen in the last frame
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
