package netsync

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/replica"
)

type givePart struct {
	N string `msgpack:"n"`
}

// A give-back whose answer never came is kept in the replica: after a
// restart the client still gives the record back on connecting.
func TestGiveBackSurvivesClientRestart(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := NewServer(t.TempDir(), &ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	<-srv.Ready()
	t.Cleanup(func() { srv.Shutdown(context.Background()); cancel(); <-done })
	addr := srv.Addr().String()

	dir := filepath.Join(t.TempDir(), "r")
	d, err := db.Open(dir, &db.Options{Replica: true, Name: "r", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := db.OpenTree[givePart](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Connect(d, addr, &ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var k db.Key[givePart]
	for deadline := time.Now().Add(10 * time.Second); ; {
		if k, err = parts.Create(givePart{N: "x"}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
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

	d, err = db.Open(dir, &db.Options{Replica: true, Name: "r", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	parts, err = db.OpenTree[givePart](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	c, err = Connect(d, addr, &ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); len(srv.Borrows()) != 0 || parts.Borrow(k).Mine; {
		if time.Now().After(deadline) {
			t.Fatalf("not given back: server %v, local %+v", srv.Borrows(), parts.Borrow(k))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
