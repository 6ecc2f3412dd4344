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
	win, err := headless.NewWindow(u.size.X, u.size.Y)
	if err != nil {
		t.Skipf("no headless GPU context here (headless.NewWindow: %v); the input tests still run", err)
	}
	defer win.Release()
	tb.Select(tb.Key(2))
	u.frame(func(gtx layout.Context) {
		fill(gtx, th.Bg)
		tb.Layout(gtx, th)
	})
	if err := win.Frame(&u.ops); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rectangle{Max: u.size})
	if err := win.Screenshot(img); err != nil {
		t.Fatal(err)
	}
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
