package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("HILLS_SERVER", "")
	t.Setenv("HILLS_DATA", "")
	cfg, st, err := parseFlags([]string{"-tree", "parts", "-select", "3.0", "/tmp/x"})
	if err != nil || cfg.Dir != "/tmp/x" || cfg.Server != "" || st.tree != "parts" || st.key != "3.0" {
		t.Fatalf("local: %+v %+v %v", cfg, st, err)
	}
	t.Setenv("XDG_CACHE_HOME", "/tmp/cache")
	t.Setenv("HILLS_TOKEN", "")
	cfg, _, err = parseFlags([]string{"-server", "h:1", "-token", "hills1-x"})
	if err != nil || cfg.Dir != "/tmp/cache/hills-viewer/h_1" || cfg.Token != "hills1-x" {
		t.Fatalf("server: %+v %v", cfg, err)
	}
	if _, _, err := parseFlags(nil); err == nil {
		t.Fatal("no directory and no server: no error")
	}
	if _, _, err := parseFlags([]string{"a", "b"}); err == nil {
		t.Fatal("two directories: no error")
	}
}

// The viewer opens only what is a hills database: a missing directory (a
// typo) or one holding other files is an error that says so, and nothing
// is created or written; -create makes a new database.
func TestViewerRefusesWhatIsNotADatabase(t *testing.T) {
	t.Setenv("HILLS_SERVER", "")
	t.Setenv("HILLS_DATA", "")
	typo := filepath.Join(t.TempDir(), "typo-dir")
	cfg, _, err := parseFlags([]string{typo})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := app.Open(cfg); !errors.Is(err, db.ErrNotDatabase) {
		if a != nil {
			a.Close()
		}
		t.Fatalf("open %s: %v, want ErrNotDatabase", typo, err)
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("the missing directory was created: %v", err)
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{other}, {"-create", other}} {
		cfg, _, err := parseFlags(args)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Open(cfg)
		if !errors.Is(err, db.ErrNotDatabase) || !strings.Contains(err.Error(), "notes.txt") {
			if a != nil {
				a.Close()
			}
			t.Fatalf("open %v: %v, want ErrNotDatabase naming notes.txt", args, err)
		}
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Fatalf("files were written into a directory of other files: %v", entries)
	}

	cfg, _, err = parseFlags([]string{"-create", typo})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(cfg)
	if err != nil {
		t.Fatalf("-create: %v", err)
	}
	a.Close()
	// Now it is a database: it opens without -create.
	cfg, _, _ = parseFlags([]string{typo})
	if a, err = app.Open(cfg); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	a.Close()
}
