package netsync_test

// Credentials and grants: who may connect, and what a client may do and
// see.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

// enrolled opens a replica enrolled on srv by name with grants.
func enrolled(t testing.TB, srv *testServer, name string, grants ...netsync.Grant) *replicaT {
	t.Helper()
	tok, err := srv.AddClient(name, grants...)
	if err != nil {
		t.Fatal(err)
	}
	return openReplica(t, filepath.Join(t.TempDir(), name), name, srv.addr, &netsync.ClientOptions{Token: tok})
}

// refusedFinally checks that r's sync ended for good with want: WaitSynced
// says so, again at once, and the client stays disconnected.
func refusedFinally(t testing.TB, r *replicaT, want error) {
	t.Helper()
	for i := range 2 {
		ctx, cancel := contextFor(20 * time.Second)
		err := r.c.WaitSynced(ctx)
		cancel()
		if !errors.Is(err, want) {
			t.Fatalf("%s: WaitSynced (%d): %v, want %v", r.d.Name(), i, err, want)
		}
	}
	if st := r.c.Status(); st.Connected || !errors.Is(st.Err, want) {
		t.Fatalf("%s: status %+v, want disconnected with %v", r.d.Name(), st, want)
	}
}

// forgedToken is a well-formed token for srv whose secret it never made.
func forgedToken(t testing.TB, srv *testServer) string {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	b, err := msgpack.Marshal(map[string]any{"s": secret, "id": srv.ID(), "fp": srv.Fingerprint(), "n": "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	return "hills1-" + base64.RawURLEncoding.EncodeToString(b)
}

// Item 5.
func TestTokensAndRevocation(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	bob := enrolled(t, srv, "bob", allAccess)
	carol := enrolled(t, srv, "carol", allAccess)
	waitSynced(t, bob, carol)

	withToken := func(name, tok string) *replicaT {
		return openReplica(t, filepath.Join(t.TempDir(), name), name, srv.addr, &netsync.ClientOptions{Token: tok})
	}
	t.Run("unknown", func(t *testing.T) {
		refusedFinally(t, withToken("ghost", forgedToken(t, srv)), netsync.ErrUnauthorized)
	})
	t.Run("damaged", func(t *testing.T) {
		refusedFinally(t, withToken("damaged", "hills1-!!!"), netsync.ErrUnauthorized)
	})
	t.Run("used", func(t *testing.T) {
		tok, err := srv.AddClient("once", allAccess)
		if err != nil {
			t.Fatal(err)
		}
		first := withToken("once", tok)
		waitSynced(t, first)
		refusedFinally(t, withToken("twice", tok), netsync.ErrUnauthorized)
		waitSynced(t, first)
	})
	t.Run("expired", func(t *testing.T) {
		tok, err := srv.AddClientTTL("late", time.Millisecond, allAccess)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		refusedFinally(t, withToken("late", tok), netsync.ErrUnauthorized)
	})
	t.Run("revoked while connected", func(t *testing.T) {
		dave := enrolled(t, srv, "dave", allAccess)
		waitSynced(t, dave)
		if err := srv.RevokeClient("dave"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		eventually(t, "dave disconnected", func() bool { return !dave.c.Status().Connected })
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("dave's connection closed %v after the revocation", d)
		}
		refusedFinally(t, dave, netsync.ErrUnauthorized)
		// Its key stays refused on a new connection too.
		_, w, r := rawHello(t, srv.addr, replicaCert(t, dave.d), wire.Hello{ClientID: "dave", Name: "dave"})
		mustRefuse(t, "dave's key after the revocation", w, r)
	})
	t.Run("another server's token", func(t *testing.T) {
		other := startServerAs(t, t.TempDir(), "", nil)
		tok, err := other.AddClient("stray", allAccess)
		if err != nil {
			t.Fatal(err)
		}
		refusedFinally(t, withToken("stray", tok), netsync.ErrIdentity)
	})
	t.Run("closed server without clients", func(t *testing.T) {
		empty := startServerAs(t, t.TempDir(), "", nil)
		r := newReplica(t, "nobody", empty.addr)
		refusedFinally(t, r, netsync.ErrUnauthorized)
		_, w, ref := rawHello(t, empty.addr, selfSigned(t), wire.Hello{ClientID: "raw", Name: "raw"})
		mustRefuse(t, "raw client of a server without clients", w, ref)
	})
	stillSyncing(t, bob, carol, "after the token attacks")
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Item 5: an open server says so at start; a closed one does not.
func TestOpenServerWarnsAtStart(t *testing.T) {
	for _, open := range []bool{true, false} {
		var buf syncBuffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		startServerAs(t, t.TempDir(), "", &netsync.ServerOptions{Open: open, Logger: log})
		warned := func() bool {
			for _, line := range strings.Split(buf.String(), "\n") {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "open mode") {
					return true
				}
			}
			return false
		}
		// The server logs once it listens, just after Ready.
		if open {
			eventually(t, "the open mode warning", warned)
		} else {
			eventually(t, "the listening line", func() bool { return strings.Contains(buf.String(), "hills server listening") })
			time.Sleep(20 * time.Millisecond)
		}
		if warned() != open {
			t.Fatalf("open %v: warned %v; log:\n%s", open, !open, buf.String())
		}
	}
}

// Secret is the record type of a tree some clients may not read.
type Secret struct {
	Note string `msgpack:"note"`
}

// Item 6: a read-only client.
func TestReadOnlyClientCannotWrite(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	writer := enrolled(t, srv, "writer", allAccess)
	k := createWhenIDs(t, writer, Part{Number: "W", Quantity: 1})
	waitSynced(t, writer)
	reader := enrolled(t, srv, "reader", netsync.Grant{Tree: "*", Access: netsync.Read})
	waitSynced(t, reader)

	if _, err := reader.parts.Create(Part{Number: "nope"}); !errors.Is(err, db.ErrPermission) {
		t.Fatalf("read-only create: %v, want db.ErrPermission", err)
	}
	ctx, cancel := contextFor(10 * time.Second)
	err := reader.parts.CheckOut(ctx, k)
	cancel()
	if !errors.Is(err, db.ErrPermission) {
		t.Fatalf("read-only check-out: %v, want db.ErrPermission", err)
	}
	if n := reader.c.Status().Outbox; n != 0 {
		t.Fatalf("read-only outbox holds %d changes", n)
	}

	// A raw client with the same grants gets refused by the server.
	tok, err := srv.AddClient("rawreader", netsync.Grant{Tree: "*", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	raw, w, r := rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: "rr", Name: "rr", Token: tok})
	if w == nil {
		t.Fatalf("rawreader refused: %+v", r)
	}
	raw.send(t, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: 10})
	var n wire.Notice
	raw.next(t, wire.TNotice, &n)
	if n.Code != wire.CodePermission || n.Of != wire.TIDRequest {
		t.Fatalf("read-only id request: %+v, want CodePermission", n)
	}
	rec := encRecord(t, record.Meta{Major: 1}, map[string]any{"number": "raw", "quantity": 1})
	raw.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: 1, Tree: "parts", Key: layout.Pack(k.ID+1, 0),
		Kind: uint8(db.Created), Record: rec}}})
	if a := raw.acks(t, 1)[0]; a.Code != wire.CodePermission || a.Seq != 0 {
		t.Fatalf("read-only raw create: %+v, want CodePermission", a)
	}
	raw.send(t, wire.TCheckOut, &wire.CheckOut{Req: 5, Tree: "parts", Key: layout.Pack(k.ID, k.Rev)})
	var rep wire.Reply
	raw.next(t, wire.TReply, &rep)
	if rep.Req != 5 || rep.Code != wire.CodePermission {
		t.Fatalf("read-only raw check-out: %+v, want CodePermission", rep)
	}
	stillSyncing(t, writer, reader, "after the read-only attempts")
}

// leaks reports frames that mention the secret tree or its contents.
func leaks(frames []rawFrame) []rawFrame {
	var out []rawFrame
	for _, f := range frames {
		if bytes.Contains(f.body, []byte("secret")) || bytes.Contains(f.body, []byte("classified")) {
			out = append(out, f)
		}
	}
	return out
}

func hasFrame(frames []rawFrame, typ uint8, text string) bool {
	return slices.ContainsFunc(frames, func(f rawFrame) bool {
		return f.t == typ && (text == "" || bytes.Contains(f.body, []byte(text)))
	})
}

// Item 6: a client without Read on a tree never receives anything of it.
func TestUnreadableTreeNeverSent(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	writer := enrolled(t, srv, "writer", allAccess)
	secrets, err := db.OpenTree[Secret](writer.d, "secret")
	if err != nil {
		t.Fatal(err)
	}
	createWhenIDs(t, writer, Part{Number: "public"})
	k1 := testkit.Create(t, secrets, Secret{Note: "classified one"})
	testkit.Create(t, secrets, Secret{Note: "classified two"})
	waitSynced(t, writer)
	holdSecret(t, writer, secrets, k1)

	partsOnly := netsync.Grant{Tree: "parts", Access: netsync.Read | netsync.Create | netsync.Edit}
	tok, err := srv.AddClient("spy", partsOnly)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t)
	spy, w, r := rawHello(t, srv.addr, cert, wire.Hello{ClientID: "spy", Name: "spy", Token: tok})
	if w == nil {
		t.Fatalf("spy refused: %+v", r)
	}
	frames := spy.drain(t, 300*time.Millisecond) // the catch-up
	// Live: the writer creates, updates and gives back secrets, and a
	// public part as the control.
	testkit.Create(t, secrets, Secret{Note: "classified three"})
	if err := secrets.Update(k1, func(s *Secret) error { s.Note = "classified edit"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := secrets.CheckIn(t.Context(), k1); err != nil {
		t.Fatal(err)
	}
	createWhenIDs(t, writer, Part{Number: "control"})
	waitSynced(t, writer)
	frames = append(frames, spy.drain(t, 500*time.Millisecond)...)
	if l := leaks(frames); len(l) > 0 {
		t.Fatalf("the spy received %d frames of the secret tree, the first of type %d: %q", len(l), l[0].t, l[0].body)
	}
	if !hasFrame(frames, wire.TEntries, "control") || !hasFrame(frames, wire.TBorrows, "") {
		t.Fatalf("the spy did not get the control record and the borrows (%d frames)", len(frames))
	}
	// The spy asks for what it may not have, and the same of a tree that
	// does not exist: the answers do not tell the two apart.
	rec := encRecord(t, record.Meta{Major: 1}, map[string]any{"note": "x"})
	for i, tree := range []string{"secret", "nosuch"} {
		spy.send(t, wire.TIDRequest, &wire.IDRequest{Tree: tree, N: 10})
		var n wire.Notice
		spy.next(t, wire.TNotice, &n)
		if n.Code != wire.CodePermission {
			t.Fatalf("spy's id request for %s: %+v, want CodePermission", tree, n)
		}
		spy.send(t, wire.TCheckOut, &wire.CheckOut{Req: uint64(i + 1), Tree: tree, Key: layout.Pack(k1.ID, k1.Rev)})
		var rep wire.Reply
		spy.next(t, wire.TReply, &rep)
		if rep.Code != wire.CodePermission {
			t.Fatalf("spy's check-out in %s: %+v, want CodePermission", tree, rep)
		}
		spy.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: uint64(i + 1), Tree: tree,
			Key: layout.Pack(k1.ID, k1.Rev), Kind: uint8(db.Updated), Record: rec}}})
		if a := spy.acks(t, 1)[0]; a.Code != wire.CodePermission || a.Record != nil {
			t.Fatalf("spy's update in %s: %+v, want CodePermission and no record", tree, a)
		}
		spy.send(t, wire.TTree, &wire.Tree{Decl: replicaDecl(tree)})
		var dn wire.Notice
		spy.next(t, wire.TNotice, &dn)
		if dn.Code != wire.CodePermission || dn.Of != wire.TTree {
			t.Fatalf("spy's declaration of %s: %+v, want CodePermission", tree, dn)
		}
	}

	// From a snapshot after the log is compacted.
	if _, err := srv.CompactLog(0); err != nil {
		t.Fatal(err)
	}
	spy2, w, r := rawHello(t, srv.addr, cert, wire.Hello{ClientID: "spy", Name: "spy"})
	if w == nil {
		t.Fatalf("spy refused on reconnecting: %+v", r)
	}
	frames = spy2.drain(t, 500*time.Millisecond)
	if l := leaks(frames); len(l) > 0 {
		t.Fatalf("the spy's snapshot holds %d frames of the secret tree: %q", len(l), l[0].body)
	}
	if !hasFrame(frames, wire.TSnapshot, "") || !hasFrame(frames, wire.TEntries, "control") {
		t.Fatalf("the spy did not catch up from a snapshot with the control record (%d frames)", len(frames))
	}

	// A real replica with the same grants.
	partsRep := enrolled(t, srv, "partsonly", partsOnly)
	waitSynced(t, partsRep)
	if slices.Contains(partsRep.d.Trees(), "secret") {
		t.Fatalf("partsonly knows the secret tree: %v", partsRep.d.Trees())
	}
	if n := partsRep.parts.Len(); n != 2 {
		t.Fatalf("partsonly holds %d parts, want 2", n)
	}
	// Given Read, it reconnects and receives the tree from a snapshot.
	if err := srv.SetGrants("partsonly", partsOnly, netsync.Grant{Tree: "secret", Access: netsync.Read}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "partsonly receives the secret tree", func() bool {
		return slices.Contains(partsRep.d.Trees(), "secret")
	})
	waitSynced(t, partsRep)
	got, err := db.OpenTree[Secret](partsRep.d, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Len(); n != 3 {
		t.Fatalf("partsonly holds %d secrets after the grant, want 3", n)
	}
	if u, err := partsRep.d.Unapplied(); err != nil || len(u) != 0 {
		t.Fatalf("partsonly: unapplied %+v, %v", u, err)
	}
}

func holdSecret(t testing.TB, r *replicaT, tree *db.Tree[Secret], k db.Key[Secret]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tree.CheckOut(ctx, k); err != nil {
		t.Fatalf("%s: check-out %v: %v", r.d.Name(), k, err)
	}
}
