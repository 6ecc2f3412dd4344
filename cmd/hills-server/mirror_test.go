package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/testkit/testpg"
	"github.com/hillsdb/hills/netsync"
)

// hills-server mirror, enrolled with Read grants, fills PostgreSQL with
// the parts a replica makes, and stops on its context.
func TestMirrorCommand(t *testing.T) {
	url := testpg.Start(t)
	dir := t.TempDir()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0")
	s.await(t, dir)
	wtok := enroll(t, dir, "w", "*=read,create,edit")
	mtok := enroll(t, dir, "reports", "*=read")
	w := newReplicaWith(t, "w", s.info.Addr, &netsync.ClientOptions{Token: wtok})
	for i := range 3 {
		w.create(t, Part{Number: fmt.Sprint("p", i)})
	}
	w.sync(t)

	if _, stderr, code := runCmd(t, "mirror", "--server", s.info.Addr); code != 2 || !strings.Contains(stderr, "--postgres") {
		t.Fatalf("mirror without --postgres: %d %s", code, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"mirror", "--server", s.info.Addr, "--token", mtok, "--postgres", url,
			"--replica", filepath.Join(t.TempDir(), "m"), "--log-level", "warn"}, io.Discard, io.Discard)
	}()
	pg, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	testkit.Until(t, "three parts in PostgreSQL", func() bool {
		select {
		case err := <-done:
			t.Fatalf("mirror stopped: %v", err)
		default:
		}
		var n int
		var by string
		err := pg.QueryRow(context.Background(), `SELECT count(*), min(_created_by) FROM parts`).Scan(&n, &by)
		return err == nil && n == 3 && by == "w"
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mirror: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mirror did not stop")
	}
}
