package netsync

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

type givePart struct {
	N string `msgpack:"n"`
	Q int    `msgpack:"q"`
}

// startTestServer runs a server on 127.0.0.1 until the test ends and
// returns it with its address.
func startTestServer(t *testing.T) (*Server, string) {
	t.Helper()
	srv, err := NewServer(t.TempDir(), &ServerOptions{Logger: quietLog, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("server: %v", err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()); cancel(); <-done })
	return srv, srv.Addr().String()
}

// openPartsReplica opens the replica in dir with its "parts" tree.
func openPartsReplica(t *testing.T, dir string) (*db.DB, *db.Tree[givePart]) {
	t.Helper()
	d, err := db.Open(dir, &db.Options{Replica: true, Name: filepath.Base(dir), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := db.OpenTree[givePart](d, "parts")
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	return d, parts
}

// createPart creates a record once the server granted ids.
func createPart(t *testing.T, parts *db.Tree[givePart], p givePart) db.Key[givePart] {
	t.Helper()
	return testkit.Create(t, parts, p)
}

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Until(t, what, cond)
}
