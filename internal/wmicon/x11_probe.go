//go:build ((linux && !android) || freebsd || openbsd) && cgo

package wmicon

/*
#include <stdlib.h>
#include <X11/Xlib.h>
#include <X11/Xatom.h>

static Window probe_window(Display *d) {
	return XCreateSimpleWindow(d, DefaultRootWindow(d), 0, 0, 10, 10, 0, 0, 0);
}

// probe_icon reads the window's _NET_WM_ICON: its length in *n and the
// longs, which the caller frees with XFree.
static unsigned long *probe_icon(Display *d, Window w, unsigned long *n) {
	Atom a = XInternAtom(d, "_NET_WM_ICON", False), type;
	int format;
	unsigned long after;
	unsigned char *data = NULL;
	if (XGetWindowProperty(d, w, a, 0, 1 << 24, False, XA_CARDINAL, &type, &format, n, &after, &data) != Success || format != 32) {
		*n = 0;
		return NULL;
	}
	return (unsigned long *)data;
}
*/
import "C"

import "unsafe"

// The probe is for the package's tests, which cannot use cgo themselves:
// a window of its own on the display $DISPLAY, and a read of a window's
// icon property back from the server.

type probe struct {
	d *C.Display
	w C.Window
}

func openProbe() *probe {
	d := C.XOpenDisplay(nil)
	if d == nil {
		return nil
	}
	return &probe{d: d, w: C.probe_window(d)}
}

func (p *probe) display() unsafe.Pointer { return unsafe.Pointer(p.d) }
func (p *probe) window() uintptr         { return uintptr(p.w) }

// icon reads the window's _NET_WM_ICON from a second connection, as a
// window manager would.
func (p *probe) icon() []uint32 {
	d := C.XOpenDisplay(nil)
	if d == nil {
		return nil
	}
	defer C.XCloseDisplay(d)
	var n C.ulong
	data := C.probe_icon(d, p.w, &n)
	if data == nil {
		return nil
	}
	defer C.XFree(unsafe.Pointer(data))
	longs := unsafe.Slice(data, int(n))
	out := make([]uint32, len(longs))
	for i, v := range longs {
		out[i] = uint32(v)
	}
	return out
}

func (p *probe) close() { C.XCloseDisplay(p.d) }
