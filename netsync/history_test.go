package netsync_test

// The history of every record: changes and check-out events, kept by the
// server apart from the log, read by clients allowed to read the tree.

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

// enrolledAs opens a replica that calls itself self, enrolled on srv as
// name: the history names it by its enrolled name.
func enrolledAs(t testing.TB, srv *testServer, name, self string, grants ...netsync.Grant) *replicaT {
	t.Helper()
	tok, err := srv.AddClient(name, grants...)
	if err != nil {
		t.Fatal(err)
	}
	return openReplica(t, filepath.Join(t.TempDir(), self), self, srv.addr, &netsync.ClientOptions{Token: tok})
}

func historyOf(t testing.TB, r *replicaT, tree string, id, rev uint32) []netsync.Change {
	t.Helper()
	ctx, cancel := contextFor(10 * time.Second)
	defer cancel()
	h, err := r.c.History(ctx, db.OpaqueKey{Tree: tree, ID: id, Rev: rev})
	if err != nil {
		t.Fatalf("%s: history of %s/%d.%d: %v", r.d.Name(), tree, id, rev, err)
	}
	return h
}

func checkIn(t testing.TB, r *replicaT, k db.Key[Part]) {
	t.Helper()
	ctx, cancel := contextFor(10 * time.Second)
	defer cancel()
	if err := r.parts.CheckIn(ctx, k); err != nil {
		t.Fatalf("%s: check-in %v: %v", r.d.Name(), k, err)
	}
}

// want is what one history row should say: its kind (and borrow event),
// who, and a piece of the old and new text ("" for none).
type want struct {
	kind     db.EventKind
	borrow   netsync.BorrowEvent
	by       string
	old, new string
	holder   string
	reason   string
}

func checkHistory(t testing.TB, got []netsync.Change, wants []want) {
	t.Helper()
	dump := func() string {
		var b strings.Builder
		for i, c := range got {
			fmt.Fprintf(&b, "\n  %d: seq %d %v %v by %s holder %q reason %q old %q new %q", i, c.Seq, c.Kind, c.Borrow, c.By, c.Holder, c.Reason, c.Old, c.New)
		}
		return b.String()
	}
	if len(got) != len(wants) {
		t.Fatalf("history of %d rows, want %d:%s", len(got), len(wants), dump())
	}
	has := func(text, part string) bool {
		if part == "" {
			return text == ""
		}
		return strings.Contains(strings.Join(strings.Fields(text), ""), part)
	}
	for i, w := range wants {
		c := got[i]
		if c.Kind != w.kind || c.Borrow != w.borrow || c.By != w.by || !has(c.Old, w.old) || !has(c.New, w.new) ||
			c.Holder != w.holder || c.Reason != w.reason {
			t.Fatalf("row %d: %+v, want %+v:%s", i, c, w, dump())
		}
		if i > 0 && (c.At.Before(got[i-1].At) || c.Seq < got[i-1].Seq) {
			t.Fatalf("row %d is older than row %d:%s", i, i-1, dump())
		}
		if c.At.IsZero() || time.Since(c.At) > time.Minute {
			t.Fatalf("row %d: accepted at %v", i, c.At)
		}
	}
}

// Item 2: create, update, check-out, check-in, force-return, delete and
// release through enrolled replicas all show in the record's history,
// oldest first, named by the enrolled names; compaction leaves it.
func TestHistoryOfRecord(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	alice := enrolledAs(t, srv, "alice", "workstation-3", allAccess)
	bob := enrolledAs(t, srv, "bob", "pick-and-place", allAccess)

	k := createWhenIDs(t, alice, Part{Number: "R1", Quantity: 1})
	waitSynced(t, alice)
	checkOut(t, alice, k)
	setQty(t, alice, k, 2)
	checkIn(t, alice, k)
	waitSynced(t, bob)
	checkOut(t, bob, k)
	setQty(t, bob, k, 3)
	waitSynced(t, bob)
	if _, err := srv.ForceReturn("parts", k.String(), "bob is on leave", "admin"); err != nil {
		t.Fatal(err)
	}
	checkOut(t, alice, k)
	if err := alice.parts.Delete(k); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, alice, bob)

	rows := []want{
		{kind: db.Created, by: "alice", new: `"quantity":1`},
		{kind: db.BorrowChanged, borrow: netsync.CheckedOut, by: "alice", holder: "alice"},
		{kind: db.Updated, by: "alice", old: `"quantity":1`, new: `"quantity":2`},
		{kind: db.BorrowChanged, borrow: netsync.CheckedIn, by: "alice", holder: "alice"},
		{kind: db.BorrowChanged, borrow: netsync.CheckedOut, by: "bob", holder: "bob"},
		{kind: db.Updated, by: "bob", old: `"quantity":2`, new: `"quantity":3`},
		{kind: db.BorrowChanged, borrow: netsync.ForceReturned, by: "admin", holder: "bob", reason: "bob is on leave"},
		{kind: db.BorrowChanged, borrow: netsync.CheckedOut, by: "alice", holder: "alice"},
		{kind: db.Deleted, by: "alice", old: `"quantity":3`},
	}
	got := historyOf(t, bob, "parts", k.ID, k.Rev)
	checkHistory(t, got, rows)
	if !strings.Contains(got[0].New, `"number": "R1"`) {
		t.Fatalf("new record text %q", got[0].New)
	}
	// The server's and the admin endpoint's word is the same.
	sh, err := srv.History("parts", k.String())
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, sh, rows)

	// A release is a meta change of a versioned tree.
	boms, err := db.OpenTree[Part](alice.d, "boms", db.Versioned())
	if err != nil {
		t.Fatal(err)
	}
	b := testkit.Create(t, boms, Part{Number: "BOM", Quantity: 9})
	ctx := testkit.Context(t)
	if err := boms.CheckOut(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := boms.Release(b); err != nil {
		t.Fatal(err)
	}
	if err := boms.CheckIn(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, alice)
	checkHistory(t, historyOf(t, alice, "boms", b.ID, b.Rev), []want{
		{kind: db.Created, by: "alice", new: `"quantity":9`},
		{kind: db.BorrowChanged, borrow: netsync.CheckedOut, by: "alice", holder: "alice"},
		{kind: db.MetaChanged, by: "alice", old: `"quantity":9`, new: `"quantity":9`},
		{kind: db.BorrowChanged, borrow: netsync.CheckedIn, by: "alice", holder: "alice"},
	})

	// Compaction deletes the log, not the history; a restart keeps it.
	if res, err := srv.Compact(0); err != nil || res.After != srv.Seq() {
		t.Fatalf("compact: %+v, %v", res, err)
	}
	checkHistory(t, historyOf(t, bob, "parts", k.ID, k.Rev), rows)
	k3 := createWhenIDs(t, alice, Part{Number: "R3", Quantity: 30})
	waitSynced(t, alice)
	dir := srv.dir
	alice.close()
	bob.close()
	srv.stop(t)
	srv2 := startServerAs(t, dir, "", nil)
	sh, err = srv2.History("parts", k.String())
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, sh, rows)
	// Rows made after the restart come after those made before.
	carol := enrolledAs(t, srv2, "carol", "bench", allAccess)
	waitSynced(t, carol)
	checkOut(t, carol, k3)
	setQty(t, carol, k3, 31)
	waitSynced(t, carol)
	checkHistory(t, historyOf(t, carol, "parts", k.ID, k.Rev), rows)
	checkHistory(t, historyOf(t, carol, "parts", k3.ID, k3.Rev), []want{
		{kind: db.Created, by: "alice", new: `"quantity":30`},
		{kind: db.BorrowChanged, borrow: netsync.CheckedOut, by: "carol", holder: "carol"},
		{kind: db.Updated, by: "carol", old: `"quantity":30`, new: `"quantity":31`},
	})
}

// On an open server the history names the replica by the name it gave
// itself; a long history comes in pages, whole and in order.
func TestHistoryPagedOnOpenServer(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "lathe", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "P", Quantity: 0})
	waitSynced(t, a)
	checkOut(t, a, k)
	const n = 600 // more than two pages of 256
	for i := 1; i <= n; i++ {
		setQty(t, a, k, i)
	}
	waitSynced(t, a)
	got := historyOf(t, a, "parts", k.ID, k.Rev)
	if len(got) != n+2 {
		t.Fatalf("%d rows, want %d", len(got), n+2)
	}
	for i, c := range got[2:] {
		if c.Kind != db.Updated || c.By != "lathe" || !strings.Contains(c.New, fmt.Sprintf(`"quantity": %d`, i+1)) ||
			!strings.Contains(c.Old, fmt.Sprintf(`"quantity": %d`, i)) {
			t.Fatalf("row %d: %+v", i+2, c)
		}
		if c.Seq <= got[i+1].Seq && got[i+1].Kind != db.BorrowChanged {
			t.Fatalf("row %d: seq %d after %d", i+2, c.Seq, got[i+1].Seq)
		}
	}
}

// Item 3: a client without Read on the tree is refused, and the refusal
// carries nothing of the tree; a raw peer with Read gets the rows.
func TestHistoryNeedsRead(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	writer := enrolled(t, srv, "writer", allAccess)
	k := createWhenIDs(t, writer, Part{Number: "classified-part", Quantity: 7})
	waitSynced(t, writer)

	other := netsync.Grant{Tree: "other", Access: netsync.AllAccess}
	outsider := enrolled(t, srv, "outsider", other)
	eventually(t, "the outsider caught up", func() bool { st := outsider.c.Status(); return st.Connected && st.CaughtUp })
	ctx, cancel := contextFor(10 * time.Second)
	defer cancel()
	h, err := outsider.c.History(ctx, db.OpaqueKey{Tree: "parts", ID: k.ID})
	if !errors.Is(err, db.ErrPermission) || h != nil {
		t.Fatalf("history without Read: %v, %v; want db.ErrPermission", h, err)
	}
	if strings.Contains(err.Error(), "classified") {
		t.Fatalf("the refusal tells of the record: %v", err)
	}

	// A raw peer built on the wire package: refused, and the reply holds
	// nothing of the tree; the same for a tree that does not exist.
	tok, err := srv.AddClient("rawpeer", other)
	if err != nil {
		t.Fatal(err)
	}
	raw, w, r := rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: "rp", Name: "rp", Token: tok})
	if w == nil {
		t.Fatalf("raw peer refused: %+v", r)
	}
	replies := map[string]wire.History{}
	for i, tree := range []string{"parts", "nosuchtree"} {
		raw.send(t, wire.THistoryRequest, &wire.HistoryRequest{Req: uint64(10 + i), Tree: tree, Key: layout.Pack(k.ID, 0)})
		var rep wire.History
		raw.next(t, wire.THistory, &rep)
		if rep.Req != uint64(10+i) || rep.Code != wire.CodePermission || len(rep.Changes) != 0 || rep.More {
			t.Fatalf("raw history of %s without Read: %+v", tree, rep)
		}
		if strings.Contains(rep.Msg, "classified") || strings.Contains(rep.Msg, "quantity") {
			t.Fatalf("the refusal tells of the record: %q", rep.Msg)
		}
		rep.Req, rep.Msg = 0, strings.ReplaceAll(rep.Msg, tree, "T")
		replies[tree] = rep
	}
	if fmt.Sprint(replies["parts"]) != fmt.Sprint(replies["nosuchtree"]) {
		t.Fatalf("refusals differ for a tree that exists and one that does not: %+v", replies)
	}

	tok, err = srv.AddClient("rawreader", netsync.Grant{Tree: "parts", Access: netsync.Read})
	if err != nil {
		t.Fatal(err)
	}
	raw2, w, r := rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: "rr", Name: "rr", Token: tok})
	if w == nil {
		t.Fatalf("raw reader refused: %+v", r)
	}
	raw2.send(t, wire.THistoryRequest, &wire.HistoryRequest{Req: 3, Tree: "parts", Key: layout.Pack(k.ID, 0)})
	var rep wire.History
	raw2.next(t, wire.THistory, &rep)
	if rep.Code != wire.CodeOK || len(rep.Changes) != 1 || rep.Changes[0].By != "writer" ||
		!strings.Contains(rep.Changes[0].New, "classified-part") {
		t.Fatalf("raw history with Read: %+v", rep)
	}
	// The refused stay connected; the others read on.
	if st := outsider.c.Status(); !st.Connected || st.Err != nil {
		t.Fatalf("outsider after its refusal: %+v", st)
	}
	if h := historyOf(t, writer, "parts", k.ID, 0); len(h) != 1 {
		t.Fatalf("writer's history: %+v", h)
	}
}

// Offline, History says so at once.
func TestHistoryOffline(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "P"})
	waitSynced(t, a)
	srv.stop(t)
	eventually(t, "the client sees the server gone", func() bool { return !a.c.Status().Connected })
	ctx, cancel := contextFor(10 * time.Second)
	defer cancel()
	if _, err := a.c.History(ctx, db.OpaqueKey{Tree: "parts", ID: k.ID}); !errors.Is(err, db.ErrOffline) {
		t.Fatalf("history offline: %v, want db.ErrOffline", err)
	}
}

// Item 2: retention by count keeps each record's last HistoryKeep rows;
// by age it deletes the rows older than HistoryMaxAge; history off keeps
// nothing new. The background run logs what it did.
func TestHistoryRetention(t *testing.T) {
	netsync.SetHistoryEvery(t, 20*time.Millisecond)
	var logs testkit.LockedBuffer
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{HistoryKeep: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	a := newReplica(t, "a", srv.addr)
	k1 := createWhenIDs(t, a, Part{Number: "one", Quantity: 0})
	k2 := createWhenIDs(t, a, Part{Number: "two", Quantity: 0})
	waitSynced(t, a)
	checkOut(t, a, k1)
	for i := 1; i <= 5; i++ {
		setQty(t, a, k1, i)
	}
	waitSynced(t, a)
	eventually(t, "k1 trimmed to its last 3 rows", func() bool { return len(historyOf(t, a, "parts", k1.ID, 0)) == 3 })
	checkHistory(t, historyOf(t, a, "parts", k1.ID, 0), []want{
		{kind: db.Updated, by: "a", old: `"quantity":2`, new: `"quantity":3`},
		{kind: db.Updated, by: "a", old: `"quantity":3`, new: `"quantity":4`},
		{kind: db.Updated, by: "a", old: `"quantity":4`, new: `"quantity":5`},
	})
	checkHistory(t, historyOf(t, a, "parts", k2.ID, 0), []want{{kind: db.Created, by: "a", new: `"quantity":0`}})
	logged := regexp.MustCompile(`level=INFO msg="history retention" records=2 kept=\d+ removed=[1-9]\d* by_count=[1-9]`)
	eventually(t, "a run logged what it deleted", func() bool { return logged.MatchString(logs.String()) })

	// By age, with the clock given: rows older than an hour at now+2h go;
	// keep still applies on its own.
	srv2 := startServer(t, t.TempDir(), "", &netsync.ServerOptions{HistoryMaxAge: time.Hour})
	b := newReplica(t, "b", srv2.addr)
	k := createWhenIDs(t, b, Part{Number: "aged"})
	waitSynced(t, b)
	res, err := srv2.RetainHistory(time.Now())
	if err != nil || res.Removed != 0 || res.Kept != 1 {
		t.Fatalf("retention now: %+v, %v; want 1 kept", res, err)
	}
	res, err = srv2.RetainHistory(time.Now().Add(2 * time.Hour))
	if err != nil || res.ByAge != 1 || res.Kept != 0 {
		t.Fatalf("retention in 2h: %+v, %v; want 1 deleted by age", res, err)
	}
	if h := historyOf(t, b, "parts", k.ID, 0); len(h) != 0 {
		t.Fatalf("history after retention by age: %+v", h)
	}

	// History off: nothing is kept.
	srv3 := startServer(t, t.TempDir(), "", &netsync.ServerOptions{NoHistory: true})
	c := newReplica(t, "c", srv3.addr)
	k3 := createWhenIDs(t, c, Part{Number: "untracked"})
	checkOut(t, c, k3)
	setQty(t, c, k3, 4)
	waitSynced(t, c)
	if h := historyOf(t, c, "parts", k3.ID, 0); len(h) != 0 {
		t.Fatalf("history kept while off: %+v", h)
	}
}

// The history's cost in the store, for docs/operations.md: bytes per
// change over many updates of a small record (an ~80-byte part), keys and
// values before Pebble's compression. Run with -v to see the figure.
func TestHistoryStorageCost(t *testing.T) {
	const n = 300
	disk := map[bool]uint64{}
	measure := func(off bool) (rows int, size, records int64) {
		srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{NoHistory: off})
		a := newReplica(t, "a", srv.addr)
		k := createWhenIDs(t, a, Part{Number: "RES-0402-10K-1%", Quantity: 0})
		checkOut(t, a, k)
		for i := 1; i <= n; i++ {
			setQty(t, a, k, 1000+i)
		}
		waitSynced(t, a)
		rows, size, records, err := srv.HistoryBytes()
		if err != nil {
			t.Fatal(err)
		}
		if disk[off], err = srv.DiskSize(); err != nil {
			t.Fatal(err)
		}
		return rows, size, records
	}
	if rows, size, _ := measure(true); rows != 0 || size != 0 {
		t.Fatalf("history off kept %d rows (%d bytes)", rows, size)
	}
	rows, size, records := measure(false)
	if rows != n+2 { // the create, the check-out, the updates
		t.Fatalf("%d rows, want %d", rows, n+2)
	}
	t.Logf("history: %d rows, %d bytes: %.0f bytes a row; an update's row holds the record before (%.0f bytes) and %.0f bytes of its own",
		rows, size, float64(size)/float64(rows), float64(records)/float64(n), float64(size-records)/float64(rows))
	t.Logf("on disk, compacted and compressed: %d bytes with history, %d without: %.0f bytes per change",
		disk[false], disk[true], (float64(disk[false])-float64(disk[true]))/float64(n))
}

// Changes made while history was off are missing, and the record after
// the last change kept before them is unknown, not taken for the wrong
// one; rows after them are whole.
func TestHistoryGapLeavesAfterUnknown(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, "", nil)
	a := newReplica(t, "a", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "G", Quantity: 1})
	checkOut(t, a, k)
	setQty(t, a, k, 2)
	waitSynced(t, a)
	restart := func(off bool) {
		a.c.Close()
		srv.stop(t)
		srv = startServer(t, dir, srv.addr, &netsync.ServerOptions{NoHistory: off})
		a.c = mustConnect(t, a.d, srv.addr)
		waitSynced(t, a)
	}
	restart(true)
	setQty(t, a, k, 3) // not kept
	waitSynced(t, a)
	restart(false)
	setQty(t, a, k, 4)
	waitSynced(t, a)
	checkHistory(t, historyOf(t, a, "parts", k.ID, 0), []want{
		{kind: db.Created, by: "a", new: `"quantity":1`},
		{kind: db.BorrowChanged, borrow: netsync.CheckedOut, by: "a", holder: "a"},
		{kind: db.Updated, by: "a", old: `"quantity":1`}, // after: 2, but 3 came after it unseen
		{kind: db.Updated, by: "a", old: `"quantity":3`, new: `"quantity":4`},
	})
}
