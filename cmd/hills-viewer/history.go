package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gioui.org/layout"
	"gioui.org/widget"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
	"github.com/hillsdb/hills/widgets"
)

// The history tab lists what the server kept of the selected record:
// oldest first, each change with its sequence, time, author and kind, the
// fields it moved (old → new), and the check-out events with their reason.

// historyTimeout bounds one request of a record's history.
const historyTimeout = 15 * time.Second

// historyView is the history tab's content.
type historyView struct {
	key     db.OpaqueKey
	loading bool
	rows    []historyRow
	err     error
	list    widget.List
	refresh widget.Clickable
}

// historyRow is one change as the tab shows it: a heading and the lines
// under it.
type historyRow struct {
	head  string
	lines []string
}

// historyLoaded is a history read in a goroutine.
type historyLoaded struct {
	key  db.OpaqueKey
	rows []historyRow
	err  error
}

// historyUnavailable says why the history cannot be shown now, or "".
func (v *viewer) historyUnavailable() string {
	if v.client == nil {
		return "No history here: a record's history is kept by a hills server, and this database is standalone " +
			"(open a replica with -server to see it)."
	}
	if st := v.status(); !st.Connected {
		msg := "History unavailable: it is kept by the server " + st.Server + ", and this replica is offline."
		if st.Err != nil {
			msg += " Last error: " + st.Err.Error()
		}
		return msg
	}
	return ""
}

// loadHistory reads the selected record's history in a goroutine, when
// the server can be asked.
func (v *viewer) loadHistory() {
	if !v.hasSel || v.historyUnavailable() != "" {
		return
	}
	c, k := v.client, v.sel
	v.hist.key, v.hist.loading = k, true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
		defer cancel()
		list, err := c.History(ctx, k)
		r := &historyLoaded{key: k, err: err}
		for _, ch := range list {
			r.rows = append(r.rows, describeChange(ch))
		}
		v.mu.Lock()
		v.histRes = r
		v.mu.Unlock()
		v.w.Wake()
	}()
}

// showHistory applies a history read for the selection.
func (v *viewer) showHistory(r *historyLoaded) {
	if !v.hasSel || r.key != v.sel {
		return
	}
	v.hist.loading = false
	v.hist.key, v.hist.rows, v.hist.err = r.key, r.rows, r.err
}

// describeChange is the tab's row of change c.
func describeChange(c netsync.Change) historyRow {
	what := c.Kind.String()
	if c.Kind == db.BorrowChanged {
		what = c.Borrow.String()
	}
	r := historyRow{head: fmt.Sprintf("#%d  %s  %s  %s", c.Seq, c.At.Local().Format("2006-01-02 15:04:05"), c.By, what)}
	switch {
	case c.Borrow == netsync.ForceReturned:
		r.lines = []string{fmt.Sprintf("taken from %s: %s", c.Holder, orNone(c.Reason))}
	case c.Kind == db.BorrowChanged:
		if c.Holder != "" && c.Holder != c.By {
			r.lines = []string{"holder " + c.Holder}
		}
	case c.Old == "" && c.New != "":
		r.lines = []string{"created as " + netsync.CompactJSON(c.New)}
	case c.New == "" && c.Old != "":
		r.lines = []string{"was " + netsync.CompactJSON(c.Old)}
	default:
		fields := c.Fields()
		if fields == nil {
			r.lines = []string{"now " + netsync.CompactJSON(c.New)}
		} else if len(fields) == 0 {
			r.lines = []string{"value unchanged"}
		}
		for _, f := range fields {
			r.lines = append(r.lines, fmt.Sprintf("%s: %s → %s", f.Field, orNone(f.Old), orNone(f.New)))
		}
	}
	return r
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// layoutHistory lays out the history tab.
func (v *viewer) layoutHistory(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	h := &v.hist
	if h.refresh.Clicked(gtx) && !h.loading {
		v.loadHistory()
	}
	h.list.Axis = layout.Vertical
	var msg string
	var isErr bool
	switch {
	case v.historyUnavailable() != "":
		msg = v.historyUnavailable()
	case h.loading && h.key == v.sel:
		msg = "Reading the history from the server…"
	case h.key != v.sel:
		msg = "Press Refresh to read the history."
	case h.err != nil:
		msg, isErr = "History: "+h.err.Error(), true
		if errors.Is(h.err, db.ErrPermission) {
			msg = "History: your grants do not allow reading it (" + h.err.Error() + ")"
		}
	case len(h.rows) == 0:
		msg = "The server keeps no history of this record (it may have been trimmed, or the record never reached it)."
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Bottom: 6}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
					layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
						return th.MutedLabel(plural(len(h.rows), "event") + ", oldest first").Layout(gtx)
					}),
					layout.Rigid(func(gtx layout.Context) layout.Dimensions {
						return button(gtx, th, &h.refresh, "Refresh", !h.loading && v.historyUnavailable() == "")
					}),
				)
			})
		}),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			if msg != "" {
				l := th.Label(msg)
				l.MaxLines = 6
				l.Color = th.Muted
				if isErr {
					l.Color = th.Error
				}
				return l.Layout(gtx)
			}
			return h.list.Layout(gtx, len(h.rows), func(gtx layout.Context, i int) layout.Dimensions {
				r := h.rows[i]
				return layout.Inset{Bottom: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
					return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
						layout.Rigid(func(gtx layout.Context) layout.Dimensions {
							l := th.Label(r.head)
							l.Font.Weight = 600
							return l.Layout(gtx)
						}),
						layout.Rigid(func(gtx layout.Context) layout.Dimensions {
							if len(r.lines) == 0 {
								return layout.Dimensions{}
							}
							l := th.Label(strings.Join(r.lines, "\n"))
							l.Font.Typeface = "Go Mono"
							l.TextSize = th.TextSize - 1
							l.MaxLines = 4 * max(1, len(r.lines)) // wrapped, within reason
							return layout.Inset{Left: 12}.Layout(gtx, l.Layout)
						}),
					)
				})
			})
		}),
	)
}
