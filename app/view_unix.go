//go:build (linux && !android) || freebsd || openbsd

package app

import (
	"fmt"
	"os"
	"path/filepath"

	gioapp "gioui.org/app"
)

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

// prepareDisplay runs before the window library starts. Without any
// display it says so, once and plainly. On X11 without XDG_RUNTIME_DIR it
// gives the process a private empty one: the window library tries Wayland
// first, and the Wayland library prints an error about the unset
// variable on stderr before the library falls back to X. The returned
// function removes that directory.
func prepareDisplay() (func(), error) {
	x, wl, rt := os.Getenv("DISPLAY"), os.Getenv("WAYLAND_DISPLAY"), os.Getenv("XDG_RUNTIME_DIR")
	if x == "" && wl == "" {
		if _, err := os.Stat(filepath.Join(rt, "wayland-0")); rt == "" || err != nil {
			return nil, fmt.Errorf("%w: DISPLAY and WAYLAND_DISPLAY are unset: run it in a desktop session, or under a virtual display (xvfb-run)", ErrNoDisplay)
		}
	}
	if x == "" || wl != "" || rt != "" {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "hills-runtime-")
	if err != nil {
		return func() {}, nil // only the message is at stake
	}
	os.Setenv("XDG_RUNTIME_DIR", dir)
	return func() { os.RemoveAll(dir) }, nil
}
