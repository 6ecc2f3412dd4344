package main

import (
	"image"
	"strings"
	"testing"
	"time"

	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/hillsdb/hills/app"
)

// TestLayoutCreatesNotes lays the window out headless (no display, no
// GPU): a click on the button creates a note, and the list shows it.
func TestLayoutCreatesNotes(t *testing.T) {
	a, err := app.Open(app.Config{AppID: "minimal", Dir: t.TempDir(), Name: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	u, err := NewUI(a)
	if err != nil {
		t.Fatal(err)
	}
	frame := func() {
		var ops op.Ops
		gtx := layout.Context{Ops: &ops, Now: time.Now(), Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1},
			Constraints: layout.Exact(image.Pt(400, 300))}
		u.Layout(gtx)
	}
	frame()
	if n := u.notes.Len(); n != 0 {
		t.Fatalf("%d notes before any click", n)
	}
	u.add.Click()
	frame()
	u.add.Click()
	frame()
	if u.err != nil {
		t.Fatal(u.err)
	}
	if n := u.notes.Len(); n != 2 {
		t.Fatalf("%d notes after two clicks, want 2", n)
	}
	for _, n := range u.notes.All() {
		if !strings.Contains(n.Text, "by tester") || n.Created.IsZero() {
			t.Fatalf("note %+v", *n)
		}
	}
	frame() // the list lays out the new rows
}
