package assets

import (
	"bytes"
	"embed"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gioui.org/font"
	"gioui.org/font/opentype"
	"gioui.org/widget"
)

//go:embed fonts/*.ttf fonts/LICENSE
var fontFiles embed.FS

//go:embed icons/*.ivg icons/LICENSE
var iconFiles embed.FS

//go:embed appicon/*.png
var appIconFiles embed.FS

// The typefaces of Fonts' faces, for font.Font.Typeface.
const (
	UI   font.Typeface = "Go"
	Mono font.Typeface = "Go Mono"
)

var fonts = sync.OnceValues(func() ([]font.FontFace, error) {
	return parseFonts(fontFiles)
})

// parseFonts parses every .ttf file of fsys under fonts/.
func parseFonts(fsys fs.FS) ([]font.FontFace, error) {
	names, err := fs.Glob(fsys, "fonts/*.ttf")
	if err != nil {
		return nil, err
	}
	var faces []font.FontFace
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ff, err := opentype.ParseCollection(b)
		if err != nil {
			return nil, fmt.Errorf("assets: %s: %w", name, err)
		}
		faces = append(faces, ff...)
	}
	if len(faces) == 0 {
		return nil, fmt.Errorf("assets: no fonts embedded")
	}
	return faces, nil
}

// Fonts returns the embedded faces, for text.WithCollection. The embedded
// files are checked by the package's tests, so it panics only on a broken
// build.
func Fonts() []font.FontFace {
	faces, err := fonts()
	if err != nil {
		panic(err)
	}
	return faces
}

// License returns the licence text of the fonts ("fonts") or of the icons
// ("icons"), for an application's About box.
func License(of string) (string, error) {
	fsys := fs.FS(fontFiles)
	if of == "icons" {
		fsys = iconFiles
	} else if of != "fonts" {
		return "", fmt.Errorf("assets: no licence for %q", of)
	}
	b, err := fs.ReadFile(fsys, of+"/LICENSE")
	return string(b), err
}

// IconNames returns the names of the icons of the set, sorted.
func IconNames() []string {
	names, _ := fs.Glob(iconFiles, "icons/*.ivg")
	for i, n := range names {
		names[i] = strings.TrimSuffix(path.Base(n), ".ivg")
	}
	slices.Sort(names)
	return names
}

var (
	iconMu    sync.Mutex
	iconCache = map[string]*widget.Icon{}
)

// Icon returns the icon called name (see IconNames), such as "save",
// "search" or "sync"; an error when there is none.
func Icon(name string) (*widget.Icon, error) {
	iconMu.Lock()
	defer iconMu.Unlock()
	if ic := iconCache[name]; ic != nil {
		return ic, nil
	}
	b, err := fs.ReadFile(iconFiles, "icons/"+name+".ivg")
	if err != nil {
		return nil, fmt.Errorf("assets: no icon %q", name)
	}
	ic, err := widget.NewIcon(b)
	if err != nil {
		return nil, fmt.Errorf("assets: icon %q: %w", name, err)
	}
	iconCache[name] = ic
	return ic, nil
}

// MustIcon is Icon for the names of the set, which the tests check; it
// panics on an unknown name.
func MustIcon(name string) *widget.Icon {
	ic, err := Icon(name)
	if err != nil {
		panic(err)
	}
	return ic
}

// AppIconSizes returns the sizes, in pixels, the application icon is
// drawn in, smallest first.
func AppIconSizes() []int {
	names, _ := fs.Glob(appIconFiles, "appicon/hills-*.png")
	var sizes []int
	for _, n := range names {
		s := strings.TrimSuffix(strings.TrimPrefix(path.Base(n), "hills-"), ".png")
		if v, err := strconv.Atoi(s); err == nil {
			sizes = append(sizes, v)
		}
	}
	slices.Sort(sizes)
	return sizes
}

// AppIconPNG returns the PNG file of the application icon in the smallest
// size of at least size pixels (the largest when none is).
func AppIconPNG(size int) []byte {
	sizes := AppIconSizes()
	pick := sizes[len(sizes)-1]
	for _, s := range sizes {
		if s >= size {
			pick = s
			break
		}
	}
	b, err := appIconFiles.ReadFile(fmt.Sprintf("appicon/hills-%d.png", pick))
	if err != nil {
		panic(err)
	}
	return b
}

var (
	appIconMu    sync.Mutex
	appIconCache = map[int]image.Image{}
)

// AppIcon returns the application icon as AppIconPNG's image, decoded.
func AppIcon(size int) (image.Image, error) {
	appIconMu.Lock()
	defer appIconMu.Unlock()
	if img := appIconCache[size]; img != nil {
		return img, nil
	}
	img, err := png.Decode(bytes.NewReader(AppIconPNG(size)))
	if err != nil {
		return nil, fmt.Errorf("assets: application icon: %w", err)
	}
	appIconCache[size] = img
	return img, nil
}
