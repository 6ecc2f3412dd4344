package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
)

// A running server's store exports through its admin socket (a
// checkpoint); the export imports into a new, stopped server store; a
// server started on it serves the records to a new replica with their
// keys and meta, and grants no client the imported ids again.
func TestExportImportServer(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--open")
	s.await(t, dir)
	a := newReplica(t, "a", s.info.Addr, "")
	var keys []db.Key[Part]
	for i := range 5 {
		keys = append(keys, a.create(t, Part{Number: fmt.Sprint("p", i)}))
	}
	a.sync(t)

	file := filepath.Join(t.TempDir(), "live.sqlite")
	stdout, stderr, code := runCmd(t, "export", "--sqlite", file, "--data", dir)
	if code != 0 || !strings.Contains(stdout, "exported 5 records of 1 trees") {
		t.Fatalf("export of a running server: %d %s%s", code, stdout, stderr)
	}
	// Into the running server, through its socket: refused as a whole,
	// since the records are there.
	if _, stderr, code := runCmd(t, "import", "--sqlite", file, "--data", dir); code != 1 || !strings.Contains(stderr, "parts/1.0 exists on the server") {
		t.Fatalf("import of records the running server has: %d %s", code, stderr)
	}
	s.stop(t)
	if _, stderr, code := runCmd(t, "export", "--sqlite", file, "--data", dir); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("export over an existing file: %d %s", code, stderr)
	}
	stopped := filepath.Join(t.TempDir(), "stopped.sqlite")
	if stdout, stderr, code := runCmd(t, "export", "--sqlite", stopped, "--data", dir); code != 0 || !strings.Contains(stdout, "(server store)") {
		t.Fatalf("export of a stopped server: %d %s%s", code, stdout, stderr)
	}

	dir2 := t.TempDir()
	stdout, stderr, code = runCmd(t, "import", "--sqlite", file, "--data", dir2)
	if code != 0 || !strings.Contains(stdout, "imported 5 records of 1 trees") {
		t.Fatalf("import: %d %s%s", code, stdout, stderr)
	}
	s2 := startServe(t, "--data", dir2, "--listen", "127.0.0.1:0", "--open")
	s2.await(t, dir2)
	b := newReplica(t, "b", s2.info.Addr, "")
	b.sync(t)
	for i, k := range keys {
		v, m, err := b.parts.Get(k)
		if err != nil || v.Number != fmt.Sprint("p", i) || m.CreatedBy != "a" {
			t.Fatalf("part %s on the new replica: %+v %+v %v", k, v, m, err)
		}
		_, am, _ := a.parts.Get(k)
		if !m.Created.Equal(am.Created) || !m.Modified.Equal(am.Modified) || m.Evolution != am.Evolution {
			t.Fatalf("part %s: meta %+v, was %+v", k, m, am)
		}
	}
	nk := b.create(t, Part{Number: "new"})
	for _, k := range keys {
		if nk.ID == k.ID {
			t.Fatalf("the new replica was granted imported id %d", k.ID)
		}
	}
	b.sync(t)

	// Imports into a running server: keys a client was granted are
	// refused; new rows get ids past the grants, and the connected
	// replica receives them at once.
	s3dir := t.TempDir()
	s3 := startServe(t, "--data", s3dir, "--listen", "127.0.0.1:0", "--open")
	s3.await(t, s3dir)
	c := newReplica(t, "c", s3.info.Addr, "")
	c.sync(t)
	if _, stderr, code := runCmd(t, "import", "--sqlite", file, "--data", s3dir); code != 1 || !strings.Contains(stderr, "parts/1.0: the id is granted to client c") {
		t.Fatalf("import of ids a client holds: %d %s", code, stderr)
	}
	sheet := filepath.Join(t.TempDir(), "live.csv")
	os.WriteFile(sheet, []byte("number\nlive1\nlive2\n"), 0o644)
	stdout, stderr, code = runCmd(t, "import", "--csv", sheet, "--tree", "parts", "--data", s3dir)
	if code != 0 || !strings.Contains(stdout, "imported 2 records") {
		t.Fatalf("import into a running server: %d %s%s", code, stdout, stderr)
	}
	c.sync(t)
	if n := c.parts.Len(); n != 2 {
		t.Fatalf("the connected replica holds %d parts after the import, want 2", n)
	}
}

// A directory an application holds open is refused, naming it.
func TestExportInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	d, err := db.Open(dir, &db.Options{Name: "x", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := db.OpenTree[Part](d, "parts"); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(t, "export", "--sqlite", filepath.Join(t.TempDir(), "x.sqlite"), "--data", dir)
	if code != 1 || !strings.Contains(stderr, "in use") || !strings.Contains(stderr, dir) {
		t.Fatalf("export of a database in use: %d %s", code, stderr)
	}
}

// A tree goes out as CSV and JSON lines; a spreadsheet's CSV rows come in
// as new records with ids no client holds, and a replica receives them.
func TestCSVCommands(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--open")
	s.await(t, dir)
	a := newReplica(t, "a", s.info.Addr, "")
	for i := range 3 {
		a.create(t, Part{Number: fmt.Sprint("p", i)})
	}
	a.sync(t)
	stdout, stderr, code := runCmd(t, "export", "--csv", "-", "--tree", "parts", "--data", dir)
	if code != 0 || !strings.HasPrefix(stdout, "_id,_rev,_version,_state,_schema,_created,_created_by,_modified,_modified_by,number,_nulls,_unknown\n1,0,non-versioned,0,1.0,") ||
		strings.Count(stdout, "\n") != 4 {
		t.Fatalf("export --csv: %d %s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runCmd(t, "export", "--jsonl", "-", "--tree", "parts", "--data", dir)
	if code != 0 || !strings.Contains(stdout, `"_modified_by":"a","number":"p0"}`) || strings.Count(stdout, "\n") != 3 {
		t.Fatalf("export --jsonl: %d %s%s", code, stdout, stderr)
	}
	if _, stderr, code := runCmd(t, "export", "--csv", "-", "--data", dir); code != 2 || !strings.Contains(stderr, "one --tree") {
		t.Fatalf("export --csv without --tree: %d %s", code, stderr)
	}
	s.stop(t)

	sheet := filepath.Join(t.TempDir(), "sheet.csv")
	os.WriteFile(sheet, []byte("number,weight\nq1,3\n"), 0o644)
	if _, stderr, code := runCmd(t, "import", "--csv", sheet, "--tree", "parts", "--data", dir); code != 1 || !strings.Contains(stderr, "line 1, column 2 (weight)") {
		t.Fatalf("import of a CSV with an unknown column: %d %s", code, stderr)
	}
	os.WriteFile(sheet, []byte("number\nq1\nq2\n"), 0o644)
	stdout, stderr, code = runCmd(t, "import", "--csv", sheet, "--tree", "parts", "--data", dir)
	if code != 0 || !strings.Contains(stdout, "imported 2 records of 1 trees") {
		t.Fatalf("import --csv: %d %s%s", code, stdout, stderr)
	}
	s = startServe(t, "--data", dir, "--listen", s.info.Addr, "--open")
	s.await(t, dir)
	a.sync(t)
	got := map[string]db.Key[Part]{}
	for k, v := range a.parts.All() {
		got[v.Number] = k
	}
	if len(got) != 5 || got["q1"].ID == 0 || got["q2"].ID == 0 {
		t.Fatalf("the replica holds %v", got)
	}
	// The replica's own next record gets an id the import did not take.
	k := a.create(t, Part{Number: "after"})
	if k == got["q1"] || k == got["q2"] {
		t.Fatalf("the replica created %s, an imported key", k)
	}
	a.sync(t)
	_, m, _ := a.parts.Get(got["q1"])
	if !strings.HasPrefix(m.CreatedBy, "import ") {
		t.Fatalf("an imported row's creator: %q", m.CreatedBy)
	}
}
