package netsync

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/replica"
)

// A give-back whose answer never came is kept in the replica: after a
// restart the client still gives the record back on connecting.
func TestGiveBackSurvivesClientRestart(t *testing.T) {
	srv, addr := startTestServer(t)
	dir := filepath.Join(t.TempDir(), "r")
	d, parts := openPartsReplica(t, dir)
	c, err := Connect(d, addr, &ClientOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	k := createPart(t, parts, givePart{N: "x"})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := parts.CheckOut(wctx, k); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(srv.Borrows()) != 1 {
		t.Fatalf("server borrows %v, want the one check-out", srv.Borrows())
	}
	// What a client keeps when the answer to its give-back was lost.
	link, err := replica.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := msgpack.Marshal([]givenBack{{Tree: "parts", Key: uint64(k.ID) << 32}})
	if err := link.SetSyncState("giveback", enc); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d, parts = openPartsReplica(t, dir)
	defer d.Close()
	c, err = Connect(d, addr, &ClientOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the give-back", func() bool { return len(srv.Borrows()) == 0 && !parts.Borrow(k).Mine })
}
