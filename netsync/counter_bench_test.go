package netsync_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// The counter benchmarks measure Add against Update in the same run:
//
//	go test -run=NONE -bench=Counter -benchtime=100x ./netsync/

// BenchmarkCounterPropagation: an Add on station a until its event on
// station c, beside an Update (under a held check-out) of another record
// the same way, alternating. add/update is the ratio of the p50s.
func BenchmarkCounterPropagation(b *testing.B) {
	srv := startServer(b, b.TempDir(), "", nil)
	a := newStation(b, "a", srv.addr)
	c := newStation(b, "c", srv.addr)
	ku := testkit.Create(b, a.reels, Reel{Part: "updated", Stock: 1})
	ka := testkit.Create(b, a.reels, Reel{Part: "added", Stock: 1})
	a.sync(b, nil)
	if err := a.reels.CheckOut(context.Background(), ku); err != nil {
		b.Fatal(err)
	}
	a.sync(b, nil)
	c.sync(b, nil)
	seen := make(chan db.Key[Reel], 16)
	c.reels.Subscribe(func(e db.Event[Reel]) {
		if e.Kind == db.Updated {
			seen <- e.Key
		}
	})
	wait := func(k db.Key[Reel]) {
		for {
			select {
			case got := <-seen:
				if got == k {
					return
				}
			case <-time.After(10 * time.Second):
				b.Fatal("no event on c")
			}
		}
	}
	var add, upd []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if i%2 == 0 {
			if err := a.reels.Update(ku, func(r *Reel) error { r.Note = fmt.Sprint(i); return nil }); err != nil {
				b.Fatal(err)
			}
			wait(ku)
			upd = append(upd, time.Since(start))
		} else {
			if err := a.reels.Add(ka, "stock", 1); err != nil {
				b.Fatal(err)
			}
			wait(ka)
			add = append(add, time.Since(start))
		}
	}
	if len(add) == 0 || len(upd) == 0 {
		return
	}
	ap50, ap99 := percentiles(add)
	up50, up99 := percentiles(upd)
	b.ReportMetric(ap50, "add-p50-µs")
	b.ReportMetric(ap99, "add-p99-µs")
	b.ReportMetric(up50, "update-p50-µs")
	b.ReportMetric(up99, "update-p99-µs")
	b.ReportMetric(ap50/up50, "add/update")
}

// benchWriter is a protocol-level client that pushes changes with up to
// 1024 unacknowledged, over one connection for the whole benchmark.
type benchWriter struct {
	c    *rawClient
	id   string
	seq  uint64
	acks chan wire.Ack
	b    chan wire.Borrow
}

func newBenchWriter(b *testing.B, addr, id string) *benchWriter {
	c, w, r := rawHello(b, addr, selfSigned(b), wire.Hello{ClientID: id, Name: id})
	if w == nil {
		b.Fatalf("%s refused: %+v", id, r)
	}
	bw := &benchWriter{c: c, id: w.ClientID, acks: make(chan wire.Ack, 4096), b: make(chan wire.Borrow, 64)}
	c.st.SetReadDeadline(time.Time{})
	go func() {
		for {
			t, body, err := wire.Read(c.r, wire.MaxFrame, nil)
			if err != nil {
				close(bw.acks)
				return
			}
			switch t {
			case wire.TAck:
				var a wire.Ack
				if wire.Decode(body, &a) == nil {
					bw.acks <- a
				}
			case wire.TBorrow:
				var m wire.Borrow
				if wire.Decode(body, &m) == nil {
					select {
					case bw.b <- m:
					default:
					}
				}
			}
		}
	}()
	return bw
}

// checkOut takes the check-out of key of tree.
func (w *benchWriter) checkOut(b *testing.B, tree string, key uint64) {
	w.c.send(b, wire.TCheckOut, &wire.CheckOut{Req: 1, Tree: tree, Key: key})
	for {
		select {
		case m := <-w.b:
			if m.Tree == tree && m.Key == key && len(m.Queue) > 0 && m.Queue[0].ID == w.id {
				return
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("%s: no check-out of %s/%d", w.id, tree, key)
		}
	}
}

// push sends n changes made by mk (given each its outbox sequence) and
// waits until all are acknowledged, each accepted.
func (w *benchWriter) push(b *testing.B, n int, mk func(seq uint64) layout.Change) {
	sent, acked := 0, 0
	for acked < n {
		for sent < n && sent-acked < 1024 {
			m := min(64, n-sent)
			chs := make([]layout.Change, m)
			for i := range chs {
				w.seq++
				chs[i] = mk(w.seq)
			}
			if err := wire.Write(w.c.w, wire.TPush, &wire.Push{Changes: chs}); err != nil {
				b.Error(err)
				return
			}
			w.c.w.Flush()
			sent += m
		}
		select {
		case a, ok := <-w.acks:
			if !ok {
				b.Errorf("%s: connection closed after %d of %d acks", w.id, acked, n)
				return
			}
			if a.Code != wire.CodeOK || a.Seq == 0 {
				b.Errorf("%s: change refused: %+v", w.id, a)
				return
			}
			acked++
		case <-time.After(20 * time.Second):
			b.Errorf("%s: %d of %d acks", w.id, acked, n)
			return
		}
	}
}

// BenchmarkCounterHotRecord: 16 writers each pushing deltas to one hot
// record, beside the same 16 writers each pushing updates of a record of
// its own that it holds, alternating rounds; hot/distinct is the ratio of
// the accepted changes per second.
func BenchmarkCounterHotRecord(b *testing.B) {
	const writers, per = 16, 1000
	srv := startServer(b, b.TempDir(), "", nil)
	st := newStation(b, "setup", srv.addr)
	hot := testkit.Create(b, st.reels, Reel{Part: "hot", Stock: 1})
	own := make([]db.Key[Reel], writers)
	for i := range own {
		own[i] = testkit.Create(b, st.reels, Reel{Part: fmt.Sprintf("own %d", i), Stock: 1})
	}
	st.sync(b, nil)
	ws := make([]*benchWriter, writers)
	for i := range ws {
		ws[i] = newBenchWriter(b, srv.addr, fmt.Sprintf("w%d", i))
		ws[i].checkOut(b, "reels", layout.Pack(own[i].ID, own[i].Rev))
	}
	delta, err := msgpack.Marshal(&layout.Delta{Field: "stock", Delta: 1})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([][]byte, writers)
	for i := range recs {
		recs[i] = encRecord(b, record.Meta{Major: 1, Version: record.Draft},
			map[string]any{"part": fmt.Sprintf("own %d", i), "stock": 1, "note": "updated by its holder"})
	}
	// round pushes per changes from each writer and returns how long it
	// took until all were accepted.
	round := func(mk func(i int, seq uint64) layout.Change) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Go(func() { w.push(b, per, func(seq uint64) layout.Change { return mk(i, seq) }) })
		}
		wg.Wait()
		return time.Since(start)
	}
	hotKey := layout.Pack(hot.ID, hot.Rev)
	var hotTime, ownTime time.Duration
	rounds := 0
	for b.Loop() {
		rounds++
		ownTime += round(func(i int, seq uint64) layout.Change {
			return layout.Change{Seq: seq, Tree: "reels", Key: layout.Pack(own[i].ID, own[i].Rev), Kind: uint8(db.Updated), Record: recs[i]}
		})
		hotTime += round(func(_ int, seq uint64) layout.Change {
			return layout.Change{Seq: seq, Tree: "reels", Key: hotKey, Kind: layout.KindDelta, Record: delta}
		})
	}
	n := float64(rounds * writers * per)
	hotRate, ownRate := n/hotTime.Seconds(), n/ownTime.Seconds()
	b.ReportMetric(hotRate, "hot-deltas/s")
	b.ReportMetric(ownRate, "distinct-updates/s")
	b.ReportMetric(hotRate/ownRate, "hot/distinct")
}
