package main

import (
	"image"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gioui.org/io/input"
	"gioui.org/io/key"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/widgets"
)

// frames drives the viewer without a window.
type frames struct {
	v   *viewer
	r   input.Router
	ops op.Ops
}

func (f *frames) draw() {
	f.v.w.Frame()
	f.ops.Reset()
	gtx := layout.Context{Ops: &f.ops, Now: time.Now(), Source: f.r.Source(),
		Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1}, Constraints: layout.Exact(image.Pt(1280, 800))}
	f.v.Layout(gtx)
	f.r.Frame(&f.ops)
}

// until draws frames until ok holds.
func (f *frames) until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("the viewer's message: %q", f.v.msg)
		}
	}()
	testkit.Until(t, what, func() bool { f.draw(); return ok() })
}

// TestViewerWritesLocal creates, edits, changes the state of and deletes
// records of a local database through the viewer's buttons.
func TestViewerWritesLocal(t *testing.T) {
	a, err := app.Open(app.Config{Dir: t.TempDir(), Name: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(a.DB, 3); err != nil {
		t.Fatal(err)
	}
	v := newViewer(a)
	defer func() { v.Close(); a.Close() }()
	f := &frames{v: v}
	f.until(t, "the tree list", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return len(v.items) == 2 })
	v.openTree("parts")
	f.until(t, "the table", func() bool { return v.table.Len() == 3 })

	// Create from the form.
	v.newBtn.Click()
	f.draw()
	if !v.creating {
		t.Fatal("New record did not open a new form")
	}
	v.form.SetField("number", "NEW-9")
	v.form.SetField("quantity", "12")
	v.saveBtn.Click()
	f.until(t, "the created record", func() bool { return v.table.Len() == 4 && v.hasSel && !v.creating })
	o, _ := a.DB.Opaque("parts")
	k := v.sel
	text, err := o.Text(k)
	if err != nil || !strings.Contains(text, `"NEW-9"`) || !strings.Contains(text, `"quantity": 12`) {
		t.Fatalf("created %s: %v\n%s", k, err, text)
	}

	// Edit as JSON after checking out.
	v.checkout.Click()
	f.until(t, "the check-out", func() bool { return o.Borrow(k).Mine })
	v.tabJSON.Click()
	f.draw()
	if !v.jsonMode {
		t.Fatal("JSON tab not shown")
	}
	v.jsonEd.SetText(strings.Replace(v.jsonEd.Text(), `"NEW-9"`, `"NEW-10"`, 1))
	v.saveBtn.Click()
	f.until(t, "the saved edit", func() bool {
		s, _ := o.Text(k)
		return strings.Contains(s, `"NEW-10"`) && !v.busy // buttons are inert while a write runs
	})
	// A JSON error is reported, nothing written.
	v.jsonEd.SetText(`{"quantity": "x"}`)
	v.saveBtn.Click()
	f.until(t, "the save error", func() bool { return v.msgErr && strings.Contains(v.msg, "failed") })
	f.until(t, "the end of the failed write", func() bool { return !v.busy })

	// State, then delete.
	v.stateEd.SetText("7")
	v.stateBtn.Click()
	f.until(t, "the new state", func() bool { m, _ := o.Meta(k); return m.State == 7 && !v.busy })
	v.delBtn.Click()
	f.until(t, "the deletion", func() bool { return v.table.Len() == 3 })
	if _, err := o.Meta(k); err == nil {
		t.Fatal("record still there after Delete")
	}

	// The filter box filters the table.
	v.table.SetFilter("00001")
	v.table.WaitIdle()
	f.draw()
	if v.table.Len() != 1 {
		t.Fatalf("filter 00001: %d rows", v.table.Len())
	}
}

// TestViewerIdle: once a record is shown, nothing asks for frames any
// more. A record's load finishing is no change of the database: it used
// to count as one, so each frame loaded the record again and asked for
// the next, and the viewer drew about 55 frames a second doing nothing.
func TestViewerIdle(t *testing.T) {
	a, err := app.Open(app.Config{Dir: t.TempDir(), Name: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(a.DB, 3); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	a.Watcher.Close()
	a.Watcher = widgets.NewWatcher(func() { asked.Add(1) })
	v := newViewer(a)
	defer func() { v.Close(); a.Close() }()
	f := &frames{v: v}
	f.until(t, "the tree list", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return len(v.items) == 2 })
	v.openTree("parts")
	f.until(t, "the table", func() bool { return v.table.Len() == 3 })
	selectShown(t, v, f, "1.0")

	// Draw as a window does: a frame each time one is asked for.
	drawAsked := func(d time.Duration) int {
		drawn, seen := 0, asked.Load()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if n := asked.Load(); n != seen {
				seen = n
				f.draw()
				drawn++
			}
		}
		return drawn
	}
	drawAsked(300 * time.Millisecond) // settle
	if n := drawAsked(2 * time.Second); n != 0 {
		t.Fatalf("the idle viewer drew %d frames in 2 s, want 0", n)
	}
}

// -tree naming a tree the database lacks, and -select naming no key, are
// said in the window; the tree opens once it arrives.
func TestViewerStartErrors(t *testing.T) {
	a, err := app.Open(app.Config{Dir: t.TempDir(), Name: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	v := newViewer(a)
	defer func() { v.Close(); a.Close() }()
	f := &frames{v: v}
	v.startWith(startup{tree: "parts", key: "banana"})
	f.until(t, "the message about the missing tree", func() bool { return strings.Contains(v.startMsg, "-tree parts: the database has no such tree") })
	if v.table != nil {
		t.Fatal("a table is shown for a missing tree")
	}
	// The tree arrives (here: created locally; in a replica, from the server).
	if err := demo.Seed(a.DB, 2); err != nil {
		t.Fatal(err)
	}
	f.until(t, "the tree opened when it arrived", func() bool { return v.cur == "parts" && v.startMsg == "" })
	f.until(t, "the -select error", func() bool { return v.msgErr && strings.Contains(v.msg, "-select banana") })
}

type reel struct {
	Part  string `msgpack:"part"`
	Stock int64  `msgpack:"stock" hills:"counter,min=0"`
}

// TestViewerAdjustsCounters takes stock with the form's − without a
// check-out, and saves an edit of another field that keeps the count.
func TestViewerAdjustsCounters(t *testing.T) {
	a, err := app.Open(app.Config{Dir: t.TempDir(), Name: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	reels, err := db.OpenTree[reel](a.DB, "reels")
	if err != nil {
		t.Fatal(err)
	}
	k, err := reels.Create(reel{Part: "R1", Stock: 7})
	if err != nil {
		t.Fatal(err)
	}
	v := newViewer(a)
	defer func() { v.Close(); a.Close() }()
	f := &frames{v: v}
	f.until(t, "the tree list", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return len(v.items) == 1 })
	v.openTree("reels")
	f.until(t, "the table", func() bool { return v.table.Len() == 1 })
	v.selectRecord(db.OpaqueKey{Tree: "reels", ID: k.ID}, true)
	f.until(t, "the record", func() bool { return strings.Contains(v.jsonEd.Text(), `"stock": 7`) })
	if v.form.OnAdd == nil {
		t.Fatal("no − and + for the counter")
	}
	v.form.OnAdd("stock", -1) // what the − button does
	f.until(t, "the delta", func() bool { r, _, _ := reels.Get(k); return r.Stock == 6 && !v.busy })
	f.until(t, "the new count shown", func() bool { return strings.Contains(v.jsonEd.Text(), `"stock": 6`) })
	if v.msgErr {
		t.Fatalf("message %q", v.msg)
	}

	// Below the floor: refused, said so.
	for range 6 {
		v.form.OnAdd("stock", -1)
		f.until(t, "the delta", func() bool { return !v.busy })
	}
	v.form.OnAdd("stock", -1)
	f.until(t, "the refusal", func() bool { return !v.busy && v.msgErr && strings.Contains(v.msg, "minimum") })
	if r, _, _ := reels.Get(k); r.Stock != 0 {
		t.Fatalf("stock %d, want 0", r.Stock)
	}

	// An edit of the part keeps a count taken meanwhile.
	v.checkout.Click()
	f.until(t, "the check-out", func() bool { return reels.Borrow(k).Mine })
	v.form.SetField("part", "R1 reel")
	if err := reels.Add(k, "stock", 5); err != nil {
		t.Fatal(err)
	}
	v.saveBtn.Click()
	f.until(t, "the saved edit", func() bool { r, _, _ := reels.Get(k); return r.Part == "R1 reel" && !v.busy })
	if r, _, _ := reels.Get(k); r.Stock != 5 || v.msgErr {
		t.Fatalf("stock %d after the edit (message %q), want 5", r.Stock, v.msg)
	}

	// As JSON: a count taken meanwhile stays; changing the count is
	// refused, saying why. The record read after the save shows the
	// count first.
	f.until(t, "the record read again", func() bool { return !v.reading })
	v.tabJSON.Click()
	f.draw()
	f.until(t, "the JSON", func() bool { return strings.Contains(v.jsonEd.Text(), `"R1 reel"`) })
	if !strings.Contains(v.jsonEd.Text(), `"stock": 5`) {
		t.Fatalf("the JSON does not show the counter:\n%s", v.jsonEd.Text())
	}
	if err := reels.Add(k, "stock", 2); err != nil {
		t.Fatal(err)
	}
	v.jsonEd.SetText(strings.Replace(v.jsonEd.Text(), `"R1 reel"`, `"R1 reel 2"`, 1))
	v.saveBtn.Click()
	f.until(t, "the JSON edit", func() bool { r, _, _ := reels.Get(k); return r.Part == "R1 reel 2" && !v.busy })
	if r, _, _ := reels.Get(k); r.Stock != 7 || v.msgErr {
		t.Fatalf("stock %d after the JSON edit (message %q), want 7", r.Stock, v.msg)
	}
	v.jsonEd.SetText(`{"part": "R1 reel 2", "stock": 99}`)
	v.saveBtn.Click()
	f.until(t, "the refusal", func() bool { return !v.busy && v.msgErr && strings.Contains(v.msg, "counter field") })
	if r, _, _ := reels.Get(k); r.Stock != 7 {
		t.Fatalf("stock %d after a refused JSON edit, want 7", r.Stock)
	}
}

// Ctrl+S saves the record being edited, as the Save button does.
func TestViewerSavesOnCtrlS(t *testing.T) {
	a, v, f := localViewer(t, 3)
	selectShown(t, v, f, "1.0")
	v.checkout.Click()
	o, _ := a.DB.Opaque("parts")
	f.until(t, "the check-out", func() bool { return o.Borrow(v.sel).Mine && v.editable() })
	v.form.SetField("number", "CTRL-S")
	f.r.Queue(key.Event{Name: "S", Modifiers: key.ModShortcut, State: key.Press},
		key.Event{Name: "S", Modifiers: key.ModShortcut, State: key.Release})
	f.until(t, "the record saved by Ctrl+S", func() bool {
		s, _ := o.Text(v.sel)
		return strings.Contains(s, `"CTRL-S"`)
	})
}
