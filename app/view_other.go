//go:build !((linux && !android) || freebsd || openbsd)

package app

import gioapp "gioui.org/app"

// windowGone reports whether e says the window is gone: never here, where
// a view may come and go while the window lives.
func windowGone(gioapp.ViewEvent) bool { return false }

// prepareDisplay has nothing to prepare here.
func prepareDisplay() (func(), error) { return func() {}, nil }
