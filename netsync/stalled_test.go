package netsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/wire"
)

// A client that stops reading its stream (its flow control window fills)
// does not hold up the others: every change still reaches a watcher at
// once, while the stalled client's deliveries wait for it alone.
func TestStalledReaderDoesNotHoldUpOthers(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	writer := newReplica(t, "writer", srv.addr)
	watcher := newReplica(t, "watcher", srv.addr)
	stalled := hello(t, srv.addr, "stalled")
	var cu wire.CaughtUp
	stalled.next(t, wire.TCaughtUp, &cu)
	// From here on, nothing reads the stalled client's stream.

	k := createWhenIDs(t, writer, Part{Number: "R1"})
	waitSynced(t, writer)
	if err := writer.parts.CheckOut(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 1024)
	watcher.parts.Subscribe(func(e db.Event[Part]) {
		if e.Kind == db.Updated {
			watcher.parts.View(k, func(p *Part, _ db.Meta) { seen <- p.Quantity })
		}
	})
	// 300 updates of 4 KiB records: 1.2 MiB, well past a stream's window.
	pad := strings.Repeat("x", 4<<10)
	got := 0
	for i := 1; i <= 300; i++ {
		if err := writer.parts.Update(k, func(p *Part) error { p.Number, p.Quantity = pad, i; return nil }); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for got != i {
			select {
			case got = <-seen:
			case <-deadline:
				t.Fatalf("update %d did not reach the watcher within 10 s (last seen %d)", i, got)
			}
		}
	}
	if err := stalled.qc.Context().Err(); err != nil {
		t.Logf("the stalled client was closed: %v", context.Cause(stalled.qc.Context()))
	}
}
