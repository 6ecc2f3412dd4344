//go:build (linux && !android) || freebsd || openbsd

package app

import gioapp "gioui.org/app"

// windowGone reports whether e says the window is gone. The X11 and
// Wayland drivers send an invalid ViewEvent only as they destroy the
// window, right before its DestroyEvent.
func windowGone(e gioapp.ViewEvent) bool {
	switch e.(type) {
	case gioapp.X11ViewEvent, gioapp.WaylandViewEvent:
		return !e.Valid()
	}
	return false
}
