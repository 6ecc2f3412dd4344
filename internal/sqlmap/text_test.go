package sqlmap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

// items writes n records of every kind into a new standalone database and
// returns its directory.
func items(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	d, tree := openDB(t, dir)
	defer d.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range n {
		v := i
		_, err := tree.Create(Item{OK: i%2 == 0, Small: int8(i), Qty: int64(i * 10), Big: uint64(1) << 63, F32: 0.1, F64: float64(i) / 3,
			Name: "item, \"quoted\"\nline", Blob: []byte{byte(i)}, At: at.Add(time.Duration(i)), Other: db.Key[Item]{ID: 1},
			Color: Color(i), Maybe: &v, Dims: Dims{W: 1, H: 2}, Tags: []string{"x"}, Counts: map[string]int{"a": i},
			Pair: [2]int16{1, 2}, Skipped: "s"})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func openSource(t *testing.T, dir string) (*sqlmap.Source, sqlmap.Tree) {
	t.Helper()
	src, err := sqlmap.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	trees, err := src.Trees()
	if err != nil || len(trees) != 1 {
		t.Fatalf("trees %v: %v", trees, err)
	}
	return src, trees[0]
}

// emptyServer makes a server store holding tree, without records.
func emptyServer(t *testing.T, dir string, tree sqlmap.Tree) *netsync.Server {
	t.Helper()
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	if _, err := s.Import(toImport(t, []sqlmap.ImportTree{{Tree: tree}})); err != nil {
		t.Fatal(err)
	}
	return s
}

// A tree exported as CSV imports back with the same records; a cell that
// does not fit is refused naming its line and column.
func TestCSVRoundTrip(t *testing.T) {
	dir := items(t, 4)
	src, tree := openSource(t, dir)
	var out bytes.Buffer
	if n, err := sqlmap.WriteCSV(&out, src, tree); n != 4 || err != nil {
		t.Fatalf("WriteCSV: %d, %v", n, err)
	}
	head, _, _ := strings.Cut(out.String(), "\n")
	if head != "_id,_rev,_version,_state,_schema,_created,_created_by,_modified,_modified_by,ok,small,qty,big,f32,f64,name,blob,at,other,color,maybe,dims,tags,counts,pair,skipped,_nulls,_unknown" {
		t.Fatalf("header %q", head)
	}
	recs, err := sqlmap.ReadCSV(bytes.NewReader(out.Bytes()), tree, sqlmap.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(t.TempDir(), "server")
	s := emptyServer(t, sdir, tree)
	if n, err := s.Import(toImport(t, []sqlmap.ImportTree{{Tree: tree, Records: recs}})); n != 4 || err != nil {
		t.Fatalf("Import: %d %v", n, err)
	}
	s.Shutdown(context.Background())
	src.Close()
	assertSameRecords(t, dir, sdir)

	bad := "name,qty\nfine,1\nbad,lots\n"
	_, err = sqlmap.ReadCSV(strings.NewReader(bad), tree, sqlmap.Defaults{})
	if !errors.Is(err, sqlmap.ErrRow) || !strings.Contains(err.Error(), "line 3, column 2 (qty)") {
		t.Fatalf("ReadCSV of a bad cell: %v", err)
	}
	_, err = sqlmap.ReadCSV(strings.NewReader("name,weight\nx,1\n"), tree, sqlmap.Defaults{})
	if err == nil || !strings.Contains(err.Error(), "line 1, column 2 (weight)") {
		t.Fatalf("ReadCSV of an unknown column: %v", err)
	}
	// A spreadsheet's rows: no meta, new records.
	recs, err = sqlmap.ReadCSV(strings.NewReader("name,qty,tags\nr1,5,\"[\"\"a\"\"]\"\n"), tree, sqlmap.Defaults{Now: 7, By: "sheet"})
	if err != nil || len(recs) != 1 || recs[0].Key != 0 {
		t.Fatalf("ReadCSV of new rows: %v %v", recs, err)
	}
}

// JSON lines hold per record the meta columns and the record's opaque
// text members.
func TestJSONLines(t *testing.T) {
	dir := items(t, 3)
	src, tree := openSource(t, dir)
	var out bytes.Buffer
	if n, err := sqlmap.WriteJSONLines(&out, src, tree); n != 3 || err != nil {
		t.Fatalf("WriteJSONLines: %d, %v", n, err)
	}
	sc := bufio.NewScanner(&out)
	i := 0
	for ; sc.Scan(); i++ {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, sc.Text())
		}
		if v["_id"] != float64(i+1) || v["_version"] != "non-versioned" || v["qty"] != float64(i*10) ||
			v["name"] != "item, \"quoted\"\nline" || v["big"] != float64(1<<63) || v["_created_by"] != "tester" {
			t.Fatalf("line %d: %s", i+1, sc.Text())
		}
	}
	if i != 3 {
		t.Fatalf("%d lines", i)
	}
}
