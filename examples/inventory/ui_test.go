package main

import (
	"context"
	"image"
	"testing"
	"time"

	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/internal/testkit"
)

func newTestUI(t *testing.T) *UI {
	t.Helper()
	a, err := app.Open(app.Config{AppID: "inventory", Dir: t.TempDir(), Name: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	u, err := NewUI(a)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := stock.SeedIfEmpty(context.Background(), u.s, nil); err != nil || n != stock.SeedParts {
		t.Fatalf("seed: %d, %v", n, err)
	}
	return u
}

func (u *UI) frame() {
	var ops op.Ops
	gtx := layout.Context{Ops: &ops, Now: time.Now(), Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1},
		Constraints: layout.Exact(image.Pt(1100, 700))}
	u.a.Watcher.Frame()
	u.Layout(gtx)
}

// TestPartsPage searches, selects a part, checks it out through its
// button, edits and saves it, all by laying the window out headless.
func TestPartsPage(t *testing.T) {
	u := newTestUI(t)
	u.frame()
	if n := u.parts.Len(); n != stock.SeedParts {
		t.Fatalf("list shows %d parts, want %d", n, stock.SeedParts)
	}
	u.search.SetQuery("stm32f103")
	u.frame()
	u.frame()
	if n := u.parts.Len(); n == 0 || n > 5 {
		t.Fatalf("search stm32f103 lists %d parts", n)
	}
	k := u.parts.Key(0)
	u.parts.Selected, u.parts.HasSelection = k, true
	u.frame()
	if u.desc.ReadOnly != true || u.shown != k {
		t.Fatalf("editor shows %s (read-only %v), want %s read-only", u.shown, u.desc.ReadOnly, k)
	}
	p0, _, _ := u.s.Parts.Get(k)
	u.parts.HasSelection = false
	u.Select, u.CheckOut = p0.MPN, true // as the -select and -checkout flags
	u.frame()
	if !u.parts.HasSelection || u.parts.Selected != k || u.Select != "" {
		t.Fatalf("-select %s did not select %s", p0.MPN, k)
	}
	u.frame()
	testkit.Until(t, "check-out", func() bool { return u.s.Parts.Borrow(k).Mine })
	u.frame()
	u.qty.SetText("7")
	u.loc.SetText("Z9-01")
	u.save.Click()
	u.frame()
	p, _, _ := u.s.Parts.Get(k)
	if p.Quantity != 7 || p.Location != "Z9-01" {
		t.Fatalf("saved %+v (%s)", p, u.message())
	}
	// Check in; a change made elsewhere shows in the editor.
	if err := u.s.Parts.CheckIn(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if _, err := u.s.Consume(context.Background(), k, 2, "station", "test"); err != nil {
		t.Fatal(err)
	}
	u.frame()
	if got := u.qty.Text(); got != "5" || !u.qty.ReadOnly {
		t.Fatalf("editor shows quantity %q (read-only %v) after a change elsewhere, want 5", got, u.qty.ReadOnly)
	}
	u.qty.SetText("x")
	if err := u.Save(); err == nil {
		t.Fatal("quantity x saved")
	}
}

// TestBOMPage releases a draft BOM and revises a released one.
func TestBOMPage(t *testing.T) {
	u := newTestUI(t)
	u.bomsTab.Click()
	u.frame()
	if u.page != 1 || u.boms.Len() != 4 {
		t.Fatalf("page %d, %d boms", u.page, u.boms.Len())
	}
	var draft, released db.Key[stock.BOM]
	for k := range u.s.BOMs.All() {
		_, m, _ := u.s.BOMs.Get(k)
		if m.Version == db.Released {
			released = k
		} else {
			draft = k
		}
	}
	u.boms.Selected, u.boms.HasSelection = draft, true
	u.frame()
	u.release.Click()
	u.frame()
	testkit.Until(t, "release", func() bool { _, m, _ := u.s.BOMs.Get(draft); return m.Version == db.Released })
	u.boms.Selected = released
	u.frame()
	u.revise.Click()
	u.frame()
	next := db.Key[stock.BOM]{ID: released.ID, Rev: released.Rev + 1}
	testkit.Until(t, "revision", func() bool { _, m, err := u.s.BOMs.Get(next); return err == nil && m.Version == db.Draft })
	u.frame()
}
