package mirror_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/mirror"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/internal/testkit/testpg"
	"github.com/hillsdb/hills/netsync"
)

// The environment of a mirror run as a child process of the test binary
// (TestMirrorChild), which the kill test ends with SIGKILL.
const (
	envChild    = "HILLS_MIRROR_CHILD"
	envServer   = "HILLS_MIRROR_CHILD_SERVER"
	envPostgres = "HILLS_MIRROR_CHILD_POSTGRES"
	envReplica  = "HILLS_MIRROR_CHILD_REPLICA"
)

// TestMirrorChild is the mirror process of TestMirrorKilled: it runs only
// as that child, until it is killed (or a minute passes).
func TestMirrorChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("the mirror process of TestMirrorKilled; runs only as its child")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := mirror.Run(ctx, mirror.Options{Server: os.Getenv(envServer), Postgres: os.Getenv(envPostgres),
		Replica: os.Getenv(envReplica), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}); err != nil {
		t.Fatal(err)
	}
}

// serverRows reads every record of the server's parts tree through a
// fresh replica: "id.rev" → "number qty tags".
func serverRows(t testing.TB, srv *netsync.Server) map[string]string {
	t.Helper()
	tok, err := srv.AddClient(fmt.Sprint("reader", rand.Uint64()), netsync.Grant{Tree: "*", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	r := newWriter(t, srv.Addr().String(), tok, "reader")
	r.sync(t)
	out := map[string]string{}
	parts, err := db.OpenTree[Part](r.d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range parts.All() {
		out[k.String()] = fmt.Sprint(p.Number, " ", p.Qty, " ", len(p.Tags))
	}
	return out
}

// pgRows reads the parts table in serverRows' form.
func pgRows(t testing.TB, pg *pgx.Conn) map[string]string {
	t.Helper()
	out := map[string]string{}
	rs, err := pg.Query(context.Background(), `SELECT _id, _rev, number, qty, coalesce(jsonb_array_length(tags), 0) FROM parts`)
	if err != nil {
		return nil
	}
	defer rs.Close()
	for rs.Next() {
		var id, rev, qty, tags int64
		var n string
		if err := rs.Scan(&id, &rev, &n, &qty, &tags); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%d.%d", id, rev)] = fmt.Sprint(n, " ", qty, " ", tags)
	}
	return out
}

// equalToServer waits until PostgreSQL's parts table is the server's.
func equalToServer(t testing.TB, srv *netsync.Server, pg *pgx.Conn, what string) {
	t.Helper()
	want := serverRows(t, srv)
	var got map[string]string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !maps.Equal(got, want) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: PostgreSQL has %d rows, the server %d; differing: %v", what, len(got), len(want), diff(got, want))
		case <-time.After(20 * time.Millisecond):
		}
		got = pgRows(t, pg)
	}
}

func diff(got, want map[string]string) []string {
	var out []string
	for k, v := range want {
		if got[k] != v {
			out = append(out, fmt.Sprintf("%s: %q, want %q", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %q, not on the server", k, v))
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}

// enroll enrolls the replica in dir with token: the mirror's replica,
// made before the mirror first runs.
func enroll(t testing.TB, dir, addr, token string) {
	t.Helper()
	d, err := db.Open(dir, &db.Options{Replica: true, Name: "mirror", Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Token: token, Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitSynced(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

// churn makes n changes of the parts tree, one every few milliseconds:
// creates, updates of records the writer holds checked out, deletes.
func churn(t testing.TB, parts *db.Tree[Part], n int, stop *atomic.Bool) {
	t.Helper()
	ctx := testkit.Context(t)
	var held []db.Key[Part]
	for i := 0; i < n && !stop.Load(); i++ {
		switch {
		case len(held) < 5 || i%3 == 0:
			k, err := parts.CreateWait(ctx, Part{Number: fmt.Sprint("c", i), Qty: i})
			if err != nil {
				t.Error(err)
				return
			}
			if err := parts.CheckOut(ctx, k); err != nil {
				t.Error(err)
				return
			}
			held = append(held, k)
		case i%7 == 0:
			if err := parts.Delete(held[0]); err != nil {
				t.Error(err)
				return
			}
			held = held[1:]
		default:
			k := held[i%len(held)]
			if err := parts.Update(k, func(p *Part) error { p.Qty = i; p.Tags = append(p.Tags, "u"); return nil }); err != nil {
				t.Error(err)
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A mirror killed (SIGKILL) at random points while changes stream in,
// many times, and started again, ends with PostgreSQL's table equal to
// the server's records; a restart after that writes only the rows that
// changed (the others keep their xmin).
func TestMirrorKilled(t *testing.T) {
	const kills = 10
	if testing.Short() {
		t.Skip("kills a mirror process many times")
	}
	// A killed mirror's sessions stay open on the server until they time
	// out: room for them all.
	url, srv, w, parts, mtok := setupWith(t, &netsync.ServerOptions{Limits: netsync.Limits{MaxConnsPerClient: 4 * kills}})
	addr := srv.Addr().String()
	testkit.Create(t, parts, Part{Number: "first"})
	w.sync(t)
	rdir := filepath.Join(t.TempDir(), "mirror")
	enroll(t, rdir, addr, mtok)
	pg, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())

	var stop atomic.Bool
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		churn(t, parts, 600, &stop)
	}()
	defer func() { stop.Store(true); <-churned }()
	var logs strings.Builder
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestMirrorChild$")
		cmd.Env = append(os.Environ(), envChild+"=1", envServer+"="+addr, envPostgres+"="+url, envReplica+"="+rdir)
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it get going (open, connect, resume) at least some of the
		// time, then kill it wherever it is.
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: the mirror ended by itself: %v", i, err)
		}
	}
	stop.Store(true)
	<-churned
	w.sync(t)
	t.Logf("restarts: %d with the replica ahead of PostgreSQL, %d behind it, %d even",
		strings.Count(logs.String(), "the replica was ahead"), strings.Count(logs.String(), "the replica catches up"),
		strings.Count(logs.String(), `resuming from PostgreSQL's position"`))

	m := startMirror(t, mirror.Options{Server: addr, Postgres: url, Replica: rdir})
	equalToServer(t, srv, pg, fmt.Sprintf("after %d kills", kills))
	m.stop(t)

	// A restart with one change: only its row is written.
	before := xmins(t, pg)
	k := testkit.Create(t, parts, Part{Number: "last"})
	w.sync(t)
	var reconciled atomic.Bool
	m = startMirror(t, mirror.Options{Server: addr, Postgres: url, Replica: rdir,
		Flushed: func(_ uint64, keys []db.OpaqueKey) {
			if keys == nil {
				reconciled.Store(true)
			}
		}})
	equalToServer(t, srv, pg, "after the restart")
	m.stop(t)
	after := xmins(t, pg)
	for n, x := range before {
		if after[n] != x {
			t.Errorf("row %s written again on the restart (xmin %s, was %s)", n, after[n], x)
		}
	}
	if after["last"] == "" || reconciled.Load() {
		t.Fatalf("the restart: new row %v (xmin %q), reconciled %v", k, after["last"], reconciled.Load())
	}
}

// A mirror started with a fresh replica directory while PostgreSQL holds
// a position: the replica catches up from the start of the log and the
// mirror passes over what PostgreSQL has (no row is written again), then
// goes on with the changes after it.
func TestMirrorFreshReplica(t *testing.T) {
	url, srv, w, parts, mtok := setup(t)
	addr := srv.Addr().String()
	var keys []db.Key[Part]
	for i := range 20 {
		keys = append(keys, testkit.Create(t, parts, Part{Number: fmt.Sprint("p", i), Qty: i}))
	}
	if err := parts.CheckOut(testkit.Context(t), keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := parts.Update(keys[0], func(p *Part) error { p.Qty = 100; return nil }); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	pg, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	m := startMirror(t, mirror.Options{Server: addr, Token: mtok, Postgres: url, Replica: filepath.Join(t.TempDir(), "m1")})
	equalToServer(t, srv, pg, "the first mirror")
	m.stop(t)
	before := xmins(t, pg)

	tok2, err := srv.AddClient("mirror2", netsync.Grant{Tree: "*", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	var reconciled atomic.Bool
	var mu sync.Mutex
	written := map[string]bool{}
	m = startMirror(t, mirror.Options{Server: addr, Token: tok2, Postgres: url, Replica: filepath.Join(t.TempDir(), "m2"),
		Flushed: func(_ uint64, keys []db.OpaqueKey) {
			if keys == nil {
				reconciled.Store(true)
			}
			mu.Lock()
			for _, k := range keys {
				written[k.String()] = true
			}
			mu.Unlock()
		}})
	k := testkit.Create(t, parts, Part{Number: "new", Qty: 1})
	w.sync(t)
	equalToServer(t, srv, pg, "the mirror with a fresh replica")
	mu.Lock()
	if !maps.Equal(written, map[string]bool{k.String(): true}) {
		t.Errorf("records written %v, want only the new one %v", slices.Sorted(maps.Keys(written)), k)
	}
	mu.Unlock()
	after := xmins(t, pg)
	for n, x := range before {
		if after[n] != x {
			t.Errorf("row %s written again (xmin %s, was %s)", n, after[n], x)
		}
	}
	if reconciled.Load() {
		t.Error("the tables were reconciled, though PostgreSQL's position continues")
	}
}

// A server restored from a backup: the mirror's replica takes its state
// from a snapshot, and PostgreSQL ends equal to the restored server (the
// records made after the backup are gone), whether the mirror ran
// through the restore or was down, with its replica or a fresh one, and
// when the store was copied back by hand (its lineage unchanged).
func TestMirrorServerRestored(t *testing.T) {
	for _, how := range []string{"running", "down", "fresh replica", "copied back, fresh replica"} {
		t.Run(how, func(t *testing.T) {
			url := testpg.Start(t)
			dir := t.TempDir()
			srv, stopSrv := testnet.Start(t, dir, "", nil)
			addr := srv.Addr().String()
			wtok := mustToken(t, srv, "w")
			mtok, err := srv.AddClient("mirror", netsync.Grant{Tree: "*", Access: netsync.Read})
			if err != nil {
				t.Fatal(err)
			}
			mtok2, err := srv.AddClient("mirror2", netsync.Grant{Tree: "*", Access: netsync.Read})
			if err != nil {
				t.Fatal(err)
			}
			w := newWriter(t, addr, wtok, "w")
			parts, err := db.OpenTree[Part](w.d, "parts")
			if err != nil {
				t.Fatal(err)
			}
			pg, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close(context.Background())
			rdir := filepath.Join(t.TempDir(), "m")
			m := startMirror(t, mirror.Options{Server: addr, Token: mtok, Postgres: url, Replica: rdir})
			for i := range 10 {
				testkit.Create(t, parts, Part{Number: fmt.Sprint("kept", i)})
			}
			w.sync(t)
			equalToServer(t, srv, pg, "before the backup")
			backup := filepath.Join(t.TempDir(), "backup")
			if err := srv.Checkpoint(backup); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				testkit.Create(t, parts, Part{Number: fmt.Sprint("lost", i)})
			}
			w.sync(t)
			equalToServer(t, srv, pg, "before the restore")
			if how != "running" {
				m.stop(t)
			}
			stopSrv()
			data := filepath.Join(t.TempDir(), "data")
			if how == "copied back, fresh replica" {
				// By hand: the store keeps its lineage, its log ends
				// before PostgreSQL's position.
				if err := os.CopyFS(data, os.DirFS(backup)); err != nil {
					t.Fatal(err)
				}
			} else if _, err := netsync.Restore(backup, data, &netsync.RestoreOptions{Logger: testnet.Quiet}); err != nil {
				t.Fatal(err)
			}
			restored, _ := testnet.Start(t, data, addr, nil)
			switch how {
			case "down":
				m = startMirror(t, mirror.Options{Server: addr, Postgres: url, Replica: rdir})
			case "fresh replica", "copied back, fresh replica":
				m = startMirror(t, mirror.Options{Server: addr, Token: mtok2, Postgres: url, Replica: filepath.Join(t.TempDir(), "m2")})
			}
			equalToServer(t, restored, pg, "after the restore")
			for _, n := range []string{"kept0", "kept9"} {
				if !slices.Contains(slices.Collect(maps.Values(pgRows(t, pg))), n+" 0 0") {
					t.Fatalf("%s missing after the restore", n)
				}
			}
			m.failed(t)
		})
	}
}
