package widgets

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"gioui.org/gpu/headless"
	"gioui.org/layout"
)

// TestTableRendersHeadless draws a table through the GPU (Mesa's software
// renderer) and checks its pixels: the header band, the stripes, the
// selected row and some text in the cells.
func TestTableRendersHeadless(t *testing.T) {
	tb, _, u, _ := newTestTable(t, 40)
	th := NewTheme()
	g := newGPU(t, u)
	tb.Select(tb.Key(2))
	img := g.shot(th, func(gtx layout.Context) { tb.Layout(gtx, th) })
	f, err := os.Create(filepath.Join(t.TempDir(), "table.png"))
	if err == nil {
		png.Encode(f, img)
		f.Close()
	}
	same := func(c color.RGBA, want color.NRGBA) bool {
		d := func(a, b uint8) bool { return int(a)-int(b) < 3 && int(b)-int(a) < 3 }
		return d(c.R, want.R) && d(c.G, want.G) && d(c.B, want.B)
	}
	// Rows start below the 28 px header and its 1 px divider; probe the
	// right edge of the key column, where no text is.
	probe := func(row int) color.RGBA { return img.RGBAAt(int(tb.Columns[0].Width)-4, 29+row*28+14) }
	if c := img.RGBAAt(int(tb.Columns[0].Width)+10, 3); !same(c, th.Header) {
		t.Errorf("header pixel %v, want %v", c, th.Header)
	}
	if c := probe(0); !same(c, th.Bg) {
		t.Errorf("row 0 pixel %v, want background %v", c, th.Bg)
	}
	if c := probe(1); !same(c, th.Stripe) {
		t.Errorf("row 1 pixel %v, want stripe %v", c, th.Stripe)
	}
	if c := probe(2); !same(c, th.Select) {
		t.Errorf("selected row pixel %v, want %v", c, th.Select)
	}
	// Text: dark pixels in the number cell of row 0.
	dark := 0
	x0 := int(tb.Columns[0].Width)
	for y := 29; y < 29+28; y++ {
		for x := x0; x < x0+int(tb.Columns[1].Width); x++ {
			if c := img.RGBAAt(x, y); c.R < 100 && c.G < 100 {
				dark++
			}
		}
	}
	if dark < 20 {
		t.Errorf("row 0's number cell has %d dark pixels: no text drawn", dark)
	}
}

// A cell is drawn glyph by glyph the first time and from an outline of
// its own afterwards: both draw the same pixels.
func TestTableCellsDrawTheSameTwice(t *testing.T) {
	tb, _, u, _ := newTestTable(t, 40)
	th := NewTheme()
	g := newGPU(t, u)
	shot := func() *image.RGBA { return g.shot(th, func(gtx layout.Context) { tb.Layout(gtx, th) }) }
	first := shot()
	if tb.shaped.natural == nil || len(tb.shaped.glyphs) == 0 {
		t.Fatal("the first frame drew no glyph from the glyph cache")
	}
	second := shot()
	paths := 0
	for _, sc := range tb.shaped.natural {
		if sc.hasPath {
			paths++
		}
	}
	if paths == 0 {
		t.Fatal("the second frame made no cell outline")
	}
	// The GPU places each path at its own offset, so glyph by glyph a
	// glyph may sit a fraction of a pixel from where the cell's outline
	// puts it: the ink in every 8×8 block stays about the same, and no
	// text is missing or out of place.
	lum := func(img *image.RGBA, x, y int) int {
		c := img.RGBAAt(x, y)
		return 255 - (int(c.R)+int(c.G)+int(c.B))/3
	}
	var ink1, ink2, bad int
	for by := 0; by < u.size.Y; by += 8 {
		for bx := 0; bx < u.size.X; bx += 8 {
			a, b := 0, 0
			for y := by; y < min(by+8, u.size.Y); y++ {
				for x := bx; x < min(bx+8, u.size.X); x++ {
					a, b = a+lum(first, x, y), b+lum(second, x, y)
				}
			}
			ink1, ink2 = ink1+a, ink2+b
			if d := a - b; d > 400+a/4 || -d > 400+a/4 {
				bad++
			}
		}
	}
	t.Logf("ink %d and %d; %d blocks of 8×8 differ", ink1, ink2, bad)
	if d := os.Getenv("HILLS_SHOTS"); d != "" {
		for name, img := range map[string]*image.RGBA{"first.png": first, "second.png": second} {
			if f, err := os.Create(filepath.Join(d, name)); err == nil {
				png.Encode(f, img)
				f.Close()
			}
		}
	}
	if bad > 0 || ink1-ink2 > ink1/50 || ink2-ink1 > ink1/50 {
		t.Fatalf("the glyph-by-glyph and the outline frames differ: ink %d and %d, %d blocks of 8×8 differ", ink1, ink2, bad)
	}
}

// gpu draws frames of u through the GPU (Mesa's software renderer) and
// reads their pixels back.
type gpu struct {
	t   *testing.T
	u   *ui
	win *headless.Window
}

// newGPU returns a GPU window of u's size; the test is skipped where no
// headless GPU context can be made (the input tests still run there).
func newGPU(t *testing.T, u *ui) *gpu {
	t.Helper()
	win, err := headless.NewWindow(u.size.X, u.size.Y)
	if err != nil {
		t.Skipf("no headless GPU context here (headless.NewWindow: %v); the input tests still run", err)
	}
	t.Cleanup(win.Release)
	return &gpu{t: t, u: u, win: win}
}

// shot lays out a frame with fn over th's background and returns its
// pixels.
func (g *gpu) shot(th *Theme, fn func(gtx layout.Context)) *image.RGBA {
	g.t.Helper()
	g.u.frame(func(gtx layout.Context) {
		fill(gtx, th.Bg)
		fn(gtx)
	})
	if err := g.win.Frame(&g.u.ops); err != nil {
		g.t.Fatal(err)
	}
	img := image.NewRGBA(image.Rectangle{Max: g.u.size})
	if err := g.win.Screenshot(img); err != nil {
		g.t.Fatal(err)
	}
	return img
}
