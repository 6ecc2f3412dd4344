package netsync_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

var everything = netsync.Grant{Tree: "*", Access: netsync.AllAccess}

// BenchmarkHandshake: a replica that knows its server reconnecting until
// WaitSynced, to an open server and to a closed one where it is enrolled
// (its certificate looked up, its grants sent).
func BenchmarkHandshake(b *testing.B) {
	run := func(b *testing.B, srv *testServer, r *replicaT) {
		waitSynced(b, r)
		for b.Loop() {
			r.c.Close()
			c, err := netsync.Connect(r.d, srv.addr, &netsync.ClientOptions{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			r.c = c
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = c.WaitSynced(ctx)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("open", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), "", nil)
		run(b, srv, newReplica(b, "a", srv.addr))
	})
	b.Run("enrolled", func(b *testing.B) {
		srv := startServerAs(b, b.TempDir(), "", nil)
		run(b, srv, enrolled(b, srv, "a", everything))
	})
}

// propPair is two replicas of one server and a record the first holds,
// for measuring one update's propagation at a time.
type propPair struct {
	a    *replicaT
	k    db.Key[Part]
	seen chan time.Time
}

func newPropPair(b *testing.B, a, c *replicaT) *propPair {
	k := createWhenIDs(b, a, Part{Number: "R1"})
	waitSynced(b, a)
	if err := a.parts.CheckOut(context.Background(), k); err != nil {
		b.Fatal(err)
	}
	waitSynced(b, a, c)
	p := &propPair{a: a, k: k, seen: make(chan time.Time, 1)}
	c.parts.Subscribe(func(e db.Event[Part]) {
		if e.Kind == db.Updated {
			p.seen <- time.Now()
		}
	})
	return p
}

// once updates the record on a and returns how long until c saw it.
func (p *propPair) once(b *testing.B) time.Duration {
	start := time.Now()
	if err := p.a.parts.Update(p.k, func(v *Part) error { v.Quantity++; return nil }); err != nil {
		b.Fatal(err)
	}
	return (<-p.seen).Sub(start)
}

// BenchmarkPropagationAuth: Propagation between two enrolled replicas of
// a closed server, interleaved with the same between two replicas of an
// open server, and with the enrolled ones again while a third client
// floods their server with messages as fast as it can (its rate is
// limited). Records are validated against the schema in every case.
// Reports each p50/p99, open-p50/auth-p50 (target ≥ 0.9) and
// flood-p99/auth-p99 (target ≤ 2).
func BenchmarkPropagationAuth(b *testing.B) {
	osrv := startServer(b, b.TempDir(), "", nil)
	open := newPropPair(b, newReplica(b, "a", osrv.addr), newReplica(b, "b", osrv.addr))
	csrv := startServerAs(b, b.TempDir(), "", nil)
	auth := newPropPair(b, enrolled(b, csrv, "a", everything), enrolled(b, csrv, "b", everything))

	f := enrolled(b, csrv, "flood", everything)
	waitSynced(b, f)
	cert := replicaCert(b, f.d)
	id := f.d.ClientID()
	f.close()
	fl := helloAs(b, csrv.addr, id, cert)
	var flooding atomic.Bool
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := uint64(0); ctx.Err() == nil && n < 50_000_000; n++ {
			if !flooding.Load() {
				fl.w.Flush()
				time.Sleep(50 * time.Microsecond)
				continue
			}
			if wire.Write(fl.w, wire.TPing, &wire.Ping{Nonce: n}) != nil {
				return
			}
			if n%64 == 0 && fl.w.Flush() != nil {
				return
			}
		}
	})
	wg.Go(func() { // read what the server answers, so it is not slowed by flow control
		for ctx.Err() == nil {
			if _, _, err := wire.Read(fl.r, wire.MaxFrame, nil); err != nil {
				return
			}
		}
	})
	defer func() {
		stop()
		fl.qc.CloseWithError(0, "")
		wg.Wait()
	}()

	var lo, la, lf []time.Duration
	for b.Loop() {
		lo = append(lo, open.once(b))
		la = append(la, auth.once(b))
		flooding.Store(true)
		lf = append(lf, auth.once(b))
		flooding.Store(false)
	}
	o50, o99 := percentiles(lo)
	a50, a99 := percentiles(la)
	f50, f99 := percentiles(lf)
	b.ReportMetric(o50, "open-p50-µs")
	b.ReportMetric(o99, "open-p99-µs")
	b.ReportMetric(a50, "auth-p50-µs")
	b.ReportMetric(a99, "auth-p99-µs")
	b.ReportMetric(f50, "flood-p50-µs")
	b.ReportMetric(f99, "flood-p99-µs")
	b.ReportMetric(o50/a50, "open/auth-p50")
	b.ReportMetric(f99/a99, "flood/auth-p99")
}

// BenchmarkServerThroughputAuth: ServerThroughput's 16 protocol-level
// writers, enrolled on a closed server, in rounds interleaved with the
// same on an open server, each going first every other round (the one
// after runs while the other's store still flushes on the same disk).
// The writers start from the log's end: what is measured is taking
// changes, not catching up. Reports both rates and auth/open (target
// ≥ 0.9).
func BenchmarkServerThroughputAuth(b *testing.B) {
	rec := sampleRecord(b)
	osrv := startServer(b, b.TempDir(), "", nil)
	csrv := startServerAs(b, b.TempDir(), "", nil)
	n := 0
	// writer says Hello as a new client (enrolled first on the closed
	// server) and gets its ids.
	writer := func(srv *testServer, i int) (*rawClient, uint32) {
		// A client id as long as a replica's (a UUID, as the closed
		// server makes for an enrolled client): records carry it.
		name := fmt.Sprintf("w%d-%d", i, n)
		h := wire.Hello{ClientID: uuid.NewString(), Name: name, LastSeq: srv.Seq()}
		if srv == csrv {
			tok, err := srv.AddClient(name, everything)
			if err != nil {
				b.Fatal(err)
			}
			h.Token = tok
		}
		c, err := dialRaw(b, srv.addr, wire.ALPN)
		if err != nil {
			b.Fatal(err)
		}
		c.send(b, wire.THello, &h)
		var w wire.Welcome
		c.next(b, wire.TWelcome, &w)
		c.send(b, wire.TTree, &wire.Tree{Decl: replicaDecl("parts")})
		c.send(b, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: throughputPer})
		var g wire.IDGrant
		c.next(b, wire.TIDGrant, &g)
		return c, g.Lo
	}
	var open, auth float64
	openRound := func() { open += throughputRound(b, rec, func(i int) (*rawClient, uint32) { return writer(osrv, i) }) }
	authRound := func() { auth += throughputRound(b, rec, func(i int) (*rawClient, uint32) { return writer(csrv, i) }) }
	for b.Loop() {
		n++
		if n%2 == 1 {
			openRound()
			authRound()
		} else {
			authRound()
			openRound()
		}
	}
	b.ReportMetric(open/float64(n), "open-changes/s")
	b.ReportMetric(auth/float64(n), "auth-changes/s")
	b.ReportMetric(auth/open, "auth/open")
}

// BenchmarkOutboxDrain: a replica that made 4000 creates offline
// reconnects; from then until the server acknowledged them all. Each
// acknowledgement asks whether a later change of its record is pending:
// a map lookup, not a walk of the outbox (that walk made this quadratic:
// 4000 changes took 9 s instead of 0.14 s).
func BenchmarkOutboxDrain(b *testing.B) {
	const n = 4000
	for b.Loop() {
		b.StopTimer()
		srv := startServer(b, b.TempDir(), "", nil)
		a := openReplica(b, b.TempDir(), "a", srv.addr, &netsync.ClientOptions{RangeSize: 2 * n})
		waitSynced(b, a)
		a.c.Close()
		a.c = nil
		for i := range n {
			createWhenIDs(b, a, Part{Number: fmt.Sprint(i)})
		}
		b.StartTimer()
		start := time.Now()
		a.reconnect(b, srv.addr)
		waitSynced(b, a)
		b.ReportMetric(n/time.Since(start).Seconds(), "changes/s")
		b.StopTimer()
		a.close()
		srv.stop(b)
		b.StartTimer()
	}
}
