package netsync_test

import (
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/wire"
)

// A change the server took before it restarted is a duplicate after: a
// client that sends it again (it never saw the ack) is told so, and the
// log holds it once.
func TestPushedAgainAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, "", nil)
	cert := selfSigned(t)
	c := helloAs(t, srv.addr, "writer", cert)
	c, lo := c.writerIDs(t, "parts", 4)
	push := &wire.Push{Changes: []layout.Change{{Seq: 7, Tree: "parts", Key: layout.Pack(lo, 0),
		Kind: uint8(db.Created), Record: sampleRecord(t)}}}
	c.send(t, wire.TPush, push)
	var ack wire.Ack
	c.next(t, wire.TAck, &ack)
	if ack.Code != wire.CodeOK || ack.Seq == 0 {
		t.Fatalf("first push: %+v", ack)
	}
	seq := srv.Seq()
	addr := srv.addr
	srv.stop(t)

	srv = startServer(t, dir, addr, nil)
	c = helloAs(t, srv.addr, "writer", cert)
	c.send(t, wire.TPush, push)
	for {
		var again wire.Ack
		c.next(t, wire.TAck, &again)
		if again.Seq == ack.Seq {
			continue // the catch-up's ack of the first
		}
		if again.Code != wire.CodeOK || again.Msg != "duplicate" || again.Outbox != 7 {
			t.Fatalf("pushed again after the restart: %+v, want a duplicate", again)
		}
		break
	}
	if got := srv.Seq(); got != seq {
		t.Fatalf("log at %d after the duplicate, want %d", got, seq)
	}
}
