package app

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/hillsdb/hills/db"
)

func TestFlagsAndEnv(t *testing.T) {
	t.Setenv("HILLS_SERVER", "10.0.0.1:7000")
	t.Setenv("HILLS_NAME", "ana")
	t.Setenv("HILLS_APP", "")
	t.Setenv("HILLS_DATA", "")
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-app", "stock", "-name", "bo"}); err != nil {
		t.Fatal(err)
	}
	if c.Server != "10.0.0.1:7000" || c.Name != "bo" || c.AppID != "stock" {
		t.Fatalf("config %+v", c)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	d, err := c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "stock", "10.0.0.1_7000")
	if d.Dir != want {
		t.Fatalf("replica dir %q, want %q", d.Dir, want)
	}
	if got := SanitizeAddr("[::1]:7000"); got != "___1__7000" {
		t.Fatalf("SanitizeAddr: %q", got)
	}
}

func TestOpenStandaloneAndReplica(t *testing.T) {
	a, err := Open(Config{Dir: t.TempDir(), Name: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Client != nil || a.Status() != nil || a.DB.IsReplica() || a.DB.Name() != "ana" {
		t.Fatalf("standalone app: client %v replica %v name %q", a.Client, a.DB.IsReplica(), a.DB.Name())
	}
	a.Watcher.Notify() // safe before the window opens
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// With a server (not running): a replica that keeps trying.
	b, err := Open(Config{Dir: t.TempDir(), Server: "127.0.0.1:1", AppID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !b.DB.IsReplica() || b.Client == nil || b.Status()().Connected {
		t.Fatalf("replica app: replica %v client %v", b.DB.IsReplica(), b.Client)
	}
	if _, err := db.OpenTree[struct{ A int }](b.DB, "t"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
