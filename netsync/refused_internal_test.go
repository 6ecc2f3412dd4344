package netsync

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/replica"
)

// Edits made under a check-out the server does not know, refused with a
// plain NotCheckedOut (no force-return notice), are set aside in the
// replica before the server's version replaces the record: nothing the
// user typed is dropped, and Status says why.
func TestRefusedEditsAreSetAside(t *testing.T) {
	_, addr := startTestServer(t)
	dir := filepath.Join(t.TempDir(), "r")
	d, parts := openPartsReplica(t, dir)
	defer d.Close()
	c, err := Connect(d, addr, &ClientOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	k := createPart(t, parts, givePart{N: "resistor", Q: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// The replica believes it holds the record; the server never granted it.
	link, err := replica.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := link.SetBorrow("parts", uint64(k.ID)<<32, replica.Borrow{Holder: "r", Mine: true}); err != nil {
		t.Fatal(err)
	}
	for q := 11; q <= 12; q++ {
		if err := parts.Update(k, func(p *givePart) error { p.Q = q; return nil }); err != nil {
			t.Fatal(err)
		}
	}

	c, err = Connect(d, addr, &ClientOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// WaitSynced tells of each refusal that arrives while it waits (two
	// edits: at most two; they may also come before it starts), then
	// waits for the rest.
	for range 3 {
		if err = c.WaitSynced(ctx); err == nil {
			break
		}
		if !errors.Is(err, ErrRejected) || !errors.Is(err, db.ErrNotCheckedOut) {
			t.Fatalf("WaitSynced: %v, want nil or the NotCheckedOut rejection", err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); !errors.Is(st.Err, ErrRejected) || !errors.Is(st.Err, db.ErrNotCheckedOut) {
		t.Fatalf("status error %v, want a NotCheckedOut rejection", st.Err)
	}
	p, _, err := parts.Get(k)
	if err != nil || p.Q != 10 {
		t.Fatalf("record %+v (%v), want the server's quantity 10", p, err)
	}
	rec := d.Recovered()
	if len(rec) != 1 {
		t.Fatalf("%d records set aside, want 1: %+v", len(rec), rec)
	}
	if rec[0].Kind != db.Updated || !strings.Contains(rec[0].Reason, "refused by the server") || rec[0].By != "" {
		t.Fatalf("set aside %+v", rec[0])
	}
	kept, err := parts.RecoveredValue(rec[0])
	if err != nil || kept.Q != 12 {
		t.Fatalf("kept %+v (%v), want the last edit, quantity 12", kept, err)
	}
	if b := parts.Borrow(k); b.Mine {
		t.Fatalf("borrow %+v after the refusal: the replica still edits under it", b)
	}
	if err := parts.Update(k, func(p *givePart) error { p.Q = 13; return nil }); !errors.Is(err, db.ErrNotCheckedOut) {
		t.Fatalf("update after the refusal: %v, want ErrNotCheckedOut", err)
	}
	if c.Status().Outbox != 0 {
		t.Fatalf("outbox %d after the refusal", c.Status().Outbox)
	}
}
