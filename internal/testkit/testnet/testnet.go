// Package testnet runs the real sync server for tests outside netsync. It
// is apart from testkit because netsync's own tests use testkit, and
// testkit importing netsync would make an import cycle.
package testnet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// Quiet is a logger that writes nothing.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Server runs an open sync server (any client, every access) of application appID on a free
// loopback port until the test ends, and returns its address. Its store
// is in a temporary directory; it is shut down at cleanup.
func Server(t testing.TB, appID string) string {
	t.Helper()
	s, err := netsync.NewServer(t.TempDir(), &netsync.ServerOptions{AppID: appID, Logger: Quiet, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0") }()
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("server: %v", err)
	}
	t.Cleanup(func() {
		defer cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil && !errors.Is(err, netsync.ErrServerClosed) {
			t.Errorf("server shutdown: %v", err)
		}
		<-done
	})
	return s.Addr().String()
}
