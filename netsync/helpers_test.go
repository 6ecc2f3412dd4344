package netsync_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/netsync"
)

type Part struct {
	Number   string `msgpack:"number"`
	Quantity int    `msgpack:"quantity"`
}

var quiet = testnet.Quiet

type testServer struct {
	*netsync.Server
	dir  string
	addr string
	halt func()
}

// startServer runs an open server (every client admitted with every
// access) on 127.0.0.1 with its store in dir; addr "" picks a free port.
func startServer(t testing.TB, dir, addr string, opts *netsync.ServerOptions) *testServer {
	t.Helper()
	o := netsync.ServerOptions{}
	if opts != nil {
		o = *opts
	}
	o.Open = true
	return startServerAs(t, dir, addr, &o)
}

// startServerAs runs a server with exactly the options given: without
// Open, it admits enrolled clients only.
func startServerAs(t testing.TB, dir, addr string, opts *netsync.ServerOptions) *testServer {
	t.Helper()
	s, halt := testnet.Start(t, dir, addr, opts)
	return &testServer{Server: s, dir: dir, addr: s.Addr().String(), halt: halt}
}

// stop shuts the server down and waits for it; the test's cleanup does
// too, so a test calls it only to stop the server early.
func (ts *testServer) stop(testing.TB) { ts.halt() }

type replicaT struct {
	d     *db.DB
	c     *netsync.Client
	parts *db.Tree[Part]
	dir   string
}

func openReplica(t testing.TB, dir, name, addr string, copts *netsync.ClientOptions) *replicaT {
	t.Helper()
	d, err := db.Open(dir, &db.Options{Replica: true, Name: name, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	if copts == nil {
		copts = &netsync.ClientOptions{}
	}
	if copts.Logger == nil {
		copts.Logger = quiet
	}
	c, err := netsync.Connect(d, addr, copts)
	if err != nil {
		t.Fatal(err)
	}
	r := &replicaT{d: d, c: c, parts: parts, dir: dir}
	t.Cleanup(r.close)
	return r
}

func (r *replicaT) close() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
	if r.d != nil {
		r.d.Close()
		r.d = nil
	}
}

func newReplica(t testing.TB, name, addr string) *replicaT {
	return openReplica(t, filepath.Join(t.TempDir(), name), name, addr, nil)
}

func waitSynced(t testing.TB, rs ...*replicaT) {
	t.Helper()
	waitSyncedPast(t, nil, rs...)
}

// waitSyncedPast is waitSynced for replicas that may be told of a
// refusal matching want while they sync (WaitSynced returns it): they
// wait again after it.
func waitSyncedPast(t testing.TB, want error, rs ...*replicaT) {
	t.Helper()
	for _, r := range rs {
		if want != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := r.c.WaitSynced(ctx)
			cancel()
			if err != nil && !errors.Is(err, want) {
				t.Fatalf("WaitSynced %s: %v, want nil or %v (status %+v)", r.d.Name(), err, want, r.c.Status())
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := r.c.WaitSynced(ctx)
		cancel()
		if err != nil {
			t.Fatalf("WaitSynced %s: %v (status %+v)", r.d.Name(), err, r.c.Status())
		}
	}
}

// createWhenIDs creates a record once the server granted ids.
func createWhenIDs(t testing.TB, r *replicaT, p Part) db.Key[Part] {
	t.Helper()
	return testkit.Create(t, r.parts, p)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.Until(t, what, cond)
}

func replicaDecl(name string) replica.TreeDecl { return replica.TreeDecl{Name: name, Major: 1} }

func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func mustConnect(t testing.TB, d *db.DB, addr string) *netsync.Client {
	t.Helper()
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
