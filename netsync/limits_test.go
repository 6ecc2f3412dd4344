package netsync_test

// Floods and hoards: one client over one of the server's limits is
// refused or slowed; the others do not notice.

import (
	"crypto/tls"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

// dialHello dials with cert and sends h without waiting for the answer.
func dialHello(t testing.TB, addr string, cert tls.Certificate, h wire.Hello) *rawClient {
	t.Helper()
	c, err := dialRawAs(t, addr, wire.ALPN, cert)
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, wire.THello, &h)
	return c
}

// closedWith waits until the server closes c and checks the code.
func closedWith(t testing.TB, c *rawClient, code quic.ApplicationErrorCode) {
	t.Helper()
	err := c.closed(t)
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) || ae.ErrorCode != code || !ae.Remote {
		t.Fatalf("closed with %v, want application code %d", err, code)
	}
}

// stillSyncing shows the server serves good replicas: a creates, b sees it.
func stillSyncing(t testing.TB, a, b *replicaT, number string) {
	t.Helper()
	k := createWhenIDs(t, a, Part{Number: number, Quantity: 1})
	waitSynced(t, a)
	eventually(t, b.d.Name()+" sees "+number, func() bool {
		p, _, err := b.parts.Get(k)
		return err == nil && p.Number == number
	})
}

// The quic close code for a connection over a limit (server.go codeLimit).
const quicCodeLimit = 8

// Item 4a.
func TestSessionsPerClientLimited(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{Limits: netsync.Limits{MaxConnsPerClient: 3}})
	a, b := newReplica(t, "a", srv.addr), newReplica(t, "b", srv.addr)
	waitSynced(t, a, b)

	cert := selfSigned(t)
	h := wire.Hello{ClientID: "hog", Name: "hog"}
	for i := range 3 {
		if _, w, r := rawHello(t, srv.addr, cert, h); w == nil {
			t.Fatalf("session %d refused: %+v", i, r)
		}
	}
	for range 3 {
		closedWith(t, dialHello(t, srv.addr, cert, h), quicCodeLimit)
	}
	stillSyncing(t, a, b, "not crowded out")
}

// Item 4b.
func TestCheckOutsHeldLimited(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{Limits: netsync.Limits{MaxCheckOuts: 2}})
	hoarder, other := newReplica(t, "hoarder", srv.addr), newReplica(t, "other", srv.addr)
	k1 := createWhenIDs(t, hoarder, Part{Number: "1"})
	k2 := createWhenIDs(t, hoarder, Part{Number: "2"})
	k3 := createWhenIDs(t, hoarder, Part{Number: "3"})
	waitSynced(t, hoarder)
	checkOut(t, hoarder, k1)
	checkOut(t, hoarder, k2)
	ctx, cancel := contextFor(20 * time.Second)
	err := hoarder.parts.CheckOut(ctx, k3)
	cancel()
	if !errors.Is(err, netsync.ErrLimit) {
		t.Fatalf("third check-out: %v, want ErrLimit", err)
	}
	if hoarder.parts.Borrow(k3).Mine {
		t.Fatal("hoarder holds the third record")
	}
	n, err := srv.ForceReturnClient("hoarder", "hoarding", "admin")
	if err != nil || n != 2 {
		t.Fatalf("ForceReturnClient: %d, %v; want 2", n, err)
	}
	if bs := srv.Borrows(); len(bs) != 0 {
		t.Fatalf("borrows left: %+v", bs)
	}
	waitSynced(t, other)
	checkOut(t, other, k1)
	setQty(t, other, k1, 11)
	waitSynced(t, other)
	eventually(t, "the hoarder sees the other's update", func() bool {
		p, _, err := hoarder.parts.Get(k1)
		return err == nil && p.Quantity == 11
	})
}

// Item 4c.
func TestIDGrantsLimited(t *testing.T) {
	const maxGrant = 1000 // a replica asks for 1000 at a time
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{Limits: netsync.Limits{IDGrantsPerHour: 2, MaxIDGrant: maxGrant}})
	a, b := newReplica(t, "a", srv.addr), newReplica(t, "b", srv.addr)
	createWhenIDs(t, a, Part{Number: "first"})
	waitSynced(t, a, b)

	raw := hello(t, srv.addr, "greedy")
	for range 8 {
		raw.send(t, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: 1 << 31})
	}
	for range 2 {
		var g wire.IDGrant
		raw.next(t, wire.TIDGrant, &g)
		if g.Hi-g.Lo != maxGrant {
			t.Fatalf("grant %+v, want %d ids", g, maxGrant)
		}
	}
	for range 6 {
		var n wire.Notice
		raw.next(t, wire.TNotice, &n)
		if n.Code != wire.CodeLimit || n.Of != wire.TIDRequest || n.Tree != "parts" {
			t.Fatalf("notice %+v, want CodeLimit", n)
		}
	}
	// a and b were granted at most twice each, the greedy one twice.
	if next := serverTree(t, srv, "parts").NextID; next > 1+6*maxGrant {
		t.Fatalf("parts' next id ran to %d", next)
	}
	stillSyncing(t, b, a, "ids left")
}

// Item 4d.
func TestMessageFloodSlowed(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{Limits: netsync.Limits{MessageRate: 50, MessageBurst: 20}})
	a, b := newReplica(t, "a", srv.addr), newReplica(t, "b", srv.addr)
	waitSynced(t, a, b)

	raw := hello(t, srv.addr, "flood")
	const pings = 60
	start := time.Now()
	for i := range pings {
		if err := wire.Write(raw.w, wire.TPing, &wire.Ping{Nonce: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.w.Flush(); err != nil {
		t.Fatal(err)
	}
	var n wire.Notice
	raw.next(t, wire.TNotice, &n)
	if n.Code != wire.CodeLimit {
		t.Fatalf("notice %+v, want CodeLimit", n)
	}
	// Good replicas are not slowed meanwhile.
	stillSyncing(t, a, b, "during the flood")
	for {
		var p wire.Pong
		raw.next(t, wire.TPong, &p)
		if p.Nonce == pings {
			break
		}
	}
	// 40 pings over the burst at 50 a second take 0.8 s at least.
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("the flood was answered in %v: not slowed", d)
	}
}

// Item 4e.
func TestAnnouncedHugeFramesNotAllocated(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a, b := newReplica(t, "a", srv.addr), newReplica(t, "b", srv.addr)
	waitSynced(t, a, b)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 20
	for i := range conns {
		c := hello(t, srv.addr, "huge-"+string(rune('a'+i)))
		// A frame of exactly wire.MaxFrame bytes: its type, then a little.
		c.w.Write([]byte{1, 0, 0, 0, wire.TPush, 0x81})
		c.w.Flush()
	}
	stillSyncing(t, a, b, "after huge frames")
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Allocated up front, the frames would take 320 MiB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Fatalf("the heap grew by %d MiB for %d announced frames", grew>>20, conns)
	}
}
