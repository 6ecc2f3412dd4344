// Command gen writes the files package assets embeds: the Go fonts as
// .ttf files, a few Material Design icons as IconVG files, and the
// application icon, drawn here, as PNG files of several sizes. Run it
// with go generate in assets/; its output is checked in, so building hills
// never runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/exp/shiny/materialdesign/icons"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
)

// fonts are the faces hills ships: the UI family in the weights its
// widgets use, and the monospace family for JSON text.
var fonts = map[string][]byte{
	"Go-Regular.ttf":   goregular.TTF,
	"Go-Bold.ttf":      gobold.TTF,
	"Go-Italic.ttf":    goitalic.TTF,
	"Go-Mono.ttf":      gomono.TTF,
	"Go-Mono-Bold.ttf": gomonobold.TTF,
}

// iconSet maps the names of package assets' icons to their IconVG data.
var iconSet = map[string][]byte{
	"add":          icons.ContentAdd,
	"save":         icons.ContentSave,
	"delete":       icons.ActionDelete,
	"clear":        icons.ContentClear,
	"close":        icons.NavigationClose,
	"search":       icons.ActionSearch,
	"filter":       icons.ContentFilterList,
	"lock":         icons.ActionLock,
	"lock-open":    icons.ActionLockOpen,
	"sync":         icons.NotificationSync,
	"sync-problem": icons.NotificationSyncProblem,
	"offline":      icons.FileCloudOff,
	"online":       icons.FileCloudDone,
	"history":      icons.ActionHistory,
	"arrow-up":     icons.NavigationArrowUpward,
	"arrow-down":   icons.NavigationArrowDownward,
	"info":         icons.ActionInfo,
	"error":        icons.AlertError,
	"warning":      icons.AlertWarning,
	"edit":         icons.EditorModeEdit,
	"code":         icons.ActionCode,
	"list":         icons.ActionViewList,
	"folder":       icons.FileFolder,
	"refresh":      icons.NavigationRefresh,
	"waiting":      icons.ActionHourglassEmpty,
	"done":         icons.ActionCheckCircle,
	"undo":         icons.ContentUndo,
}

// AppIconSizes are the sizes of the application icon, in pixels.
var appIconSizes = []int{16, 24, 32, 48, 64, 128, 256}

func main() {
	out := flag.String("out", ".", "the assets directory")
	flag.Parse()
	for name, b := range fonts {
		write(filepath.Join(*out, "fonts", name), b)
	}
	for name, b := range iconSet {
		write(filepath.Join(*out, "icons", name+".ivg"), b)
	}
	for _, n := range appIconSizes {
		var buf bytes.Buffer
		if err := png.Encode(&buf, drawAppIcon(n)); err != nil {
			log.Fatal(err)
		}
		write(filepath.Join(*out, "appicon", fmt.Sprintf("hills-%d.png", n)), buf.Bytes())
	}
}

func write(path string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

// The application icon: a rounded tile of evening sky with a sun and
// three hills, the front one green, the back ones blue with snow caps.
// Shapes are in a unit square (y down) and drawn with 8×8 samples a
// pixel.

type pt struct{ x, y float64 }

type shape struct {
	inside func(p pt) bool
	c      color.NRGBA
}

func drawAppIcon(n int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	shapes := iconShapes()
	const ss = 8
	for py := range n {
		for px := range n {
			var r, g, b, a float64
			for sy := range ss {
				for sx := range ss {
					p := pt{(float64(px) + (float64(sx)+0.5)/ss) / float64(n), (float64(py) + (float64(sy)+0.5)/ss) / float64(n)}
					c, ok := colorAt(shapes, p)
					if !ok {
						continue
					}
					fa := float64(c.A) / 255
					r += float64(c.R) * fa
					g += float64(c.G) * fa
					b += float64(c.B) * fa
					a += fa
				}
			}
			if a == 0 {
				continue
			}
			cov := a / (ss * ss)
			img.SetNRGBA(px, py, color.NRGBA{R: uint8(r / a), G: uint8(g / a), B: uint8(b / a), A: uint8(math.Round(cov * 255))})
		}
	}
	return img
}

// colorAt is the color of the topmost shape at p; the tile clips all.
func colorAt(shapes []shape, p pt) (color.NRGBA, bool) {
	if !inRoundRect(p, 0.03, 0.03, 0.97, 0.97, 0.2) {
		return color.NRGBA{}, false
	}
	for i := len(shapes) - 1; i >= 0; i-- {
		if shapes[i].inside(p) {
			return shapes[i].c, true
		}
	}
	// The sky: a vertical gradient.
	t := p.y
	return color.NRGBA{R: lerp(0x2f, 0xf2, t), G: lerp(0x5f, 0xb8, t), B: lerp(0xb3, 0x7a, t), A: 0xff}, true
}

func lerp(a, b uint8, t float64) uint8 {
	return uint8(float64(a) + (float64(b)-float64(a))*math.Max(0, math.Min(1, t)))
}

func iconShapes() []shape {
	sun := func(p pt) bool { return math.Hypot(p.x-0.7, p.y-0.3) < 0.11 }
	back := []pt{{0.03, 0.8}, {0.38, 0.3}, {0.62, 0.62}, {0.75, 0.48}, {0.97, 0.74}, {0.97, 0.97}, {0.03, 0.97}}
	snowL := []pt{{0.31, 0.4}, {0.38, 0.3}, {0.45, 0.4}, {0.41, 0.43}, {0.38, 0.39}, {0.35, 0.43}}
	snowR := []pt{{0.705, 0.53}, {0.75, 0.48}, {0.795, 0.53}, {0.77, 0.55}, {0.75, 0.525}, {0.73, 0.55}}
	// The front hill: the area under a parabola that peaks left of the
	// middle.
	front := func(p pt) bool { return p.y > 0.66+0.5*(p.x-0.3)*(p.x-0.3) }
	return []shape{
		{sun, color.NRGBA{0xff, 0xe6, 0x8a, 0xff}},
		{polygon(back), color.NRGBA{0x3c, 0x56, 0x8c, 0xff}},
		{polygon(snowL), color.NRGBA{0xf4, 0xf7, 0xfb, 0xff}},
		{polygon(snowR), color.NRGBA{0xf4, 0xf7, 0xfb, 0xff}},
		{front, color.NRGBA{0x2e, 0x8b, 0x57, 0xff}},
	}
}

// polygon reports whether a point is inside the polygon (even-odd rule).
func polygon(ps []pt) func(pt) bool {
	return func(p pt) bool {
		in := false
		for i, j := 0, len(ps)-1; i < len(ps); j, i = i, i+1 {
			a, b := ps[i], ps[j]
			if (a.y > p.y) != (b.y > p.y) && p.x < (b.x-a.x)*(p.y-a.y)/(b.y-a.y)+a.x {
				in = !in
			}
		}
		return in
	}
}

func inRoundRect(p pt, x0, y0, x1, y1, r float64) bool {
	if p.x < x0 || p.x > x1 || p.y < y0 || p.y > y1 {
		return false
	}
	cx := math.Max(x0+r, math.Min(x1-r, p.x))
	cy := math.Max(y0+r, math.Min(y1-r, p.y))
	return math.Hypot(p.x-cx, p.y-cy) <= r
}
