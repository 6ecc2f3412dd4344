// Package assets holds what hills' windows draw with, embedded in the
// binary: the UI font and a monospace font, an icon set, and the
// application icon.
//
//   - Fonts returns the faces of the Go fonts (typefaces UI and Mono:
//     "Go" in regular, bold and italic, "Go Mono" in regular and
//     bold), parsed once, for a text.Shaper. Licence: fonts/LICENSE
//     (BSD-style, Bigelow & Holmes for the Go project).
//   - Icon returns one of the Material Design icons of the set (IconNames
//     lists them) as a *widget.Icon. Licence: icons/LICENSE (Apache 2.0,
//     Google).
//   - AppIcon returns the hills application icon (a tile of sky with
//     hills) as an image of one of the sizes AppIconSizes lists; AppIconPNG
//     its PNG file. Drawn by internal/gen, which also writes the font and
//     icon files: go generate in this directory.
//
// Everything is read from the embedded files at the first call and cached;
// the functions are safe for concurrent use, and the values they return are
// shared: do not modify them.
package assets
