package assets

import (
	"image"
	"image/color"
	"strings"
	"testing"
	"testing/fstest"

	"gioui.org/font"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/text"
	"gioui.org/unit"
	"golang.org/x/image/math/fixed"
)

// TestFontsParse parses every embedded face and finds the UI typeface in
// regular and bold and the monospace one.
func TestFontsParse(t *testing.T) {
	faces := Fonts()
	have := map[font.Font]bool{}
	for _, f := range faces {
		have[f.Font] = true
	}
	for _, want := range []font.Font{
		// The Go fonts' bold faces say they are semibold (600).
		{Typeface: UI}, {Typeface: UI, Weight: font.SemiBold}, {Typeface: UI, Style: font.Italic},
		{Typeface: Mono}, {Typeface: Mono, Weight: font.SemiBold},
	} {
		if !have[want] {
			t.Errorf("no face %+v among %d faces", want, len(faces))
		}
	}
}

// TestParseFontsRejectsGarbage: a file that is no font is an error naming
// it, not a panic.
func TestParseFontsRejectsGarbage(t *testing.T) {
	_, err := parseFonts(fstest.MapFS{"fonts/bad.ttf": {Data: []byte("not a font at all")}})
	if err == nil || !strings.Contains(err.Error(), "bad.ttf") {
		t.Fatalf("err = %v, want one naming bad.ttf", err)
	}
	if _, err := parseFonts(fstest.MapFS{}); err == nil {
		t.Fatal("no fonts: no error")
	}
}

// shape returns the glyphs of s shaped in typeface tf.
func shape(t *testing.T, sh *text.Shaper, tf font.Typeface, s string) []text.Glyph {
	t.Helper()
	sh.LayoutString(text.Parameters{Font: font.Font{Typeface: tf}, PxPerEm: fixed.I(16), MaxWidth: 1 << 20}, s)
	var gs []text.Glyph
	for g, ok := sh.NextGlyph(); ok; g, ok = sh.NextGlyph() {
		gs = append(gs, g)
	}
	return gs
}

// notdef reports whether g is a face's .notdef glyph (glyph index 0, in
// the low bits of text.GlyphID).
func notdef(g text.Glyph) bool { return uint64(g.ID)&(1<<gidBits-1) == 0 }

// gidBits is the width of the glyph index in text.GlyphID.
const gidBits = 32

// TestFacesShapeTheUIText shapes the characters hills' widgets draw (sort
// arrows, ellipsis, middle dot) with a real glyph each, and finds the
// monospace face's glyphs of equal width where the UI face's differ.
func TestFacesShapeTheUIText(t *testing.T) {
	sh := text.NewShaper(text.NoSystemFonts(), text.WithCollection(Fonts()))
	for _, tf := range []font.Typeface{UI, Mono} {
		gs := shape(t, sh, tf, "RC0603FR ▲▼…·")
		if len(gs) != len([]rune("RC0603FR ▲▼…·")) {
			t.Fatalf("%s: %d glyphs", tf, len(gs))
		}
		for i, g := range gs {
			if notdef(g) {
				t.Errorf("%s: glyph %d is .notdef", tf, i)
			}
		}
	}
	// The check itself: a character of no embedded face is .notdef.
	if gs := shape(t, sh, UI, "漢"); len(gs) != 1 || !notdef(gs[0]) {
		t.Errorf("漢 shaped as %+v, want .notdef", gs)
	}
	width := func(tf font.Typeface, s string) fixed.Int26_6 {
		var w fixed.Int26_6
		for _, g := range shape(t, sh, tf, s) {
			w += g.Advance
		}
		return w
	}
	if a, b := width(Mono, "iiii"), width(Mono, "WWWW"); a != b {
		t.Errorf("mono: iiii %v wide, WWWW %v", a, b)
	}
	if a, b := width(UI, "iiii"), width(UI, "WWWW"); a >= b {
		t.Errorf("UI: iiii %v wide, WWWW %v: not the proportional face", a, b)
	}
}

// TestIconsDecode decodes and lays out every icon of the set.
func TestIconsDecode(t *testing.T) {
	names := IconNames()
	if len(names) < 20 {
		t.Fatalf("%d icons: %v", len(names), names)
	}
	for _, n := range names {
		ic, err := Icon(n)
		if err != nil {
			t.Fatal(err)
		}
		var ops op.Ops
		gtx := layout.Context{Ops: &ops, Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1}, Constraints: layout.Exact(image.Pt(24, 24))}
		if d := ic.Layout(gtx, color.NRGBA{A: 0xff}); d.Size.X != 24 {
			t.Errorf("%s laid out %v", n, d.Size)
		}
	}
	if _, err := Icon("no-such-icon"); err == nil {
		t.Error("unknown icon: no error")
	}
}

// TestAppIcon decodes the application icon in every size: square, with
// transparent corners (the rounded tile) and an opaque middle.
func TestAppIcon(t *testing.T) {
	sizes := AppIconSizes()
	if len(sizes) < 4 || sizes[0] > 16 || sizes[len(sizes)-1] < 256 {
		t.Fatalf("sizes %v", sizes)
	}
	for _, n := range sizes {
		img, err := AppIcon(n)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != n || b.Dy() != n {
			t.Fatalf("icon %d is %v", n, b)
		}
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("icon %d: corner alpha %d", n, a)
		}
		if _, _, _, a := img.At(n/2, n/2).RGBA(); a != 0xffff {
			t.Errorf("icon %d: middle alpha %d", n, a)
		}
	}
	if img, _ := AppIcon(40); img.Bounds().Dx() != 48 {
		t.Errorf("AppIcon(40) is %v, want the 48 px icon", img.Bounds())
	}
	for _, of := range []string{"fonts", "icons"} {
		if l, err := License(of); err != nil || !strings.Contains(l, "icense") {
			t.Errorf("License(%q) = %.40q, %v", of, l, err)
		}
	}
}
