package widgets

import (
	"image"
	"testing"
	"time"

	"gioui.org/f32"
	"gioui.org/io/input"
	"gioui.org/io/key"
	"gioui.org/io/pointer"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
)

// ui drives frames of a widget without a window: events are queued on a
// router and seen by the next frame.
type ui struct {
	r    input.Router
	ops  op.Ops
	size image.Point
}

func newUI(w, h int) *ui { return &ui{size: image.Pt(w, h)} }

func (u *ui) frame(fn func(gtx layout.Context)) {
	u.ops.Reset()
	gtx := layout.Context{
		Ops:         &u.ops,
		Now:         time.Now(),
		Source:      u.r.Source(),
		Metric:      unit.Metric{PxPerDp: 1, PxPerSp: 1},
		Constraints: layout.Exact(u.size),
	}
	fn(gtx)
	u.r.Frame(&u.ops)
}

func (u *ui) click(x, y float32) {
	u.r.Queue(
		pointer.Event{Kind: pointer.Press, Position: f32.Pt(x, y), Buttons: pointer.ButtonPrimary, Source: pointer.Mouse},
		pointer.Event{Kind: pointer.Release, Position: f32.Pt(x, y), Source: pointer.Mouse},
	)
}

func (u *ui) drag(x0, x1, y float32) {
	u.r.Queue(
		pointer.Event{Kind: pointer.Press, Position: f32.Pt(x0, y), Buttons: pointer.ButtonPrimary, Source: pointer.Mouse},
		pointer.Event{Kind: pointer.Move, Position: f32.Pt((x0+x1)/2, y), Buttons: pointer.ButtonPrimary, Source: pointer.Mouse},
		pointer.Event{Kind: pointer.Move, Position: f32.Pt(x1, y), Buttons: pointer.ButtonPrimary, Source: pointer.Mouse},
		pointer.Event{Kind: pointer.Release, Position: f32.Pt(x1, y), Source: pointer.Mouse},
	)
}

func (u *ui) key(name key.Name) {
	u.r.Queue(key.Event{Name: name, State: key.Press}, key.Event{Name: name, State: key.Release})
}

// mustDemo opens a standalone database in a temporary directory with the
// demo trees and n parts.
func mustDemo(t testing.TB, n int, opts *db.Options) (*db.DB, *db.Tree[demo.Part]) {
	t.Helper()
	d, err := db.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := demo.Seed(d, n); err != nil {
		t.Fatal(err)
	}
	_, pt, err := demo.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	return d, pt
}

// tab presses Tab (Shift+Tab when back) as a window does: a widget that
// takes Tab gets it, and otherwise the focus moves to the next (or
// previous) focusable widget.
func (u *ui) tab(back bool) {
	e := key.Event{Name: key.NameTab, State: key.Press}
	dir := key.FocusForward
	if back {
		e.Modifiers, dir = key.ModShift, key.FocusBackward
	}
	u.r.WakeupTime() // forget the wakeups frames asked for (a caret's blink)
	u.r.Queue(input.SystemEvent{Event: e})
	if _, handled := u.r.WakeupTime(); !handled {
		u.r.MoveFocus(dir)
	}
}

// shortcut presses Ctrl (Command on macOS) with name.
func (u *ui) shortcut(name key.Name) {
	u.r.Queue(key.Event{Name: name, Modifiers: key.ModShortcut, State: key.Press},
		key.Event{Name: name, Modifiers: key.ModShortcut, State: key.Release})
}
