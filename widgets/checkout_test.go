package widgets

import (
	"testing"

	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
)

func TestCheckOutButtonStandalone(t *testing.T) {
	d, _ := mustDemo(t, 2, nil)
	o, _ := d.Opaque("parts")
	k := db.OpaqueKey{Tree: "parts", ID: 1}
	w := NewWatcher(nil)
	defer w.Close()
	c := &CheckOut{Record: OpaqueBorrower(o, k), Watcher: w}
	th := NewTheme()
	u := newUI(300, 60)
	draw := func() { u.frame(func(gtx layout.Context) { c.Layout(gtx, th) }) }
	draw()
	if got := c.Label(o.Borrow(k)); got != "Check out" {
		t.Fatalf("free record: %q", got)
	}
	u.click(20, 15)
	draw()
	testkit.Until(t, "the check-out", func() bool { return o.Borrow(k).Mine && !c.Busy() })
	if got := c.Label(o.Borrow(k)); got != "Check in" {
		t.Fatalf("checked out: %q", got)
	}
	u.click(20, 15)
	draw()
	testkit.Until(t, "the check-in", func() bool { return !o.Borrow(k).Held && !c.Busy() })
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	// Labels for the other states.
	for s, want := range map[db.BorrowState]string{
		{Held: true, Holder: "ana"}:             "Held by ana",
		{Held: true, Holder: "ana", Waiting: 2}: "Waiting: 2 in queue",
	} {
		if got := c.Label(s); got != want {
			t.Errorf("Label(%+v) = %q, want %q", s, got, want)
		}
	}
}
