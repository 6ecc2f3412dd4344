package netsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
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

// A push of many changes is delivered to a live watcher as one large
// frame, which goes through the connection's writer rather than the
// committing goroutine: every record arrives whole, then a small change
// after it, in order.
func TestLargeDeliveryToLiveClient(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	watcher := newReplica(t, "watcher", srv.addr)
	waitSynced(t, watcher)
	const n = 400
	w, lo := rawWriter(t, srv.addr, "bulk", "parts", n+1)
	pad := strings.Repeat("y", 200)
	chs := make([]layout.Change, n)
	for i := range chs {
		chs[i] = layout.Change{Seq: uint64(i + 1), Tree: "parts", Key: layout.Pack(lo+uint32(i), 0), Kind: uint8(db.Created),
			Record: partRecord(t, Part{Number: fmt.Sprintf("%s%04d", pad, i), Quantity: i})}
	}
	w.send(t, wire.TPush, &wire.Push{Changes: chs}) // about 100 KB to the watcher
	w.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: n + 1, Tree: "parts", Key: layout.Pack(lo+n, 0),
		Kind: uint8(db.Created), Record: partRecord(t, Part{Number: "last", Quantity: n})}}})
	eventually(t, "the watcher has every record", func() bool { return watcher.parts.Len() == n+1 })
	for i := range n + 1 {
		p, _, err := watcher.parts.Get(db.Key[Part]{ID: lo + uint32(i)})
		want := Part{Number: fmt.Sprintf("%s%04d", pad, i), Quantity: i}
		if i == n {
			want = Part{Number: "last", Quantity: n}
		}
		if err != nil || p != want {
			t.Fatalf("record %d: %+v, %v; want %+v", i, p, err, want)
		}
	}
}

// partRecord is the stored form of p, as a replica writes it.
func partRecord(t *testing.T, p Part) []byte {
	t.Helper()
	data, err := msgpack.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	return record.Encode(nil, &record.Meta{Changes: 1, Major: 1}, data)
}
