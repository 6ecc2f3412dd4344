package sqlmap_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type Color uint8

type Dims struct {
	W float64 `msgpack:"w"`
	H float64 `msgpack:"h"`
}

// Item has a field of every kind a column maps.
type Item struct {
	OK      bool           `msgpack:"ok"`
	Small   int8           `msgpack:"small"`
	Qty     int64          `msgpack:"qty"`
	Big     uint64         `msgpack:"big"`
	F32     float32        `msgpack:"f32"`
	F64     float64        `msgpack:"f64"`
	Name    string         `msgpack:"name"`
	Blob    []byte         `msgpack:"blob"`
	At      time.Time      `msgpack:"at"`
	Other   db.Key[Item]   `msgpack:"other" hills:"ref=items"`
	Color   Color          `msgpack:"color"`
	Maybe   *int           `msgpack:"maybe"`
	Dims    Dims           `msgpack:"dims"`
	Tags    []string       `msgpack:"tags"`
	Counts  map[string]int `msgpack:"counts"`
	Pair    [2]int16       `msgpack:"pair"`
	Skipped string         `msgpack:"skipped,omitempty"`
}

func openDB(t *testing.T, dir string) (*db.DB, *db.Tree[Item]) {
	t.Helper()
	d, err := db.Open(dir, &db.Options{Name: "tester", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.OpenTree[Item](d, "items")
	if err != nil {
		t.Fatal(err)
	}
	return d, items
}

func exportTo(t fataler, dir, file string, trees ...string) int {
	t.Helper()
	src, err := sqlmap.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	all, err := src.Trees()
	if err != nil {
		t.Fatal(err)
	}
	sel, err := sqlmap.Select(all, trees)
	if err != nil {
		t.Fatal(err)
	}
	n, err := sqlmap.WriteSQLite(context.Background(), file, src, sel)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func openSQLite(t *testing.T, file string) *sql.DB {
	t.Helper()
	s, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A standalone database exports to one table per tree, a column per
// field of the SQLite type its kind maps to, nested values as JSON text,
// the meta columns, and _hills_trees with the schema.
func TestExportLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	d, items := openDB(t, dir)
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	seven := 7
	k1, err := items.Create(Item{OK: true, Small: -3, Qty: 42, Big: math.MaxUint64, F32: 1.5, F64: math.NaN(),
		Name: "resistor", Blob: []byte{0, 1, 2}, At: at, Color: 3, Maybe: &seven,
		Dims: Dims{W: 2.5, H: -1}, Tags: []string{"a", "b"}, Counts: map[string]int{"x": 1}, Pair: [2]int16{1, -2}})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := items.Create(Item{Name: "second", Other: k1})
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := mustMeta(t, items, k1)
	d.Close()

	file := filepath.Join(t.TempDir(), "out.sqlite")
	if n := exportTo(t, dir, file); n != 2 {
		t.Fatalf("exported %d records, want 2", n)
	}
	s := openSQLite(t, file)
	types := map[string]string{}
	rows, err := s.Query(`SELECT name, type, pk FROM pragma_table_info('items')`)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for rows.Next() {
		var name, typ string
		var pk int
		rows.Scan(&name, &typ, &pk)
		types[name] = typ
		order = append(order, name)
		if (pk != 0) != (name == "_id" || name == "_rev") {
			t.Errorf("column %s: pk %d", name, pk)
		}
	}
	rows.Close()
	want := map[string]string{"_id": "INTEGER", "_rev": "INTEGER", "_version": "TEXT", "_state": "INTEGER",
		"_schema": "TEXT", "_created": "TEXT", "_created_by": "TEXT", "_modified": "TEXT", "_modified_by": "TEXT",
		"ok": "INTEGER", "small": "INTEGER", "qty": "INTEGER", "big": "INTEGER", "f32": "REAL", "f64": "REAL",
		"name": "TEXT", "blob": "BLOB", "at": "TEXT", "other": "TEXT", "color": "INTEGER", "maybe": "INTEGER",
		"dims": "TEXT", "tags": "TEXT", "counts": "TEXT", "pair": "TEXT", "skipped": "TEXT", "_nulls": "TEXT", "_unknown": "BLOB"}
	if len(types) != len(want) {
		t.Errorf("columns %v, want %d", order, len(want))
	}
	for c, ty := range want {
		if types[c] != ty {
			t.Errorf("column %s: type %q, want %q", c, types[c], ty)
		}
	}
	if order[0] != "_id" || order[9] != "ok" {
		t.Errorf("column order %v", order)
	}

	var (
		id, rev, state, small, qty, color, maybe, ok                                int64
		version, sch, created, by, name, atText, dims, tags, counts, pair, big, f64 string
		f32                                                                         float64
		blob                                                                        []byte
		bigType, skipped                                                            sql.NullString
	)
	err = s.QueryRow(`SELECT _id, _rev, _version, _state, _schema, _created, _created_by, ok, small, qty, big, typeof(big),
		f32, f64, name, blob, at, color, maybe, dims, tags, counts, pair, skipped FROM items WHERE _id = ?`, k1.ID).Scan(
		&id, &rev, &version, &state, &sch, &created, &by, &ok, &small, &qty, &big, &bigType,
		&f32, &f64, &name, &blob, &atText, &color, &maybe, &dims, &tags, &counts, &pair, &skipped)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	check("_id", id, int64(k1.ID))
	check("_rev", rev, int64(0))
	check("_version", version, "non-versioned")
	check("_schema", sch, "1.0")
	check("_created", created, m1.Created.UTC().Format(time.RFC3339Nano))
	check("_created_by", by, "tester")
	check("ok", ok, int64(1))
	check("small", small, int64(-3))
	check("qty", qty, int64(42))
	check("big (the int64 of its bits)", big, "-1")
	check("f32", f32, 1.5)
	check("f64", f64, "NaN")
	check("name", name, "resistor")
	check("blob", string(blob), "\x00\x01\x02")
	check("at", atText, "2026-03-04T05:06:07.123456789Z")
	check("color", color, int64(3))
	check("maybe", maybe, int64(7))
	check("dims", dims, `{"w":2.5,"h":-1}`)
	check("tags", tags, `["a","b"]`)
	check("counts", counts, `{"x":1}`)
	check("pair", pair, `[1,-2]`)
	check("skipped (omitempty, absent)", skipped.Valid, false)

	var other, nulls sql.NullString
	if err := s.QueryRow(`SELECT other, _nulls FROM items WHERE _id = ?`, k2.ID).Scan(&other, &nulls); err != nil {
		t.Fatal(err)
	}
	check("other", other.String, k1.String())
	check("_nulls", nulls.String, `["blob","maybe","tags","counts"]`)

	var versioned bool
	var major, minor int
	var sj string
	if err := s.QueryRow(`SELECT versioned, major, minor, schema FROM _hills_trees WHERE name = 'items'`).Scan(&versioned, &major, &minor, &sj); err != nil {
		t.Fatal(err)
	}
	sc, err := sqlmap.ParseSchemaJSON(sj)
	if err != nil || versioned || major != 1 || minor != 0 || len(sc.Type.Fields) != 17 || sc.Type.Fields[2].Name != "qty" {
		t.Fatalf("_hills_trees: %v %d.%d %s: %v", versioned, major, minor, sj, err)
	}
	s.Close()

	// Every value comes back as it was: NaN, the largest uint64, nulls,
	// absent fields.
	sdir := filepath.Join(t.TempDir(), "server")
	importFile(t, file, sdir, nil)
	assertSameRecords(t, dir, sdir)
}

func mustMeta(t *testing.T, items *db.Tree[Item], k db.Key[Item]) (db.Meta, Item) {
	t.Helper()
	v, m, err := items.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	return m, v
}

// holdOpen is the test binary run by TestExportInUse as another process:
// it holds the database dir open until its standard input closes.
func holdOpen(dir string) {
	d, err := db.Open(dir, &db.Options{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	d.Close()
}

// A directory another process (or this one) holds open is refused with
// ErrInUse, and a directory without a store with ErrNoStore.
func TestExportInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	d, _ := openDB(t, dir)
	_, err := sqlmap.Open(dir)
	if !errors.Is(err, sqlmap.ErrInUse) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of a database this process holds: %v, want ErrInUse naming it", err)
	}
	d.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HILLS_SQLMAP_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("the holding process: %q %v", line, err)
	}
	_, err = sqlmap.Open(dir)
	if !errors.Is(err, sqlmap.ErrInUse) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of a database another process holds: %v, want ErrInUse naming it", err)
	}
	if _, err := sqlmap.Open(t.TempDir()); !errors.Is(err, sqlmap.ErrNoStore) {
		t.Fatalf("Open of an empty directory: %v, want ErrNoStore", err)
	}
}

// What an export holds imports into an empty server's store with the same
// keys, meta and text; a row that does not fit is refused naming the
// table, row and column, and nothing is stored.
func TestImportSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	d, items := openDB(t, dir)
	for i := range 5 {
		if _, err := items.Create(Item{Name: "n" + string(rune('a'+i)), Qty: int64(i), Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	file := filepath.Join(t.TempDir(), "out.sqlite")
	exportTo(t, dir, file)

	sdir := filepath.Join(t.TempDir(), "server")
	importFile(t, file, sdir, nil)
	assertSameRecords(t, dir, sdir)

	// A bad value in row 3: nothing of the file is imported.
	s := openSQLite(t, file)
	if _, err := s.Exec(`UPDATE items SET qty = 'many' WHERE _id = 3`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := sqlmap.ReadSQLite(context.Background(), file, nil, sqlmap.Defaults{})
	if !errors.Is(err, sqlmap.ErrRow) || !strings.Contains(err.Error(), "table items, row 3 (_id.rev 3.0): column qty") {
		t.Fatalf("ReadSQLite of a bad row: %v", err)
	}

	// A record the server refuses in the middle of an import (its key
	// exists there): nothing of the import is stored.
	src, err := sqlmap.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	trees, _ := src.Trees()
	sc, _ := schema.Encode(trees[0].Schema)
	tree := netsync.ImportTree{Name: "items", Major: 1, Schema: sc}
	src.Scan("items", func(key uint64, rec []byte) error {
		tree.Records = append(tree.Records, netsync.ImportRecord{Key: key, Record: append([]byte(nil), rec...)})
		return nil
	})
	src.Close()
	sdir2 := filepath.Join(t.TempDir(), "server2")
	srv, err := netsync.NewServer(sdir2, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	one := tree
	one.Records = tree.Records[2:3]
	if n, err := srv.Import([]netsync.ImportTree{one}); n != 1 || err != nil {
		t.Fatalf("Import of record 3: %d, %v", n, err)
	}
	before, _ := srv.Info()
	n, err := srv.Import([]netsync.ImportTree{tree})
	if n != 0 || !errors.Is(err, netsync.ErrImport) || !strings.Contains(err.Error(), "items/3.0 exists") {
		t.Fatalf("Import over an existing record: %d, %v", n, err)
	}
	after, _ := srv.Info()
	srv.Shutdown(context.Background())
	if before.Seq != after.Seq {
		t.Fatalf("log sequence %d before the refused import, %d after", before.Seq, after.Seq)
	}
	if got := storeRecords(t, sdir2)["items"]; len(got) != 1 {
		t.Fatalf("%d records after the refused import, want 1", len(got))
	}
}

// importFile reads the export file and imports it into the server store
// sdir; want, when not nil, is the error Import must return.
func importFile(t *testing.T, file, sdir string, want error) {
	t.Helper()
	in, err := sqlmap.ReadSQLite(context.Background(), file, nil, sqlmap.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := netsync.NewServer(sdir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	_, err = s.Import(toImport(t, in))
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("Import: %v, want %v", err, want)
	}
}

// fataler is what the helpers need of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// toImport turns what an export read into the server's import.
func toImport(t fataler, in []sqlmap.ImportTree) []netsync.ImportTree {
	t.Helper()
	var trees []netsync.ImportTree
	for _, it := range in {
		sc, err := schema.Encode(it.Schema)
		if err != nil {
			t.Fatal(err)
		}
		nt := netsync.ImportTree{Name: it.Name, Versioned: it.Versioned, Major: it.Schema.Major, Minor: it.Schema.Minor, Schema: sc}
		for _, r := range it.Records {
			nt.Records = append(nt.Records, netsync.ImportRecord{Key: r.Key, Record: r.Record})
		}
		trees = append(trees, nt)
	}
	return trees
}

// storeRecords reads every record of dir as tree → key → opaque text and
// meta.
func storeRecords(t fataler, dir string) map[string]map[uint64]string {
	t.Helper()
	src, err := sqlmap.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	trees, err := src.Trees()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[uint64]string{}
	for _, tr := range trees {
		recs := map[uint64]string{}
		err := src.Scan(tr.Name, func(key uint64, rec []byte) error {
			m, data, err := record.Decode(rec, nil)
			if err != nil {
				return err
			}
			text, err := schema.Text(data, &tr.Schema.Type)
			if err != nil {
				return err
			}
			m.Changes, m.CreatedByID, m.ModifiedByID = 0, "", "" // not in the table layout
			recs[key] = text + "\n" + metaText(m)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out[tr.Name] = recs
	}
	return out
}

func metaText(m record.Meta) string {
	return strings.Join([]string{sqlmap.FormatTime(m.Created), m.CreatedBy, sqlmap.FormatTime(m.Modified), m.ModifiedBy,
		string(rune('0' + m.Version)), time.Duration(m.State).String(), time.Duration(m.Major).String(), time.Duration(m.Minor).String()}, " ")
}

func assertSameRecords(t *testing.T, a, b string) {
	t.Helper()
	ra, rb := storeRecords(t, a), storeRecords(t, b)
	for tree, recs := range ra {
		if len(rb[tree]) != len(recs) {
			t.Fatalf("tree %s: %d records, then %d", tree, len(recs), len(rb[tree]))
		}
		for k, v := range recs {
			if rb[tree][k] != v {
				t.Fatalf("tree %s, key %x:\n%s\nthen\n%s", tree, k, v, rb[tree][k])
			}
		}
	}
}
