package main

import (
	"fmt"
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
	if _, stderr, code := runCmd(t, "import", "--sqlite", file, "--data", dir); code != 1 || !strings.Contains(stderr, "stop it first") {
		t.Fatalf("import into a running server: %d %s", code, stderr)
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
