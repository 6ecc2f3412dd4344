package widgets

import (
	"strconv"
	"strings"
	"testing"

	"gioui.org/f32"
	"gioui.org/io/key"
	"gioui.org/io/pointer"
	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
)

func newTestTable(t *testing.T, n int) (*Table, *db.Tree[demo.Part], *ui, func()) {
	t.Helper()
	d, pt := mustDemo(t, n, nil)
	o, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(nil)
	tb := NewTable(o, w)
	t.Cleanup(func() { tb.Close(); w.Close() })
	tb.WaitIdle()
	th := NewTheme()
	u := newUI(900, 28*11) // header + 10 rows
	return tb, pt, u, func() { u.frame(func(gtx layout.Context) { tb.Layout(gtx, th) }) }
}

func colIndex(t *testing.T, tb *Table, title string) int {
	t.Helper()
	for i, c := range tb.Columns {
		if c.Title == title {
			return i
		}
	}
	t.Fatalf("no column %q", title)
	return -1
}

// colX returns the x of the middle of column i's header.
func colX(tb *Table, i int) float32 {
	x := 0
	for _, c := range tb.Columns[:i] {
		x += int(c.Width)
	}
	return float32(x + int(tb.Columns[i].Width)/2)
}

func TestTableColumnsFromSchema(t *testing.T) {
	tb, _, _, draw := newTestTable(t, 20)
	draw()
	var titles []string
	for _, c := range tb.Columns {
		titles = append(titles, c.Title)
	}
	want := "Key number name quantity price active category added supplier size tags State Version Modified By"
	if got := strings.Join(titles, " "); got != want {
		t.Fatalf("columns %q, want %q", got, want)
	}
	cells := tb.Cells(2)
	p := demo.NewPart(2, db.Key[demo.Supplier]{ID: 3})
	if cells[0] != "3.0" || cells[1] != p.Number || cells[3] != strconv.Itoa(int(p.Quantity)) || cells[8] != "3.0" {
		t.Fatalf("row 2 cells %q", cells)
	}
	if cells[9] != `{"w":1.6,"h":0.8}` || cells[10] != `["smd","bin-2"]` {
		t.Fatalf("nested cells %q %q", cells[9], cells[10])
	}
}

func TestTableSortByHeaderClick(t *testing.T) {
	tb, _, u, draw := newTestTable(t, 60)
	draw()
	q := colIndex(t, tb, "quantity")
	u.click(colX(tb, q), 14)
	draw()
	tb.WaitIdle()
	if c, desc := tb.Sort(); c != q || desc {
		t.Fatalf("after a header click: sort %d desc %v, want %d asc", c, desc, q)
	}
	prev := -1
	for i := range tb.Len() {
		n, _ := strconv.Atoi(tb.Cells(i)[q])
		if n < prev {
			t.Fatalf("row %d quantity %d after %d: not ascending", i, n, prev)
		}
		prev = n
	}
	u.click(colX(tb, q), 14)
	draw()
	tb.WaitIdle()
	first, _ := strconv.Atoi(tb.Cells(0)[q])
	last, _ := strconv.Atoi(tb.Cells(tb.Len() - 1)[q])
	if first < last {
		t.Fatalf("second click: first %d last %d, want descending", first, last)
	}
	u.click(colX(tb, q), 14)
	draw()
	tb.WaitIdle()
	if c, _ := tb.Sort(); c != -1 || tb.Cells(0)[0] != "1.0" {
		t.Fatalf("third click: sort %d, first key %s; want key order", c, tb.Cells(0)[0])
	}
}

func TestTableResizeColumn(t *testing.T) {
	tb, _, u, draw := newTestTable(t, 5)
	draw()
	c := tb.Columns[1]
	before := c.Width
	edge := colX(tb, 1) + float32(c.Width)/2 - 2
	u.drag(edge, edge+50, 14)
	draw()
	if c.Width != before+50 {
		t.Fatalf("width after dragging the edge 50 px: %v, want %v", c.Width, before+50)
	}
	if s, _ := tb.Sort(); s != -1 {
		t.Fatal("dragging the edge also sorted")
	}
}

func TestTableLiveAndFilter(t *testing.T) {
	tb, pt, u, draw := newTestTable(t, 30)
	draw()
	k, err := pt.Create(demo.Part{Number: "NEW-1", Name: "Spring"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "the created record in the table", func() bool { draw(); return tb.Len() == 31 })
	if got := tb.Cells(30)[1]; got != "NEW-1" {
		t.Fatalf("new row: %q", got)
	}
	if err := pt.Update(k, func(p *demo.Part) error { p.Number = "NEW-2"; return nil }); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "the updated cell", func() bool { draw(); return tb.Cells(30)[1] == "NEW-2" })

	tb.SetFilter("spring")
	tb.WaitIdle()
	draw()
	if tb.Len() != 1 || tb.Cells(0)[1] != "NEW-2" {
		t.Fatalf("filter spring: %d rows", tb.Len())
	}
	tb.SetFilter("")
	tb.WaitIdle()
	draw()
	if tb.Len() != 31 {
		t.Fatalf("no filter: %d rows, want 31", tb.Len())
	}
	// Select by click, then walk with the keyboard.
	u.click(100, 28+28*2+5)
	draw()
	if !tb.HasSelection || tb.Selected.String() != "3.0" {
		t.Fatalf("click on the third row selected %v", tb.Selected)
	}
	u.key(key.NameDownArrow)
	draw()
	if tb.Selected.String() != "4.0" {
		t.Fatalf("Down selected %v", tb.Selected)
	}
	if err := pt.Delete(db.Key[demo.Part]{ID: 1}); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "the deleted row to go", func() bool { draw(); return tb.Len() == 30 })
	if tb.Cells(0)[0] != "2.0" {
		t.Fatalf("first row after deleting 1.0: %s", tb.Cells(0)[0])
	}
}

func TestTableScrollsSideways(t *testing.T) {
	tb, _, u, draw := newTestTable(t, 5)
	draw()
	draw() // the scroll range comes from the previous frame's layout
	u.r.Queue(pointer.Event{Kind: pointer.Scroll, Position: f32.Pt(300, 100), Scroll: f32.Pt(120, 0), Source: pointer.Mouse})
	draw()
	draw()
	if tb.scrollX != 120 {
		t.Fatalf("scrollX after a sideways scroll of 120: %d", tb.scrollX)
	}
	// Scrolling stops at the last column.
	u.r.Queue(pointer.Event{Kind: pointer.Scroll, Position: f32.Pt(300, 100), Scroll: f32.Pt(5000, 0), Source: pointer.Mouse})
	draw()
	draw()
	if want := tb.widthPx - tb.viewPx; tb.scrollX != want {
		t.Fatalf("scrollX past the end: %d, want %d", tb.scrollX, want)
	}
}

// The columns grow to the widest cell of the rows shown: no pinned cell
// is cut, and the key and the first two text fields are pinned.
func TestTableColumnsFitContent(t *testing.T) {
	tb, _, u, draw := newTestTable(t, 20)
	draw()
	th := NewTheme()
	for i, c := range tb.Columns[:3] {
		if !c.Pinned {
			t.Fatalf("column %d (%s) is not pinned", i, c.Title)
		}
	}
	if tb.Columns[1].Title != "number" || tb.Columns[2].Title != "name" || tb.Columns[3].Pinned {
		t.Fatalf("pinned columns: %s, %s; next %s pinned %v", tb.Columns[1].Title, tb.Columns[2].Title, tb.Columns[3].Title, tb.Columns[3].Pinned)
	}
	u.frame(func(gtx layout.Context) {
		for i := range tb.Len() {
			cells := tb.Cells(i)
			for ci, c := range tb.Columns {
				avail := gtx.Dp(c.Width) - 2*gtx.Dp(cellPad)
				if sc := tb.shaped.shape(gtx, th, cells[ci], false, avail); sc.truncated || sc.width > avail {
					t.Errorf("row %d, %s: %q is cut at width %v", i, c.Title, cells[ci], c.Width)
				}
			}
		}
	})
	// Fitted, not the starting widths.
	if w := tb.Columns[2].Width; w <= 60 {
		t.Fatalf("name column %v wide", w)
	}
}

// Scrolled sideways to the end, the pinned columns stay at the left edge
// and the others pass under them.
func TestTablePinnedColumnsStay(t *testing.T) {
	tb, _, u, draw := newTestTable(t, 5)
	u.size.X = 500
	draw()
	draw()
	u.r.Queue(pointer.Event{Kind: pointer.Scroll, Position: f32.Pt(300, 100), Scroll: f32.Pt(5000, 0), Source: pointer.Mouse})
	draw()
	draw()
	if tb.scrollX == 0 {
		t.Fatal("no sideways scroll")
	}
	u.frame(func(gtx layout.Context) {
		spans := tb.visibleColumns(gtx, u.size.X)
		x := 0
		for i := range 3 {
			if spans[i].col != i || spans[i].x != x {
				t.Fatalf("span %d: %+v, want column %d at %d", i, spans[i], i, x)
			}
			x += gtx.Dp(tb.Columns[i].Width)
		}
		last := spans[len(spans)-1]
		if last.col != len(tb.Columns)-1 || last.x+gtx.Dp(tb.Columns[last.col].Width) != u.size.X {
			t.Fatalf("last span %+v: the last column does not end at the right edge", last)
		}
	})
}

// Resting the pointer on a cut cell shows its whole text.
func TestTableTooltipOnCutCell(t *testing.T) {
	tb, _, u, draw := newTestTable(t, 5)
	draw()
	name := colIndex(t, tb, "name")
	edge := colX(tb, name) + float32(tb.Columns[name].Width)/2 - 2
	u.drag(edge, edge-float32(tb.Columns[name].Width)+45, 14)
	draw()
	if tb.Columns[name].Width > 50 {
		t.Fatalf("name column still %v wide", tb.Columns[name].Width)
	}
	draw()
	x := colX(tb, name)
	u.r.Queue(pointer.Event{Kind: pointer.Move, Position: f32.Pt(x, 28+28+10), Source: pointer.Mouse})
	draw()
	draw()
	if got, want := tb.Tooltip(), tb.Cells(1)[name]; got != want || got == "" {
		t.Fatalf("tooltip %q, want the cut cell's text %q", got, want)
	}
	// On a cell that fits, none.
	u.r.Queue(pointer.Event{Kind: pointer.Move, Position: f32.Pt(colX(tb, 0), 28+28+10), Source: pointer.Mouse})
	draw()
	draw()
	if got := tb.Tooltip(); got != "" {
		t.Fatalf("tooltip %q over the key", got)
	}
}
