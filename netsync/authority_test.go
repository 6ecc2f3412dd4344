package netsync_test

// Attacks on the server as the authority, each by a raw client speaking
// the protocol by hand (or a real replica), against a real server: the
// attacker is refused and the other replicas go on syncing.

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

var allAccess = netsync.Grant{Tree: "*", Access: netsync.AllAccess}

// rawHello opens a session with cert and h, and returns the server's
// answer: a Welcome, or the Refuse that ends the connection.
func rawHello(t testing.TB, addr string, cert tls.Certificate, h wire.Hello) (*rawClient, *wire.Welcome, *wire.Refuse) {
	t.Helper()
	c, err := dialRawAs(t, addr, wire.ALPN, cert)
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, wire.THello, &h)
	c.st.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, body, err := wire.Read(c.r, wire.MaxFrame, nil)
	if err != nil {
		t.Fatalf("answer to hello: %v", err)
	}
	switch typ {
	case wire.TWelcome:
		w := new(wire.Welcome)
		if err := wire.Decode(body, w); err != nil {
			t.Fatal(err)
		}
		return c, w, nil
	case wire.TRefuse:
		r := new(wire.Refuse)
		if err := wire.Decode(body, r); err != nil {
			t.Fatal(err)
		}
		return c, nil, r
	}
	t.Fatalf("answer to hello: message type %d", typ)
	return nil, nil, nil
}

// mustRefuse checks that the server refused a hello as unauthorized.
func mustRefuse(t testing.TB, what string, w *wire.Welcome, r *wire.Refuse) {
	t.Helper()
	if w != nil {
		t.Fatalf("%s: welcomed as %s (%s)", what, w.Name, w.ClientID)
	}
	if r.Code != wire.CodeUnauthorized {
		t.Fatalf("%s: refused with %+v, want CodeUnauthorized", what, r)
	}
}

// rawFrame is one frame a raw client received.
type rawFrame struct {
	t    uint8
	body []byte
}

// drain reads every frame the server sends for d (at most 10000).
func (c *rawClient) drain(t testing.TB, d time.Duration) []rawFrame {
	t.Helper()
	var out []rawFrame
	c.st.SetReadDeadline(time.Now().Add(d))
	for range 10000 {
		typ, body, err := wire.Read(c.r, wire.MaxFrame, nil)
		if err != nil {
			break
		}
		out = append(out, rawFrame{typ, slices.Clone(body)})
	}
	return out
}

// grantIDs asks for n ids of tree and returns the grant.
func (c *rawClient) grantIDs(t testing.TB, tree string, n uint32) wire.IDGrant {
	t.Helper()
	c.send(t, wire.TIDRequest, &wire.IDRequest{Tree: tree, N: n})
	var g wire.IDGrant
	c.next(t, wire.TIDGrant, &g)
	if g.Tree != tree || g.Hi <= g.Lo {
		t.Fatalf("grant %+v", g)
	}
	return g
}

// acks reads n acks.
func (c *rawClient) acks(t testing.TB, n int) []wire.Ack {
	t.Helper()
	out := make([]wire.Ack, n)
	for i := range out {
		c.next(t, wire.TAck, &out[i])
	}
	return out
}

// treeDecl reads the catch-up until the declaration of tree.
func (c *rawClient) treeDecl(t testing.TB, tree string) replica.TreeDecl {
	t.Helper()
	for range 1000 {
		var e wire.Entries
		c.next(t, wire.TEntries, &e)
		for _, ch := range e.Changes {
			if ch.Kind == wire.KindTree && ch.Tree == tree {
				var d replica.TreeDecl
				if err := msgpack.Unmarshal(ch.Record, &d); err != nil {
					t.Fatal(err)
				}
				return d
			}
		}
	}
	t.Fatalf("no declaration of %s", tree)
	return replica.TreeDecl{}
}

// encRecord encodes a record of value v (msgpack) with meta m.
func encRecord(t testing.TB, m record.Meta, v any) []byte {
	t.Helper()
	data, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return record.Encode(nil, &m, data)
}

func contextFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func partKey(id uint32) db.Key[Part] { return db.Key[Part]{ID: id} }

// noUnapplied checks that a replica set nothing aside and reports no error.
func noUnapplied(t testing.TB, r *replicaT) {
	t.Helper()
	u, err := r.d.Unapplied()
	if err != nil || len(u) != 0 {
		t.Fatalf("%s: unapplied %+v, %v", r.d.Name(), u, err)
	}
	if err := r.c.Status().Err; err != nil {
		t.Fatalf("%s: status error %v", r.d.Name(), err)
	}
}

// Item 1: a client id read from the borrow broadcasts gives no power: a
// raw client claiming it is refused, cannot update the held record, and
// what it sends as itself does not touch the holder's outbox sequence.
func TestStolenClientIDRefused(t *testing.T) {
	for _, open := range []bool{true, false} {
		name := "closed"
		if open {
			name = "open"
		}
		t.Run(name, func(t *testing.T) { testStolenClientID(t, open) })
	}
}

func testStolenClientID(t *testing.T, open bool) {
	var srv *testServer
	var holderTok, watcherTok, spyTok string
	if open {
		srv = startServer(t, t.TempDir(), "", nil)
	} else {
		srv = startServerAs(t, t.TempDir(), "", nil)
		var err error
		for _, p := range []struct {
			tok  *string
			name string
		}{{&holderTok, "holder"}, {&watcherTok, "watcher"}, {&spyTok, "spy"}} {
			if *p.tok, err = srv.AddClient(p.name, allAccess); err != nil {
				t.Fatal(err)
			}
		}
	}
	holder := openReplica(t, filepath.Join(t.TempDir(), "holder"), "holder", srv.addr, &netsync.ClientOptions{Token: holderTok})
	watcher := openReplica(t, filepath.Join(t.TempDir(), "watcher"), "watcher", srv.addr, &netsync.ClientOptions{Token: watcherTok})
	k := createWhenIDs(t, holder, Part{Number: "held", Quantity: 1})
	checkOut(t, holder, k)
	waitSynced(t, holder)

	// The spy learns the holder's id from the check-out list.
	spyCert := selfSigned(t)
	spy, sw, sr := rawHello(t, srv.addr, spyCert, wire.Hello{ClientID: "spy", Name: "spy", Token: spyTok})
	if sw == nil {
		t.Fatalf("spy refused: %+v", sr)
	}
	var bs wire.Borrows
	spy.next(t, wire.TBorrows, &bs)
	holderID := ""
	for _, b := range bs.List {
		if b.Tree == "parts" && b.Key == layout.Pack(k.ID, k.Rev) && len(b.Queue) > 0 {
			holderID = b.Queue[0].ID
		}
	}
	if holderID == "" || holderID == sw.ClientID {
		t.Fatalf("holder id %q not in the borrows %+v", holderID, bs)
	}

	// A fresh key claiming the holder's id, with or without the spy's
	// (used) token, is refused.
	_, w, r := rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: holderID, Name: "holder"})
	mustRefuse(t, "fresh key claiming the holder's id", w, r)
	if !open {
		_, w, r = rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: holderID, Name: "holder", Token: spyTok})
		mustRefuse(t, "fresh key with a used token claiming the holder's id", w, r)
	}
	// The spy's own key claiming the holder's id: an open server refuses
	// it (one key, one client); a closed one knows the key as the spy's
	// and ignores the claim.
	_, w, r = rawHello(t, srv.addr, spyCert, wire.Hello{ClientID: holderID, Name: "holder"})
	if open {
		mustRefuse(t, "the spy's key claiming the holder's id", w, r)
	} else if w == nil || w.ClientID != sw.ClientID || w.Name != "spy" {
		t.Fatalf("the spy's key claiming the holder's id: welcome %+v refuse %+v, want the spy itself", w, r)
	}

	lastOutbox := func() uint64 {
		for _, ci := range srv.Clients() {
			if ci.ID == holderID {
				return ci.LastOutbox
			}
		}
		t.Fatal("holder not among the server's clients")
		return 0
	}
	before := lastOutbox()

	// As itself, the spy cannot update the held record, and an outbox
	// sequence near 2^64 is its own business.
	rec := encRecord(t, record.Meta{Major: 1}, map[string]any{"number": "stolen", "quantity": 666})
	key := layout.Pack(k.ID, k.Rev)
	spy.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{
		{Seq: 1, Tree: "parts", Key: key, Kind: uint8(db.Updated), Record: rec},
		{Seq: 1<<64 - 2, Tree: "parts", Key: key, Kind: uint8(db.Updated), Record: rec},
	}})
	for _, a := range spy.acks(t, 2) {
		if a.Code != wire.CodeNotCheckedOut || a.Seq != 0 {
			t.Fatalf("spy's update of the held record: %+v", a)
		}
	}

	// The holder's later changes are accepted (none is a "duplicate",
	// which would put back the server's version) and reach the watcher.
	setQty(t, holder, k, 7)
	k2 := createWhenIDs(t, holder, Part{Number: "after", Quantity: 2})
	waitSynced(t, holder, watcher)
	noUnapplied(t, holder)
	if got := qty(t, holder, k); got != 7 {
		t.Fatalf("holder's record: quantity %d, want 7", got)
	}
	eventually(t, "the watcher sees the holder's update", func() bool {
		var q int
		err := watcher.parts.View(k, func(p *Part, _ db.Meta) { q = p.Quantity })
		_, _, err2 := watcher.parts.Get(k2)
		return err == nil && q == 7 && err2 == nil
	})
	if after := lastOutbox(); after <= before || after > before+10 {
		t.Fatalf("holder's outbox sequence on the server went from %d to %d", before, after)
	}
}

// Item 2: records that do not decode or do not fit the tree's schema are
// rejected to their sender and never reach another replica.
func TestBadRecordsRejectedAndNeverForwarded(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	good := newReplica(t, "good", srv.addr)
	kA := createWhenIDs(t, good, Part{Number: "A", Quantity: 1})
	waitSynced(t, good)
	watcher := newReplica(t, "watcher", srv.addr)
	waitSynced(t, watcher)

	raw := hello(t, srv.addr, "bad")
	g := raw.grantIDs(t, "parts", 10)
	ok := map[string]any{"number": "ok", "quantity": 3}
	bad := []struct {
		name string
		rec  []byte
	}{
		{"garbage", []byte{0xde, 0xad, 0xbe, 0xef}},
		{"not a map", encRecord(t, record.Meta{Major: 1}, 12345)},
		{"string into int", encRecord(t, record.Meta{Major: 1}, map[string]any{"number": "x", "quantity": "lots"})},
		{"major 0", encRecord(t, record.Meta{Major: 0}, ok)},
		{"newer major", encRecord(t, record.Meta{Major: 9}, ok)},
	}
	var chs []layout.Change
	for i, b := range bad {
		chs = append(chs, layout.Change{Seq: uint64(i + 1), Tree: "parts", Key: layout.Pack(g.Lo+uint32(i), 0),
			Kind: uint8(db.Created), Record: b.rec})
	}
	goodID := g.Lo + uint32(len(bad))
	chs = append(chs, layout.Change{Seq: uint64(len(bad) + 1), Tree: "parts", Key: layout.Pack(goodID, 0),
		Kind: uint8(db.Created), Record: encRecord(t, record.Meta{Major: 1}, ok)})
	raw.send(t, wire.TPush, &wire.Push{Changes: chs})
	acks := raw.acks(t, len(chs))
	for i, b := range bad {
		if a := acks[i]; a.Outbox != uint64(i+1) || a.Code != wire.CodeBadRecord || a.Seq != 0 {
			t.Errorf("%s: %+v, want CodeBadRecord", b.name, a)
		}
	}
	if a := acks[len(bad)]; a.Code != wire.CodeOK || a.Seq == 0 {
		t.Fatalf("the good record: %+v", a)
	}

	kB := createWhenIDs(t, good, Part{Number: "B", Quantity: 2})
	waitSynced(t, good)
	fresh := newReplica(t, "fresh", srv.addr)
	waitSynced(t, watcher, fresh)
	for _, r := range []*replicaT{watcher, fresh} {
		noUnapplied(t, r)
		if n := r.parts.Len(); n != 3 {
			t.Errorf("%s holds %d records, want 3", r.d.Name(), n)
		}
		for _, k := range []db.Key[Part]{kA, kB, partKey(goodID)} {
			if _, _, err := r.parts.Get(k); err != nil {
				t.Errorf("%s: %v: %v", r.d.Name(), k, err)
			}
		}
		for i := range bad {
			if _, _, err := r.parts.Get(partKey(g.Lo + uint32(i))); !errors.Is(err, db.ErrNotFound) {
				t.Errorf("%s: bad record %s: %v, want ErrNotFound", r.d.Name(), bad[i].name, err)
			}
		}
	}
}

// PartText is Part with its quantity as text: incompatible.
type PartText struct {
	Number   string `msgpack:"number"`
	Quantity string `msgpack:"quantity"`
}

// Item 3: a junk or incompatible schema declaration is refused to its
// sender, naming tree and field; the server's schema stays.
func TestBadSchemaDeclarationsRefused(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	good := newReplica(t, "good", srv.addr)
	createWhenIDs(t, good, Part{Number: "A", Quantity: 1})
	waitSynced(t, good)
	before := serverTree(t, srv, "parts")

	raw := hello(t, srv.addr, "schemer")
	decl := raw.treeDecl(t, "parts")
	if len(decl.Schema) == 0 {
		t.Fatal("the server's parts has no schema")
	}
	// Junk.
	raw.send(t, wire.TTree, &wire.Tree{Decl: replica.TreeDecl{Name: "parts", Major: decl.Major, Minor: decl.Minor + 1,
		Schema: []byte("\x93junk\xc1")}})
	var n wire.Notice
	raw.next(t, wire.TNotice, &n)
	if n.Code != wire.CodeBadSchema || n.Tree != "parts" || n.Of != wire.TTree || !strings.Contains(n.Msg, "parts") {
		t.Fatalf("junk schema: %+v", n)
	}
	// The quantity's kind changed at a newer minor version.
	sc, err := schema.Decode(decl.Schema)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := sc.Type.Field("quantity")
	if !ok {
		t.Fatalf("no quantity in %v", sc.Type.String())
	}
	f.Type = schema.Type{Kind: schema.String}
	sc.Minor++
	enc, err := schema.Encode(sc)
	if err != nil {
		t.Fatal(err)
	}
	raw.send(t, wire.TTree, &wire.Tree{Decl: replica.TreeDecl{Name: "parts", Major: sc.Major, Minor: sc.Minor, Schema: enc}})
	raw.next(t, wire.TNotice, &n)
	if n.Code != wire.CodeBadSchema || n.Tree != "parts" || !strings.Contains(n.Msg, "parts") || !strings.Contains(n.Msg, "quantity") {
		t.Fatalf("incompatible schema: %+v", n)
	}
	// A real replica with the incompatible type is refused too. The
	// refusal may come before WaitSynced starts waiting: the client's log
	// says so in any case.
	var evilLog testkit.LockedBuffer
	evil := openBareLogged(t, "evil", srv.addr, func(d *db.DB) error {
		_, err := db.OpenTree[PartText](d, "parts")
		return err
	}, slog.New(slog.NewTextHandler(&evilLog, nil)))
	// It may first be told it could not apply the server's records (of
	// the original type): wait past those.
	for range 10 {
		ctx, cancel := contextFor(20 * time.Second)
		err = evil.c.WaitSynced(ctx)
		cancel()
		var ae *netsync.ApplyError
		if !errors.As(err, &ae) {
			break
		}
	}
	var ne *netsync.NoticeError
	if err != nil && (!errors.Is(err, netsync.ErrSchema) || !errors.As(err, &ne) || ne.Tree != "parts") {
		t.Fatalf("replica declaring an incompatible parts: %v, want ErrSchema", err)
	}
	eventually(t, "the replica told its schema of parts was refused", func() bool {
		l := evilLog.String()
		return strings.Contains(l, "the server refused a request") && strings.Contains(l, "tree=parts") &&
			strings.Contains(l, netsync.ErrSchema.Error())
	})

	if after := serverTree(t, srv, "parts"); after.Major != before.Major || after.Minor != before.Minor {
		t.Fatalf("server's parts went from %d.%d to %d.%d", before.Major, before.Minor, after.Major, after.Minor)
	}
	kB := createWhenIDs(t, good, Part{Number: "B", Quantity: 2})
	waitSynced(t, good)
	// A fresh replica syncs, then opens the tree with the original type.
	fresh := openBare(t, "fresh", srv.addr, nil)
	waitSynced(t, fresh)
	parts, err := db.OpenTree[Part](fresh.d, "parts")
	if err != nil {
		t.Fatalf("fresh replica opening parts as Part: %v", err)
	}
	if p, _, err := parts.Get(kB); err != nil || p.Quantity != 2 {
		t.Fatalf("fresh replica: %v %+v", err, p)
	}
	noUnapplied(t, fresh)
}

// openBare connects a replica that has opened no tree but what open
// opens (open may be nil).
func openBare(t testing.TB, name, addr string, open func(d *db.DB) error) *replicaT {
	t.Helper()
	return openBareLogged(t, name, addr, open, quiet)
}

// openBareLogged is openBare with the client logging to log.
func openBareLogged(t testing.TB, name, addr string, open func(d *db.DB) error, log *slog.Logger) *replicaT {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), name), &db.Options{Replica: true, Name: name, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if open != nil {
		if err := open(d); err != nil {
			d.Close()
			t.Fatal(err)
		}
	}
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r := &replicaT{d: d, c: c}
	t.Cleanup(r.close)
	return r
}

func serverTree(t testing.TB, srv *testServer, name string) netsync.TreeInfo {
	t.Helper()
	trees, err := srv.Trees()
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range trees {
		if ti.Name == name {
			return ti
		}
	}
	t.Fatalf("server has no tree %s", name)
	return netsync.TreeInfo{}
}

// Item 7: who wrote a record and when is the server's word.
func TestForgedMetaIsRestamped(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	writerTok, err := srv.AddClient("writer", allAccess)
	if err != nil {
		t.Fatal(err)
	}
	malTok, err := srv.AddClient("mallory", netsync.Grant{Tree: "parts", Access: netsync.Read | netsync.Create})
	if err != nil {
		t.Fatal(err)
	}
	viewTok, err := srv.AddClient("viewer", netsync.Grant{Tree: "*", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	writer := openReplica(t, filepath.Join(t.TempDir(), "writer"), "writer", srv.addr, &netsync.ClientOptions{Token: writerTok})
	createWhenIDs(t, writer, Part{Number: "W", Quantity: 1})
	waitSynced(t, writer)
	viewer := openReplica(t, filepath.Join(t.TempDir(), "viewer"), "viewer", srv.addr, &netsync.ClientOptions{Token: viewTok})
	waitSynced(t, viewer)

	raw, w, r := rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: "x", Name: "writer", Token: malTok})
	if w == nil || w.Name != "mallory" {
		t.Fatalf("mallory: welcome %+v refuse %+v", w, r)
	}
	g := raw.grantIDs(t, "parts", 2)
	y1999 := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	forged := record.Meta{Major: 1, Created: y1999, Modified: y1999, Changes: 42,
		CreatedBy: "writer", CreatedByID: writer.c.Status().ServerID, ModifiedBy: "admin", ModifiedByID: "admin"}
	start := time.Now()
	raw.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: 1, Tree: "parts", Key: layout.Pack(g.Lo, 0),
		Kind: uint8(db.Created), Record: encRecord(t, forged, map[string]any{"number": "forged", "quantity": 9})}}})
	a := raw.acks(t, 1)[0]
	if a.Code != wire.CodeOK || a.Seq == 0 {
		t.Fatalf("mallory's create: %+v", a)
	}
	m, _, err := record.Decode(a.Record, nil)
	if err != nil || m.CreatedBy != "mallory" || m.CreatedByID != w.ClientID {
		t.Fatalf("acked record meta %+v, %v", m, err)
	}

	k := partKey(g.Lo)
	var meta db.Meta
	eventually(t, "the viewer gets mallory's record", func() bool {
		_, meta, err = viewer.parts.Get(k)
		return err == nil
	})
	if meta.CreatedBy != "mallory" || meta.ModifiedBy != "mallory" || meta.CreatedByID != w.ClientID || meta.ModifiedByID != w.ClientID {
		t.Fatalf("viewer sees %+v, want mallory (%s)", meta, w.ClientID)
	}
	lo, hi := start.Add(-time.Second), time.Now().Add(time.Second)
	if meta.Created.Before(lo) || meta.Created.After(hi) || meta.Modified.Before(lo) || meta.Modified.After(hi) || meta.Changes != 1 {
		t.Fatalf("viewer sees created %v modified %v changes %d, want the server's clock and 1", meta.Created, meta.Modified, meta.Changes)
	}
	// The writer goes on and the viewer sees it.
	k2 := createWhenIDs(t, writer, Part{Number: "W2", Quantity: 2})
	waitSynced(t, writer, viewer)
	if _, m2, err := viewer.parts.Get(k2); err != nil || m2.CreatedBy != "writer" {
		t.Fatalf("viewer: %v %+v", err, m2)
	}
	noUnapplied(t, viewer)
}
