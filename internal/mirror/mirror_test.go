package mirror_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/internal/mirror"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/internal/testkit/testpg"
	"github.com/hillsdb/hills/netsync"
)

type Part struct {
	Number string   `msgpack:"number"`
	Qty    int      `msgpack:"qty"`
	Tags   []string `msgpack:"tags"`
}

// PartV2 is Part of schema 1.1: a field more.
type PartV2 struct {
	Number string   `msgpack:"number"`
	Qty    int      `msgpack:"qty"`
	Tags   []string `msgpack:"tags"`
	Weight float64  `msgpack:"weight"`
}

type writer struct {
	d *db.DB
	c *netsync.Client
}

func newWriter(t testing.TB, addr, token, name string) *writer {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), name), &db.Options{Replica: true, Name: name, Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Token: token, Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); d.Close() })
	return &writer{d: d, c: c}
}

func (w *writer) sync(t testing.TB) {
	t.Helper()
	if err := w.c.WaitSynced(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

type running struct {
	cancel  context.CancelFunc
	done    chan error
	flushes atomic.Int64
}

func startMirror(t testing.TB, o mirror.Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	o.Logger = testnet.Quiet
	if os.Getenv("HILLS_MIRROR_DEBUG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.Flushed == nil {
		o.Flushed = func(uint64, []db.OpaqueKey) { r.flushes.Add(1) }
	}
	go func() { r.done <- mirror.Run(ctx, o) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("mirror: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the mirror did not stop")
	}
}

func (r *running) failed(t testing.TB) {
	t.Helper()
	select {
	case err := <-r.done:
		r.cancel() // stopped already: nothing for stop to wait for
		r.cancel = nil
		t.Fatalf("the mirror stopped: %v", err)
	default:
	}
}

// rows reads the parts table: number → "qty tags weight".
func rows(t *testing.T, pg *pgx.Conn) map[string]string {
	t.Helper()
	out := map[string]string{}
	rs, err := pg.Query(context.Background(), `SELECT number, qty, coalesce(tags::text, 'NULL'), coalesce(_version, ''), coalesce(_created_by, '') FROM parts`)
	if err != nil {
		return nil // not created yet
	}
	defer rs.Close()
	for rs.Next() {
		var n, tags, version, by string
		var qty int64
		if err := rs.Scan(&n, &qty, &tags, &version, &by); err != nil {
			t.Fatal(err)
		}
		out[n] = fmt.Sprintf("%d %s %s %s", qty, tags, version, by)
	}
	return out
}

// setup starts PostgreSQL and a server, enrolls a writer with every
// access, which opens the parts tree, and a mirror with Read grants.
func setup(t testing.TB) (url string, srv *netsync.Server, w *writer, parts *db.Tree[Part], mirrorToken string) {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup with the server's options.
func setupWith(t testing.TB, opts *netsync.ServerOptions) (url string, srv *netsync.Server, w *writer, parts *db.Tree[Part], mirrorToken string) {
	t.Helper()
	url = testpg.Start(t)
	srv = testnet.ServerWith(t, opts)
	w = newWriter(t, srv.Addr().String(), mustToken(t, srv, "w"), "w")
	parts, err := db.OpenTree[Part](w.d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	mirrorToken, err = srv.AddClient("mirror", netsync.Grant{Tree: "*", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	return url, srv, w, parts, mirrorToken
}

// The mirror, an enrolled client with Read grants, keeps a PostgreSQL
// table per tree up to date: creates, updates and deletes arrive; a
// mirror restarted after changes made while it was down resumes with
// every change once; a field a newer schema adds becomes a column.
func TestMirror(t *testing.T) {
	url, srv, w, parts, mtok := setup(t)
	addr := srv.Addr().String()
	var keys []db.Key[Part]
	for i := range 5 {
		keys = append(keys, testkit.Create(t, parts, Part{Number: fmt.Sprint("p", i), Qty: i, Tags: []string{"a"}}))
	}
	w.sync(t)

	pg, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	rdir := filepath.Join(t.TempDir(), "mirror")
	opts := mirror.Options{Server: addr, Token: mtok, Postgres: url, Replica: rdir}
	m := startMirror(t, opts)
	want := map[string]string{}
	for i := range 5 {
		want[fmt.Sprint("p", i)] = fmt.Sprintf("%d [\"a\"] non-versioned w", i)
	}
	until := func(what string, want map[string]string) {
		t.Helper()
		testkit.Until(t, what, func() bool {
			m.failed(t)
			got := rows(t, pg)
			return fmt.Sprint(got) == fmt.Sprint(want)
		})
	}
	until("the first records in PostgreSQL", want)

	ctx := testkit.Context(t)
	if err := parts.CheckOut(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	if err := parts.Update(keys[1], func(p *Part) error { p.Qty = 100; p.Tags = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := parts.CheckOut(ctx, keys[2]); err != nil {
		t.Fatal(err)
	}
	if err := parts.Delete(keys[2]); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	want["p1"] = "100 NULL non-versioned w"
	delete(want, "p2")
	until("an update and a delete in PostgreSQL", want)

	// Changes while the mirror is down arrive once it is back, also
	// those its replica applied without PostgreSQL committing them (as
	// after a crash between the two): here a plain client on the
	// mirror's replica takes them first. A row no change touched is not
	// written again: its xmin stays.
	m.stop(t)
	before := xmins(t, pg)
	testkit.Create(t, parts, Part{Number: "p5", Qty: 5})
	if err := parts.Update(keys[1], func(p *Part) error { p.Qty = 101; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := parts.Delete(keys[1]); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	advance(t, rdir, addr)
	delete(want, "p1")
	want["p5"] = "5 NULL non-versioned w"
	m = startMirror(t, opts)
	until("the changes made while the mirror was down", want)
	var n int
	if err := pg.QueryRow(context.Background(), `SELECT count(*) FROM parts`).Scan(&n); err != nil || n != len(want) {
		t.Fatalf("%d rows, want %d: %v", n, len(want), err)
	}
	after := xmins(t, pg)
	for _, n := range []string{"p0", "p3", "p4"} {
		if after[n] != before[n] || after[n] == "" {
			t.Errorf("row %s was written again on the restart: xmin %s, before %s", n, after[n], before[n])
		}
	}
	info, _ := srv.Info()
	testkit.Until(t, "the mirror's position at the server's log", func() bool {
		var seq int64
		pg.QueryRow(context.Background(), `SELECT seq FROM _hills_mirror WHERE id = 1`).Scan(&seq)
		return uint64(seq) >= info.Seq
	})

	// A newer minor version adds a field: the table gets its column.
	w2 := newWriter(t, addr, mustToken(t, srv, "w2"), "w2")
	parts2, err := db.OpenTree[PartV2](w2.d, "parts", db.SchemaVersion(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Create(t, parts2, PartV2{Number: "heavy", Qty: 1, Weight: 2.5})
	w2.sync(t)
	testkit.Until(t, "the new column and its value", func() bool {
		m.failed(t)
		var wt float64
		err := pg.QueryRow(context.Background(), `SELECT weight FROM parts WHERE number = 'heavy'`).Scan(&wt)
		return err == nil && wt == 2.5
	})
	if m.flushes.Load() == 0 {
		t.Fatal("no flush reported")
	}

	// PostgreSQL's text holds no NUL: the record arrives with U+FFFD in
	// its place, and the mirror goes on.
	testkit.Create(t, parts, Part{Number: "n\x00ul", Tags: []string{"x\x00", `\u0000`}})
	testkit.Create(t, parts, Part{Number: "after"})
	w.sync(t)
	testkit.Until(t, "the records with NUL in their text", func() bool {
		m.failed(t)
		var n int
		pg.QueryRow(context.Background(), `SELECT count(*) FROM parts WHERE number = 'after'`).Scan(&n)
		return n == 1
	})
	var tags string
	if err := pg.QueryRow(context.Background(), `SELECT tags::text FROM parts WHERE number = $1`, "n\uFFFDul").Scan(&tags); err != nil ||
		tags != "[\"x\uFFFD\", \"\\\\u0000\"]" {
		t.Fatalf("the record with NUL: tags %s, %v", tags, err)
	}
}

// xmins reads the xmin (the transaction that wrote it) of each row of
// the parts table, by number.
func xmins(t testing.TB, pg *pgx.Conn) map[string]string {
	t.Helper()
	out := map[string]string{}
	rs, err := pg.Query(context.Background(), `SELECT number, xmin::text FROM parts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var n, x string
		if err := rs.Scan(&n, &x); err != nil {
			t.Fatal(err)
		}
		out[n] = x
	}
	return out
}

// advance syncs the replica in dir (the mirror's, enrolled before) with
// the server without the mirror: it gets ahead of PostgreSQL.
func advance(t testing.TB, dir, addr string) {
	t.Helper()
	d, err := db.Open(dir, &db.Options{Replica: true, Name: "mirror", Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Logger: testnet.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitSynced(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

func mustToken(t testing.TB, srv *netsync.Server, name string) string {
	t.Helper()
	tok, err := srv.AddClient(name, netsync.Grant{Tree: "*", Access: netsync.AllAccess})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bomQuery is the PostgreSQL example of docs/guide.md ("Data out and back
// in").
const bomQuery = `
SELECT b.name AS bom, b._rev AS rev, l ->> 'designators' AS designators,
       (l ->> 'quantity')::int AS per_board, p.mpn, p.quantity AS on_hand
FROM boms AS b CROSS JOIN LATERAL jsonb_array_elements(b.lines) AS l
JOIN parts AS p ON p._id || '.' || p._rev = l ->> 'part'
WHERE b._version = 'released'
ORDER BY b.name, p.mpn`

// The guide's PostgreSQL query runs on the mirror of the inventory
// example's trees.
func TestMirrorInventoryQuery(t *testing.T) {
	url := testpg.Start(t)
	srv := testnet.ServerWith(t, nil)
	addr := srv.Addr().String()
	w := newWriter(t, addr, mustToken(t, srv, "planner"), "planner")
	s, err := stock.Open(w.d)
	if err != nil {
		t.Fatal(err)
	}
	if err := stock.Seed(testkit.Context(t), s); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	lines := 0
	for k, b := range s.BOMs.All() {
		if _, m, _ := s.BOMs.Get(k); m.Version == db.Released {
			lines += len(b.Lines)
		}
	}
	mtok, err := srv.AddClient("reports", netsync.Grant{Tree: "*", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	m := startMirror(t, mirror.Options{Server: addr, Token: mtok, Postgres: url, Replica: filepath.Join(t.TempDir(), "m")})
	pg, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	n := 0
	testkit.Until(t, "the released BOM's lines in PostgreSQL", func() bool {
		m.failed(t)
		rows, err := pg.Query(context.Background(), bomQuery)
		if err != nil {
			return false // the tables are not there yet
		}
		defer rows.Close()
		n = 0
		for rows.Next() {
			var bom, designators, mpn string
			var rev, perBoard, onHand int64
			if err := rows.Scan(&bom, &rev, &designators, &perBoard, &mpn, &onHand); err != nil {
				t.Fatal(err)
			}
			if mpn == "" || perBoard < 1 {
				t.Fatalf("row %s %d %s %d %s %d", bom, rev, designators, perBoard, mpn, onHand)
			}
			n++
		}
		return n == lines && n > 0
	})
}
