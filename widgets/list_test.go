package widgets

import (
	"slices"
	"testing"

	"gioui.org/io/key"
	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
)

func TestListSelectAndKeys(t *testing.T) {
	_, pt := mustDemo(t, 100, nil)
	th := NewTheme()
	w := NewWatcher(nil)
	defer w.Close()
	WatchTree(w, pt)
	l := &List[demo.Part]{Tree: pt, Watcher: w}
	u := newUI(400, 280) // 10 rows of 28 px
	rows := 0
	var seen []string
	draw := func() {
		rows, seen = 0, seen[:0]
		u.frame(func(gtx layout.Context) {
			l.Layout(gtx, th, func(gtx layout.Context, k db.Key[demo.Part], v *demo.Part, m db.Meta, sel bool) layout.Dimensions {
				rows++
				seen = append(seen, v.Number)
				return th.Label(v.Number).Layout(gtx)
			})
		})
	}
	draw()
	if l.Len() != 100 {
		t.Fatalf("Len = %d, want 100", l.Len())
	}
	if rows < 10 || rows > 12 {
		t.Fatalf("laid out %d rows for a 10-row window of 100 records", rows)
	}
	if seen[0] != demo.NewPart(0, db.Key[demo.Supplier]{}).Number {
		t.Fatalf("first row %q", seen[0])
	}

	// Click the fourth row.
	u.click(50, 3*28+10)
	draw()
	if !l.HasSelection || l.Selected != l.Key(3) {
		t.Fatalf("after a click on row 3: selected %v (%v), want %v", l.Selected, l.HasSelection, l.Key(3))
	}
	// The click focused the list: arrow keys move the selection.
	u.key(key.NameDownArrow)
	draw()
	if l.Selected != l.Key(4) {
		t.Fatalf("after Down: selected %v, want %v", l.Selected, l.Key(4))
	}
	u.key(key.NameUpArrow)
	u.key(key.NameUpArrow)
	draw()
	if l.Selected != l.Key(2) {
		t.Fatalf("after Up, Up: selected %v, want %v", l.Selected, l.Key(2))
	}
	u.key(key.NamePageDown)
	draw()
	if l.Selected != l.Key(11) {
		t.Fatalf("after PageDown: selected %v, want %v", l.Selected, l.Key(11))
	}
	u.key(key.NameEnd)
	draw()
	draw()
	if l.Selected != l.Key(99) {
		t.Fatalf("after End: selected %v, want %v", l.Selected, l.Key(99))
	}
	if l.list.Position.First < 85 {
		t.Fatalf("after End the list shows row %d first; the selection is out of view", l.list.Position.First)
	}

	// A deletion reaches the list through the watcher.
	if err := pt.Delete(l.Key(0)); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "the list to drop a deleted record", func() bool { draw(); return l.Len() == 99 })
	if l.Selected != l.Key(98) {
		t.Fatal("selection lost after an unrelated deletion")
	}
}

func TestListOverIndex(t *testing.T) {
	_, pt := mustDemo(t, 50, nil)
	ix, err := db.NewIndex(pt, "by-name", func(k db.Key[demo.Part], v *demo.Part) []string { return []string{v.Name} })
	if err != nil {
		t.Fatal(err)
	}
	prefix := "LED"
	l := &List[demo.Part]{Tree: pt, Keys: IndexPrefixKeys(ix, &prefix)}
	th := NewTheme()
	u := newUI(400, 600)
	var names []string
	u.frame(func(gtx layout.Context) {
		l.Layout(gtx, th, func(gtx layout.Context, k db.Key[demo.Part], v *demo.Part, m db.Meta, sel bool) layout.Dimensions {
			names = append(names, v.Name)
			return layout.Dimensions{}
		})
	})
	if len(names) != 5 {
		t.Fatalf("prefix LED: %d rows %v, want 5", len(names), names)
	}
	for _, n := range names {
		if n != "LED red" {
			t.Fatalf("row %q does not start with LED", n)
		}
	}

	// The same records as a range of index keys: lo ≤ name < hi.
	l = &List[demo.Part]{Tree: pt, Keys: IndexKeys(ix, "LED", "LEE")}
	var ranged []string
	u.frame(func(gtx layout.Context) {
		l.Layout(gtx, th, func(gtx layout.Context, k db.Key[demo.Part], v *demo.Part, m db.Meta, sel bool) layout.Dimensions {
			ranged = append(ranged, v.Name)
			return layout.Dimensions{}
		})
	})
	if !slices.Equal(ranged, names) {
		t.Fatalf("range [LED, LEE): rows %v, want %v", ranged, names)
	}
	var want []db.Key[demo.Part]
	for _, k := range ix.Range("LED", "LEE") {
		want = append(want, k)
	}
	if got := slices.Collect(IndexKeys(ix, "LED", "LEE")()); !slices.Equal(got, want) {
		t.Fatalf("IndexKeys yields %v, want the index's order %v", got, want)
	}

	sb := &SearchBox[demo.Part, string]{Index: ix}
	sb.SetQuery("mhz")
	if got := len(sb.Results()); got != 5 {
		t.Fatalf("search mhz: %d results, want 5 (Crystal 16MHz)", got)
	}
}
