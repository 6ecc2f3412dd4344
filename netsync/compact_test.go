package netsync_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// floorAtMost fails the test when the server compacted any of its last
// keep entries.
func floorAtMost(t *testing.T, srv *testServer, keep uint64) {
	t.Helper()
	floor, seq := srv.Floor(), srv.Seq()
	if seq >= keep && floor > seq-keep {
		t.Fatalf("floor %d at sequence %d: one of the last %d entries was compacted", floor, seq, keep)
	}
}

// The policy by count compacts the log to its last LogKeep entries as it
// grows, and no further.
func TestCompactPolicyByCount(t *testing.T) {
	netsync.SetCompactEvery(t, 20*time.Millisecond)
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{LogKeep: 3})
	a := newReplica(t, "a", srv.addr)
	for i := range 10 {
		createWhenIDs(t, a, Part{Number: "p", Quantity: i})
		floorAtMost(t, srv, 3)
	}
	waitSynced(t, a)
	eventually(t, "the log compacted to its last 3 entries", func() bool { return srv.Floor() == srv.Seq()-3 })
	time.Sleep(100 * time.Millisecond) // several more runs of the policy
	floorAtMost(t, srv, 3)
	if got := srv.Floor(); got != srv.Seq()-3 {
		t.Fatalf("floor %d, want %d", got, srv.Seq()-3)
	}
}

// The policy by age compacts the entries older than LogMaxAge, leaves the
// younger ones, and keeps the last LogKeep whatever their age.
func TestCompactPolicyByAge(t *testing.T) {
	netsync.SetCompactEvery(t, 20*time.Millisecond)
	const age = 1500 * time.Millisecond
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{LogKeep: 2, LogMaxAge: age})
	a := newReplica(t, "a", srv.addr)
	start := time.Now()
	for i := range 5 {
		createWhenIDs(t, a, Part{Number: "old", Quantity: i})
	}
	waitSynced(t, a)
	seq1 := srv.Seq()
	if time.Since(start) < age && srv.Floor() != 0 {
		t.Fatalf("floor %d before any entry was %v old", srv.Floor(), age)
	}
	eventually(t, "the old entries compacted but the last 2", func() bool { return srv.Floor() == seq1-2 })

	for i := range 3 {
		createWhenIDs(t, a, Part{Number: "young", Quantity: i})
	}
	waitSynced(t, a)
	seq2 := srv.Seq()
	if f := srv.Floor(); time.Since(start) < 2*age && f > seq1 {
		t.Fatalf("floor %d: young entries (after %d) were compacted", f, seq1)
	}
	eventually(t, "the aged entries compacted but the last 2", func() bool { return srv.Floor() == seq2-2 })
	floorAtMost(t, srv, 2)
}

// A replica offline while the policy compacts past what it applied comes
// back through a snapshot and holds every record, those made while it was
// away too.
func TestOfflineAcrossPolicyCompaction(t *testing.T) {
	netsync.SetCompactEvery(t, 20*time.Millisecond)
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{LogKeep: 1})
	a := newReplica(t, "a", srv.addr)
	bdir := filepath.Join(t.TempDir(), "b")
	b := openReplica(t, bdir, "b", srv.addr, nil)
	for i := range 4 {
		createWhenIDs(t, a, Part{Number: "before", Quantity: i})
	}
	waitSynced(t, a, b)
	applied := srv.Seq()
	b.close()

	for i := range 6 {
		createWhenIDs(t, a, Part{Number: "while away", Quantity: i})
	}
	waitSynced(t, a)
	eventually(t, "the log compacted past b's last sequence", func() bool { return srv.Floor() > applied })

	b = openReplica(t, bdir, "b", srv.addr, nil)
	waitSynced(t, b, a)
	want := snapshot(a)
	if len(want) != 10 {
		t.Fatalf("a holds %d records, want 10", len(want))
	}
	if got := snapshot(b); !equalSnap(got, want) {
		t.Fatalf("b after the snapshot:\n got %v\nwant %v", got, want)
	}
}

// Compact through the admin socket says what it removed, and a second one
// removes nothing.
func TestAdminCompact(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{AdminSocket: sock})
	a := newReplica(t, "a", srv.addr)
	for i := range 5 {
		createWhenIDs(t, a, Part{Number: "p", Quantity: i})
	}
	waitSynced(t, a)
	seq := srv.Seq()
	ac := netsync.NewAdminClient(sock)
	res, err := ac.Compact(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := (netsync.CompactResult{Before: 0, After: seq - 2, Removed: seq - 2}); res != want {
		t.Fatalf("Compact: %+v, want %+v", res, want)
	}
	if res, err = ac.Compact(t.Context(), 2); err != nil || res.Removed != 0 || res.After != seq-2 {
		t.Fatalf("second Compact: %+v, %v", res, err)
	}
	if srv.Floor() != seq-2 {
		t.Fatalf("floor %d, want %d", srv.Floor(), seq-2)
	}
}
