//go:build ((linux && !android) || freebsd || openbsd) && cgo

package wmicon

/*
#cgo linux pkg-config: x11
#cgo freebsd openbsd CFLAGS: -I/usr/X11R6/include -I/usr/local/include
#cgo freebsd openbsd LDFLAGS: -L/usr/X11R6/lib -L/usr/local/lib -lX11
#include <stdlib.h>
#include <X11/Xlib.h>
#include <X11/Xatom.h>

// set_icon replaces the window's _NET_WM_ICON with n CARDINALs (which
// Xlib takes as longs for format 32).
static int set_icon(Display *d, Window w, unsigned long *data, int n) {
	Atom a = XInternAtom(d, "_NET_WM_ICON", False);
	if (a == None) return 0;
	XChangeProperty(d, w, a, XA_CARDINAL, 32, PropModeReplace, (unsigned char *)data, n);
	XFlush(d);
	return 1;
}
*/
import "C"

import (
	"errors"
	"image"
	"unsafe"
)

// SetX11 sets the icon of X11 window window of display (a *Display from
// XOpenDisplay, as in Gio's X11ViewEvent) to imgs, several sizes of the
// same picture.
func SetX11(display unsafe.Pointer, window uintptr, imgs ...image.Image) error {
	if display == nil || window == 0 {
		return errors.New("wmicon: no X11 window")
	}
	data := Data(imgs...)
	if len(data) == 0 {
		return errors.New("wmicon: no icon images")
	}
	n := C.size_t(len(data)) * C.size_t(unsafe.Sizeof(C.ulong(0)))
	buf := (*[1 << 28]C.ulong)(C.malloc(n))[:len(data):len(data)]
	defer C.free(unsafe.Pointer(&buf[0]))
	for i, v := range data {
		buf[i] = C.ulong(v)
	}
	if C.set_icon((*C.Display)(display), C.Window(window), &buf[0], C.int(len(data))) == 0 {
		return errors.New("wmicon: the X server has no _NET_WM_ICON atom")
	}
	return nil
}
