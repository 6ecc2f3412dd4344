package netsync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/storetest"
	"github.com/hillsdb/hills/internal/wire"
)

// damagedServerStore builds a real server store with clients and trees in
// a table file, shuts the server down and applies damage.
func damagedServerStore(t *testing.T, damage storetest.Damage) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
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
	return dir, damage.Do(t, dir)
}

// TestCorruptServerStore: NewServer on a damaged store returns an error
// that wraps ErrStoreCorrupt and names the file, and never panics.
func TestCorruptServerStore(t *testing.T) {
	for _, damage := range storetest.Damages {
		t.Run(damage.Name, func(t *testing.T) {
			dir, file := damagedServerStore(t, damage)
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("NewServer panicked: %v", r)
					}
				}()
				srv, err := NewServer(dir, &ServerOptions{Logger: quietLog})
				if err == nil {
					srv.Shutdown(context.Background())
					return errors.New("no error")
				}
				return err
			}()
			t.Logf("%v", err)
			if !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("NewServer on a store with %s: %v, want ErrStoreCorrupt", damage.Name, err)
			}
			if !strings.Contains(err.Error(), filepath.Base(file)) {
				t.Fatalf("error %q does not name %s", err, filepath.Base(file))
			}
		})
	}
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
