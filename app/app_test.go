package app

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/netsync"
)

func TestFlagsAndEnv(t *testing.T) {
	t.Setenv("HILLS_SERVER", "10.0.0.1:7000")
	t.Setenv("HILLS_NAME", "ana")
	t.Setenv("HILLS_APP", "")
	t.Setenv("HILLS_DATA", "")
	t.Setenv("HILLS_TOKEN", "hills1-from-env")
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-app", "stock", "-name", "bo"}); err != nil {
		t.Fatal(err)
	}
	if c.Server != "10.0.0.1:7000" || c.Name != "bo" || c.AppID != "stock" || c.Token != "hills1-from-env" {
		t.Fatalf("config %+v", c)
	}
	var c2 Config
	fs2 := flag.NewFlagSet("y", flag.ContinueOnError)
	c2.RegisterFlags(fs2)
	if err := fs2.Parse([]string{"-token", "hills1-from-flag"}); err != nil || c2.Token != "hills1-from-flag" {
		t.Fatalf("-token: %q %v", c2.Token, err)
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

// TestToken connects an app to a server that admits enrolled clients
// only: without the token it is refused, with Config.Token it syncs.
func TestToken(t *testing.T) {
	quiet := testnet.Quiet
	srv := testnet.ServerWith(t, &netsync.ServerOptions{AppID: "x"})
	addr := srv.Addr().String()

	wait := func(a *App) error {
		wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer wcancel()
		return a.Client.WaitSynced(wctx)
	}
	no, err := Open(Config{Dir: t.TempDir(), Server: addr, AppID: "x", Name: "ana", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer no.Close()
	if err := wait(no); !errors.Is(err, netsync.ErrUnauthorized) {
		t.Fatalf("without a token: %v, want ErrUnauthorized", err)
	}

	tok, err := srv.AddClient("ana", netsync.Grant{Tree: "*", Access: netsync.AllAccess})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(Config{Dir: t.TempDir(), Server: addr, AppID: "x", Name: "ana", Token: tok, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := wait(a); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	if st := a.Status()(); !st.Connected || st.Err != nil {
		t.Fatalf("status with the token: %+v", st)
	}
}
