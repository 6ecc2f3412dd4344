package netsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/storetest"
	"github.com/hillsdb/hills/internal/wire"
)

// serverStoreWithTable builds a real server store with clients and trees
// in a table file and shuts the server down.
func serverStoreWithTable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	srv, err := NewServer(dir, &ServerOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		h := &wire.Hello{ClientID: fmt.Sprintf("client-%04d", i), Name: strings.Repeat("n", i%40)}
		if _, err := srv.a.authenticate(fmt.Sprintf("sha256:%04d", i), h, true, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"parts", "boards"} {
		if err := srv.a.declare(&sconn{name: "test", grants: allGrants}, replica.TreeDecl{Name: name, Major: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.a.pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCorruptServerStore: NewServer on a damaged store returns an error
// that wraps ErrStoreCorrupt and names the file, and never panics.
func TestCorruptServerStore(t *testing.T) {
	storetest.CheckDamages(t, serverStoreWithTable, func(dir string) error {
		srv, err := NewServer(dir, &ServerOptions{Logger: quietLog})
		if err == nil {
			srv.Shutdown(context.Background())
		}
		return err
	}, ErrStoreCorrupt)
}

// TestErrProtocol: ErrProtocol reads as netsync's, and matches the errors
// of the wire framing as well as netsync's own.
func TestErrProtocol(t *testing.T) {
	if got := ErrProtocol.Error(); got != "netsync: protocol error" {
		t.Fatalf("ErrProtocol reads %q", got)
	}
	var v struct{ A int }
	werr := wire.Decode([]byte{0xc1}, &v) // 0xc1 is never a msgpack type
	if werr == nil {
		t.Fatal("decoding a malformed body: no error")
	}
	if !errors.Is(werr, ErrProtocol) {
		t.Fatalf("wire error %v is not ErrProtocol", werr)
	}
	own := fmt.Errorf("%w: unknown message type %d", ErrProtocol, 99)
	if !errors.Is(own, wire.ErrProtocol) {
		t.Fatalf("netsync error %v is not wire.ErrProtocol", own)
	}
	if !strings.HasPrefix(werr.Error(), "netsync: protocol error") {
		t.Fatalf("wire error reads %q", werr)
	}
}
