package netsync_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/wire"
)

// A fresh replica that never opens a tree with its Go type reads it
// through the opaque interface: the schema came with the records.
func TestFreshReplicaReadsSchemaThroughOpaque(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	k := createWhenIDs(t, a, Part{Number: "GRM188R71H104KA93D", Quantity: 4000})
	waitSynced(t, a)

	d, err := db.Open(filepath.Join(t.TempDir(), "viewer"), &db.Options{Replica: true, Name: "viewer", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v := &replicaT{d: d}
	v.c = mustConnect(t, d, srv.addr)
	defer v.c.Close()
	waitSynced(t, v)
	ot, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	if ot.Len() != 1 {
		t.Fatalf("opaque Len = %d, want 1", ot.Len())
	}
	if names := fieldNames(ot.Schema()); len(names) != 2 || names[0] != "number" || names[1] != "quantity" {
		t.Fatalf("schema fields %v, want [number quantity]", names)
	}
	text, err := ot.Text(db.OpaqueKey{Tree: "parts", ID: k.ID, Rev: k.Rev})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("text %q: %v", text, err)
	}
	if got["number"] != "GRM188R71H104KA93D" || got["quantity"] != float64(4000) {
		t.Fatalf("text = %s", text)
	}
}

func fieldNames(s db.Schema) []string {
	var out []string
	for _, f := range s.Type.Fields {
		out = append(out, f.Name)
	}
	return out
}

// Remote changes go through the same path as local ones: indexes see
// them, and events say they are remote.
func TestRemoteChangesReachIndexesAndEvents(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	b := newReplica(t, "b", srv.addr)
	ix, err := db.NewIndex(b.parts, "by-number", func(_ db.Key[Part], p *Part) []string { return []string{p.Number} })
	if err != nil {
		t.Fatal(err)
	}
	remote := make(chan db.Event[Part], 8)
	b.parts.Subscribe(func(e db.Event[Part]) { remote <- e })
	k := createWhenIDs(t, a, Part{Number: "STM32F103C8T6"})
	if e := <-remote; !e.Remote || e.Kind != db.Created {
		t.Fatalf("event %+v", e)
	}
	if got := ix.Lookup("STM32F103C8T6"); len(got) != 1 || got[0] != k {
		t.Fatalf("index after a remote create: %v", got)
	}
	waitSynced(t, a)
	if err := a.parts.CheckOut(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if err := a.parts.Update(k, func(p *Part) error { p.Number = "STM32F103CBT6"; return nil }); err != nil {
		t.Fatal(err)
	}
	for e := range remote {
		if e.Kind == db.Updated {
			break
		}
	}
	if len(ix.Lookup("STM32F103C8T6")) != 0 || len(ix.Lookup("STM32F103CBT6")) != 1 {
		t.Fatal("index did not follow a remote update")
	}
	if err := a.parts.Delete(k); err != nil {
		t.Fatal(err)
	}
	for e := range remote {
		if e.Kind == db.Deleted {
			break
		}
	}
	if len(ix.Lookup("STM32F103CBT6")) != 0 {
		t.Fatal("index kept a remotely deleted record")
	}
}

// A deleted record's key is never created again: the server keeps a
// tombstone.
func TestDeletedRecordCannotComeBack(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	c := hello(t, srv.addr, "raw")
	c.send(t, wire.TTree, &wire.Tree{Decl: replicaDecl("parts")})
	c.send(t, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: 4})
	var g wire.IDGrant
	c.next(t, wire.TIDGrant, &g)
	rec := record.Encode(nil, &record.Meta{Changes: 1, Major: 1}, []byte{0x80})
	key := layout.Pack(g.Lo, 0)
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: 1, Tree: "parts", Key: key, Kind: uint8(db.Created), Record: rec}}})
	var ack wire.Ack
	c.next(t, wire.TAck, &ack)
	c.send(t, wire.TCheckOut, &wire.CheckOut{Req: 1, Tree: "parts", Key: key})
	var bs wire.Borrow
	c.next(t, wire.TBorrow, &bs)
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{
		{Seq: 2, Tree: "parts", Key: key, Kind: uint8(db.Deleted)},
		{Seq: 3, Tree: "parts", Key: key, Kind: uint8(db.Created), Record: rec},
	}})
	var del, again wire.Ack
	c.next(t, wire.TAck, &del)
	c.next(t, wire.TAck, &again)
	if del.Code != wire.CodeOK || del.Seq == 0 {
		t.Fatalf("delete: %+v", del)
	}
	if again.Code != wire.CodeExists || again.Record != nil {
		t.Fatalf("create of a deleted key: %+v, want CodeExists", again)
	}
}

// A change the server accepted from a replica that then lost it (a crash
// before its own log synced) comes back to the replica on reconnect.
func TestReplicaTakesBackAChangeItLost(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	dir := filepath.Join(t.TempDir(), "r")
	r := openReplica(t, dir, "r", srv.addr, nil)
	waitSynced(t, r)
	id := r.d.ClientID()
	cert := replicaCert(t, r.d)
	r.close()

	// What the replica sent before its crash, as the server got it.
	c := helloAs(t, srv.addr, id, cert)
	c.send(t, wire.TTree, &wire.Tree{Decl: replicaDecl("parts")})
	c.send(t, wire.TIDRequest, &wire.IDRequest{Tree: "parts", N: 1})
	var g wire.IDGrant
	c.next(t, wire.TIDGrant, &g)
	data := []byte{0x82, 0xa6, 'n', 'u', 'm', 'b', 'e', 'r', 0xa4, 'l', 'o', 's', 't', 0xa8, 'q', 'u', 'a', 'n', 't', 'i', 't', 'y', 0x07}
	rec := record.Encode(nil, &record.Meta{Changes: 1, Major: 1, CreatedBy: "r", ModifiedBy: "r"}, data)
	key := layout.Pack(g.Lo, 0)
	c.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: 3, Tree: "parts", Key: key, Kind: uint8(db.Created), Record: rec}}})
	var ack wire.Ack
	c.next(t, wire.TAck, &ack)
	if ack.Code != wire.CodeOK || ack.Seq == 0 {
		t.Fatalf("push: %+v", ack)
	}
	c.qc.CloseWithError(0, "")

	r2 := openReplica(t, dir, "r", srv.addr, nil)
	waitSynced(t, r2)
	var got Part
	if err := r2.parts.View(db.Key[Part]{ID: g.Lo}, func(p *Part, _ db.Meta) { got = *p }); err != nil {
		t.Fatalf("the replica did not take back its lost change: %v", err)
	}
	if got.Number != "lost" || got.Quantity != 7 {
		t.Fatalf("took back %+v", got)
	}
}

// A revision made under a record's check-out reaches the server before
// the check-in that gives the record back.
func TestCheckInAfterReviseKeepsTheRevision(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newReplica(t, "a", srv.addr)
	boms, err := db.OpenTree[Part](a.d, "boms", db.Versioned())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		k := testkit.Create(t, boms, Part{Number: "bom", Quantity: i})
		if err := boms.CheckOut(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := boms.Release(k); err != nil {
			t.Fatal(err)
		}
		next, err := boms.Revise(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := boms.CheckIn(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		waitSynced(t, a)
		if st := a.c.Status(); st.Err != nil {
			t.Fatalf("round %d: %v", i, st.Err)
		}
		if err := boms.View(next, func(*Part, db.Meta) {}); err != nil {
			t.Fatalf("round %d: the revision was undone: %v", i, err)
		}
	}
}
