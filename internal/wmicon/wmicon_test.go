package wmicon

import (
	"image"
	"image/color"
	"slices"
	"testing"

	"github.com/hillsdb/hills/assets"
	"github.com/hillsdb/hills/internal/testkit"
)

func TestData(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 0x11, G: 0x22, B: 0x33, A: 0xff})
	img.SetNRGBA(1, 0, color.NRGBA{R: 0xff, G: 0x00, B: 0x00, A: 0x80})
	got := Data(img)
	want := []uint32{2, 1, 0xff112233, 0x80ff0000}
	if !slices.Equal(got, want) {
		t.Fatalf("Data = %x, want %x", got, want)
	}
}

// TestSetX11 sets the application icon on a window of a real X server
// (Xvfb) and reads the property back from another connection.
func TestSetX11(t *testing.T) {
	testkit.Display(t)
	p := openProbe()
	if p == nil {
		t.Fatal("XOpenDisplay failed on the test display")
	}
	defer p.close()
	var imgs []image.Image
	for _, n := range []int{16, 32} {
		img, err := assets.AppIcon(n)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	if err := SetX11(p.display(), p.window(), imgs...); err != nil {
		t.Fatal(err)
	}
	got, want := p.icon(), Data(imgs...)
	if len(got) != 2+16*16+2+32*32 || !slices.Equal(got, want) {
		t.Fatalf("the window's _NET_WM_ICON has %d values, want the %d set", len(got), len(want))
	}
	if err := SetX11(nil, 0, imgs...); err == nil {
		t.Error("no window: no error")
	}
}
