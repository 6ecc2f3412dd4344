package netsync_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

// The benchmarks measure hills beside a raw quic-go baseline doing the
// same traffic without hills: a relay that forwards every frame a client
// sends to the other clients, and acknowledges it to the sender.
//
//	go test -run=NONE -bench=. -benchtime=200x ./netsync/
//
// BenchmarkCatchUp1M builds a server of 1M records first; it is skipped
// with -short.

// relay is the baseline server.
type relay struct {
	ln    *quic.Listener
	mu    sync.Mutex
	conns map[*relayConn]struct{}
}

type relayConn struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func startRelay(b testing.TB) *relay {
	b.Helper()
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(b)}, NextProtos: []string{"relay"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := &relay{ln: ln, conns: map[*relayConn]struct{}{}}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			qc, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			go r.serve(qc)
		}
	}()
	return r
}

func (r *relay) serve(qc *quic.Conn) {
	st, err := qc.AcceptStream(context.Background())
	if err != nil {
		return
	}
	me := &relayConn{w: bufio.NewWriter(st)}
	r.mu.Lock()
	r.conns[me] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.conns, me)
		r.mu.Unlock()
	}()
	rd := bufio.NewReader(st)
	for {
		t, body, err := wire.Read(rd, wire.MaxFrame, nil)
		if err != nil {
			return
		}
		n := 1
		if t == wire.TPush {
			var p wire.Push
			wire.Decode(body, &p)
			n = len(p.Changes)
		}
		if t == wire.THello {
			continue
		}
		r.mu.Lock()
		for c := range r.conns {
			c.mu.Lock()
			if c == me {
				for range n {
					wire.Write(c.w, wire.TAck, &wire.Ack{Seq: 1})
				}
			} else {
				c.w.Write(frameBytes(t, body))
			}
			c.w.Flush()
			c.mu.Unlock()
		}
		r.mu.Unlock()
	}
}

func frameBytes(t uint8, body []byte) []byte {
	b := make([]byte, 5, 5+len(body))
	n := len(body) + 1
	b[0], b[1], b[2], b[3], b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n), t
	return append(b, body...)
}

func dialRelay(b testing.TB, addr string) *rawClient {
	b.Helper()
	c, err := dialRaw(b, addr, "relay")
	if err != nil {
		b.Fatal(err)
	}
	c.send(b, wire.THello, &wire.Hello{ClientID: "x"})
	return c
}

// drain reads what c is sent until its connection closes.
func drain(c *rawClient) {
	for {
		if _, _, err := wire.Read(c.r, wire.MaxFrame, nil); err != nil {
			return
		}
	}
}

// percentiles returns the median and the 99th percentile of d, in µs.
func percentiles(d []time.Duration) (p50, p99 float64) {
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e3 }
	return at(0.50), at(0.99)
}

// BenchmarkPropagation: an update on client A until the event on client B,
// with the change durable on the server first (and on A before Update
// returns). Each iteration also measures the floor under the same load of
// the machine, one after the other: a synced Pebble batch of one record in
// a store beside the server's (sync-p50-µs), and a frame from A through the
// raw relay to B (relay-p50-µs). x-floor is hills' p50 over their sum;
// p99/p50 its spread.
func BenchmarkPropagation(b *testing.B) {
	b.Run("hills", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), "", nil)
		a := newReplica(b, "a", srv.addr)
		c := newReplica(b, "b", srv.addr)
		propagate(b, a, c)
	})
	// The same with the replicas on their own disk (tmpfs), as clients on
	// other machines than the server's: their log syncs no longer queue
	// behind the server's on one device.
	b.Run("hills-own-disks", func(b *testing.B) {
		shm := shmDir(b)
		srv := startServer(b, b.TempDir(), "", nil)
		a := openReplica(b, filepath.Join(shm, "a"), "a", srv.addr, nil)
		c := openReplica(b, filepath.Join(shm, "b"), "b", srv.addr, nil)
		propagate(b, a, c)
	})
}

// shmDir returns a fresh directory on tmpfs, or skips without one.
func shmDir(b *testing.B) string {
	dir, err := os.MkdirTemp("/dev/shm", "hills-bench-")
	if err != nil {
		b.Skipf("no tmpfs at /dev/shm: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// propagate measures an update on a until its event on c, beside the
// floor (see BenchmarkPropagation).
func propagate(b *testing.B, a, c *replicaT) {
	k := createWhenIDs(b, a, Part{Number: "R1"})
	waitSynced(b, a)
	if err := a.parts.CheckOut(context.Background(), k); err != nil {
		b.Fatal(err)
	}
	waitSynced(b, a, c)
	seen := make(chan time.Time, 1)
	c.parts.Subscribe(func(e db.Event[Part]) {
		if e.Kind == db.Updated {
			seen <- time.Now()
		}
	})
	r := startRelay(b)
	ra, rc := dialRelay(b, r.ln.Addr().String()), dialRelay(b, r.ln.Addr().String())
	go drain(ra)
	time.Sleep(50 * time.Millisecond)
	raw, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	rec := sampleRecord(b)
	n := b.N
	lat, syncs, relays := make([]time.Duration, 0, n), make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := raw.Set(layout.RecordKey("parts", uint64(i%64)), rec, pebble.Sync); err != nil {
			b.Fatal(err)
		}
		syncs = append(syncs, time.Since(start))

		start = time.Now()
		ra.send(b, wire.TPing, &wire.Ping{Nonce: uint64(i)})
		var p wire.Ping
		rc.next(b, wire.TPing, &p)
		relays = append(relays, time.Since(start))

		start = time.Now()
		if err := a.parts.Update(k, func(p *Part) error { p.Quantity++; return nil }); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-seen).Sub(start))
	}
	p50, p99 := percentiles(lat)
	s50, _ := percentiles(syncs)
	r50, _ := percentiles(relays)
	b.ReportMetric(p50, "p50-µs")
	b.ReportMetric(p99, "p99-µs")
	b.ReportMetric(s50, "sync-p50-µs")
	b.ReportMetric(r50, "relay-p50-µs")
	b.ReportMetric(p50/(s50+r50), "x-floor")
	b.ReportMetric(p99/p50, "p99/p50")
}

// pushWriter is a protocol-level writer: it pushes n creates, 64 a frame,
// with up to 1024 unacknowledged, and returns when all are acknowledged.
func pushWriter(b testing.TB, c *rawClient, tree string, lo uint32, n int, rec []byte) {
	var acked atomic.Int64
	done := make(chan error, 1)
	c.st.SetReadDeadline(time.Time{})
	go func() {
		// Reads until the connection closes: a writer done with its own
		// acks still takes what others send, or a relay forwarding to it
		// would stall on flow control.
		for {
			t, _, err := wire.Read(c.r, wire.MaxFrame, nil)
			if err != nil {
				if acked.Load() < int64(n) {
					done <- err
				}
				return
			}
			if t == wire.TAck && acked.Add(1) == int64(n) {
				done <- nil
			}
		}
	}()
	sent := 0
	for sent < n {
		for int64(sent)-acked.Load() > 1024 {
			select {
			case err := <-done:
				b.Errorf("writer stopped after %d of %d acks: %v", acked.Load(), n, err)
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
		m := min(64, n-sent)
		chs := make([]layout.Change, m)
		for i := range chs {
			chs[i] = layout.Change{Seq: uint64(sent + i + 1), Tree: tree, Key: layout.Pack(lo+uint32(sent+i), 0), Kind: uint8(db.Created), Record: rec}
		}
		if err := wire.Write(c.w, wire.TPush, &wire.Push{Changes: chs}); err != nil {
			b.Error(err)
			return
		}
		c.w.Flush()
		sent += m
	}
	if err := <-done; err != nil {
		b.Error(err)
	}
}

func sampleRecord(b testing.TB) []byte {
	data, err := msgpack.Marshal(map[string]any{"number": "RC0603FR-0710KL", "maker": "Yageo",
		"description": "Thick film resistor 10k 1% 0603", "quantity": 5000, "location": "A1-03"})
	if err != nil {
		b.Fatal(err)
	}
	return record.Encode(nil, &record.Meta{Changes: 1, Major: 1}, data)
}

// rawWriter connects a protocol-level client with ids for tree.
func rawWriter(b testing.TB, addr, id, tree string, n uint32) (*rawClient, uint32) {
	return hello(b, addr, id).writerIDs(b, tree, n)
}

// writerIDs declares tree and asks n ids of it, for a writer.
func (c *rawClient) writerIDs(b testing.TB, tree string, n uint32) (*rawClient, uint32) {
	c.send(b, wire.TTree, &wire.Tree{Decl: replicaDecl(tree)})
	c.send(b, wire.TIDRequest, &wire.IDRequest{Tree: tree, N: n})
	var g wire.IDGrant
	c.next(b, wire.TIDGrant, &g)
	if g.Hi-g.Lo < n {
		b.Fatalf("granted %d ids, want %d", g.Hi-g.Lo, n)
	}
	return c, g.Lo
}

// rawWriterAt is rawWriter for a client that says it applied the log up
// to the server's sequence now: it skips the catch-up, which grows with
// every round.
func rawWriterAt(b testing.TB, srv *testServer, id, tree string, n uint32) (*rawClient, uint32) {
	c, err := dialRaw(b, srv.addr, wire.ALPN)
	if err != nil {
		b.Fatal(err)
	}
	c.send(b, wire.THello, &wire.Hello{ClientID: id, Name: id, LastSeq: srv.Seq()})
	var w wire.Welcome
	c.next(b, wire.TWelcome, &w)
	return c.writerIDs(b, tree, n)
}

// throughputWriters is how many protocol-level writers the throughput
// benchmarks run, and throughputPer how many creates each pushes.
const (
	throughputWriters = 16
	throughputPer     = 2000
)

// throughputRound connects throughputWriters writers and returns the rate
// at which the server acknowledges their throughputPer creates each.
func throughputRound(b *testing.B, rec []byte, connect func(i int) (*rawClient, uint32)) float64 {
	cs := make([]*rawClient, throughputWriters)
	los := make([]uint32, throughputWriters)
	for i := range cs {
		cs[i], los[i] = connect(i)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { pushWriter(b, c, "parts", los[i], throughputPer, rec) })
	}
	wg.Wait()
	rate := float64(throughputWriters*throughputPer) / time.Since(start).Seconds()
	for _, c := range cs {
		c.qc.CloseWithError(0, "")
	}
	return rate
}

// runThroughput runs a round per iteration, with new writers each round,
// and reports the last round's rate.
func runThroughput(b *testing.B, rec []byte, connect func(i, round int) (*rawClient, uint32)) {
	round := 0
	for b.Loop() {
		round++
		b.ReportMetric(throughputRound(b, rec, func(i int) (*rawClient, uint32) { return connect(i, round) }), "changes/s")
	}
}

// BenchmarkServerThroughput: 16 writers pushing durable creates. "hills"
// is the server as it starts by default (history kept, no metrics).
// "history" and "metrics" measure an option's cost: each iteration runs
// a round on a server with it and one on a server without it, in turns,
// and reports both rates and their ratio (on/off), so both see the same
// load of the machine.
func BenchmarkServerThroughput(b *testing.B) {
	rec := sampleRecord(b)
	b.Run("relay", func(b *testing.B) {
		r := startRelay(b)
		runThroughput(b, rec, func(int, int) (*rawClient, uint32) { return dialRelay(b, r.ln.Addr().String()), 1 })
	})
	b.Run("hills", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), "", nil)
		runThroughput(b, rec, func(i, round int) (*rawClient, uint32) {
			return rawWriter(b, srv.addr, fmt.Sprintf("w%d-%d", i, round), "parts", throughputPer)
		})
	})
	b.Run("history", func(b *testing.B) {
		throughputRatio(b, rec, &netsync.ServerOptions{}, &netsync.ServerOptions{NoHistory: true})
	})
	b.Run("metrics", func(b *testing.B) {
		throughputRatio(b, rec, &netsync.ServerOptions{Metrics: prometheus.NewRegistry()}, &netsync.ServerOptions{})
	})
}

// throughputRatio runs throughput rounds on a server with options on and
// one with off, in turns, and reports the rate of each over every round
// and on/off.
func throughputRatio(b *testing.B, rec []byte, on, off *netsync.ServerOptions) {
	srvs := []*testServer{startServer(b, b.TempDir(), "", on), startServer(b, b.TempDir(), "", off)}
	var rates [2]float64
	round := 0
	for b.Loop() {
		round++
		for j := range 2 {
			i := (j + round) % 2 // who goes first alternates
			srv := srvs[i]
			rates[i] += throughputRound(b, rec, func(w int) (*rawClient, uint32) {
				return rawWriterAt(b, srv, fmt.Sprintf("w%d-%d", w, round), "parts", throughputPer)
			})
		}
	}
	b.ReportMetric(rates[0]/float64(round), "on-changes/s")
	b.ReportMetric(rates[1]/float64(round), "off-changes/s")
	b.ReportMetric(rates[0]/rates[1], "on/off")
}

// BenchmarkCatchUp1M: a fresh replica catching up 1M records of ~100
// bytes, until WaitSynced returns, beside the same replica reopened from
// its own disk until the records are readable: in both, the application
// opens the tree with its Go type (OpenTree), the first before it
// connects. x-reopen is the first time over the second.
func BenchmarkCatchUp1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a server of 1M records")
	}
	// Few writers: each gets the others' changes too, as any client.
	const total, writers = 1_000_000, 4
	srv := startServer(b, b.TempDir(), "", &netsync.ServerOptions{Limits: netsync.Limits{MaxIDGrant: total / writers}})
	rec := sampleRecord(b)
	var wg sync.WaitGroup
	for i := range writers {
		c, lo := rawWriter(b, srv.addr, fmt.Sprintf("seed%d", i), "parts", total/writers)
		wg.Go(func() { pushWriter(b, c, "parts", lo, total/writers, rec) })
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	open := func(dir string) (*db.DB, *db.Tree[catchPart]) {
		d, err := db.Open(dir, &db.Options{Replica: true, Name: "fresh", Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		parts, err := db.OpenTree[catchPart](d, "parts")
		if err != nil {
			b.Fatal(err)
		}
		return d, parts
	}
	readable := func(parts *db.Tree[catchPart]) {
		if n := parts.Len(); n != total {
			b.Fatalf("replica has %d records, want %d", n, total)
		}
	}
	var catchUp, reopen time.Duration
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		start := time.Now()
		d, parts := open(dir)
		c, err := netsync.Connect(d, srv.addr, &netsync.ClientOptions{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := c.WaitSynced(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		readable(parts)
		catchUp += time.Since(start)
		c.Close()
		d.Close()

		start = time.Now()
		d, parts = open(dir)
		readable(parts)
		reopen += time.Since(start)
		d.Close()
	}
	n := float64(b.N)
	b.ReportMetric(catchUp.Seconds()/n, "s/catch-up")
	b.ReportMetric(reopen.Seconds()/n, "s/reopen")
	b.ReportMetric(catchUp.Seconds()/reopen.Seconds(), "x-reopen")
}

// catchPart is the Go type of sampleRecord's value.
type catchPart struct {
	Number      string `msgpack:"number"`
	Maker       string `msgpack:"maker"`
	Description string `msgpack:"description"`
	Quantity    int    `msgpack:"quantity"`
	Location    string `msgpack:"location"`
}

// BenchmarkFanout500 and BenchmarkFanout2000: one change reaching 500 or
// 2,000 connected protocol-level clients (light clients without a Pebble
// replica each), beside the raw relay doing the same.
func BenchmarkFanout500(b *testing.B) { fanout(b, 500) }

func BenchmarkFanout2000(b *testing.B) {
	if testing.Short() {
		b.Skip("connects 2,000 clients")
	}
	fanout(b, 2000)
}

var fanoutErr atomic.Pointer[error]

func fanout(b *testing.B, n int) {
	listen := func(b *testing.B, cs []*rawClient, typ uint8) []chan time.Time {
		got := make([]chan time.Time, len(cs))
		for i, c := range cs {
			got[i] = make(chan time.Time, 16)
			c.st.SetReadDeadline(time.Time{}) // next set one
			go func() {
				for {
					t, _, err := wire.Read(c.r, wire.MaxFrame, nil)
					if err != nil {
						e := fmt.Errorf("client %d: %w", i, err)
						fanoutErr.CompareAndSwap(nil, &e)
						return
					}
					if t == typ {
						got[i] <- time.Now()
					}
				}
			}()
		}
		return got
	}
	measure := func(b *testing.B, send func(i int), got []chan time.Time) {
		var lat []time.Duration
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			send(i)
			for _, ch := range got {
				select {
				case t := <-ch:
					lat = append(lat, t.Sub(start))
				case <-time.After(10 * time.Second):
					b.Fatalf("a client got nothing (%v)", *fanoutErr.Load())
				}
			}
		}
		p50, p99 := percentiles(lat)
		b.ReportMetric(p50, "p50-µs")
		b.ReportMetric(p99, "p99-µs")
	}
	b.Run("relay", func(b *testing.B) {
		r := startRelay(b)
		cs := make([]*rawClient, n)
		for i := range cs {
			cs[i] = dialRelay(b, r.ln.Addr().String())
		}
		w := dialRelay(b, r.ln.Addr().String())
		time.Sleep(100 * time.Millisecond)
		got := listen(b, cs, wire.TPing)
		measure(b, func(i int) { w.send(b, wire.TPing, &wire.Ping{Nonce: uint64(i)}) }, got)
	})
	b.Run("hills", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), "", nil)
		w, lo := rawWriter(b, srv.addr, "writer", "parts", 1<<16)
		cs := make([]*rawClient, n)
		for i := range cs {
			cs[i] = hello(b, srv.addr, fmt.Sprintf("light%d", i))
			var cu wire.CaughtUp
			cs[i].next(b, wire.TCaughtUp, &cu)
		}
		got := listen(b, cs, wire.TEntries)
		go func() {
			for {
				if _, _, err := wire.Read(w.r, wire.MaxFrame, nil); err != nil {
					return
				}
			}
		}()
		rec := sampleRecord(b)
		measure(b, func(i int) {
			w.send(b, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: uint64(i + 1), Tree: "parts",
				Key: layout.Pack(lo+uint32(i), 0), Kind: uint8(db.Created), Record: rec}}})
		}, got)
	})
}
