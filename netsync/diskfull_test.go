package netsync_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// tmpfs mounts a file system of size bytes at a new directory until the
// test ends, or skips where mounting is not allowed (it needs root, which
// CI has).
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small file system to fill (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func resize(t *testing.T, dir string, size int) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
}

// A server whose disk fills up tells its clients: their Status().Err and
// WaitSynced say the server cannot store changes, they keep their
// unacknowledged changes, and once the disk has room again and the server
// restarts, every change lands; nothing acknowledged was lost.
func TestServerDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a file system")
	}
	mnt := tmpfs(t, 24<<20)
	sdir := filepath.Join(mnt, "server")
	srv := startServer(t, sdir, "", &netsync.ServerOptions{Limits: netsync.Limits{MinFreeDisk: 8 << 20}})
	r := newReplica(t, "writer", srv.addr)
	waitSynced(t, r)

	note := strings.Repeat("x", 16<<10)
	var made []db.Key[Part]
	acked := 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	for i := 0; i < 4000 && ctx.Err() == nil; i++ {
		k, cerr := r.parts.CreateWait(ctx, Part{Number: fmt.Sprintf("P%05d-%s", i, note)})
		if cerr != nil {
			t.Fatalf("create %d: %v", i, cerr)
		}
		made = append(made, k)
		if i%50 == 49 {
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err = r.c.WaitSynced(wctx)
			wcancel()
			if err != nil {
				break
			}
			acked = len(made)
		}
	}
	if !errors.Is(err, netsync.ErrServerUnavailable) {
		t.Fatalf("after %d records (%d acknowledged): WaitSynced %v, want ErrServerUnavailable", len(made), acked, err)
	}
	if st := r.c.Status(); !errors.Is(st.Err, netsync.ErrServerUnavailable) || st.Outbox == 0 {
		t.Fatalf("status %+v, want ErrServerUnavailable and the unacknowledged changes kept", st)
	}
	t.Logf("disk full after %d records, %d acknowledged", len(made), acked)

	// Room again: the server restarts on the same store, the replica's
	// changes land, and every record is there.
	srv.stop(t)
	resize(t, mnt, 256<<20)
	srv2 := startServer(t, sdir, "", &netsync.ServerOptions{Limits: netsync.Limits{MinFreeDisk: 8 << 20}})
	r.reconnect(t, srv2.addr)
	waitSyncedPast(t, netsync.ErrServerUnavailable, r)
	check := newReplica(t, "checker", srv2.addr)
	waitSynced(t, check)
	if n := check.parts.Len(); n != len(made) {
		t.Fatalf("the server holds %d records, the writer made %d", n, len(made))
	}
	if _, err := os.Stat(sdir); err != nil {
		t.Fatal(err)
	}
}
