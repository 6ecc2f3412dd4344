//go:build !((linux && !android) || freebsd || openbsd)

package app

import gioapp "gioui.org/app"

// setWindowIcon does nothing here: Gio takes the window icon from the
// executable's resources on Windows and from the bundle on macOS.
func setWindowIcon(gioapp.ViewEvent) error { return nil }
