package widgets

import (
	"bytes"
	"encoding/json"
	"image/color"
	"math"
	"strconv"
	"strings"
	"time"

	"gioui.org/f32"
	"gioui.org/font"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/text"
	"golang.org/x/image/math/fixed"

	"github.com/hillsdb/hills/db"
)

// parseRecord parses a record's JSON text into its members, keeping each
// value's JSON text.
func parseRecord(text string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// cellText renders one member's JSON value for a table cell: strings
// unquoted, times shortened, nested values as compact JSON, at most about
// 120 characters.
func cellText(raw json.RawMessage, t *db.Type) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	switch {
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			s = string(raw)
		}
		if t != nil && t.Kind == db.KindTime {
			if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
				s = tm.Local().Format("2006-01-02 15:04:05")
			}
		}
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			s = b.String()
		} else {
			s = string(raw)
		}
	default:
		s = string(raw)
	}
	if len(s) > 120 {
		s = s[:117] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// sortKey is a cell's value for ordering: numbers compare as numbers,
// everything else as text.
type sortKey struct {
	num   float64
	isNum bool
	text  string
}

func makeSortKey(s string) sortKey {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return sortKey{num: f, isNum: true}
	}
	return sortKey{text: strings.ToLower(s)}
}

func (a sortKey) compare(b sortKey) int {
	switch {
	case a.isNum && b.isNum:
		switch {
		case a.num < b.num:
			return -1
		case a.num > b.num:
			return 1
		}
		return 0
	case a.isNum:
		return -1
	case b.isNum:
		return 1
	}
	return strings.Compare(a.text, b.text)
}

type jsonRaw = json.RawMessage

// waitBriefly yields for a moment while polling background work.
func waitBriefly() { time.Sleep(time.Millisecond) }

// cellCache keeps table cells shaped: the glyphs of each cell text, the
// outline of each glyph, and the outline of each cell drawn more than
// once, so a frame that shows rows seen before shapes nothing, and a frame
// of new rows (a page jump) only positions glyphs, since the outlines of
// the digits and letters a page shows are almost all known already. Text of the simple scripts (Latin, Greek, Cyrillic, and
// the symbols the UI uses) is positioned from the glyphs of its runes,
// each shaped once: the embedded Go fonts have no kerning and no
// ligatures (no GPOS, GSUB or kern table), so that is what the shaper
// would do. Other text, and text cut to fit, goes through the shaper. A
// cellCache belongs to one table and is used from the window's goroutine
// only.
type cellCache struct {
	shaper  *text.Shaper // the shaper the glyph IDs are of
	ppem    fixed.Int26_6
	natural map[natKey]*shapedCell
	cut     map[cutKey]*shapedCell
	runes   map[natKey]text.Glyph // natKey.text is one rune
	glyphs  map[glyphKey]clip.PathSpec
	buf     []text.Glyph
}

// maxCachedCells and maxCachedGlyphs bound the cache: past them it starts
// over (a frame shows a few hundred cells).
const (
	maxCachedCells  = 8192
	maxCachedGlyphs = 4096
)

type natKey struct {
	text string
	bold bool
}

type cutKey struct {
	natKey
	maxPx int
}

// shapedCell is a cell's text shaped on one line.
type shapedCell struct {
	glyphs    []cellGlyph
	width     int           // pixels, the width of the text as drawn
	height    int           // pixels, ascent + descent
	ascent    int           // pixels
	truncated bool          // the text did not fit and ends with "…"
	drawn     bool          // drawn once, glyph by glyph
	path      clip.PathSpec // the outline of the glyphs, from the second draw
	hasPath   bool
}

type glyphKey struct {
	id  text.GlyphID
	off fixed.Point26_6
}

type cellGlyph struct {
	x float32
	g text.Glyph // for shaping the outline
}

// reset empties the cache when the theme's shaper or text size changed.
func (c *cellCache) reset(th *Theme, ppem fixed.Int26_6) {
	if c.shaper == th.Shaper && c.ppem == ppem && c.natural != nil {
		return
	}
	c.shaper, c.ppem = th.Shaper, ppem
	c.natural, c.cut = map[natKey]*shapedCell{}, map[cutKey]*shapedCell{}
	c.runes, c.glyphs = map[natKey]text.Glyph{}, map[glyphKey]clip.PathSpec{}
}

// shape returns txt shaped on one line no wider than maxPx, cut with "…"
// when it is wider.
func (c *cellCache) shape(gtx layout.Context, th *Theme, txt string, bold bool, maxPx int) *shapedCell {
	ppem := fixed.I(gtx.Sp(th.TextSize))
	c.reset(th, ppem)
	nk := natKey{txt, bold}
	sc := c.natural[nk]
	if sc == nil {
		if len(c.natural) >= maxCachedCells {
			clear(c.natural)
		}
		sc = c.fromRunes(gtx, th, txt, bold)
		if sc == nil {
			sc = c.layout(gtx, th, txt, bold, 1<<24)
		}
		c.natural[nk] = sc
	}
	if sc.width <= maxPx {
		return sc
	}
	ck := cutKey{nk, maxPx}
	if sc := c.cut[ck]; sc != nil {
		return sc
	}
	if len(c.cut) >= maxCachedCells {
		clear(c.cut)
	}
	sc = c.layout(gtx, th, txt, bold, maxPx)
	c.cut[ck] = sc
	return sc
}

func (c *cellCache) font(th *Theme, bold bool) font.Font {
	f := font.Font{Typeface: th.Face}
	if bold {
		f.Weight = font.SemiBold
	}
	return f
}

// layout shapes txt with the shaper.
func (c *cellCache) layout(gtx layout.Context, th *Theme, txt string, bold bool, maxPx int) *shapedCell {
	c.shaper.LayoutString(text.Parameters{
		Font: c.font(th, bold), PxPerEm: c.ppem, MaxLines: 1, Truncator: "…",
		MaxWidth: max(1, maxPx), Locale: gtx.Locale,
	}, txt)
	sc := &shapedCell{}
	var asc, desc, right fixed.Int26_6
	for g, ok := c.shaper.NextGlyph(); ok; g, ok = c.shaper.NextGlyph() {
		asc, desc = max(asc, g.Ascent), max(desc, g.Descent)
		right = max(right, g.X+g.Advance)
		if g.Flags&text.FlagTruncator != 0 {
			sc.truncated = true
		}
		sc.glyphs = append(sc.glyphs, cellGlyph{x: fixedFloat(g.X), g: g})
	}
	sc.width, sc.ascent, sc.height = right.Ceil(), asc.Ceil(), (asc + desc).Ceil()
	return sc
}

// fromRunes positions txt's glyphs from those of its runes; nil when txt
// has a rune outside the simple scripts.
func (c *cellCache) fromRunes(gtx layout.Context, th *Theme, txt string, bold bool) *shapedCell {
	for _, r := range txt {
		if !simpleRune(r) {
			return nil
		}
	}
	sc := &shapedCell{glyphs: make([]cellGlyph, 0, len(txt))}
	var x, asc, desc fixed.Int26_6
	for _, r := range txt {
		rk := natKey{string(r), bold}
		g, ok := c.runes[rk]
		if !ok {
			c.shaper.LayoutString(text.Parameters{
				Font: c.font(th, bold), PxPerEm: c.ppem, MaxLines: 1, MaxWidth: 1 << 24,
				Locale: gtx.Locale, DisableSpaceTrim: true,
			}, rk.text)
			n := 0
			for gg, more := c.shaper.NextGlyph(); more; gg, more = c.shaper.NextGlyph() {
				g, n = gg, n+1
			}
			if n != 1 {
				return nil // not one glyph: leave it to the shaper
			}
			c.runes[rk] = g
		}
		asc, desc = max(asc, g.Ascent), max(desc, g.Descent)
		g.X = x
		sc.glyphs = append(sc.glyphs, cellGlyph{x: fixedFloat(x), g: g})
		x += g.Advance
	}
	sc.width, sc.ascent, sc.height = x.Ceil(), asc.Ceil(), (asc + desc).Ceil()
	if len(txt) == 0 {
		sc.height = 0
	}
	return sc
}

// simpleRune reports whether r is laid out on its own, left to right,
// with its glyph's advance: Latin, Greek, Cyrillic, punctuation and the
// symbols of the UI, no combining marks and no controls.
func simpleRune(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return false
	case r < 0x300:
		return true
	case r < 0x370: // combining diacritical marks
		return false
	case r < 0x483:
		return true
	case r < 0x48a: // Cyrillic combining marks
		return false
	case r < 0x530:
		return true
	case r >= 0x2000 && r < 0x2800: // punctuation, arrows, shapes
		return r > 0x200f && (r < 0x2028 || r > 0x202f) && (r < 0x2060 || r > 0x206f)
	}
	return false
}

// draw paints sc in color col with its line's top at y, its start at x.
// A cell drawn for the first time is drawn glyph by glyph from the
// outlines of the glyph cache (a page of new rows shapes no outline); one
// drawn again gets an outline of its own, made once and kept with it, so
// the frames of rows that stay on screen draw one path per cell.
func (c *cellCache) draw(gtx layout.Context, sc *shapedCell, x, y int, col color.NRGBA) {
	paint.ColorOp{Color: col}.Add(gtx.Ops)
	base := float32(y + sc.ascent)
	if !sc.hasPath && sc.drawn {
		c.buf = c.buf[:0]
		for _, cg := range sc.glyphs {
			c.buf = append(c.buf, cg.g)
		}
		sc.path, sc.hasPath = c.shaper.Shape(c.buf), true
	}
	if sc.hasPath {
		c.paintPath(gtx, sc.path, float32(x)+sc.glyphs[0].x, base)
		return
	}
	sc.drawn = true
	for i := range sc.glyphs {
		cg := &sc.glyphs[i]
		k := glyphKey{cg.g.ID, cg.g.Offset}
		spec, ok := c.glyphs[k]
		if !ok {
			if len(c.glyphs) >= maxCachedGlyphs {
				clear(c.glyphs)
			}
			c.buf = append(c.buf[:0], cg.g)
			spec = c.shaper.Shape(c.buf)
			c.glyphs[k] = spec
		}
		// Whole pixels: the GPU reuses a glyph's rasterization across
		// offsets, so fractional ones would put glyphs up to a pixel
		// from where the cell's own outline draws them next frame.
		c.paintPath(gtx, spec, float32(math.Round(float64(float32(x)+cg.x))), base)
	}
}

// paintPath fills the outline spec, moved to (x, y), with the current
// color.
func (c *cellCache) paintPath(gtx layout.Context, spec clip.PathSpec, x, y float32) {
	t := op.Affine(f32.AffineId().Offset(f32.Pt(x, y))).Push(gtx.Ops)
	cl := clip.Outline{Path: spec}.Op().Push(gtx.Ops)
	paint.PaintOp{}.Add(gtx.Ops)
	cl.Pop()
	t.Pop()
}

func fixedFloat(v fixed.Int26_6) float32 { return float32(v) / 64 }
