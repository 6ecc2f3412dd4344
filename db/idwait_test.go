package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/netsync"
)

// A replica with no ids waits in CreateWait, typed and opaque, until a
// real server grants ids, and then creates.
func TestCreateWaitWaitsForTheGrant(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Replica: true, Name: "r"})
	parts := mustTree[Part](t, d, "parts")
	op, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parts.Create(Part{Number: "early"}); !errors.Is(err, db.ErrNoIDs) {
		t.Fatalf("create before any grant: %v, want ErrNoIDs", err)
	}
	type result struct {
		key db.Key[Part]
		err error
	}
	typed := make(chan result, 1)
	go func() {
		k, err := parts.CreateWait(t.Context(), Part{Number: "typed", Quantity: 3})
		typed <- result{k, err}
	}()
	type opResult struct {
		key db.OpaqueKey
		err error
	}
	opaque := make(chan opResult, 1)
	go func() {
		k, err := op.CreateWait(t.Context(), `{"number": "opaque", "quantity": 4}`)
		opaque <- opResult{k, err}
	}()
	// No server exists yet: neither can have an id.
	select {
	case r := <-typed:
		t.Fatalf("CreateWait returned with no server: %v, %v", r.key, r.err)
	case r := <-opaque:
		t.Fatalf("opaque CreateWait returned with no server: %v, %v", r.key, r.err)
	default:
	}

	addr := testnet.Server(t, "idwait")
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{AppID: "idwait", Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var tr result
	select {
	case tr = <-typed:
	case <-ctx.Done():
		t.Fatal("CreateWait did not return after the server granted ids")
	}
	var or opResult
	select {
	case or = <-opaque:
	case <-ctx.Done():
		t.Fatal("opaque CreateWait did not return after the server granted ids")
	}
	if tr.err != nil || or.err != nil {
		t.Fatalf("CreateWait: %v; opaque: %v", tr.err, or.err)
	}
	if tr.key.ID == 0 || tr.key.ID == or.key.ID {
		t.Fatalf("keys %v and %v", tr.key, or.key)
	}
	if p, _, err := parts.Get(tr.key); err != nil || p.Number != "typed" || p.Quantity != 3 {
		t.Fatalf("typed record: %+v, %v", p, err)
	}
	ok := db.Key[Part]{ID: or.key.ID, Rev: or.key.Rev}
	if p, _, err := parts.Get(ok); err != nil || p.Number != "opaque" || p.Quantity != 4 {
		t.Fatalf("opaque record: %+v, %v", p, err)
	}
	// Both creations reach the server.
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.Outbox != 0 || st.Err != nil {
		t.Fatalf("after sync: %+v", st)
	}
	// With ids in hand it creates at once.
	if _, err := parts.CreateWait(ctx, Part{Number: "now"}); err != nil {
		t.Fatal(err)
	}
}

// When ctx ends before any id arrives, CreateWait returns ctx's error
// (matching ErrNoIDs too) and creates nothing.
func TestCreateWaitEndsWithItsContext(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Replica: true})
	parts := mustTree[Part](t, d, "parts")
	op, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := parts.CreateWait(ctx, Part{Number: "X"}); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, db.ErrNoIDs) {
		t.Fatalf("CreateWait past its deadline: %v, want DeadlineExceeded and ErrNoIDs", err)
	}
	ended, stop := context.WithCancel(t.Context())
	stop()
	if _, err := op.CreateWait(ended, `{"number": "Y"}`); !errors.Is(err, context.Canceled) {
		t.Fatalf("opaque CreateWait with an ended context: %v, want Canceled", err)
	}
	if n := parts.Len(); n != 0 {
		t.Fatalf("%d records created", n)
	}
}

// Closing the database wakes a waiting CreateWait with ErrClosed.
func TestCreateWaitEndsAtClose(t *testing.T) {
	d, err := db.Open(t.TempDir(), &db.Options{Replica: true})
	if err != nil {
		t.Fatal(err)
	}
	parts := mustTree[Part](t, d, "parts")
	done := make(chan error, 1)
	go func() {
		_, err := parts.CreateWait(t.Context(), Part{Number: "X"})
		done <- err
	}()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, db.ErrClosed) {
			t.Fatalf("CreateWait after close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake CreateWait")
	}
}

// A standalone database allocates its own ids: CreateWait creates at once.
func TestCreateWaitStandalone(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	parts := mustTree[Part](t, d, "parts")
	k, err := parts.CreateWait(t.Context(), Part{Number: "X"})
	if err != nil || k != (db.Key[Part]{ID: 1}) {
		t.Fatalf("CreateWait: %v, %v", k, err)
	}
}
