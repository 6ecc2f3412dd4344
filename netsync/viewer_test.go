package netsync_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// TestReplicaLearnsSchema checks that a replica without the
// application's Go types (as the viewer) reads the schema of a tree it
// learns from the server, and the progress fields of Status.
func TestReplicaLearnsSchema(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	w := newReplica(t, "writer", srv.addr)
	waitSynced(t, w)
	for i := range 3 {
		createWhenIDs(t, w, Part{Number: "P-" + string(rune('a'+i)), Quantity: i})
	}
	waitSynced(t, w)

	d, err := db.Open(filepath.Join(t.TempDir(), "viewer"), &db.Options{Replica: true, Name: "viewer", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := netsync.Connect(d, srv.addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	changed := c.Changed()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("Changed was not closed by connecting")
	}
	st := c.Status()
	if !st.CaughtUp || st.ServerSeq == 0 || st.LastSeq < st.ServerSeq {
		t.Fatalf("status after sync %+v: want caught up with LastSeq ≥ ServerSeq > 0", st)
	}
	o, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	if o.Len() != 3 {
		t.Fatalf("viewer has %d parts, want 3", o.Len())
	}
	f := o.Schema().Fields()
	if len(f) != 2 || f[0].Name != "number" || f[1].Name != "quantity" {
		t.Fatalf("schema fields learnt from the server: %+v", f)
	}
	text, err := o.Text(db.OpaqueKey{Tree: "parts", ID: firstID(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(text), "{\n  \"number\"") {
		t.Fatalf("text not in schema order:\n%s", text)
	}
}

func firstID(t *testing.T, o db.OpaqueTree) uint32 {
	for k := range o.Keys() {
		return k.ID
	}
	t.Fatal("no keys")
	return 0
}
