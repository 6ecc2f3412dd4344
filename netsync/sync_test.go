package netsync_test

import (
	"context"
	"testing"

	"github.com/hillsdb/hills/db"
)

func TestPropagationBetweenTwoClients(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "bench-a", srv.addr)
	b := newReplica(t, "bench-b", srv.addr)
	events := make(chan db.Event[Part], 16)
	b.parts.Subscribe(func(e db.Event[Part]) { events <- e })

	k := createWhenIDs(t, a, Part{Number: "R1", Quantity: 10})
	ev := <-events
	if ev.Kind != db.Created || ev.Key != k || !ev.Remote {
		t.Fatalf("b got %+v, want remote create of %v", ev, k)
	}
	var got Part
	if err := b.parts.View(k, func(p *Part, m db.Meta) { got = *p }); err != nil || got.Quantity != 10 {
		t.Fatalf("b view: %+v %v", got, err)
	}
	// Update needs the check-out.
	if err := b.parts.Update(k, func(p *Part) error { p.Quantity = 1; return nil }); err == nil {
		t.Fatal("update without check-out succeeded")
	}
	ctx := context.Background()
	if err := a.parts.CheckOut(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := a.parts.Update(k, func(p *Part) error { p.Quantity = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.Kind == db.Updated {
			break
		}
	}
	b.parts.View(k, func(p *Part, m db.Meta) { got = *p })
	if got.Quantity != 7 {
		t.Fatalf("b sees %d, want 7", got.Quantity)
	}
	waitSynced(t, a, b)
	if st := a.c.Status(); !st.Connected || st.Outbox != 0 || st.LastSeq == 0 || st.ServerID != srv.ID() {
		t.Fatalf("status a: %+v", st)
	}
}
