package main

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gioui.org/layout"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
	"github.com/hillsdb/hills/widgets"
)

// treeItem is one entry of the tree list.
type treeItem struct {
	name string
	// n is the tree's record count (-1: unknown), stored by the tree
	// list's goroutine and read by frames: atomic, since a frame reads
	// the item outside v.mu.
	n   atomic.Int64
	btn widget.Clickable // the window's goroutine only
}

// loaded is a record read in a goroutine for the record panel.
type loaded struct {
	key    db.OpaqueKey
	text   string
	meta   db.Meta
	err    error
	exists bool
}

// viewer is the whole window's state.
type viewer struct {
	d      *db.DB
	client *netsync.Client // nil: a standalone database
	w      *widgets.Watcher
	th     *widgets.Theme
	status func() netsync.Status
	source string

	// The tree list, refreshed by a goroutine (listing trees reads the
	// store, and opening a tree loads it).
	mu        sync.Mutex
	items     []*treeItem
	stop      chan struct{}
	done      chan struct{}
	rec       *loaded // the last record read, for the panel
	result    *opResult
	histRes   *historyLoaded // the last history read, for the panel
	exportRes *exportDone    // the outcome of an export
	treeTbl   map[string]db.OpaqueTree

	treeList widget.List
	cur      string
	tree     db.OpaqueTree
	table    *widgets.Table
	filter   widgets.FilterBox
	sync     widgets.SyncBar

	// The record panel.
	sel       db.OpaqueKey
	hasSel    bool
	creating  bool
	shown     loaded // what the panel shows
	loadedGen uint64
	reading   bool
	form      *widgets.Form
	jsonEd    widget.Editor
	jsonBase  string // the text the program last put in jsonEd (setJSON)
	jsonMode  bool
	histMode  bool // the History tab is shown (over the form or JSON)
	hist      historyView
	tabHist   widget.Clickable
	export    exportForm
	// saved is editState at the last save of the record, until the
	// record is read back: unchanged, the panel shows it as stored.
	saved string
	// seenFilter is the table's filter whose rows the panel followed.
	seenFilter string
	// startMsg says why the tree the flags name is not shown; pending is
	// what the flags asked for, until the tree arrives.
	startMsg  string
	pending   *startup
	log       *slog.Logger
	tabForm   widget.Clickable
	tabJSON   widget.Clickable
	checkout  widgets.CheckOut
	newBtn    widget.Clickable
	saveBtn   widget.Clickable
	delBtn    widget.Clickable
	relBtn    widget.Clickable
	stateBtn  widget.Clickable
	cancelBtn widget.Clickable
	stateEd   widget.Editor
	panel     widget.List
	msg       string
	msgErr    bool
	busy      bool

	// cmds run on the window's goroutine at the start of a frame (see
	// run); snap is what the last frame showed, for tests and tools.
	cmds   chan func()
	snap   atomic.Pointer[snapshot]
	frames uint64 // frames laid out; the window's goroutine only
}

// snapshot is what a frame showed.
type snapshot struct {
	Frame    uint64         // the frame's number, from 1
	Trees    map[string]int // tree → records
	Tree     string         // the tree shown in the table
	Rows     int
	Cells    [][]string // the first rows' cells
	Selected string     // the selected key, "" when none
	Text     string     // the selected record's JSON text
	Borrow   string     // the check-out button's label
	Msg      string
}

// run asks the window's goroutine to call fn at its next frame.
func (v *viewer) run(fn func()) {
	v.cmds <- fn
	v.w.Notify()
}

// takeSnapshot records what this frame shows.
func (v *viewer) takeSnapshot() {
	v.frames++
	s := &snapshot{Frame: v.frames, Trees: map[string]int{}, Tree: v.cur, Msg: v.msg}
	v.mu.Lock()
	for _, it := range v.items {
		s.Trees[it.name] = int(it.n.Load())
	}
	v.mu.Unlock()
	if v.table != nil {
		s.Rows = v.table.Len()
		for i := 0; i < min(s.Rows, 20); i++ {
			s.Cells = append(s.Cells, v.table.Cells(i))
		}
	}
	if v.hasSel {
		s.Selected = v.sel.String()
		s.Text = v.shown.text
		if v.checkout.Record != nil {
			s.Borrow = v.checkout.Label(v.checkout.Record.Borrow())
		}
	}
	v.snap.Store(s)
}

// opResult is the outcome of a write run in a goroutine.
type opResult struct {
	msg     string
	err     error
	created *db.OpaqueKey
}

func newViewer(a *app.App) *viewer {
	src := a.Config.Dir
	if a.Config.Server != "" {
		src = a.Config.Server
	}
	v := &viewer{d: a.DB, client: a.Client, w: a.Watcher, th: a.Theme, status: a.Status(), source: src, log: a.Config.Logger}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.start()
	return v
}

func (v *viewer) start() {
	v.treeList.Axis = layout.Vertical
	v.panel.Axis = layout.Vertical
	v.jsonEd.SingleLine = false
	v.stateEd.SingleLine = true
	v.sync = widgets.SyncBar{Status: v.status, Local: v.source}
	v.checkout.Watcher = v.w
	v.checkout.OnLeave = v.leftQueue
	v.treeTbl = map[string]db.OpaqueTree{}
	v.cmds = make(chan func(), 16)
	v.stop, v.done = make(chan struct{}), make(chan struct{})
	go v.watchTrees()
}

// Close stops the viewer's goroutines and subscriptions.
func (v *viewer) Close() {
	close(v.stop)
	<-v.done
	if v.table != nil {
		v.table.Close()
	}
	v.checkout.Cancel()
}

// watchTrees lists the trees and their counts every second.
func (v *viewer) watchTrees() {
	defer close(v.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		v.refreshTrees()
		select {
		case <-v.stop:
			return
		case <-t.C:
		}
	}
}

func (v *viewer) refreshTrees() {
	names := v.d.Trees()
	counts := make([]int, len(names))
	for i, name := range names {
		v.mu.Lock()
		t := v.treeTbl[name]
		v.mu.Unlock()
		if t == nil {
			var err error
			if t, err = v.d.Opaque(name); err != nil {
				counts[i] = -1
				continue
			}
			v.mu.Lock()
			v.treeTbl[name] = t
			v.mu.Unlock()
		}
		counts[i] = t.Len()
	}
	v.mu.Lock()
	changed := len(names) != len(v.items)
	if !changed {
		for i, it := range v.items {
			if it.name != names[i] || it.n.Load() != int64(counts[i]) {
				changed = true
			}
		}
	}
	if changed {
		old := map[string]*treeItem{}
		for _, it := range v.items {
			old[it.name] = it
		}
		items := make([]*treeItem, len(names))
		for i, name := range names {
			it := old[name]
			if it == nil {
				it = &treeItem{name: name}
			}
			it.n.Store(int64(counts[i]))
			items[i] = it
		}
		v.items = items
	}
	v.mu.Unlock()
	if changed {
		v.w.Notify()
	}
}

// openTree shows tree name in the table.
func (v *viewer) openTree(name string) bool {
	v.mu.Lock()
	_, ok := v.treeTbl[name]
	v.mu.Unlock()
	if !ok {
		// Not listed yet: look it up now (a command from a flag or test).
		if t, err := v.d.Opaque(name); err == nil {
			v.mu.Lock()
			v.treeTbl[name] = t
			v.mu.Unlock()
		}
	}
	if v.cur == name {
		return true
	}
	v.mu.Lock()
	t := v.treeTbl[name]
	v.mu.Unlock()
	if t == nil {
		return false
	}
	if v.table != nil {
		v.table.Close()
	}
	v.cur, v.tree = name, t
	if !v.export.busy {
		v.export.open = false // the form was for the other tree
	}
	v.table = widgets.NewTable(t, v.w)
	v.table.SetFilter(v.filter.Text())
	v.form = widgets.NewForm(t.Schema(), v.d)
	v.selectRecord(db.OpaqueKey{}, false)
	return true
}

// selectKey selects the record with key text s ("ID.Rev") of the shown
// tree.
func (v *viewer) selectKey(s string) error {
	if v.table == nil {
		return fmt.Errorf("no tree shown")
	}
	k, err := db.ParseKey[struct{}](s)
	if err != nil {
		return err
	}
	ok := db.OpaqueKey{Tree: v.cur, ID: k.ID, Rev: k.Rev}
	v.table.Select(ok)
	v.selectRecord(ok, true)
	return nil
}

// selectRecord shows record k in the panel.
func (v *viewer) selectRecord(k db.OpaqueKey, ok bool) {
	v.checkout.Cancel()
	v.sel, v.hasSel, v.creating = k, ok, false
	v.shown = loaded{}
	v.hist = historyView{}
	v.msg = ""
	if ok {
		// The schema may have changed since the tree was opened.
		v.form = widgets.NewForm(v.tree.Schema(), v.d)
		v.adjustCounters(k)
		v.checkout.Record = widgets.OpaqueBorrower(v.tree, k)
		v.read()
	} else {
		v.checkout.Record = nil
	}
}

// read loads the selected record in a goroutine.
func (v *viewer) read() {
	t, k := v.tree, v.sel
	v.reading = true
	v.loadedGen = v.w.Generation()
	go func() {
		r := &loaded{key: k}
		r.meta, r.err = t.Meta(k)
		if r.err == nil {
			r.text, r.err = t.Text(k)
		}
		r.exists = !errors.Is(r.err, db.ErrNotFound)
		v.mu.Lock()
		v.rec = r
		v.mu.Unlock()
		// Not Notify: a record loaded is no change of the database, and
		// reloadIfChanged would load it again, frame after frame.
		v.w.Wake()
	}()
}

// do runs a write in a goroutine and reports its outcome in the panel.
func (v *viewer) do(what string, fn func() (*db.OpaqueKey, error)) {
	v.busy = true
	v.msg, v.msgErr = what+"…", false
	go func() {
		k, err := fn()
		v.mu.Lock()
		v.result = &opResult{msg: what, err: err, created: k}
		v.mu.Unlock()
		v.w.Notify()
	}()
}

// editable reports whether the panel's record may be edited now.
func (v *viewer) editable() bool {
	if v.creating {
		return true
	}
	return v.hasSel && v.tree != nil && v.tree.Borrow(v.sel).Mine
}

// syncState applies what the goroutines produced. Called at the frame's
// start: the record read for the panel, the outcome of a write, then a
// reload of the shown record when the database changed.
func (v *viewer) syncState() {
	v.mu.Lock()
	rec, res, hist, exp := v.rec, v.result, v.histRes, v.exportRes
	v.rec, v.result, v.histRes, v.exportRes = nil, nil, nil, nil
	v.mu.Unlock()
	if exp != nil {
		v.finishExport(exp)
	}
	if hist != nil {
		v.showHistory(hist)
	}
	if rec != nil && rec.key == v.sel && v.hasSel {
		v.showRecord(rec)
	}
	if res != nil {
		v.finishWrite(res)
	}
	v.reloadIfChanged()
}

// showRecord shows a record read for the selection in the panel, keeping
// the user's edits when it is the record being edited.
func (v *viewer) showRecord(rec *loaded) {
	v.reading = false
	if v.histMode && (rec.key != v.shown.key || rec.meta.Changes != v.shown.meta.Changes || !rec.meta.Modified.Equal(v.shown.meta.Modified)) {
		v.loadHistory() // another record, or a change of it: a new row
	}
	keep := v.shown.text != "" && v.editable() && v.shown.key == rec.key
	if keep && v.saved != "" && v.saved == v.editState() {
		keep = false // saved, nothing typed since: show the record as stored
	}
	v.saved = ""
	old := v.shown
	v.shown = *rec
	if keep {
		// Keep the user's edits; only the meta and the counters
		// (which the edits leave out) are refreshed.
		v.shown.text = old.text
		if rec.err == nil {
			_ = v.form.SetCounters(rec.text)
		}
	} else if rec.err == nil {
		_ = v.form.SetText(rec.text)
		v.setJSON(rec.text)
		v.stateEd.SetText(strconv.FormatUint(uint64(rec.meta.State), 10))
	}
}

// finishWrite reports a write's outcome and selects a created record.
func (v *viewer) finishWrite(res *opResult) {
	v.busy = false
	if res.err != nil {
		v.msg, v.msgErr = res.msg+" failed: "+res.err.Error(), true
		v.saved = ""
		return
	}
	v.msg, v.msgErr = res.msg+": done", false
	if res.created != nil {
		v.table.Select(*res.created)
		v.selectRecord(*res.created, true)
		v.msg = res.msg + ": created " + res.created.String()
	} else if v.hasSel {
		// Refresh the meta; the fields keep what the user sees
		// (and may already be editing again).
		v.read()
	}
}

// adjustCounters lets the form change the counters of record k with −
// and +, without a check-out, and leaves them out of its updates.
func (v *viewer) adjustCounters(k db.OpaqueKey) {
	t := v.tree
	v.form.OmitCounters = true
	v.form.OnAdd = func(field string, delta int64) {
		if v.busy {
			return
		}
		v.do(fmt.Sprintf("%s %+d", field, delta), func() (*db.OpaqueKey, error) { return nil, t.Add(k, field, delta) })
	}
}

// reloadIfChanged reloads the shown record when something changed,
// unless it is being edited.
func (v *viewer) reloadIfChanged() {
	if !v.hasSel || v.reading || v.w.Generation() == v.loadedGen {
		return
	}
	if !v.editable() || v.shown.text == "" {
		v.read()
	} else {
		v.loadedGen = v.w.Generation()
	}
}

// Layout draws a frame.
func (v *viewer) Layout(gtx layout.Context) layout.Dimensions {
	for len(v.cmds) > 0 {
		(<-v.cmds)()
	}
	v.syncState()
	v.handleExport(gtx)
	if v.pending != nil && slices.Contains(v.d.Trees(), v.pending.tree) {
		v.startTree(*v.pending)
	}
	defer v.takeSnapshot()
	th := v.th
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.layoutTop(gtx, th) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return widgets.Divider(gtx, th.Border) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.layoutExport(gtx, th) }),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			return layout.Flex{}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints = layout.Exact(image.Pt(gtx.Dp(190), gtx.Constraints.Max.Y))
					return v.layoutTrees(gtx, th)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints.Min.Y = gtx.Constraints.Max.Y
					return widgets.VDivider(gtx, th.Border)
				}),
				layout.Flexed(1, func(gtx layout.Context) layout.Dimensions { return v.layoutTable(gtx, th) }),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints.Min.Y = gtx.Constraints.Max.Y
					return widgets.VDivider(gtx, th.Border)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints = layout.Exact(image.Pt(min(gtx.Dp(440), gtx.Constraints.Max.X/2), gtx.Constraints.Max.Y))
					return v.layoutPanel(gtx, th)
				}),
			)
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return widgets.Divider(gtx, th.Border) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.sync.Layout(gtx, th) }),
	)
}

func (v *viewer) layoutTop(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	if v.newBtn.Clicked(gtx) && v.tree != nil && v.d.Allows(v.cur, "create") {
		v.checkout.Cancel()
		v.checkout.Record = nil
		v.creating, v.hasSel = true, false
		v.form = widgets.NewForm(v.tree.Schema(), v.d)
		v.setJSON("{}")
		v.shown = loaded{}
		v.msg = "new record: fill in the fields and save"
		v.msgErr = false
	}
	return widgets.Background(gtx, th.Header, func(gtx layout.Context) layout.Dimensions {
		gtx.Constraints.Min.X = gtx.Constraints.Max.X
		return layout.Inset{Top: 8, Bottom: 8, Left: 12, Right: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					l := material.Label(th.Theme, 17, "hills viewer")
					l.Font.Weight = 700
					return l.Layout(gtx)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					return layout.Inset{Left: 12}.Layout(gtx, th.MutedLabel(v.source).Layout)
				}),
				layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
					return layout.Dimensions{Size: image.Pt(gtx.Constraints.Min.X, 0)}
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if v.table == nil {
						return layout.Dimensions{}
					}
					what, p, ok := v.table.Busy()
					if !ok {
						return layout.Dimensions{}
					}
					return layout.Inset{Right: 12}.Layout(gtx, th.MutedLabel(fmt.Sprintf("%s %d%%", what, int(p*100))).Layout)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints = layout.Exact(image.Pt(gtx.Dp(260), gtx.Dp(30)))
					return v.filter.Layout(gtx, th, v.table)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if v.tree == nil {
						return layout.Dimensions{}
					}
					return layout.Inset{Left: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						return button(gtx, th, &v.newBtn, "New record", v.d.Allows(v.cur, "create"))
					})
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if v.tree == nil {
						return layout.Dimensions{}
					}
					return layout.Inset{Left: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						return button(gtx, th, &v.export.btn, "Export…", true)
					})
				}),
			)
		})
	})
}

func (v *viewer) layoutTrees(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	v.mu.Lock()
	items := v.items
	v.mu.Unlock()
	for _, it := range items {
		if it.btn.Clicked(gtx) {
			v.openTree(it.name)
		}
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Top: 10, Bottom: 6, Left: 12, Right: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				l := th.MutedLabel("TREES")
				l.TextSize = 12
				l.Font.Weight = 600
				return l.Layout(gtx)
			})
		}),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			if len(items) == 0 {
				return layout.Inset{Left: 12}.Layout(gtx, th.MutedLabel("no trees yet").Layout)
			}
			return v.treeList.List.Layout(gtx, len(items), func(gtx layout.Context, i int) layout.Dimensions {
				it := items[i]
				return it.btn.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
					h := gtx.Dp(30)
					gtx.Constraints = layout.Exact(image.Pt(gtx.Constraints.Max.X, h))
					switch {
					case it.name == v.cur:
						widgets.Background(gtx, th.Select, func(gtx layout.Context) layout.Dimensions { return layout.Dimensions{Size: gtx.Constraints.Min} })
					case it.btn.Hovered():
						widgets.Background(gtx, th.Stripe, func(gtx layout.Context) layout.Dimensions { return layout.Dimensions{Size: gtx.Constraints.Min} })
					}
					return layout.Inset{Left: 12, Right: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
							layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
								return layout.W.Layout(gtx, th.Label(it.name).Layout)
							}),
							layout.Rigid(func(gtx layout.Context) layout.Dimensions {
								n := "…"
								if c := it.n.Load(); c >= 0 {
									n = humanCount(int(c))
								}
								return th.MutedLabel(n).Layout(gtx)
							}),
						)
					})
				})
			})
		}),
	)
}

// humanCount writes n with thousands separators.
func humanCount(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (v *viewer) layoutTable(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	if v.table == nil {
		l := th.MutedLabel("Choose a tree on the left.")
		if v.startMsg != "" {
			l = th.Label(v.startMsg)
			l.Color = th.Error
		}
		return layout.Inset{Top: 16, Left: 16}.Layout(gtx, l.Layout)
	}
	if v.table.Update(gtx) {
		v.selectRecord(v.table.Selected, v.table.HasSelection)
	}
	v.followFilter()
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions { return v.table.Layout(gtx, th) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return widgets.Divider(gtx, th.Border) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Top: 4, Bottom: 4, Left: 10, Right: 10}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				s := v.tree.Schema()
				txt := fmt.Sprintf("%s shown · %s holds %s · schema %s", plural2(v.table.Len(), "row"), v.cur, plural2(v.tree.Len(), "record"), s.Evolution)
				return th.MutedLabel(txt).Layout(gtx)
			})
		}),
	)
}

// followFilter deselects the record shown once a new filter's rows leave
// it out, saying so.
func (v *viewer) followFilter() {
	f := v.table.Filter()
	if f == v.seenFilter {
		return
	}
	if _, _, busy := v.table.Busy(); busy {
		return
	}
	v.seenFilter = f
	if v.hasSel && !v.table.SelectionShown() {
		k := v.sel
		v.table.HasSelection = false
		v.selectRecord(db.OpaqueKey{}, false)
		v.msg, v.msgErr = fmt.Sprintf("%s/%s is filtered out (filter %q)", v.cur, k, f), false
	}
}

// leftQueue says that a click gave up waiting for the shown record.
func (v *viewer) leftQueue(s db.BorrowState) {
	what := v.cur + "/" + v.sel.String()
	switch {
	case s.Waiting > 0 && s.Holder != "":
		v.msg = "left the queue for " + what + " (held by " + s.Holder + ")"
	case s.Waiting > 0:
		v.msg = "left the queue for " + what
	default:
		v.msg = "stopped waiting for the answer about " + what
	}
	v.msgErr = false
}

// plural2 writes a count with thousands separators and the noun.
func plural2(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return humanCount(n) + " " + what + "s"
}
