package netsync_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

func checkOut(t testing.TB, r *replicaT, k db.Key[Part]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.parts.CheckOut(ctx, k); err != nil {
		t.Fatalf("%s: check-out %v: %v", r.d.Name(), k, err)
	}
}

func setQty(t testing.TB, r *replicaT, k db.Key[Part], q int) {
	t.Helper()
	if err := r.parts.Update(k, func(p *Part) error { p.Quantity = q; return nil }); err != nil {
		t.Fatalf("%s: update %v: %v", r.d.Name(), k, err)
	}
}

func qty(t testing.TB, r *replicaT, k db.Key[Part]) int {
	t.Helper()
	q := -1
	if err := r.parts.View(k, func(p *Part, _ db.Meta) { q = p.Quantity }); err != nil {
		t.Fatalf("%s: view %v: %v", r.d.Name(), k, err)
	}
	return q
}

// reconnect closes r's sync client and connects a new one to addr.
func (r *replicaT) reconnect(t testing.TB, addr string) {
	t.Helper()
	if r.c != nil {
		r.c.Close()
	}
	c, err := netsync.Connect(r.d, addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
}

// waitQueued waits until r sees itself at place n of k's queue.
func waitQueued(t testing.TB, r *replicaT, k db.Key[Part], n int) {
	t.Helper()
	eventually(t, r.d.Name()+" queued", func() bool { return r.parts.Borrow(k).Waiting == n })
}

func TestForceReturnKeepsOfflineEditsAside(t *testing.T) {
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	a := newReplica(t, "alice", srv.addr)
	b := newReplica(t, "bob", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "P-1", Quantity: 1})
	checkOut(t, a, k)
	setQty(t, a, k, 2) // accepted
	waitSynced(t, a, b)

	// Alice works offline: her client is closed, her edits wait.
	a.c.Close()
	a.c = nil
	setQty(t, a, k, 40)
	setQty(t, a, k, 42)

	bi := srv.Borrows()
	if len(bi) != 1 || bi[0].Holder != "alice" || bi[0].Key != k.String() {
		t.Fatalf("server borrows %+v", bi)
	}
	former, err := srv.ForceReturn("parts", k.String(), "alice is on holiday", "admin")
	if err != nil || !strings.Contains(former, "alice") {
		t.Fatalf("ForceReturn: %q %v", former, err)
	}
	if _, err := srv.ForceReturn("parts", k.String(), "again", "admin"); !errors.Is(err, db.ErrNotCheckedOut) {
		t.Fatalf("second ForceReturn: %v, want ErrNotCheckedOut", err)
	}
	// Bob takes it and edits; the server restarts meanwhile.
	checkOut(t, b, k)
	setQty(t, b, k, 7)
	if err := b.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	srv.stop(t)
	srv2 := startServer(t, sdir, "", nil)
	b.reconnect(t, srv2.addr)

	events := make(chan db.Event[Part], 64)
	a.parts.Subscribe(func(e db.Event[Part]) { events <- e })
	a.reconnect(t, srv2.addr)
	waitSyncedPast(t, db.ErrNotCheckedOut, a, b) // a learns of the force-return

	rec := a.d.Recovered()
	if len(rec) != 1 {
		t.Fatalf("recovered %+v, want one item", rec)
	}
	r := rec[0]
	if r.Key != (db.OpaqueKey{Tree: "parts", ID: k.ID, Rev: k.Rev}) || !r.Forced || r.By != "admin" ||
		r.Reason != "alice is on holiday" || r.Kind != db.Updated || r.At.IsZero() || r.Err != nil {
		t.Fatalf("recovered %+v", r)
	}
	if !strings.Contains(r.Text, `"quantity": 42`) {
		t.Fatalf("recovered text %s", r.Text)
	}
	if v, err := a.parts.RecoveredValue(r); err != nil || v.Quantity != 42 || v.Number != "P-1" {
		t.Fatalf("recovered value %+v %v", v, err)
	}
	if got := qty(t, a, k); got != 7 {
		t.Fatalf("alice's copy has quantity %d, want the server's 7", got)
	}
	if got := qty(t, b, k); got != 7 {
		t.Fatalf("bob's copy has quantity %d, want 7", got)
	}
	var fe *netsync.ForcedError
	if st := a.c.Status(); !errors.As(st.Err, &fe) || !errors.Is(st.Err, db.ErrNotCheckedOut) || fe.By != "admin" || !fe.Kept {
		t.Fatalf("alice's status error %v", st.Err)
	}
	if a.parts.Borrow(k).Mine {
		t.Fatal("alice still holds the record")
	}
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case e := <-events:
			seen = e.Kind == db.EditsRecovered && e.Key == k
		case <-deadline:
			t.Fatal("no EditsRecovered event")
		}
	}

	// Another client checks out and edits; alice's stale edits never
	// land, even when she holds the record again.
	c := newReplica(t, "carol", srv2.addr)
	waitSynced(t, c)
	checkOut(t, c, k)
	setQty(t, c, k, 9)
	if err := c.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	checkOut(t, a, k)
	waitSynced(t, a, b, c)
	if got := qty(t, b, k); got != 9 {
		t.Fatalf("bob sees %d, want carol's 9", got)
	}
	setQty(t, a, k, 10)
	if err := a.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, b)
	if got := qty(t, b, k); got != 10 {
		t.Fatalf("bob sees %d, want alice's new 10", got)
	}
	if err := a.d.DiscardRecovered(r); err != nil {
		t.Fatal(err)
	}
	if rec := a.d.Recovered(); len(rec) != 0 {
		t.Fatalf("after discard: %+v", rec)
	}
}

func TestForceReturnWhileConnected(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "alice", srv.addr)
	b := newReplica(t, "bob", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "P-1", Quantity: 1})
	checkOut(t, a, k)
	waitSynced(t, a, b)
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got <- b.parts.CheckOut(ctx, k)
	}()
	waitQueued(t, b, k, 1)
	if _, err := srv.ForceReturn("parts", k.String(), "stuck", "ops"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("bob's check-out: %v", err)
	}
	eventually(t, "alice told", func() bool {
		var fe *netsync.ForcedError
		return errors.As(a.c.Status().Err, &fe) && fe.Reason == "stuck" && !fe.Kept
	})
	if a.parts.Borrow(k).Mine || !b.parts.Borrow(k).Mine {
		t.Fatalf("borrows: alice %+v bob %+v", a.parts.Borrow(k), b.parts.Borrow(k))
	}
	if err := a.parts.Update(k, func(p *Part) error { p.Quantity = 5; return nil }); !errors.Is(err, db.ErrNotCheckedOut) {
		t.Fatalf("alice's update after the force-return: %v", err)
	}
	if rec := a.d.Recovered(); len(rec) != 0 {
		t.Fatalf("recovered %+v with no edits pending", rec)
	}
}

func TestCheckOutCancelledLeavesQueue(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	b := newReplica(t, "b", srv.addr)
	c := newReplica(t, "c", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "x"})
	checkOut(t, a, k)
	if err := a.parts.CheckOut(context.Background(), k); err != nil {
		t.Fatalf("holder's second check-out: %v", err)
	}
	waitSynced(t, b, c)
	ctx, cancel := context.WithCancel(context.Background())
	berr := make(chan error, 1)
	go func() { berr <- b.parts.CheckOut(ctx, k) }()
	waitQueued(t, b, k, 1)
	cancel()
	if err := <-berr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled check-out: %v", err)
	}
	cerr := make(chan error, 1)
	go func() { cerr <- c.parts.CheckOut(context.Background(), k) }()
	waitQueued(t, c, k, 1) // b left: c is first in line
	if err := a.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if err := <-cerr; err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a, b)
	if bs := b.parts.Borrow(k); bs.Mine || bs.Waiting != 0 || bs.Holder != "c" {
		t.Fatalf("b's borrow %+v", bs)
	}
	if bi := srv.Borrows(); len(bi) != 1 || bi[0].Holder != "c" || len(bi[0].Waiting) != 0 {
		t.Fatalf("server borrows %+v", bi)
	}
	// A deadline while offline ends the same way.
	b.c.Close()
	b.c = nil
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	if err := b.parts.CheckOut(dctx, k); !errors.Is(err, db.ErrOffline) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("offline check-out: %v", err)
	}
}

func TestCheckOutOfDeletedRecord(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	b := newReplica(t, "b", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "doomed"})
	if err := b.parts.CheckOut(context.Background(), db.Key[Part]{ID: 99999}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("check-out of a missing record: %v", err)
	}
	checkOut(t, a, k)
	waitSynced(t, b)
	berr := make(chan error, 1)
	go func() { berr <- b.parts.CheckOut(context.Background(), k) }()
	waitQueued(t, b, k, 1)
	if err := a.parts.Delete(k); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-berr:
		if !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("waiter after delete: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter still waits after the record was deleted")
	}
	waitSynced(t, a, b)
	if a.parts.Borrow(k).Held || b.parts.Borrow(k).Held || len(srv.Borrows()) != 0 {
		t.Fatalf("borrow after delete: a %+v b %+v server %+v", a.parts.Borrow(k), b.parts.Borrow(k), srv.Borrows())
	}
	if err := b.parts.CheckOut(context.Background(), k); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("check-out of a deleted record: %v", err)
	}
}

func TestBorrowStateReachesEveryClient(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	rs := []*replicaT{newReplica(t, "a", srv.addr), newReplica(t, "b", srv.addr), newReplica(t, "c", srv.addr)}
	a, b, c := rs[0], rs[1], rs[2]
	k := createWhenIDs(t, a, Part{Number: "shared"})
	waitSynced(t, rs...)
	var mu sync.Mutex
	count := make([]int, 3)
	for i, r := range rs {
		r.parts.Subscribe(func(e db.Event[Part]) {
			if e.Kind == db.BorrowChanged && e.Key == k {
				mu.Lock()
				count[i]++
				mu.Unlock()
			}
		})
	}
	// step checks every client's view and that each saw one more event.
	step := 0
	expect := func(holder string, waiting map[string]int) {
		queued := len(waiting)
		t.Helper()
		step++
		for i, r := range rs {
			name := r.d.Name()
			eventually(t, "borrow state at "+name, func() bool {
				bs := r.parts.Borrow(k)
				mu.Lock()
				n := count[i]
				mu.Unlock()
				return n == step && bs.Holder == holder && bs.Held == (holder != "") &&
					bs.Mine == (holder == name) && bs.Waiting == waiting[name] && bs.Queued == queued
			})
		}
	}
	ctx := context.Background()
	checkOut(t, a, k)
	expect("a", nil)
	done := make(chan error, 2)
	go func() { done <- b.parts.CheckOut(ctx, k) }()
	expect("a", map[string]int{"b": 1})
	go func() { done <- c.parts.CheckOut(ctx, k) }()
	expect("a", map[string]int{"b": 1, "c": 2})
	if err := a.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expect("b", map[string]int{"c": 1})
	if err := b.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expect("c", nil)
	if err := c.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	expect("", nil)
}

func TestOpaqueCheckOutOnReplica(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	b := newReplica(t, "b", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "opaque", Quantity: 1})
	waitSynced(t, b)
	op, err := b.d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	ok := db.OpaqueKey{Tree: "parts", ID: k.ID, Rev: k.Rev}
	if err := op.Update(ok, `{"number": "opaque", "quantity": 5}`); !errors.Is(err, db.ErrNotCheckedOut) {
		t.Fatalf("opaque update without check-out: %v", err)
	}
	if err := op.CheckOut(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if bs := op.Borrow(ok); !bs.Mine || bs.Holder != "b" {
		t.Fatalf("opaque borrow %+v", bs)
	}
	if err := op.Update(ok, `{"number": "opaque", "quantity": 5}`); err != nil {
		t.Fatal(err)
	}
	if err := op.CheckIn(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a)
	if got := qty(t, a, k); got != 5 {
		t.Fatalf("a sees %d, want 5", got)
	}
	if bs := a.parts.Borrow(k); bs.Held {
		t.Fatalf("a sees borrow %+v after check-in", bs)
	}
}

func TestGrantBringsLatest(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	b := newReplica(t, "b", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "hot"})
	checkOut(t, a, k)
	waitSynced(t, b)
	holder, waiter := a, b
	n := 60
	if testing.Short() {
		n = 15
	}
	for i := range n {
		got := make(chan int, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := waiter.parts.CheckOut(ctx, k); err != nil {
				t.Errorf("check-out: %v", err)
				got <- -1
				return
			}
			// Right after CheckOut returns, nothing waited for.
			q := -1
			waiter.parts.View(k, func(p *Part, _ db.Meta) { q = p.Quantity })
			got <- q
		}()
		waitQueued(t, waiter, k, 1)
		setQty(t, holder, k, 1000+i)
		setQty(t, holder, k, 2000+i)
		if err := holder.parts.CheckIn(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		if q := <-got; q != 2000+i {
			t.Fatalf("iteration %d: the new holder sees %d, want %d", i, q, 2000+i)
		}
		holder, waiter = waiter, holder
	}
}

func TestOfflineEditWithHeldBorrow(t *testing.T) {
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	addr := srv.addr
	adir := filepath.Join(t.TempDir(), "a")
	a := openReplica(t, adir, "a", addr, nil)
	b := newReplica(t, "b", addr)
	k := createWhenIDs(t, a, Part{Number: "travel"})
	checkOut(t, a, k)
	waitSynced(t, a, b)

	// 1. The client disconnects, edits, reconnects.
	a.c.Close()
	a.c = nil
	setQty(t, a, k, 1)
	a.reconnect(t, addr)
	waitSynced(t, a, b)
	if got := qty(t, b, k); got != 1 || !a.parts.Borrow(k).Mine {
		t.Fatalf("after reconnect: b sees %d, a's borrow %+v", got, a.parts.Borrow(k))
	}

	// 2. The client restarts while offline.
	a.close()
	d, err := db.Open(adir, &db.Options{Replica: true, Name: "a", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a.d = d
	if a.parts, err = db.OpenTree[Part](d, "parts"); err != nil {
		t.Fatal(err)
	}
	if !a.parts.Borrow(k).Mine {
		t.Fatal("the borrow did not survive the client's restart")
	}
	setQty(t, a, k, 2)
	a.reconnect(t, addr)
	waitSynced(t, a, b)
	if got := qty(t, b, k); got != 2 || !a.parts.Borrow(k).Mine {
		t.Fatalf("after client restart: b sees %d, a's borrow %+v", got, a.parts.Borrow(k))
	}

	// 3. The server restarts while the client edits.
	srv.stop(t)
	eventually(t, "a offline", func() bool { return !a.c.Status().Connected })
	setQty(t, a, k, 3)
	srv2 := startServer(t, sdir, addr, nil)
	waitSynced(t, a, b)
	if got := qty(t, b, k); got != 3 || !a.parts.Borrow(k).Mine {
		t.Fatalf("after server restart: b sees %d, a's borrow %+v", got, a.parts.Borrow(k))
	}
	if bi := srv2.Borrows(); len(bi) != 1 || bi[0].Holder != "a" {
		t.Fatalf("server borrows after restart %+v", bi)
	}
	if err := b.parts.Update(k, func(p *Part) error { p.Quantity = 99; return nil }); !errors.Is(err, db.ErrNotCheckedOut) {
		t.Fatalf("b's update: %v", err)
	}
	if err := a.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if rec := a.d.Recovered(); len(rec) != 0 {
		t.Fatalf("recovered %+v", rec)
	}
}

func TestRawWritesWithoutBorrowRejected(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	good := newReplica(t, "good", srv.addr)
	k := createWhenIDs(t, good, Part{Number: "guarded", Quantity: 1})
	checkOut(t, good, k)
	waitSynced(t, good)

	c := hello(t, srv.addr, "raw")
	rec := record.Encode(nil, &record.Meta{Changes: 9, Major: 1}, []byte{0x80})
	key := layout.Pack(k.ID, k.Rev)
	var seq uint64
	for _, kind := range []db.EventKind{db.Updated, db.MetaChanged, db.Deleted} {
		seq++
		ch := layout.Change{Seq: seq, Tree: "parts", Key: key, Kind: uint8(kind), Record: rec}
		if kind == db.Deleted {
			ch.Record = nil
		}
		c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{ch}})
		var a wire.Ack
		c.next(t, wire.TAck, &a)
		if a.Code != wire.CodeNotCheckedOut || a.Seq != 0 || a.Record == nil {
			t.Fatalf("%v without the check-out: %+v", kind, a)
		}
	}
	// Checking in what it does not hold is refused too.
	c.send(t, wire.TCheckIn, &wire.CheckIn{Req: 1, Tree: "parts", Key: key})
	var r wire.Reply
	c.next(t, wire.TReply, &r)
	if r.Req != 1 || r.Code != wire.CodeNotCheckedOut {
		t.Fatalf("check-in of another's record: %+v", r)
	}
	// The holder keeps working and nothing of the raw client landed.
	setQty(t, good, k, 5)
	if err := good.parts.CheckIn(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, good)
	other := newReplica(t, "other", srv.addr)
	waitSynced(t, other)
	if got := qty(t, other, k); got != 5 {
		t.Fatalf("other sees %d, want 5", got)
	}
}
