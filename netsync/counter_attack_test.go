package netsync_test

// Hostile counter deltas, sent by raw clients speaking the protocol by
// hand against a real server: each is refused with its code, nothing of
// it reaches another replica, and the replicas go on.

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

func encDelta(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCounterHostileDeltasRefused(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	a := newStation(t, "a", srv.addr)
	k := testkit.Create(t, a.reels, Reel{Part: "R1", Stock: 5})
	a.sync(t, nil)
	watcher := newStation(t, "watcher", srv.addr)
	watcher.sync(t, nil)

	raw := hello(t, srv.addr, "raw")
	key := layout.Pack(k.ID, k.Rev)
	type anyDelta struct {
		Field string `msgpack:"field"`
		Delta any    `msgpack:"delta"`
	}
	cases := []struct {
		name string
		key  uint64
		rec  []byte
		code uint16
	}{
		{"not a counter", key, encDelta(t, layout.Delta{Field: "part", Delta: 1}), wire.CodeBadRecord},
		{"no such field", key, encDelta(t, layout.Delta{Field: "nosuch", Delta: 1}), wire.CodeBadRecord},
		{"string delta", key, encDelta(t, anyDelta{Field: "stock", Delta: "ten"}), wire.CodeBadRecord},
		{"float delta", key, encDelta(t, anyDelta{Field: "stock", Delta: 1.5}), wire.CodeBadRecord},
		{"nil delta", key, encDelta(t, anyDelta{Field: "stock", Delta: nil}), wire.CodeBadRecord},
		{"uint64 delta", key, encDelta(t, anyDelta{Field: "stock", Delta: uint64(math.MaxUint64)}), wire.CodeBadRecord},
		{"int64 overflow", key, encDelta(t, layout.Delta{Field: "stock", Delta: math.MaxInt64}), wire.CodeBadRecord},
		{"extra member", key, encDelta(t, map[string]any{"field": "stock", "delta": 1, "x": 1}), wire.CodeBadRecord},
		{"garbage", key, []byte{0xde, 0xad, 0xbe, 0xef}, wire.CodeBadRecord},
		{"a record, not a delta", key, encRecord(t, record.Meta{Major: 1}, map[string]any{"part": "x", "stock": 1000}), wire.CodeBadRecord},
		{"missing record", layout.Pack(k.ID+1000, 0), encDelta(t, layout.Delta{Field: "stock", Delta: 1}), wire.CodeNotFound},
		{"below the floor", key, encDelta(t, layout.Delta{Field: "stock", Delta: -6}), wire.CodeBelowFloor},
		{"undeclared tree", key, encDelta(t, layout.Delta{Field: "stock", Delta: 1}), wire.CodeBadTree},
	}
	var chs []layout.Change
	for i, c := range cases {
		tree := "reels"
		if c.name == "undeclared tree" {
			tree = "nosuch"
		}
		chs = append(chs, layout.Change{Seq: uint64(i + 1), Tree: tree, Key: c.key, Kind: layout.KindDelta, Record: c.rec})
	}
	chs = append(chs, layout.Change{Seq: uint64(len(cases) + 1), Tree: "reels", Key: key, Kind: layout.KindDelta,
		Record: encDelta(t, layout.Delta{Field: "stock", Delta: -5})})
	raw.send(t, wire.TPush, &wire.Push{Changes: chs})
	acks := raw.acks(t, len(chs))
	for i, c := range cases {
		if a := acks[i]; a.Outbox != uint64(i+1) || a.Code != c.code || a.Seq != 0 {
			t.Errorf("%s: %+v, want code %d", c.name, a, c.code)
		}
	}
	good := acks[len(cases)]
	if good.Code != wire.CodeOK || good.Seq == 0 || good.Kind != uint8(db.Updated) {
		t.Fatalf("the good delta: %+v", good)
	}
	_, data, err := record.Decode(good.Record, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := schema.ReadInt(data, "stock"); err != nil || v != 0 {
		t.Fatalf("the acked record's stock %d %v, want 0", v, err)
	}

	// The replicas see the good delta only, and go on.
	watcher.sync(t, nil)
	a.sync(t, nil)
	for _, s := range []*station{a, watcher} {
		if got := s.stock(t, k); got != 0 {
			t.Errorf("%s: stock %d, want 0", s.name, got)
		}
		if u, err := s.d.Unapplied(); err != nil || len(u) != 0 {
			t.Errorf("%s: unapplied %+v %v", s.name, u, err)
		}
	}
	if err := a.reels.Add(k, "stock", 3); err != nil {
		t.Fatal(err)
	}
	a.sync(t, nil)
	watcher.sync(t, nil)
	if got := watcher.stock(t, k); got != 3 {
		t.Fatalf("watcher after a's delta: %d, want 3", got)
	}
}

// A delta needs the Adjust grant: a client without it is refused at
// once by its own replica, and by the server when it sends one anyway.
func TestCounterNeedsAdjust(t *testing.T) {
	srv := startServerAs(t, t.TempDir(), "", nil)
	writerTok, err := srv.AddClient("writer", allAccess)
	if err != nil {
		t.Fatal(err)
	}
	noAdjust := netsync.Grant{Tree: "*", Access: netsync.Read | netsync.Create | netsync.Edit | netsync.Release}
	clerkTok, err := srv.AddClient("clerk", noAdjust)
	if err != nil {
		t.Fatal(err)
	}
	malTok, err := srv.AddClient("mallory", noAdjust)
	if err != nil {
		t.Fatal(err)
	}
	pickerTok, err := srv.AddClient("picker", netsync.Grant{Tree: "reels", Access: netsync.Read | netsync.Adjust})
	if err != nil {
		t.Fatal(err)
	}
	writer := openStation(t, filepath.Join(t.TempDir(), "writer"), "writer", srv.addr, &netsync.ClientOptions{Token: writerTok})
	k := testkit.Create(t, writer.reels, Reel{Part: "R1", Stock: 5})
	writer.sync(t, nil)

	clerk := openStation(t, filepath.Join(t.TempDir(), "clerk"), "clerk", srv.addr, &netsync.ClientOptions{Token: clerkTok})
	clerk.sync(t, nil)
	if err := clerk.reels.Add(k, "stock", -1); !errors.Is(err, db.ErrPermission) {
		t.Fatalf("clerk's add: %v, want ErrPermission", err)
	}
	picker := openStation(t, filepath.Join(t.TempDir(), "picker"), "picker", srv.addr, &netsync.ClientOptions{Token: pickerTok})
	picker.sync(t, nil)
	if err := picker.reels.Add(k, "stock", -1); err != nil {
		t.Fatalf("picker's add with Adjust only: %v", err)
	}
	picker.sync(t, nil)

	raw, w, r := rawHello(t, srv.addr, selfSigned(t), wireHello("mallory", malTok))
	if w == nil {
		t.Fatalf("mallory refused: %+v", r)
	}
	raw.send(t, wire.TPush, &wire.Push{Changes: []layout.Change{{Seq: 1, Tree: "reels", Key: layout.Pack(k.ID, k.Rev),
		Kind: layout.KindDelta, Record: encDelta(t, layout.Delta{Field: "stock", Delta: -4})}}})
	if a := raw.acks(t, 1)[0]; a.Code != wire.CodePermission || a.Seq != 0 {
		t.Fatalf("mallory's delta: %+v, want CodePermission", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := writer.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got := writer.stock(t, k); got != 4 {
		t.Fatalf("stock %d, want 4 (the picker's delta only)", got)
	}
}

func wireHello(name, token string) wire.Hello {
	return wire.Hello{ClientID: name, Name: name, Token: token}
}
