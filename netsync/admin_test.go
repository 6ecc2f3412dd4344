package netsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// shortDir returns a temporary directory with a path short enough for a
// Unix socket.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hills")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestAdminEndpoint(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "admin.sock")
	var logs lockedBuf
	ts := startServer(t, dir, "", &netsync.ServerOptions{AppID: "app", AdminSocket: sock,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket mode %v, want a socket of mode 0600", fi.Mode())
	}

	a := openReplica(t, filepath.Join(t.TempDir(), "a"), "alice", ts.addr, &netsync.ClientOptions{AppID: "app"})
	k := createWhenIDs(t, a, Part{Number: "P-1"})
	free := createWhenIDs(t, a, Part{Number: "P-2"})
	waitSynced(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.parts.CheckOut(ctx, k); err != nil {
		t.Fatal(err)
	}

	ac := netsync.NewAdminClient(sock)
	info, err := ac.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != ts.ID() || info.Fingerprint != ts.Fingerprint() || info.AppID != "app" || info.Addr != ts.addr {
		t.Fatalf("info %+v; server %s %s %s", info, ts.ID(), ts.Fingerprint(), ts.addr)
	}
	if info.Seq != ts.Seq() || info.Seq < 3 {
		t.Fatalf("info seq %d, server %d", info.Seq, ts.Seq())
	}
	if len(info.Trees) != 1 || info.Trees[0].Name != "parts" || info.Trees[0].Records != 2 {
		t.Fatalf("trees %+v, want parts with 2 records", info.Trees)
	}
	if len(info.Clients) != 1 {
		t.Fatalf("clients %+v", info.Clients)
	}
	cl := info.Clients[0]
	if cl.Name != "alice" || !cl.Connected || cl.LastOutbox < 2 || len(cl.Ranges["parts"]) == 0 || cl.LastSeen.IsZero() {
		t.Fatalf("client %+v", cl)
	}
	if r := cl.Ranges["parts"][0]; k.ID < r.Lo || k.ID >= r.Hi {
		t.Fatalf("range %+v does not hold created id %d", r, k.ID)
	}

	borrows, err := ac.Borrows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(borrows) != 1 || borrows[0].Tree != "parts" || borrows[0].Key != k.String() || borrows[0].Holder != "alice" {
		t.Fatalf("borrows %+v", borrows)
	}

	for _, c := range []struct {
		tree, key string
		want      error
	}{
		{"nope", k.String(), db.ErrNoTree},
		{"parts", "x.y", db.ErrInvalidKey},
		{"parts", "9999.0", db.ErrNotFound},
		{"parts", free.String(), db.ErrNotCheckedOut},
	} {
		_, err := ac.ForceReturn(ctx, c.tree, c.key, "test", "admin")
		if !errors.Is(err, c.want) {
			t.Errorf("ForceReturn(%s, %s) = %v, want %v", c.tree, c.key, err, c.want)
		}
	}
	if _, err := ac.ForceReturn(ctx, "parts", k.String(), "", "admin"); err == nil {
		t.Error("ForceReturn without a reason succeeded")
	}

	former, err := ac.ForceReturn(ctx, "parts", k.String(), "alice is on holiday", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(former, "alice") {
		t.Errorf("former holder %q", former)
	}
	eventually(t, "alice loses the borrow", func() bool { return !a.parts.Borrow(k).Mine })
	if l := logs.String(); !strings.Contains(l, `reason="alice is on holiday"`) || !strings.Contains(l, "by=admin") ||
		runtime.GOOS == "linux" && !strings.Contains(l, fmt.Sprintf("peer_uid=%d", os.Getuid())) {
		t.Errorf("force-return log lacks who and why:\n%s", l)
	}
	if borrows, err := ac.Borrows(ctx); err != nil || len(borrows) != 0 {
		t.Fatalf("borrows after force-return: %+v, %v", borrows, err)
	}

	ts.stop(t)
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket left after Shutdown: %v", err)
	}
	if _, err := ac.Info(ctx); !errors.Is(err, netsync.ErrNoAdmin) {
		t.Errorf("Info after Shutdown = %v, want ErrNoAdmin", err)
	}
	if _, err := ts.Info(); !errors.Is(err, netsync.ErrStoreClosed) {
		t.Errorf("Server.Info after Shutdown = %v, want ErrStoreClosed", err)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAdminStaleSocket(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "admin.sock")
	// A socket file nobody listens on, as a crashed server leaves it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ts := startServer(t, dir, "", &netsync.ServerOptions{AdminSocket: sock})
	if _, err := netsync.NewAdminClient(sock).Info(context.Background()); err != nil {
		t.Fatalf("info over a replaced stale socket: %v", err)
	}

	// A second server may not take a socket in use.
	other := filepath.Join(shortDir(t), "store")
	s2, err := netsync.NewServer(other, &netsync.ServerOptions{AdminSocket: sock, Logger: quiet, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(context.Background())
	if err := s2.ListenAndServe(context.Background(), "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on a live socket: %v", err)
	}
	ts.stop(t)

	// A file that is not a socket is left alone.
	if err := os.WriteFile(sock, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := netsync.NewServer(filepath.Join(shortDir(t), "store"), &netsync.ServerOptions{AdminSocket: sock, Logger: quiet, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Shutdown(context.Background())
	if err := s3.ListenAndServe(context.Background(), "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("server on a regular file: %v", err)
	}
	if b, err := os.ReadFile(sock); err != nil || string(b) != "x" {
		t.Fatalf("regular file changed: %q %v", b, err)
	}
}

// TestAdminRestart checks the store opens again with the socket file in
// its directory, and counts survive.
func TestAdminRestart(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "admin.sock")
	ts := startServer(t, dir, "", &netsync.ServerOptions{AdminSocket: sock})
	a := newReplica(t, "a", ts.addr)
	createWhenIDs(t, a, Part{Number: "P-1"})
	waitSynced(t, a)
	a.close()
	// A checkpoint taken while running opens as the same server.
	ckpt := filepath.Join(shortDir(t), "backup")
	if err := netsync.NewAdminClient(sock).Checkpoint(context.Background(), ckpt); err != nil {
		t.Fatal(err)
	}
	if err := ts.Checkpoint(ckpt); err == nil {
		t.Error("checkpoint over an existing directory succeeded")
	}
	id, seq := ts.ID(), ts.Seq()
	ts.stop(t)
	b, err := netsync.NewServer(ckpt, &netsync.ServerOptions{Logger: quiet, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	binfo, err := b.Info()
	b.Shutdown(context.Background())
	if err != nil || binfo.ID != id || binfo.Seq != seq || len(binfo.Trees) != 1 || binfo.Trees[0].Records != 1 {
		t.Fatalf("checkpoint info %+v %v; want id %s seq %d", binfo, err, id, seq)
	}
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Addr != "" || len(info.Trees) != 1 || info.Trees[0].Records != 1 || len(info.Clients) != 1 || info.Clients[0].Connected {
		t.Fatalf("info of a stopped server %+v", info)
	}
}
