package widgets

import (
	"image"
	"image/color"
	"testing"

	"gioui.org/io/key"
	"gioui.org/layout"
)

// keysWindow is a filter box over a table, as in the viewer, with the
// window-wide Ctrl+S read in every frame.
type keysWindow struct {
	t     *testing.T
	u     *ui
	th    *Theme
	fb    FilterBox
	tb    *Table
	saves int
	// What the last frame saw.
	boxFocused, tableFocused bool
}

func newKeysWindow(t *testing.T) *keysWindow {
	tb, _, _, _ := newTestTable(t, 30)
	return &keysWindow{t: t, u: newUI(900, 400), th: NewTheme(), tb: tb}
}

func (w *keysWindow) frame() {
	w.u.frame(w.layout)
}

func (w *keysWindow) layout(gtx layout.Context) {
	if Shortcut(gtx, "S") {
		w.saves++
	}
	layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			gtx.Constraints = layout.Exact(image.Pt(gtx.Constraints.Max.X, 30))
			return w.fb.Layout(gtx, w.th, w.tb)
		}),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions { return w.tb.Layout(gtx, w.th) }),
	)
	w.boxFocused, w.tableFocused = gtx.Focused(&w.fb.ed), gtx.Focused(w.tb)
}

// The viewer's keys, headless: Ctrl+F focuses the filter, typing filters,
// Escape clears, Down goes from the box into the table and selects its
// first row, Down moves on, Enter opens, Ctrl+S is seen wherever the
// focus is.
func TestKeyboardFilterTableFlow(t *testing.T) {
	w := newKeysWindow(t)
	w.frame()
	w.u.shortcut("F")
	w.frame()
	w.frame()
	if !w.boxFocused {
		t.Fatal("Ctrl+F did not focus the filter box")
	}
	w.u.r.Queue(key.EditEvent{Text: "LED"})
	w.frame()
	w.tb.WaitIdle()
	w.frame()
	if w.tb.Filter() != "led" || w.tb.Len() != 3 {
		t.Fatalf("typed LED: filter %q, %d rows", w.tb.Filter(), w.tb.Len())
	}
	w.u.key(key.NameEscape)
	w.frame()
	w.tb.WaitIdle()
	w.frame()
	if w.fb.Text() != "" || w.tb.Len() != 30 {
		t.Fatalf("Escape: box %q, %d rows", w.fb.Text(), w.tb.Len())
	}
	w.u.key(key.NameDownArrow)
	w.frame()
	w.frame()
	if !w.tableFocused || !w.tb.HasSelection || w.tb.Selected.String() != "1.0" {
		t.Fatalf("Down from the box: table focused %v, selected %v", w.tableFocused, w.tb.Selected)
	}
	w.u.key(key.NameDownArrow)
	w.frame()
	if w.tb.Selected.String() != "2.0" {
		t.Fatalf("Down in the table selected %v", w.tb.Selected)
	}
	if w.tb.Activated() {
		t.Fatal("activated before Enter")
	}
	w.u.key(key.NameReturn)
	w.frame()
	if !w.tb.Activated() || w.tb.Activated() {
		t.Fatal("Enter did not open the row once")
	}
	w.u.shortcut("S")
	w.frame()
	if w.saves != 1 {
		t.Fatalf("Ctrl+S with the table focused: %d saves", w.saves)
	}
	// Escape from the table clears a filter too.
	w.fb.SetText("diode")
	w.tb.SetFilter("diode")
	w.tb.WaitIdle()
	w.frame()
	w.u.key(key.NameEscape)
	w.frame()
	w.tb.WaitIdle()
	w.frame()
	if w.fb.Text() != "" || w.tb.Len() != 30 {
		t.Fatalf("Escape in the table: box %q, %d rows", w.fb.Text(), w.tb.Len())
	}
}

// Tab walks the focus from the filter box to the table and Shift+Tab
// back, and the focused widget wears the focus ring (checked in pixels
// where a GPU context is available).
func TestKeyboardTabOrderAndRing(t *testing.T) {
	w := newKeysWindow(t)
	w.frame()
	w.u.tab(false)
	w.frame()
	if !w.boxFocused {
		t.Fatal("the first Tab did not focus the filter box")
	}
	w.u.tab(false)
	w.frame()
	if !w.tableFocused {
		t.Fatal("the second Tab did not focus the table")
	}
	w.u.tab(true)
	w.frame()
	if !w.boxFocused {
		t.Fatal("Shift+Tab did not go back to the filter box")
	}
	w.u.tab(false)
	w.frame()

	g := newGPU(t, w.u)
	shot := func() *image.RGBA { return g.shot(w.th, w.layout) }
	// The table's rows start at y 30 (box) + 28 (header) + 1 (divider);
	// the ring runs along the rows' left edge.
	ring := func(img *image.RGBA) color.RGBA { return img.RGBAAt(0, 30+29+100) }
	isFocus := func(c color.RGBA) bool {
		f := w.th.Focus
		d := func(a, b uint8) bool { return int(a)-int(b) < 24 && int(b)-int(a) < 24 }
		return d(c.R, f.R) && d(c.G, f.G) && d(c.B, f.B)
	}
	if c := ring(shot()); !w.tableFocused || !isFocus(c) {
		t.Fatalf("focused table: edge pixel %v, want the focus color %v", c, w.th.Focus)
	}
	w.u.tab(true)
	if c := ring(shot()); w.tableFocused || isFocus(c) {
		t.Fatalf("unfocused table: edge pixel %v is the focus color", c)
	}
}
