package widgets

import (
	"strings"

	"gioui.org/io/key"
	"gioui.org/layout"
	"gioui.org/widget"

	"github.com/hillsdb/hills/db"
)

// SearchBox is a text field whose contents search an index: Results
// returns the keys of the records whose index keys contain the text
// (db.IndexSearch), in index order. The search runs in the frame after
// each edit; an index search reads memory only, and Limit bounds it.
type SearchBox[T any, K ~string] struct {
	Index *db.Index[T, K]
	Hint  string
	// Limit is the most results kept; default 1000.
	Limit int
	// Next takes the focus on Down (the list of results, say); nil: Down
	// does nothing. Escape clears the text.
	Next Focuser

	ed      widget.Editor
	query   string
	results []db.Key[T]
	gen     uint64
	w       *Watcher
}

// Watch makes the results follow changes reported by w.
func (s *SearchBox[T, K]) Watch(w *Watcher) { s.w = w }

// Query returns the current search text.
func (s *SearchBox[T, K]) Query() string { return s.query }

// SetQuery sets the search text, as if typed.
func (s *SearchBox[T, K]) SetQuery(q string) {
	s.ed.SetText(q)
	s.run(q)
}

// Results returns the keys found for the current text; empty text finds
// nothing. The slice is owned by the box and valid until the next frame.
func (s *SearchBox[T, K]) Results() []db.Key[T] { return s.results }

func (s *SearchBox[T, K]) run(q string) {
	s.query = q
	q = strings.TrimSpace(q)
	if q == "" || s.Index == nil {
		s.results = s.results[:0]
		return
	}
	limit := s.Limit
	if limit <= 0 {
		limit = 1000
	}
	s.results = db.IndexSearch(s.Index, q, limit)
}

// Update handles edits and keys and reports whether the results
// changed.
func (s *SearchBox[T, K]) Update(gtx layout.Context) bool {
	s.ed.SingleLine = true
	changed := false
	switch fieldKeys(gtx, &s.ed) {
	case key.NameDownArrow:
		if s.Next != nil {
			s.Next.Focus()
		}
	case key.NameEscape:
		if s.ed.Text() != "" {
			s.ed.SetText("")
			changed = true
		}
	}
	for {
		e, ok := s.ed.Update(gtx)
		if !ok {
			break
		}
		if _, ok := e.(widget.ChangeEvent); ok {
			changed = true
		}
	}
	if s.w != nil {
		if g := s.w.Generation(); g != s.gen {
			s.gen, changed = g, true
		}
	}
	if changed {
		s.run(s.ed.Text())
	}
	return changed
}

// Layout draws the search field.
func (s *SearchBox[T, K]) Layout(gtx layout.Context, th *Theme) layout.Dimensions {
	s.Update(gtx)
	hint := s.Hint
	if hint == "" {
		hint = "Search " + s.Index.Name()
	}
	return textField(gtx, th, &s.ed, hint, false)
}

// FilterBox is a text field for Table.SetFilter: the table is filtered
// when the text changes (in the table's goroutine). Ctrl+F (Command+F on
// macOS) focuses it from anywhere in the window, Down moves the focus to
// the table, and Escape clears the filter (from the box, or from anywhere
// the focused widget does not take Escape itself).
type FilterBox struct {
	Hint  string
	ed    widget.Editor
	focus bool
}

// Focus gives the box the keyboard focus at its next Layout.
func (f *FilterBox) Focus() { f.focus = true }

// fieldKeys takes Down and Escape from a focused one-line editor before
// the editor sees them, and returns the one pressed ("" when none).
func fieldKeys(gtx layout.Context, ed *widget.Editor) key.Name {
	var got key.Name
	for {
		ev, ok := gtx.Event(key.Filter{Focus: ed, Name: key.NameDownArrow}, key.Filter{Focus: ed, Name: key.NameEscape})
		if !ok {
			return got
		}
		if e, ok := ev.(key.Event); ok && e.State == key.Press {
			got = e.Name
		}
	}
}

// Text returns the filter text.
func (f *FilterBox) Text() string { return f.ed.Text() }

// SetText sets the filter text.
func (f *FilterBox) SetText(s string) { f.ed.SetText(s) }

// Layout draws the field and applies a changed text to t.
func (f *FilterBox) Layout(gtx layout.Context, th *Theme, t *Table) layout.Dimensions {
	f.ed.SingleLine = true
	if Shortcut(gtx, "F") || f.focus {
		f.focus = false
		gtx.Execute(key.FocusCmd{Tag: &f.ed})
		f.ed.SetCaret(f.ed.Len(), 0) // select all: typing replaces the filter
	}
	clear := false
	switch fieldKeys(gtx, &f.ed) {
	case key.NameDownArrow:
		if t != nil {
			t.Focus()
		}
	case key.NameEscape:
		clear = true
	}
	// Escape from elsewhere in the window.
	for {
		ev, ok := gtx.Event(key.Filter{Name: key.NameEscape})
		if !ok {
			break
		}
		if e, ok := ev.(key.Event); ok && e.State == key.Press {
			clear = true
		}
	}
	if clear && f.ed.Text() != "" {
		f.ed.SetText("")
		if t != nil {
			t.SetFilter("")
		}
	}
	for {
		e, ok := f.ed.Update(gtx)
		if !ok {
			break
		}
		if _, ok := e.(widget.ChangeEvent); ok && t != nil {
			t.SetFilter(f.ed.Text())
		}
	}
	hint := f.Hint
	if hint == "" {
		hint = "Filter rows"
	}
	return textField(gtx, th, &f.ed, hint, false)
}
