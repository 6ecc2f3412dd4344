//go:build (linux && !android) || freebsd || openbsd

package app

import (
	"image"

	gioapp "gioui.org/app"

	"github.com/hillsdb/hills/assets"
	"github.com/hillsdb/hills/internal/wmicon"
)

// windowIconSizes are the sizes of the application icon given to the
// window manager, which picks one per use (title bar, task bar, switcher).
var windowIconSizes = []int{16, 24, 32, 48, 64, 128}

// setWindowIcon gives an X11 window the hills application icon, which
// Gio has no option for (see internal/wmicon); on Wayland the compositor
// takes icons from .desktop files, so nothing is done. It returns the
// error of a failed attempt, nil otherwise.
func setWindowIcon(e gioapp.ViewEvent) error {
	x, ok := e.(gioapp.X11ViewEvent)
	if !ok || !x.Valid() {
		return nil
	}
	var imgs []image.Image
	for _, n := range windowIconSizes {
		img, err := assets.AppIcon(n)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	return wmicon.SetX11(x.Display, x.Window, imgs...)
}
