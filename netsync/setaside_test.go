package netsync_test

import (
	"bufio"
	"context"
	"errors"
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

// fakeServer speaks the server's side of the protocol by hand, as a
// server restored from a damaged backup, or a hostile one, would: it
// welcomes one replica and sends it the entries given, then answers pings
// and id requests.
func fakeServer(t *testing.T, entries []layout.Change) string {
	t.Helper()
	ln := listenFake(t, wire.ALPN)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	last := entries[len(entries)-1].Seq
	go func() {
		defer close(done)
		for {
			qc, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			serveFake(ctx, qc, entries, last)
		}
	}()
	return ln.Addr().String()
}

func serveFake(ctx context.Context, qc *quic.Conn, entries []layout.Change, last uint64) {
	defer qc.CloseWithError(0, "")
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		return
	}
	r, w := bufio.NewReader(st), bufio.NewWriter(st)
	t, body, err := wire.Read(r, wire.MaxFrame, nil)
	var h wire.Hello
	if err != nil || t != wire.THello || wire.Decode(body, &h) != nil {
		return
	}
	wire.Write(w, wire.TWelcome, &wire.Welcome{ServerID: "restored-from-a-damaged-backup", Seq: last,
		ClientID: h.ClientID, Name: h.Name, Grants: []wire.Grant{{Tree: "*", Access: uint8(netsync.AllAccess)}}})
	if h.LastSeq < last {
		wire.Write(w, wire.TEntries, &wire.Entries{Changes: entries})
	}
	wire.Write(w, wire.TCaughtUp, &wire.CaughtUp{Seq: last})
	wire.Write(w, wire.TBorrows, &wire.Borrows{})
	w.Flush()
	next := uint32(1000)
	for {
		t, body, err := wire.Read(r, wire.MaxFrame, nil)
		if err != nil {
			return
		}
		switch t {
		case wire.TPing:
			var p wire.Ping
			wire.Decode(body, &p)
			wire.Write(w, wire.TPong, &wire.Pong{Nonce: p.Nonce, Seq: last})
		case wire.TIDRequest:
			var q wire.IDRequest
			wire.Decode(body, &q)
			wire.Write(w, wire.TIDGrant, &wire.IDGrant{Tree: q.Tree, Lo: next, Hi: next + q.N})
			next += q.N
		}
		w.Flush()
	}
}

// A replica that receives a change it cannot apply keeps it aside, says
// so in Status().Err and with an event naming tree and key, and goes on
// with the rest; it does not reconnect in a loop.
func TestReplicaSetsAsideWhatItCannotApply(t *testing.T) {
	decl, err := msgpack.Marshal(&replica.TreeDecl{Name: "parts", Major: 1})
	if err != nil {
		t.Fatal(err)
	}
	good, err := msgpack.Marshal(map[string]any{"number": "R2", "quantity": 2})
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := msgpack.Marshal(map[string]any{"number": 12, "quantity": "many"})
	if err != nil {
		t.Fatal(err)
	}
	meta := &record.Meta{Major: 1, Changes: 1, CreatedBy: "x", ModifiedBy: "x"}
	addr := fakeServer(t, []layout.Change{
		{Seq: 1, Tree: "parts", Kind: wire.KindTree, Record: decl},
		{Seq: 2, Tree: "parts", Key: layout.Pack(1, 0), Kind: uint8(db.Created), Record: []byte{1, 2, 3}},
		{Seq: 3, Tree: "parts", Key: layout.Pack(2, 0), Kind: uint8(db.Created), Record: record.Encode(nil, meta, good)},
		{Seq: 4, Tree: "parts", Key: layout.Pack(3, 0), Kind: uint8(db.Created), Record: record.Encode(nil, meta, wrong)},
	})
	d, err := db.Open(t.TempDir(), &db.Options{Replica: true, Name: "r", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan db.Event[Part], 16)
	parts.Subscribe(func(e db.Event[Part]) { events <- e })
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	eventually(t, "the good record and the sequence past the bad ones", func() bool {
		return parts.Len() == 1 && c.Status().LastSeq == 4
	})
	if p, _, err := parts.Get(db.Key[Part]{ID: 2}); err != nil || p.Number != "R2" {
		t.Fatalf("good record: %+v %v", p, err)
	}
	var ae *netsync.ApplyError
	if err := c.Status().Err; !errors.As(err, &ae) || ae.Tree != "parts" || !errors.Is(err, db.ErrCorrupt) {
		t.Fatalf("status error %v, want an ApplyError of parts matching db.ErrCorrupt", err)
	}
	un, err := d.Unapplied()
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 2 || un[0].Key != (db.OpaqueKey{Tree: "parts", ID: 1}) || un[0].Seq != 2 ||
		un[1].Key != (db.OpaqueKey{Tree: "parts", ID: 3}) || un[1].Seq != 4 || un[0].Reason == "" || un[0].Kind != db.Created {
		t.Fatalf("set aside %+v, want parts/1.0 at 2 and parts/3.0 at 4, with reasons", un)
	}
	if string(un[0].Record) != string([]byte{1, 2, 3}) {
		t.Fatalf("kept record %x, want the bytes the server sent", un[0].Record)
	}
	aside := map[uint32]bool{}
	for deadline := time.After(5 * time.Second); len(aside) < 2; {
		select {
		case e := <-events:
			if e.Kind == db.Unapplied {
				aside[e.Key.ID] = true
			}
		case <-deadline:
			t.Fatalf("Unapplied events for %v, want 1 and 3", aside)
		}
	}
	// Still connected and in sync: no reconnect loop.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
	if !c.Status().Connected {
		t.Fatal("not connected")
	}
	if err := d.DiscardUnapplied(); err != nil {
		t.Fatal(err)
	}
	if un, _ := d.Unapplied(); len(un) != 0 {
		t.Fatalf("after discarding: %+v", un)
	}
}
