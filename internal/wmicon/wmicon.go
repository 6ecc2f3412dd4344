package wmicon

import (
	"errors"
	"image"
)

// ErrUnsupported: the platform or build has no way to set a window icon.
var ErrUnsupported = errors.New("wmicon: window icons are not supported here")

// Data encodes images as the CARDINAL array of _NET_WM_ICON: for each
// image its width, its height, then its pixels row by row as ARGB, not
// premultiplied.
func Data(imgs ...image.Image) []uint32 {
	var out []uint32
	for _, img := range imgs {
		b := img.Bounds()
		out = append(out, uint32(b.Dx()), uint32(b.Dy()))
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, a := img.At(x, y).RGBA()
				if a != 0 && a != 0xffff {
					// Un-premultiply.
					r, g, bl = r*0xffff/a, g*0xffff/a, bl*0xffff/a
				}
				out = append(out, (a>>8)<<24|(r>>8)<<16|(g>>8)<<8|bl>>8)
			}
		}
	}
	return out
}
