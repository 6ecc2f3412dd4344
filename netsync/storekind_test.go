package netsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// A replica's directory is not a server's store, and a server's store is
// not a database: each is refused, naming what the directory holds, and
// nothing is written into it.
func TestStoreKindsRefused(t *testing.T) {
	rdir := filepath.Join(t.TempDir(), "replica")
	d, err := db.Open(rdir, &db.Options{Replica: true, Name: "r", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err = netsync.NewServer(rdir, &netsync.ServerOptions{Logger: quiet})
	if !errors.Is(err, netsync.ErrNotServerStore) || !strings.Contains(err.Error(), "a replica database") {
		t.Fatalf("NewServer on a replica: %v, want ErrNotServerStore naming a replica database", err)
	}
	// The replica is untouched: it opens as before.
	d, err = db.Open(rdir, &db.Options{Replica: true, Name: "r", Logger: quiet})
	if err != nil {
		t.Fatalf("the replica after the refusal: %v", err)
	}
	d.Close()

	sdir := filepath.Join(t.TempDir(), "server")
	s, err := netsync.NewServer(sdir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown(context.Background())
	for _, opts := range []*db.Options{nil, {Replica: true, Name: "r", Logger: quiet}} {
		_, err := db.Open(sdir, opts)
		if !errors.Is(err, db.ErrNotDatabase) || !strings.Contains(err.Error(), "server's store") {
			t.Fatalf("db.Open on a server store: %v, want ErrNotDatabase", err)
		}
	}
	s, err = netsync.NewServer(sdir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("the server store after the refusals: %v", err)
	}
	s.Shutdown(context.Background())
}

// A directory holding other files is neither a server's store nor a
// database: both refuse it and write nothing into it.
func TestOtherFilesRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.csv"), []byte("a,b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet}); !errors.Is(err, netsync.ErrNotServerStore) || !strings.Contains(err.Error(), "report.csv") {
		t.Fatalf("NewServer on a directory of other files: %v", err)
	}
	if _, err := db.Open(dir, &db.Options{Logger: quiet}); !errors.Is(err, db.ErrNotDatabase) || !strings.Contains(err.Error(), "report.csv") {
		t.Fatalf("db.Open on a directory of other files: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files were written: %v", entries)
	}
}
