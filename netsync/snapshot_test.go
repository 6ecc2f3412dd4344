package netsync_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hillsdb/hills/db"
)

// A client whose last sequence was compacted away catches up from a
// snapshot: records deleted meanwhile disappear, new and changed ones
// arrive, and its own offline work survives.
func TestSnapshotCatchUpAfterCompaction(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	bdir := filepath.Join(t.TempDir(), "b")
	b := openReplica(t, bdir, "b", srv.addr, nil)
	var keys []db.Key[Part]
	for i := range 5 {
		keys = append(keys, createWhenIDs(t, a, Part{Number: "p", Quantity: i}))
	}
	waitSynced(t, a, b)
	held := keys[4]
	ctx := context.Background()
	if err := b.parts.CheckOut(ctx, held); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, b)
	b.c.Close()

	// b works offline: an update of what it holds, and a new record.
	if err := b.parts.Update(held, func(p *Part) error { p.Quantity = 400; return nil }); err != nil {
		t.Fatal(err)
	}
	offline, err := b.parts.Create(Part{Number: "made offline"})
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile a deletes one record, changes another, makes a new one.
	for _, k := range keys[:2] {
		if err := a.parts.CheckOut(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.parts.Delete(keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := a.parts.Update(keys[1], func(p *Part) error { p.Quantity = 100; return nil }); err != nil {
		t.Fatal(err)
	}
	fresh := createWhenIDs(t, a, Part{Number: "new"})
	waitSynced(t, a)
	floor, err := srv.CompactLog(0)
	if err != nil || floor != srv.Seq() {
		t.Fatalf("CompactLog: %d, %v (seq %d)", floor, err, srv.Seq())
	}

	b.c = mustConnect(t, b.d, srv.addr)
	waitSynced(t, b, a)
	if err := b.parts.View(keys[0], func(*Part, db.Meta) {}); err == nil {
		t.Fatal("b kept a record deleted while it was away")
	}
	var q int
	b.parts.View(keys[1], func(p *Part, _ db.Meta) { q = p.Quantity })
	if q != 100 {
		t.Fatalf("b sees quantity %d of %v, want 100", q, keys[1])
	}
	if err := b.parts.View(fresh, func(*Part, db.Meta) {}); err != nil {
		t.Fatalf("b misses %v created while it was away: %v", fresh, err)
	}
	b.parts.View(held, func(p *Part, _ db.Meta) { q = p.Quantity })
	if q != 400 {
		t.Fatalf("b's offline update was lost: %d", q)
	}
	// Everyone, a fresh replica too, ends with the same records.
	c := newReplica(t, "c", srv.addr)
	waitSynced(t, c, a, b)
	want := snapshot(c)
	if _, ok := want[offline]; !ok {
		t.Fatal("b's offline create did not reach the server")
	}
	for _, r := range []*replicaT{a, b} {
		if got := snapshot(r); !equalSnap(got, want) {
			t.Fatalf("%s differs:\n got %v\nwant %v", r.d.Name(), got, want)
		}
	}
}
