package widgets

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gioui.org/gesture"
	"gioui.org/io/event"
	"gioui.org/io/pointer"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/op/clip"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/fold"
)

// Column kinds of a Table.
const (
	colKey = iota
	colField
	colState
	colVersion
	colModified
	colBy
)

// Column is one column of a Table.
type Column struct {
	Title string
	// Width is the column's width. It grows to fit the widest cell of the
	// rows shown (up to a cap per kind of column) until the user drags
	// the header's right edge; from then on it is the user's.
	Width unit.Dp
	// Pinned columns (the key and the first two text fields) stay at the
	// left edge when the table scrolls sideways.
	Pinned bool

	kind  int
	field int // index into the schema's fields, for colField
	typ   *db.Type
	auto  bool // Width follows the content

	// A click sorts. Not a widget.Clickable: the headers stay out of the
	// Tab order, which goes from the filter straight to the rows.
	sortClick gesture.Click
	drag      gesture.Drag
	dragX     float32
	dragW     unit.Dp
}

type tableRow struct {
	cells []string
	meta  db.Meta
	err   error
}

// Table shows the records of any tree through its OpaqueTree: a key
// column, one column per top-level schema field, and the state, version,
// modification time and writer. Click a header to sort (again to reverse,
// a third time to go back to key order); drag its right edge to resize.
// Filter keeps the rows whose key or JSON text contains a string.
//
// Only the visible rows are read, from a cache of rendered cells that
// change events invalidate key by key. The row order is a slice of keys:
// creations and deletions are applied to it in the frame when the table is
// in key order; sorting, filtering and larger changes rebuild it in a
// goroutine, which shows its progress (Busy) and never blocks a frame.
//
// Create tables with NewTable and Close them. Layout and the other methods
// must be called from the window's goroutine.
type Table struct {
	Tree    db.OpaqueTree
	Columns []*Column

	// Selected is the selected key, valid when HasSelection.
	Selected     db.OpaqueKey
	HasSelection bool

	w       *Watcher
	cancel  func()
	list    widget.List
	keys    []db.OpaqueKey
	cache   map[db.OpaqueKey]*tableRow
	changed bool
	rows
	fields  []db.Field
	evo     db.Evolution
	scrollX int       // horizontal scroll in pixels
	spans   []colSpan // visibleColumns' buffer
	widthPx int       // total width of the columns, last frame
	viewPx  int       // visible width, last frame
	hscroll gesture.Scroll
	hbar    widget.Scrollbar

	filter  string
	sortCol int // -1: key order
	desc    bool

	shaped   cellCache
	pinnedPx int // width of the pinned columns, this frame
	hover    hoverState

	// Shared with the subscription and the rebuild goroutine.
	mu       sync.Mutex
	events   []db.OpaqueKey
	kinds    []db.EventKind
	overflow bool
	result   []db.OpaqueKey
	ready    bool
	sortVals map[db.OpaqueKey]sortKey

	running  bool
	again    bool
	jobStop  context.CancelFunc
	progress atomic.Int64
	total    atomic.Int64
	jobWhat  string
}

const maxPendingEvents = 4096

// NewTable returns a table of t that subscribes to its changes and asks w
// for a frame when they arrive (w may be nil in tests: then nothing asks
// for frames, but changes still apply at the next Layout).
func NewTable(t db.OpaqueTree, w *Watcher) *Table {
	if w == nil {
		w = NewWatcher(nil)
	}
	tb := &Table{Tree: t, w: w, sortCol: -1, rows: rows{selIdx: -1}, cache: map[db.OpaqueKey]*tableRow{}, sortVals: map[db.OpaqueKey]sortKey{}}
	tb.list.Axis = layout.Vertical
	tb.setColumns()
	tb.cancel = t.Subscribe(func(kind db.EventKind, k db.OpaqueKey) {
		tb.mu.Lock()
		if len(tb.events) < maxPendingEvents {
			tb.events = append(tb.events, k)
			tb.kinds = append(tb.kinds, kind)
		} else {
			tb.overflow = true
		}
		tb.mu.Unlock()
		w.Notify()
	})
	// The rows are listed in a goroutine: a tree of a million records
	// takes a moment, and the table shows "loading" meanwhile (Busy).
	tb.startJob()
	return tb
}

// pinnedTextFields is how many text fields are pinned after the key.
const pinnedTextFields = 2

// setColumns makes the columns from the schema: the key, the pinned text
// fields, the other fields in schema order, then the meta columns. Widths
// start at the header's and grow to the content (see fitColumns).
func (t *Table) setColumns() {
	s := t.Tree.Schema()
	t.fields, t.evo = s.Fields(), s.Evolution
	t.Columns = t.Columns[:0]
	t.Columns = append(t.Columns, &Column{Title: "Key", Width: 50, kind: colKey, Pinned: true, auto: true})
	var rest []*Column
	texts := 0
	for i := range t.fields {
		f := &t.fields[i]
		title := f.Name
		if f.Counter {
			title += " ±" // a counter: it changes by deltas (OpaqueTree.Add)
		}
		c := &Column{Title: title, Width: 50, kind: colField, field: i, typ: &f.Type, auto: true}
		if f.Type.Kind == db.KindString && texts < pinnedTextFields {
			texts++
			c.Pinned = true
			t.Columns = append(t.Columns, c)
			continue
		}
		rest = append(rest, c)
	}
	t.Columns = append(t.Columns, rest...)
	for _, c := range []*Column{
		{Title: "State", kind: colState}, {Title: "Version", kind: colVersion},
		{Title: "Modified", kind: colModified}, {Title: "By", kind: colBy},
	} {
		c.Width, c.auto = 50, true
		t.Columns = append(t.Columns, c)
	}
}

// maxWidth is the widest a column grows to fit its content.
func (c *Column) maxWidth() unit.Dp {
	switch {
	case c.kind == colKey:
		return 140
	case c.kind == colField && c.typ.Kind == db.KindString:
		return 280
	}
	return 200
}

// cellPad is the space left and right of a cell's text.
const cellPad = 8

// fitColumns widens the columns that follow their content to the widest
// of their header and of the cells of rows first to first+n, and reports
// whether a width changed. Widths only grow while a tree is shown, so
// scrolling does not make the columns jump back and forth.
func (t *Table) fitColumns(gtx layout.Context, th *Theme, first, n int) bool {
	pad := gtx.Dp(2 * cellPad)
	changed := false
	for ci, c := range t.Columns {
		if !c.auto {
			continue
		}
		capPx := gtx.Dp(c.maxWidth())
		want := t.shaped.shape(gtx, th, c.Title, true, capPx).width + gtx.Dp(14) // room for ▲
		for i := first; i < min(len(t.keys), first+n); i++ {
			want = max(want, t.shaped.shape(gtx, th, t.row(t.keys[i]).cells[ci], false, capPx).width)
		}
		w := unit.Dp(float32(min(capPx, want+pad)) / gtx.Metric.PxPerDp)
		if w > c.Width {
			c.Width, changed = w, true
		}
	}
	return changed
}

// Close stops the table's subscription and background work.
func (t *Table) Close() {
	t.cancel()
	t.mu.Lock()
	if t.jobStop != nil {
		t.jobStop()
	}
	t.mu.Unlock()
}

// Len returns the number of rows shown (after filtering) as of the last
// frame.
func (t *Table) Len() int { return len(t.keys) }

// Key returns the key of row i as of the last frame.
func (t *Table) Key(i int) db.OpaqueKey { return t.keys[i] }

// SetFilter shows only the rows whose key or JSON text contains s,
// ignoring case as db.IndexSearch does (Unicode case folding); "" shows
// every row. The rows are filtered in a goroutine.
func (t *Table) SetFilter(s string) {
	s = fold.String(strings.TrimSpace(s))
	if s == t.filter {
		return
	}
	t.filter = s
	t.restartJob()
}

// Filter returns the current filter, trimmed and case folded.
func (t *Table) Filter() string { return t.filter }

// SortBy orders the rows by column i (-1: key order), descending when
// desc. The rows are sorted in a goroutine.
func (t *Table) SortBy(i int, desc bool) {
	if i >= len(t.Columns) {
		i = -1
	}
	if i == t.sortCol && desc == t.desc {
		return
	}
	t.mu.Lock()
	running := t.running
	t.mu.Unlock()
	if i == t.sortCol && !running {
		// Only the direction changed: reverse the rows in place rather
		// than read every record again (rows with equal values swap
		// their order too).
		t.desc = desc
		slices.Reverse(t.keys)
		t.reselect()
		return
	}
	if i != t.sortCol {
		t.mu.Lock()
		t.sortVals = map[db.OpaqueKey]sortKey{}
		t.mu.Unlock()
	}
	t.sortCol, t.desc = i, desc
	t.restartJob()
}

// Sort returns the sort column (-1: key order) and direction.
func (t *Table) Sort() (col int, desc bool) { return t.sortCol, t.desc }

// Busy reports what the table's background work is doing ("sorting",
// "filtering", "loading") and its progress from 0 to 1; ok is false when
// it is idle.
func (t *Table) Busy() (what string, progress float32, ok bool) {
	t.mu.Lock()
	running, what := t.running, t.jobWhat
	t.mu.Unlock()
	if !running {
		return "", 0, false
	}
	n, p := t.total.Load(), t.progress.Load()
	if n > 0 {
		progress = float32(p) / float32(n)
	}
	return what, min(progress, 1), true
}

// WaitIdle blocks until the background work is done and applies its
// result; for tests and tools, never in a frame.
func (t *Table) WaitIdle() { t.waitJob() }

func (t *Table) waitJob() {
	for {
		t.mu.Lock()
		running, ready := t.running, t.ready
		t.mu.Unlock()
		if ready || !running {
			t.sync()
			t.mu.Lock()
			running = t.running
			t.mu.Unlock()
			if !running {
				return
			}
		}
		waitBriefly()
	}
}

// restartJob cancels the running rebuild and starts a new one.
func (t *Table) restartJob() {
	t.mu.Lock()
	if t.jobStop != nil {
		t.jobStop()
	}
	t.running, t.ready, t.again = false, false, false
	t.mu.Unlock()
	t.startJob()
}

// requestJob starts a rebuild, or schedules one after the running one.
func (t *Table) requestJob() {
	t.mu.Lock()
	if t.running {
		t.again = true
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.startJob()
}

func (t *Table) startJob() {
	ctx, stop := context.WithCancel(context.Background())
	filter, sortCol, desc := t.filter, t.sortCol, t.desc
	// The job gets its own description of the sort column: the frame
	// may rebuild the columns while it runs.
	var col *sortSpec
	if sortCol >= 0 {
		c := t.Columns[sortCol]
		col = &sortSpec{kind: c.kind, typ: c.typ}
		if c.kind == colField {
			col.name = t.fields[c.field].Name
		}
	}
	what := "loading"
	switch {
	case filter != "":
		what = "filtering"
	case col != nil:
		what = "sorting"
	}
	t.mu.Lock()
	t.running, t.ready, t.jobStop, t.jobWhat = true, false, stop, what
	t.mu.Unlock()
	t.progress.Store(0)
	t.total.Store(int64(t.Tree.Len()))
	go func() {
		keys := t.build(ctx, filter, col, desc)
		t.mu.Lock()
		if ctx.Err() == nil {
			t.result, t.ready = keys, true
		}
		t.mu.Unlock()
		t.w.Notify()
	}()
}

// sortSpec is the sort column as a rebuild job sees it.
type sortSpec struct {
	kind int
	name string // the field's name, for colField
	typ  *db.Type
}

// build computes the row order in a goroutine, in three steps: collect the
// keys the filter keeps, read their sort values, order them. It returns nil
// when ctx is cancelled.
func (t *Table) build(ctx context.Context, filter string, col *sortSpec, desc bool) []db.OpaqueKey {
	keys, vals, ok := t.collect(ctx, filter, col)
	if !ok {
		return nil
	}
	if col == nil || col.kind == colKey {
		if desc {
			slices.Reverse(keys)
		}
		return keys
	}
	if vals == nil {
		if vals, ok = t.sortValues(ctx, keys, col); !ok {
			return nil
		}
	}
	return orderKeys(keys, vals, desc)
}

// collect lists the keys the filter keeps, in key order. When it has to
// read every record's text anyway (to filter, or to sort by a field) and
// the tree can scan, one sequential pass over the store reads them and
// also returns the field's sort values; otherwise vals is nil.
func (t *Table) collect(ctx context.Context, filter string, col *sortSpec) (keys []db.OpaqueKey, vals []sortKey, ok bool) {
	byField := col != nil && col.kind == colField
	if sc, canScan := t.Tree.(db.OpaqueScanner); canScan && (filter != "" || byField) {
		return t.scanKeys(ctx, sc, filter, col)
	}
	keys, ok = t.listKeys(ctx, filter)
	return keys, nil, ok
}

// scanKeys is collect's one pass over the store.
func (t *Table) scanKeys(ctx context.Context, sc db.OpaqueScanner, filter string, col *sortSpec) (keys []db.OpaqueKey, vals []sortKey, ok bool) {
	byField := col != nil && col.kind == colField
	n := 0
	err := sc.Scan(func(k db.OpaqueKey, text string) bool {
		if n++; n&1023 == 0 {
			if ctx.Err() != nil {
				return false
			}
			t.progress.Store(int64(n))
		}
		if !filterKeeps(filter, k, text) {
			return true
		}
		keys = append(keys, k)
		if byField {
			vals = append(vals, makeSortKey(fieldCell(text, col)))
		}
		return true
	})
	if err != nil || ctx.Err() != nil {
		return nil, nil, false
	}
	return keys, vals, true
}

// listKeys is collect's walk over the keys, reading each record's text
// only to filter.
func (t *Table) listKeys(ctx context.Context, filter string) ([]db.OpaqueKey, bool) {
	keys := make([]db.OpaqueKey, 0, t.Tree.Len())
	n := 0
	for k := range t.Tree.Keys() {
		if n++; n&1023 == 0 {
			if ctx.Err() != nil {
				return nil, false
			}
			if filter == "" {
				t.progress.Store(int64(n))
			}
		}
		if filter != "" {
			t.progress.Add(1)
			text, err := t.Tree.Text(k)
			if err != nil || !filterKeeps(filter, k, text) {
				continue
			}
		}
		keys = append(keys, k)
	}
	return keys, true
}

// filterKeeps reports whether the row of k, whose JSON text is text, is
// kept by the (case folded) filter; "" keeps every row.
func filterKeeps(filter string, k db.OpaqueKey, text string) bool {
	return filter == "" || fold.Contains(k.String(), filter) || fold.Contains(text, filter)
}

// fieldCell renders column col of a record's JSON text; "" when the text
// does not parse.
func fieldCell(text string, col *sortSpec) string {
	m, err := parseRecord(text)
	if err != nil {
		return ""
	}
	return cellText(m[col.name], col.typ)
}

// sortValues reads the sort value of each key, from the values kept by
// earlier rebuilds where the key has not changed since, and keeps the new
// ones.
func (t *Table) sortValues(ctx context.Context, keys []db.OpaqueKey, col *sortSpec) ([]sortKey, bool) {
	t.progress.Store(0)
	t.total.Store(int64(len(keys)))
	vals := make([]sortKey, len(keys))
	for i, k := range keys {
		if i&1023 == 0 {
			if ctx.Err() != nil {
				return nil, false
			}
			t.progress.Store(int64(i))
		}
		vals[i] = t.sortValue(ctx, k, col)
	}
	return vals, true
}

func (t *Table) sortValue(ctx context.Context, k db.OpaqueKey, col *sortSpec) sortKey {
	t.mu.Lock()
	v, ok := t.sortVals[k]
	t.mu.Unlock()
	if ok {
		return v
	}
	v = makeSortKey(t.cellOf(k, col))
	t.mu.Lock()
	if ctx.Err() == nil {
		t.sortVals[k] = v
	}
	t.mu.Unlock()
	return v
}

// orderKeys sorts keys by their values vals, stably: rows with equal
// values stay in key order.
func orderKeys(keys []db.OpaqueKey, vals []sortKey, desc bool) []db.OpaqueKey {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		c := vals[a].compare(vals[b])
		if desc {
			c = -c
		}
		return c
	})
	out := make([]db.OpaqueKey, len(keys))
	for i, j := range idx {
		out[i] = keys[j]
	}
	return out
}

// cellOf renders one cell outside the row cache (for sorting).
func (t *Table) cellOf(k db.OpaqueKey, col *sortSpec) string {
	switch col.kind {
	case colField:
		text, err := t.Tree.Text(k)
		if err != nil {
			return ""
		}
		return fieldCell(text, col)
	default:
		m, err := t.Tree.Meta(k)
		if err != nil {
			return ""
		}
		return metaCell(col.kind, m)
	}
}

func metaCell(kind int, m db.Meta) string {
	switch kind {
	case colState:
		return fmt.Sprint(m.State)
	case colVersion:
		return m.Version.String()
	case colModified:
		return m.Modified.Local().Format("2006-01-02 15:04:05")
	case colBy:
		return m.ModifiedBy
	}
	return ""
}

// sync applies pending events and a finished rebuild. Called in the frame:
// take what the subscription and the rebuild left, show the rebuilt rows,
// follow a schema change, forget the changed rows' cells, start the
// rebuild asked for while one ran, and apply the events to the row order.
func (t *Table) sync() {
	p := t.takePending()
	if p.ready {
		t.keys = p.result
		t.reselect()
	}
	changed := len(p.evs) > 0 || p.overflow
	if changed {
		t.followSchema()
	}
	structural := t.forgetRows(p.evs, p.kinds)
	if p.again {
		t.requestJob()
	}
	if changed {
		t.applyEvents(p.evs, p.kinds, p.overflow, structural)
	}
}

// tablePending is what the subscription and the rebuild goroutine handed to
// the frame since the last sync.
type tablePending struct {
	evs      []db.OpaqueKey
	kinds    []db.EventKind
	overflow bool
	result   []db.OpaqueKey // the rebuilt row order, when ready
	ready    bool
	again    bool // a rebuild was asked for while this one ran
}

// takePending empties the queues shared with the goroutines and drops the
// kept sort values of the changed keys.
func (t *Table) takePending() tablePending {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := tablePending{evs: t.events, kinds: t.kinds, overflow: t.overflow, ready: t.ready}
	t.events, t.kinds, t.overflow = nil, nil, false
	if p.ready {
		p.result, t.result, t.ready, t.running = t.result, nil, false, false
	}
	p.again = t.again && p.ready
	if p.again {
		t.again = false
	}
	for _, k := range p.evs {
		delete(t.sortVals, k)
	}
	return p
}

// followSchema rebuilds the columns when the tree's schema changed: a
// replica may learn a tree's schema, or a newer one, after its records.
func (t *Table) followSchema() {
	s := t.Tree.Schema()
	if s.Evolution == t.evo && len(s.Fields()) == len(t.fields) {
		return
	}
	t.setColumns()
	clear(t.cache)
	if t.sortCol >= len(t.Columns) {
		t.sortCol = -1
	}
}

// forgetRows drops the cached cells of the changed keys and reports
// whether a row was created or deleted.
func (t *Table) forgetRows(evs []db.OpaqueKey, kinds []db.EventKind) (structural bool) {
	for i, k := range evs {
		delete(t.cache, k)
		if kinds[i] == db.Created || kinds[i] == db.Deleted {
			structural = true
		}
	}
	return structural
}

// applyEvents brings the row order up to date with the events. In key
// order, unfiltered and with no rebuild running, creations and deletions
// are applied in place; otherwise any change (an update may move a row or
// change whether the filter keeps it) and any overflow of the event queue
// ask for a rebuild.
func (t *Table) applyEvents(evs []db.OpaqueKey, kinds []db.EventKind, overflow, structural bool) {
	t.mu.Lock()
	running := t.running
	t.mu.Unlock()
	simple := t.filter == "" && t.sortCol < 0 && !t.desc && !running
	switch {
	case overflow || !simple:
		t.requestJob()
	case structural:
		t.insertDelete(evs, kinds)
		t.reselect()
	}
}

// insertDelete applies creations and deletions to rows in key order.
func (t *Table) insertDelete(evs []db.OpaqueKey, kinds []db.EventKind) {
	for i, k := range evs {
		j, found := slices.BinarySearchFunc(t.keys, k, cmpKey)
		switch kinds[i] {
		case db.Created:
			if !found {
				t.keys = slices.Insert(t.keys, j, k)
			}
		case db.Deleted:
			if found {
				t.keys = slices.Delete(t.keys, j, j+1)
			}
		}
	}
}

func cmpKey(a, b db.OpaqueKey) int {
	switch {
	case a.ID != b.ID:
		if a.ID < b.ID {
			return -1
		}
		return 1
	case a.Rev != b.Rev:
		if a.Rev < b.Rev {
			return -1
		}
		return 1
	}
	return 0
}

func (t *Table) reselect() {
	t.selIdx = -1
	if !t.HasSelection {
		return
	}
	if t.sortCol < 0 && !t.desc {
		if j, ok := slices.BinarySearchFunc(t.keys, t.Selected, cmpKey); ok {
			t.selIdx = j
		}
		return
	}
	t.selIdx = slices.Index(t.keys, t.Selected)
}

// SelectionShown reports whether the selected key is among the rows (a
// filter may leave it out).
func (t *Table) SelectionShown() bool { return t.HasSelection && t.selIdx >= 0 }

// Select selects key k if it is shown and scrolls to it.
func (t *Table) Select(k db.OpaqueKey) {
	t.Selected, t.HasSelection = k, true
	t.reselect()
	if t.selIdx >= 0 {
		t.selectIndex(t.selIdx)
	}
}

func (t *Table) selectIndex(i int) {
	if len(t.keys) == 0 {
		return
	}
	i = max(0, min(i, len(t.keys)-1))
	if !t.HasSelection || t.Selected != t.keys[i] {
		t.changed = true
	}
	t.selIdx, t.Selected, t.HasSelection = i, t.keys[i], true
	t.keepInView(&t.list, i)
}

// row returns the rendered cells of k, from the cache when it holds them.
func (t *Table) row(k db.OpaqueKey) *tableRow {
	if r, ok := t.cache[k]; ok {
		return r
	}
	if len(t.cache) >= 4096 {
		clear(t.cache)
	}
	r := &tableRow{cells: make([]string, len(t.Columns))}
	r.meta, r.err = t.Tree.Meta(k)
	var members map[string]jsonRaw
	if r.err == nil {
		var text string
		text, r.err = t.Tree.Text(k)
		if r.err == nil {
			members, r.err = parseRecord(text)
		}
	}
	for i, c := range t.Columns {
		switch c.kind {
		case colKey:
			r.cells[i] = k.String()
		case colField:
			r.cells[i] = cellText(members[t.fields[c.field].Name], c.typ)
		default:
			if r.err == nil {
				r.cells[i] = metaCell(c.kind, r.meta)
			}
		}
	}
	t.cache[k] = r
	return r
}

// Update handles the table's input and pending changes, and reports
// whether the selection changed since the last call. Layout calls it.
func (t *Table) Update(gtx layout.Context) bool {
	t.sync()
	for i, c := range t.Columns {
		if sortClicked(gtx, &c.sortClick) {
			switch {
			case t.sortCol != i:
				t.SortBy(i, false)
			case !t.desc:
				t.SortBy(i, true)
			default:
				t.SortBy(-1, false)
			}
		}
		for {
			e, ok := c.drag.Update(gtx.Metric, gtx.Source, gesture.Horizontal)
			if !ok {
				break
			}
			switch e.Kind {
			case pointer.Press:
				c.dragX, c.dragW = e.Position.X, c.Width
			case pointer.Drag:
				d := unit.Dp((e.Position.X - c.dragX) / gtx.Metric.PxPerDp)
				c.Width, c.auto = max(30, c.dragW+d), false
			}
		}
	}
	// The scroll range is that of the last frame's layout.
	maxX := max(0, t.widthPx-t.viewPx)
	d := t.hscroll.Update(gtx.Metric, gtx.Source, gtx.Now, gesture.Horizontal,
		pointer.ScrollRange{Min: -t.scrollX, Max: maxX - t.scrollX}, pointer.ScrollRange{})
	t.scrollX = max(0, min(maxX, t.scrollX+d))
	t.takeFocus(gtx, t, len(t.keys), t.selectIndex)
	t.navigate(gtx, t, t.list.Position, len(t.keys), t.selectIndex)
	t.hover.update(gtx, t.list.Position, t.rowPx)
	c := t.changed
	t.changed = false
	return c
}

// Layout handles input and lays out the header and the visible rows.
func (t *Table) Layout(gtx layout.Context, th *Theme) layout.Dimensions {
	t.Update(gtx)
	// Fit the columns to the rows about to show (as of the last frame's
	// scroll position; the rows' layout below checks the rest).
	rowPx := max(1, gtx.Dp(th.RowHeight))
	t.fitColumns(gtx, th, t.list.Position.First, gtx.Constraints.Max.Y/rowPx+1)
	t.widthPx, t.pinnedPx = 0, 0
	for _, c := range t.Columns {
		t.widthPx += gtx.Dp(c.Width)
		if c.Pinned {
			t.pinnedPx += gtx.Dp(c.Width)
		}
	}
	t.viewPx = gtx.Constraints.Max.X
	if d := t.hbar.ScrollDistance(); d != 0 {
		t.scrollX += int(d * float32(t.widthPx))
	}
	t.scrollX = max(0, min(t.scrollX, t.widthPx-t.viewPx))
	defer clip.Rect{Max: gtx.Constraints.Max}.Push(gtx.Ops).Pop()
	t.hscroll.Add(gtx.Ops)
	defer t.layoutTooltip(gtx, th)
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return t.layoutHeader(gtx, th) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return Divider(gtx, th.Border) }),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions { return t.layoutRows(gtx, th) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if t.widthPx <= t.viewPx {
				return layout.Dimensions{}
			}
			start := float32(t.scrollX) / float32(t.widthPx)
			end := float32(t.scrollX+t.viewPx) / float32(t.widthPx)
			return material.Scrollbar(th.Theme, &t.hbar).Layout(gtx, layout.Horizontal, start, end)
		}),
	)
}

func (t *Table) layoutHeader(gtx layout.Context, th *Theme) layout.Dimensions {
	h := gtx.Dp(th.RowHeight)
	size := image.Pt(gtx.Constraints.Max.X, h)
	defer clip.Rect{Max: size}.Push(gtx.Ops).Pop()
	rect(gtx, th.Header, size)
	grip := gtx.Dp(6)
	for _, sp := range t.visibleColumns(gtx, size.X) {
		i, x := sp.col, sp.x
		c := t.Columns[i]
		w := gtx.Dp(c.Width)
		cl := t.clipScrolled(gtx, c, h)
		st := op.Offset(image.Pt(x, 0)).Push(gtx.Ops)
		cg := gtx
		cg.Constraints = layout.Exact(image.Pt(w, h))
		title := c.Title
		if t.sortCol == i {
			if t.desc {
				title += " ▼"
			} else {
				title += " ▲"
			}
		}
		ca := clip.Rect{Max: image.Pt(w, h)}.Push(gtx.Ops)
		c.sortClick.Add(gtx.Ops)
		pointer.CursorPointer.Add(gtx.Ops)
		ca.Pop()
		t.drawCell(cg, th, title, true, 0, w, h, th.Fg)
		// The resize grip on the right edge, with a separator line.
		gs := op.Offset(image.Pt(w-grip, 0)).Push(gtx.Ops)
		gr := clip.Rect{Max: image.Pt(grip, h)}.Push(gtx.Ops)
		pointer.CursorColResize.Add(gtx.Ops)
		c.drag.Add(gtx.Ops)
		gr.Pop()
		gs.Pop()
		ls := op.Offset(image.Pt(w-1, gtx.Dp(5))).Push(gtx.Ops)
		rect(gtx, th.Border, image.Pt(1, h-gtx.Dp(10)))
		ls.Pop()
		st.Pop()
		cl.Pop()
	}
	return layout.Dimensions{Size: size}
}

// visibleColumns returns the columns that show within width, with their
// left edges in pixels: the pinned ones from the left edge, then the
// others shifted by the sideways scroll (they pass under the pinned ones;
// see clipScrolled). The slice is reused by the next call.
func (t *Table) visibleColumns(gtx layout.Context, width int) []colSpan {
	t.spans = t.spans[:0]
	x := 0
	for i, c := range t.Columns {
		if c.Pinned {
			t.spans = append(t.spans, colSpan{i, x})
			x += gtx.Dp(c.Width)
		}
	}
	x -= t.scrollX
	for i, c := range t.Columns {
		if c.Pinned {
			continue
		}
		if x >= width {
			break
		}
		w := gtx.Dp(c.Width)
		if x+w > t.pinnedPx {
			t.spans = append(t.spans, colSpan{i, x})
		}
		x += w
	}
	return t.spans
}

// clipScrolled clips what follows to the right of the pinned columns when
// column c scrolls; pop it after drawing c.
func (t *Table) clipScrolled(gtx layout.Context, c *Column, h int) clip.Stack {
	x0 := 0
	if !c.Pinned {
		x0 = t.pinnedPx
	}
	return clip.Rect{Min: image.Pt(x0, 0), Max: image.Pt(gtx.Constraints.Max.X, h)}.Push(gtx.Ops)
}

// drawCell draws txt in a cell of width w and height h at x, vertically
// centred, truncated with "…" where it does not fit, and reports whether
// it was truncated.
func (t *Table) drawCell(gtx layout.Context, th *Theme, txt string, bold bool, x, w, h int, col color.NRGBA) bool {
	if txt == "" {
		return false
	}
	pad := gtx.Dp(cellPad)
	sc := t.shaped.shape(gtx, th, txt, bold, max(1, w-2*pad))
	if len(sc.glyphs) == 0 {
		return sc.truncated
	}
	t.shaped.draw(gtx, sc, x+pad, (h-sc.height)/2, col)
	return sc.truncated
}

// colSpan is a column on screen: its index and left edge in pixels.
type colSpan struct{ col, x int }

func (t *Table) layoutRows(gtx layout.Context, th *Theme) layout.Dimensions {
	t.rowPx = max(1, gtx.Dp(th.RowHeight))
	t.visible = (gtx.Constraints.Max.Y + t.rowPx - 1) / t.rowPx
	defer clip.Rect{Max: gtx.Constraints.Max}.Push(gtx.Ops).Pop()
	event.Op(gtx.Ops, t)
	event.Op(gtx.Ops, &t.hover)
	t.hover.cell, t.hover.cut = "", false
	if len(t.keys) == 0 {
		return layout.Inset{Top: 12, Left: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			msg := "No records."
			if what, _, busy := t.Busy(); busy {
				msg = strings.ToUpper(what[:1]) + what[1:] + "…"
			} else if t.filter != "" {
				msg = "No records match the filter."
			}
			return th.MutedLabel(msg).Layout(gtx)
		})
	}
	if gtx.Focused(t) {
		defer FocusRing(gtx, th, gtx.Constraints.Max)
	}
	return material.List(th.Theme, &t.list).Layout(gtx, len(t.keys), func(gtx layout.Context, i int) layout.Dimensions {
		size := image.Pt(gtx.Constraints.Max.X, t.rowPx)
		k := t.keys[i]
		switch {
		case t.HasSelection && k == t.Selected:
			rect(gtx, th.Select, size)
		case i%2 == 1:
			rect(gtx, th.Stripe, size)
		}
		r := t.row(k)
		hoverRow := t.hover.in && t.hover.row == i
		for _, sp := range t.visibleColumns(gtx, size.X) {
			ci, x := sp.col, sp.x
			c := t.Columns[ci]
			w := gtx.Dp(c.Width)
			txt := r.cells[ci]
			if ci == 1 && r.err != nil {
				txt = "(" + r.err.Error() + ")"
			}
			col := th.Fg
			if c.kind != colField {
				col = th.Muted
			}
			cl := t.clipScrolled(gtx, c, t.rowPx)
			cut := t.drawCell(gtx, th, txt, false, x, w, t.rowPx, col)
			cl.Pop()
			if hoverRow && t.hover.x >= max(x, t.pinnedPx*b2i(!c.Pinned)) && t.hover.x < x+w {
				t.hover.cell, t.hover.cut = txt, cut || len(txt) > 0 && strings.HasSuffix(txt, "…")
			}
		}
		return layout.Dimensions{Size: size}
	})
}

// Focus gives the table the keyboard focus at its next Layout (and
// selects the first row when none is): the arrow keys then move the
// selection and Enter opens the row (Activated).
func (t *Table) Focus() { t.focusNext = true }

// Cells returns the rendered cells of row i as of the last frame, for
// tools and tests. It reads the record (from the cache when it can).
func (t *Table) Cells(i int) []string {
	if i < 0 || i >= len(t.keys) {
		return nil
	}
	return slices.Clone(t.row(t.keys[i]).cells)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hoverState follows the pointer over the rows, for the tooltip that
// shows the full text of a cut cell.
type hoverState struct {
	in    bool
	x, y  int // pointer position in the rows area, pixels
	row   int
	since time.Time // when the pointer came to rest on this cell
	// Set by the rows' layout: the text under the pointer, and whether
	// it was cut.
	cell string
	cut  bool
	last string // the cell of the previous frame
}

// tooltipDelay is how long the pointer rests on a cut cell before its
// full text shows.
const tooltipDelay = 400 * time.Millisecond

func (h *hoverState) update(gtx layout.Context, pos layout.Position, rowPx int) {
	for {
		ev, ok := gtx.Event(pointer.Filter{Target: h, Kinds: pointer.Move | pointer.Enter | pointer.Leave | pointer.Cancel})
		if !ok {
			break
		}
		e, ok := ev.(pointer.Event)
		if !ok {
			continue
		}
		switch e.Kind {
		case pointer.Leave, pointer.Cancel:
			h.in = false
		default:
			h.in = true
			h.x, h.y = int(e.Position.X), int(e.Position.Y)
			h.row = pos.First + (h.y+pos.Offset)/max(1, rowPx)
			h.since = gtx.Now
		}
	}
}

// layoutTooltip draws the full text of the cut cell under the pointer
// over everything else, once the pointer has rested on it a moment.
func (t *Table) layoutTooltip(gtx layout.Context, th *Theme) {
	h := &t.hover
	if h.cell != h.last {
		h.last, h.since = h.cell, gtx.Now
	}
	if !h.in || !h.cut || h.cell == "" {
		return
	}
	if wait := h.since.Add(tooltipDelay); gtx.Now.Before(wait) {
		gtx.Execute(op.InvalidateCmd{At: wait})
		return
	}
	m := op.Record(gtx.Ops)
	maxW := min(gtx.Dp(420), gtx.Constraints.Max.X)
	tg := gtx
	tg.Constraints = layout.Constraints{Max: image.Pt(maxW, gtx.Constraints.Max.Y)}
	dims := Background(tg, th.Header, func(gtx layout.Context) layout.Dimensions {
		return widget.Border{Color: th.Border, Width: 1}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			return layout.UniformInset(6).Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				l := material.Body2(th.Theme, h.cell)
				l.TextSize = th.TextSize
				return l.Layout(gtx)
			})
		})
	})
	call := m.Stop()
	// Below and right of the pointer, kept inside the table.
	x := min(h.x+gtx.Dp(12), gtx.Constraints.Max.X-dims.Size.X)
	y := h.y + gtx.Dp(th.RowHeight) + gtx.Dp(18)
	if y+dims.Size.Y > gtx.Constraints.Max.Y {
		y = max(0, h.y+gtx.Dp(th.RowHeight)-dims.Size.Y-gtx.Dp(4))
	}
	st := op.Offset(image.Pt(max(0, x), y)).Push(gtx.Ops)
	op.Defer(gtx.Ops, call)
	st.Pop()
}

// Tooltip returns the text the tooltip shows (or would show once the
// pointer rests), "" when the pointer is on no cut cell; for tests.
func (t *Table) Tooltip() string {
	if !t.hover.in || !t.hover.cut {
		return ""
	}
	return t.hover.cell
}

// sortClicked reports whether a header was clicked since the last frame.
func sortClicked(gtx layout.Context, c *gesture.Click) bool {
	hit := false
	for {
		e, ok := c.Update(gtx.Source)
		if !ok {
			return hit
		}
		if e.Kind == gesture.KindClick {
			hit = true
		}
	}
}
