package widgets

import (
	"strings"
	"testing"

	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
)

type reel struct {
	Part  string `msgpack:"part"`
	Stock int64  `msgpack:"stock" hills:"counter,min=0"`
}

// A counter is shown, never edited as text; its − and + call OnAdd, also
// in a read-only form; an update's text leaves it out.
func TestFormCounter(t *testing.T) {
	d, err := db.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	reels, err := db.OpenTree[reel](d, "reels")
	if err != nil {
		t.Fatal(err)
	}
	k, err := reels.Create(reel{Part: "R1", Stock: 7})
	if err != nil {
		t.Fatal(err)
	}
	o, err := d.Opaque("reels")
	if err != nil {
		t.Fatal(err)
	}
	ok := db.OpaqueKey{Tree: "reels", ID: k.ID}
	text, err := o.Text(ok)
	if err != nil {
		t.Fatal(err)
	}
	f := NewForm(o.Schema(), d)
	if err := f.SetText(text); err != nil {
		t.Fatal(err)
	}
	var calls []int64
	f.OnAdd = func(field string, delta int64) {
		if field != "stock" {
			t.Errorf("OnAdd of %q", field)
		}
		calls = append(calls, delta)
		if err := o.Add(ok, field, delta); err != nil {
			t.Error(err)
		}
	}
	f.ReadOnly = true
	th := NewTheme()
	u := newUI(500, 400)
	draw := func() { u.frame(func(gtx layout.Context) { f.Layout(gtx, th) }) }
	draw()
	stock := f.find("stock")
	if stock.counter == nil || !stock.ed.ReadOnly || stock.ed.Text() != "7" {
		t.Fatalf("stock: counter %v, read-only %v, text %q", stock.counter != nil, stock.ed.ReadOnly, stock.ed.Text())
	}
	stock.minus.Click()
	draw()
	stock.minus.Click()
	draw()
	stock.plus.Click()
	draw()
	if len(calls) != 3 || calls[0] != -1 || calls[2] != 1 {
		t.Fatalf("OnAdd calls %v", calls)
	}
	text, err = o.Text(ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetCounters(text); err != nil {
		t.Fatal(err)
	}
	if stock.ed.Text() != "6" {
		t.Fatalf("stock after SetCounters: %q, want 6", stock.ed.Text())
	}

	// Editing the rest: the update's text leaves the counter out, so a
	// delta made meanwhile stays.
	f.ReadOnly, f.OmitCounters = false, true
	f.SetField("part", "R1 reel")
	out, err := f.Text()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "stock") {
		t.Fatalf("update text with the counter:\n%s", out)
	}
	if err := o.Add(ok, "stock", 10); err != nil {
		t.Fatal(err)
	}
	if err := o.Update(ok, out); err != nil {
		t.Fatal(err)
	}
	got, _, err := reels.Get(k)
	if err != nil || got.Part != "R1 reel" || got.Stock != 16 {
		t.Fatalf("got %+v %v, want R1 reel with 16", got, err)
	}
	f.OmitCounters = false
	if out, _ := f.Text(); !strings.Contains(out, `"stock": 6`) {
		t.Fatalf("create text without the counter:\n%s", out)
	}
}
