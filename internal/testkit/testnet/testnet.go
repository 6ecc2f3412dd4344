// Package testnet runs the real sync server for tests outside package
// netsync. It is apart from testkit because netsync's own tests use
// testkit, and testkit importing netsync would make an import cycle; for
// the same reason tests inside package netsync keep their own helper.
package testnet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// Quiet is a logger that writes nothing.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// shutdownTimeout bounds how long stopping a test server waits for its
// connections to drain.
const shutdownTimeout = 5 * time.Second

// Server runs an open sync server (any client, every access) of
// application appID on a free loopback port until the test ends, and
// returns its address. Its store is in a temporary directory.
func Server(t testing.TB, appID string) string {
	t.Helper()
	return ServerWith(t, &netsync.ServerOptions{AppID: appID, Open: true}).Addr().String()
}

// ServerWith runs a sync server with opts (nil: the defaults, a closed
// server; a nil Logger: Quiet) on a free loopback port until the test
// ends. Its store is in a temporary directory.
func ServerWith(t testing.TB, opts *netsync.ServerOptions) *netsync.Server {
	t.Helper()
	s, _ := Start(t, t.TempDir(), "", opts)
	return s
}

// Start runs a sync server with its store in dir, listening on addr (""
// picks a free loopback port), with opts as ServerWith takes them. It
// returns once the server listens. stop shuts the server down and waits
// for it; it is safe to call more than once, and the test's cleanup calls
// it too. opts is not changed.
func Start(t testing.TB, dir, addr string, opts *netsync.ServerOptions) (s *netsync.Server, stop func()) {
	t.Helper()
	var o netsync.ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = Quiet
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s, err := netsync.NewServer(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, addr) }()
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("server: %v", err)
	}
	stop = sync.OnceFunc(func() {
		defer cancel()
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil && !errors.Is(err, netsync.ErrServerClosed) {
			t.Errorf("server shutdown: %v", err)
		}
		<-done
	})
	t.Cleanup(stop)
	return s, stop
}
