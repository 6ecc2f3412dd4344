package widgets

import (
	"strings"

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

// Update handles edits and reports whether the results changed.
func (s *SearchBox[T, K]) Update(gtx layout.Context) bool {
	s.ed.SingleLine = true
	changed := false
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
// when the text changes (in the table's goroutine).
type FilterBox struct {
	Hint string
	ed   widget.Editor
}

// Text returns the filter text.
func (f *FilterBox) Text() string { return f.ed.Text() }

// SetText sets the filter text.
func (f *FilterBox) SetText(s string) { f.ed.SetText(s) }

// Layout draws the field and applies a changed text to t.
func (f *FilterBox) Layout(gtx layout.Context, th *Theme, t *Table) layout.Dimensions {
	f.ed.SingleLine = true
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
