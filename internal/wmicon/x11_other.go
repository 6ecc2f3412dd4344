//go:build !(((linux && !android) || freebsd || openbsd) && cgo)

package wmicon

import (
	"image"
	"unsafe"
)

// SetX11 returns ErrUnsupported: this build has no X11.
func SetX11(display unsafe.Pointer, window uintptr, imgs ...image.Image) error {
	return ErrUnsupported
}
