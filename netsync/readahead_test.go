package netsync_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// A fresh replica catches up with read-ahead: the next Entries are
// decoded while the last are applied. Opened with its Go type in the
// middle of the catch-up, the tree has every record as its Go value, the
// ones decoded before the type was known included, and the subscriber
// sees each once, in log order.
func TestTreeTypedDuringCatchUp(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	w := newReplica(t, "writer", srv.addr)
	const n = 6000
	keys := make([]db.Key[Part], 0, n)
	for i := range n {
		if i%4096 == 0 {
			waitSynced(t, w) // ids for the next ones
		}
		keys = append(keys, createWhenIDs(t, w, Part{Number: fmt.Sprintf("P%05d", i), Quantity: i}))
	}
	waitSynced(t, w)

	d, err := db.Open(filepath.Join(t.TempDir(), "fresh"), &db.Options{Replica: true, Name: "fresh", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[db.Key[Part]]int{}
	events := make(chan db.Key[Part], n+16)
	c, err := netsync.Connect(d, srv.addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &replicaT{d: d, c: c, dir: d.Dir()}
	t.Cleanup(r.close)
	// The type arrives once some records have.
	deadline := time.Now().Add(20 * time.Second)
	for c.Status().LastSeq < n/4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	r.parts = parts
	parts.Subscribe(func(e db.Event[Part]) { events <- e.Key })
	before := parts.Len() // some of these may have an event too
	waitSynced(t, r)
	t.Logf("the type arrived with %d of %d records in", before, n)
	for i, k := range keys {
		err := parts.View(k, func(p *Part, _ db.Meta) {
			if p.Number != fmt.Sprintf("P%05d", i) || p.Quantity != i {
				t.Errorf("record %d: %+v", i, *p)
			}
		})
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	for len(seen) < n-before {
		select {
		case k := <-events:
			seen[k]++
			if seen[k] > 1 {
				t.Fatalf("event for %v twice", k)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d events after the type arrived, want %d", len(seen), n-before)
		}
	}
}
