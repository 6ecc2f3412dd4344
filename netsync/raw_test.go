package netsync_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

// rawClient speaks the protocol by hand, as a misbehaving client would.
type rawClient struct {
	qc *quic.Conn
	st *quic.Stream
	r  *bufio.Reader
	w  *bufio.Writer
}

func dialRaw(t testing.TB, addr, alpn string) (*rawClient, error) {
	t.Helper()
	return dialRawAs(t, addr, alpn, selfSigned(t))
}

// dialRawAs dials with the given client certificate: a raw client that
// holds a replica's key acts as that replica.
func dialRawAs(t testing.TB, addr, alpn string, cert tls.Certificate) (*rawClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn},
		Certificates: []tls.Certificate{cert}}, nil)
	if err != nil {
		return nil, err
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	return &rawClient{qc: qc, st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}, nil
}

func (c *rawClient) send(t testing.TB, typ uint8, v any) {
	t.Helper()
	if err := wire.Write(c.w, typ, v); err != nil {
		t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// next reads frames until one of type typ.
func (c *rawClient) next(t testing.TB, typ uint8, v any) {
	t.Helper()
	c.st.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		got, body, err := wire.Read(c.r, wire.MaxFrame, nil)
		if err != nil {
			t.Fatalf("waiting for message %d: %v", typ, err)
		}
		if got == typ {
			if err := wire.Decode(body, v); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// closed waits until the server closes the connection and returns why.
func (c *rawClient) closed(t testing.TB) error {
	t.Helper()
	select {
	case <-c.qc.Context().Done():
		return context.Cause(c.qc.Context())
	case <-time.After(5 * time.Second):
		t.Fatal("server kept the connection open")
		return nil
	}
}

func hello(t testing.TB, addr, id string) *rawClient {
	t.Helper()
	return helloAs(t, addr, id, selfSigned(t))
}

// helloAs opens a session with the given certificate.
func helloAs(t testing.TB, addr, id string, cert tls.Certificate) *rawClient {
	t.Helper()
	c, err := dialRawAs(t, addr, wire.ALPN, cert)
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, wire.THello, &wire.Hello{ClientID: id, Name: id})
	var w wire.Welcome
	c.next(t, wire.TWelcome, &w)
	return c
}

func TestGarbageAndOversizedFramesCloseOnlyThatConnection(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{MaxFrame: 1 << 16})
	good := newReplica(t, "good", srv.addr)
	waitSynced(t, good)

	cases := map[string][]byte{
		"zero length":  {0, 0, 0, 0},
		"oversized":    binary.BigEndian.AppendUint32(nil, 1<<30),
		"unknown type": {0, 0, 0, 2, 0xEE, 0xC0},
		"bad msgpack":  {0, 0, 0, 4, wire.TPush, 0xC1, 0xC1, 0xC1},
		"random bytes": []byte("GET / HTTP/1.1\r\nHost: hills\r\n\r\n"),
	}
	for name, garbage := range cases {
		t.Run(name, func(t *testing.T) {
			c := hello(t, srv.addr, "raw-"+name)
			c.w.Write(garbage)
			c.w.Flush()
			err := c.closed(t)
			var ae *quic.ApplicationError
			if !errors.As(err, &ae) || ae.ErrorCode != 1 {
				t.Fatalf("closed with %v, want the protocol error code", err)
			}
		})
	}
	// Garbage before hello too.
	c, err := dialRaw(t, srv.addr, wire.ALPN)
	if err != nil {
		t.Fatal(err)
	}
	c.w.Write([]byte{0, 0, 0, 3, 9, 9, 9})
	c.w.Flush()
	c.closed(t)

	// The server still serves everyone else.
	createWhenIDs(t, good, Part{Number: "still served"})
	waitSynced(t, good)
}

func TestProtocolVersionMismatch(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	if _, err := dialRaw(t, srv.addr, "hills/0"); err == nil {
		t.Fatal("server accepted protocol hills/0")
	}
	// A client against a server of another version gets a clear error.
	ln := listenFake(t, "hills/999")
	go func() {
		for {
			if _, err := ln.Accept(context.Background()); err != nil {
				return
			}
		}
	}()
	r := openReplica(t, filepath.Join(t.TempDir(), "r"), "r", ln.Addr().String(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.WaitSynced(ctx); !errors.Is(err, netsync.ErrProtocolVersion) {
		t.Fatalf("WaitSynced against hills/999: %v, want ErrProtocolVersion", err)
	}
}

func TestServerRejectsCreatesOutsideRangesAndDuplicates(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	c := hello(t, srv.addr, "raw")
	c.send(t, wire.TTree, &wire.Tree{Decl: replicaDecl("parts")})
	c.send(t, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: 10})
	var g wire.IDGrant
	c.next(t, wire.TIDGrant, &g)
	if g.Hi-g.Lo != 10 {
		t.Fatalf("grant %+v, want 10 ids", g)
	}
	rec := record.Encode(nil, &record.Meta{Changes: 1, Major: 1}, []byte{0x80})
	in := layout.Change{Seq: 1, Tree: "parts", Key: layout.Pack(g.Lo, 0), Kind: uint8(db.Created), Record: rec}
	out := layout.Change{Seq: 2, Tree: "parts", Key: layout.Pack(g.Hi+5, 0), Kind: uint8(db.Created), Record: rec}
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{in, out}})
	var a1, a2 wire.Ack
	c.next(t, wire.TAck, &a1)
	c.next(t, wire.TAck, &a2)
	if a1.Code != wire.CodeOK || a1.Seq == 0 {
		t.Fatalf("create in range: %+v", a1)
	}
	if a2.Code != wire.CodeOutOfRange || a2.Seq != 0 {
		t.Fatalf("create out of range: %+v", a2)
	}
	seq := srv.Seq()
	// The same change again (a resend after a cut) is applied once.
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{in}})
	var a3 wire.Ack
	c.next(t, wire.TAck, &a3)
	if a3.Seq != 0 || a3.Code != wire.CodeOK || srv.Seq() != seq {
		t.Fatalf("resend: %+v, server seq %d → %d", a3, seq, srv.Seq())
	}
	// An update without the check-out is rejected; the server keeps serving.
	upd := layout.Change{Seq: 3, Tree: "parts", Key: in.Key, Kind: uint8(db.Updated), Record: rec}
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{upd}})
	var a4 wire.Ack
	c.next(t, wire.TAck, &a4)
	if a4.Code != wire.CodeNotCheckedOut || a4.Record == nil {
		t.Fatalf("update without check-out: %+v", a4)
	}
	c.send(t, wire.TPing, &wire.Ping{Nonce: 7})
	var p wire.Pong
	c.next(t, wire.TPong, &p)
	if p.Nonce != 7 || p.Seq != srv.Seq() {
		t.Fatalf("pong %+v, server seq %d", p, srv.Seq())
	}
}

// The outcomes of one push reach the client in outbox order, whether
// accepted or rejected.
func TestPushOutcomesInOutboxOrder(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	c := hello(t, srv.addr, "raw")
	c.send(t, wire.TTree, &wire.Tree{Decl: replicaDecl("parts")})
	c.send(t, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: 4})
	var g wire.IDGrant
	c.next(t, wire.TIDGrant, &g)
	rec := record.Encode(nil, &record.Meta{Changes: 1, Major: 1}, []byte{0x80})
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{
		{Seq: 1, Tree: "parts", Key: layout.Pack(g.Hi+9, 0), Kind: uint8(db.Created), Record: rec}, // rejected
		{Seq: 2, Tree: "parts", Key: layout.Pack(g.Lo, 0), Kind: uint8(db.Created), Record: rec},   // accepted
		{Seq: 3, Tree: "parts", Key: layout.Pack(g.Lo, 0), Kind: uint8(db.Updated), Record: rec},   // rejected
		{Seq: 4, Tree: "parts", Key: layout.Pack(g.Lo+1, 0), Kind: uint8(db.Created), Record: rec}, // accepted
	}})
	for want := uint64(1); want <= 4; want++ {
		var a wire.Ack
		c.next(t, wire.TAck, &a)
		if a.Outbox != want {
			t.Fatalf("ack for outbox %d arrived where %d was due", a.Outbox, want)
		}
	}
}

// replicaCert returns the key pair a replica authenticates with (made on
// its first connection).
func replicaCert(t testing.TB, d *db.DB) tls.Certificate {
	t.Helper()
	link, err := replica.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := link.SyncState("credential")
	if err != nil || b == nil {
		t.Fatalf("replica credential: %v (%d bytes)", err, len(b))
	}
	var cr struct {
		Cert []byte `msgpack:"cert"`
		Key  []byte `msgpack:"key"`
	}
	if err := msgpack.Unmarshal(b, &cr); err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParseECPrivateKey(cr.Key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cr.Cert}, PrivateKey: key}
}

// listenFake listens on loopback as a server of protocol alpn would, with
// a certificate of its own, until the test ends: the server's side spoken
// by hand.
func listenFake(t testing.TB, alpn string) *quic.Listener {
	t.Helper()
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)},
		NextProtos: []string{alpn}, ClientAuth: tls.RequireAnyClientCert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
