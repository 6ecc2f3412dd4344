package netsync_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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

// BenchmarkPropagationAuth: Propagation between two enrolled replicas of
// a closed server, beside the same between two replicas of an open one.
// Records are validated against the schema in both.
func BenchmarkPropagationAuth(b *testing.B) {
	b.Run("open", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), "", nil)
		propagate(b, newReplica(b, "a", srv.addr), newReplica(b, "b", srv.addr))
	})
	b.Run("enrolled", func(b *testing.B) {
		srv := startServerAs(b, b.TempDir(), "", nil)
		a := enrolled(b, srv, "a", everything)
		c := enrolled(b, srv, "b", everything)
		propagate(b, a, c)
	})
	// One more client floods the server with messages as fast as it can
	// (its rate is limited): the others' propagation should not notice.
	b.Run("enrolled-flooded", func(b *testing.B) {
		srv := startServerAs(b, b.TempDir(), "", nil)
		a := enrolled(b, srv, "a", everything)
		c := enrolled(b, srv, "b", everything)
		f := enrolled(b, srv, "flood", everything)
		waitSynced(b, f)
		cert := replicaCert(b, f.d)
		id := f.d.ClientID()
		f.close()
		fl := helloAs(b, srv.addr, id, cert)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			for n := uint64(0); ctx.Err() == nil && n < 50_000_000; n++ {
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
		propagate(b, a, c)
		stop()
		fl.qc.CloseWithError(0, "")
		wg.Wait()
	})
}

// BenchmarkServerThroughputAuth: ServerThroughput's 16 protocol-level
// writers, enrolled on a closed server, beside the same on an open one.
func BenchmarkServerThroughputAuth(b *testing.B) {
	rec := sampleRecord(b)
	b.Run("open", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), "", nil)
		runThroughput(b, rec, func(i, round int) (*rawClient, uint32) {
			return rawWriter(b, srv.addr, fmt.Sprintf("w%d-%d", i, round), "parts", throughputPer)
		})
	})
	b.Run("enrolled", func(b *testing.B) {
		srv := startServerAs(b, b.TempDir(), "", nil)
		runThroughput(b, rec, func(i, round int) (*rawClient, uint32) {
			name := fmt.Sprintf("w%d-%d", i, round)
			tok, err := srv.AddClient(name, netsync.Grant{Tree: "*", Access: netsync.AllAccess})
			if err != nil {
				b.Fatal(err)
			}
			c, err := dialRaw(b, srv.addr, wire.ALPN)
			if err != nil {
				b.Fatal(err)
			}
			c.send(b, wire.THello, &wire.Hello{ClientID: name, Name: name, Token: tok})
			var w wire.Welcome
			c.next(b, wire.TWelcome, &w)
			c.send(b, wire.TTree, &wire.Tree{Decl: replicaDecl("parts")})
			c.send(b, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: throughputPer})
			var g wire.IDGrant
			c.next(b, wire.TIDGrant, &g)
			return c, g.Lo
		})
	})
}
