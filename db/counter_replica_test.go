package db_test

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/replica"
)

// serverRecord encodes a record as the server sends it.
func serverRecord(t *testing.T, r Reel) []byte {
	t.Helper()
	data, err := msgpack.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	return record.Encode(nil, &record.Meta{Major: 1, Changes: 1, CreatedBy: "server", ModifiedBy: "server"}, data)
}

// What the sync layer does with a replica's pending deltas, step by step
// through its link: records from the log are shown with the pending
// deltas on top; an answer while later changes are pending is rebased onto
// those only; a holder's pending edit keeps its own other fields.
func TestCounterReplicaRebase(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Replica: true, Name: "r"})
	reels := mustTree[Reel](t, d, "reels")
	l, err := replica.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	k := db.Key[Reel]{ID: 1}
	key := layout.Pack(1, 0)
	apply := func(seq uint64, r Reel) {
		t.Helper()
		ch := layout.Change{Seq: seq, Tree: "reels", Key: key, Kind: uint8(db.Updated), Record: serverRecord(t, r)}
		if err := l.Apply([]layout.Change{ch}, replica.Pos{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, stock int64, note string) {
		t.Helper()
		r, _, err := reels.Get(k)
		if err != nil || r.Stock != stock || r.Note != note {
			t.Fatalf("%s: %+v %v, want stock %d, note %q", what, r, err, stock, note)
		}
	}
	apply(1, Reel{Part: "R1", Stock: 5})
	want("the server's record", 5, "")

	if err := reels.Add(k, "stock", -4); err != nil {
		t.Fatal(err)
	}
	if err := reels.Add(k, "stock", 2); err != nil {
		t.Fatal(err)
	}
	out, err := l.Outbox(0, 10)
	if err != nil || len(out) != 2 || out[0].Kind != layout.KindDelta {
		t.Fatalf("outbox %+v %v", out, err)
	}
	want("two pending deltas", 3, "")
	apply(2, Reel{Part: "R1", Stock: 4, Note: "other"}) // another replica took 1
	want("another's delta under the pending ones", 2, "other")

	// The server refuses the first delta (its floor): the answer, while
	// the second is pending, shows the server's value plus the second.
	ans := layout.Change{Tree: "reels", Key: key, Kind: uint8(db.Updated), Record: serverRecord(t, Reel{Part: "R1", Stock: 1, Note: "other"})}
	if err := l.ApplyAnswer(ans, replica.Pos{Seq: 2}, out[0].Seq); err != nil {
		t.Fatal(err)
	}
	want("the refused delta taken back", 3, "other")
	if err := l.Ack(out[0].Seq, replica.Pos{}); err != nil {
		t.Fatal(err)
	}
	apply(3, Reel{Part: "R1", Stock: 1, Note: "other 2"})
	want("after the refusal's ack", 3, "other 2")
	if err := l.Ack(out[1].Seq, replica.Pos{}); err != nil {
		t.Fatal(err)
	}
	apply(4, Reel{Part: "R1", Stock: 3, Note: "other 2"}) // the accepted delta
	want("nothing pending", 3, "other 2")

	// A holder's pending edit keeps its note when another's delta arrives.
	if err := l.SetBorrow("reels", key, replica.Borrow{Holder: "r", Mine: true}); err != nil {
		t.Fatal(err)
	}
	if err := reels.Update(k, func(r *Reel) error { r.Note = "mine"; return nil }); err != nil {
		t.Fatal(err)
	}
	apply(5, Reel{Part: "R1", Stock: 10, Note: "other 2"})
	want("another's delta under the holder's edit", 10, "mine")
}
