// Package wmicon sets a window's icon where the window library cannot:
// Gio (gioui.org/app, v0.10) has no window-icon option. On X11 the icon is
// the window's _NET_WM_ICON property (the EWMH standard window managers,
// task bars and switchers read), set from the Display and Window of Gio's
// X11ViewEvent. On Wayland a compositor takes the icon from the .desktop
// file named by the app ID, and Gio does not speak the staging
// xdg-toplevel-icon protocol, so Set does nothing there; on Windows Gio
// loads the icon from the executable's resources, and on macOS from the
// application bundle.
//
// Set may be called from any goroutine: Gio's X11 driver initialises Xlib
// for threads (XInitThreads).
package wmicon
