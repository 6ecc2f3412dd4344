package widgets

import (
	"image"
	"image/color"

	"gioui.org/font"
	"gioui.org/layout"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/text"
	"gioui.org/unit"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/assets"
)

// Theme is the look shared by the widgets: Gio's material theme plus the
// few colors and sizes of tables and forms. Build it once per window with
// NewTheme; it is read-only afterwards.
type Theme struct {
	*material.Theme
	RowHeight unit.Dp     // height of a list or table row; default 28
	Stripe    color.NRGBA // background of every other row
	Select    color.NRGBA // background of the selected row
	Header    color.NRGBA // background of table headers and bars
	Border    color.NRGBA // separators
	Muted     color.NRGBA // secondary text
	Error     color.NRGBA // error text
	Good      color.NRGBA // "mine", connected
	Warn      color.NRGBA // "held by another", waiting
	Focus     color.NRGBA // the ring around the focused widget
	// Mono is the monospace typeface, for JSON text and keys; the UI
	// typeface is material.Theme's Face.
	Mono font.Typeface
}

// NewTheme returns the default theme, with the fonts of package assets
// only (no system fonts: text looks the same on every machine).
func NewTheme() *Theme {
	th := material.NewTheme()
	th.Shaper = text.NewShaper(text.NoSystemFonts(), text.WithCollection(assets.Fonts()))
	th.Face = assets.UI
	th.TextSize = 14
	th.Palette.Fg = rgb(0x1f2328)
	th.Palette.Bg = rgb(0xffffff)
	th.Palette.ContrastBg = rgb(0x2f5fb3)
	th.Palette.ContrastFg = rgb(0xffffff)
	return &Theme{
		Theme:     th,
		RowHeight: 28,
		Stripe:    rgb(0xf6f8fa),
		Select:    rgb(0xdbe7fb),
		Header:    rgb(0xeef1f5),
		Border:    rgb(0xd0d7de),
		Muted:     rgb(0x656d76),
		Error:     rgb(0xc0262d),
		Good:      rgb(0x1a7f37),
		Warn:      rgb(0x9a6700),
		Focus:     rgb(0x2f5fb3),
		Mono:      assets.Mono,
	}
}

func rgb(c uint32) color.NRGBA {
	return color.NRGBA{R: uint8(c >> 16), G: uint8(c >> 8), B: uint8(c), A: 0xff}
}

// fill paints the constraints' minimum size with c and returns it.
func fill(gtx layout.Context, c color.NRGBA) layout.Dimensions {
	sz := gtx.Constraints.Min
	paint.FillShape(gtx.Ops, c, clip.Rect{Max: sz}.Op())
	return layout.Dimensions{Size: sz}
}

// rect paints a rectangle of size sz with c.
func rect(gtx layout.Context, c color.NRGBA, sz image.Point) {
	paint.FillShape(gtx.Ops, c, clip.Rect{Max: sz}.Op())
}

// Background lays out w over a background of color c.
func Background(gtx layout.Context, c color.NRGBA, w layout.Widget) layout.Dimensions {
	return layout.Background{}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return fill(gtx, c)
	}, w)
}

// Divider draws a horizontal line one pixel high across the width.
func Divider(gtx layout.Context, c color.NRGBA) layout.Dimensions {
	sz := image.Pt(gtx.Constraints.Max.X, max(1, gtx.Dp(1)))
	rect(gtx, c, sz)
	return layout.Dimensions{Size: sz}
}

// VDivider draws a vertical line one pixel wide across the minimum height.
func VDivider(gtx layout.Context, c color.NRGBA) layout.Dimensions {
	sz := image.Pt(max(1, gtx.Dp(1)), gtx.Constraints.Min.Y)
	rect(gtx, c, sz)
	return layout.Dimensions{Size: sz}
}

// Label is a one-line label that truncates with "…" where it does not fit.
func (th *Theme) Label(txt string) material.LabelStyle {
	l := material.Body2(th.Theme, txt)
	l.TextSize = th.TextSize
	l.MaxLines = 1
	return l
}

// MutedLabel is Label in the muted color.
func (th *Theme) MutedLabel(txt string) material.LabelStyle {
	l := th.Label(txt)
	l.Color = th.Muted
	return l
}
