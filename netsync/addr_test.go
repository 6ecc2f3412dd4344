package netsync_test

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// An address that can never work is refused by Connect, naming it; one
// where nothing answers is said in Status().Err (ErrUnreachable) while the
// client keeps trying.
func TestServerAddresses(t *testing.T) {
	t.Parallel() // it waits out a 10 s dial
	d, err := db.Open(filepath.Join(t.TempDir(), "r"), &db.Options{Replica: true, Name: "r", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "127.0.0.1:port", ":7447", ""} {
		if c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "server address") {
			if c != nil {
				c.Close()
			}
			t.Errorf("Connect(%q): %v, want an error about the address", addr, err)
		}
	}
	// A UDP port nothing listens on.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testkit.Until(t, "ErrUnreachable in the status", func() bool {
		st := c.Status()
		return errors.Is(st.Err, netsync.ErrUnreachable) && strings.Contains(st.Err.Error(), addr)
	})
}
