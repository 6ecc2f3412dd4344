package netsync_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

func TestOfflineCreateThenReconnect(t *testing.T) {
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	addr := srv.addr
	a := newReplica(t, "station-a", addr)
	createWhenIDs(t, a, Part{Number: "first"})
	waitSynced(t, a)
	srv.stop(t)
	eventually(t, "a disconnected", func() bool { return !a.c.Status().Connected })

	var offline []db.Key[Part]
	for i := range 20 {
		k, err := a.parts.Create(Part{Number: "offline", Quantity: i})
		if err != nil {
			t.Fatalf("offline create %d: %v", i, err)
		}
		offline = append(offline, k)
	}
	if st := a.c.Status(); st.Outbox != 20 {
		t.Fatalf("outbox while offline = %d, want 20", st.Outbox)
	}
	srv2 := startServer(t, sdir, addr, nil)
	b := newReplica(t, "station-b", srv2.addr)
	waitSynced(t, a, b)
	for _, k := range offline {
		if err := b.parts.View(k, func(*Part, db.Meta) {}); err != nil {
			t.Fatalf("b misses %v created offline: %v", k, err)
		}
	}
	if b.parts.Len() != 21 {
		t.Fatalf("b has %d parts, want 21", b.parts.Len())
	}
}

func TestServerRestartKeepsDataAndSequence(t *testing.T) {
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	a := newReplica(t, "a", srv.addr)
	for i := range 10 {
		createWhenIDs(t, a, Part{Number: "p", Quantity: i})
	}
	waitSynced(t, a)
	seq := srv.Seq()
	id, fp := srv.ID(), srv.Fingerprint()
	srv.stop(t)

	srv2 := startServer(t, sdir, "", nil)
	if srv2.Seq() != seq || srv2.ID() != id || srv2.Fingerprint() != fp {
		t.Fatalf("after restart: seq %d id %s fp %s, want %d %s %s", srv2.Seq(), srv2.ID(), srv2.Fingerprint(), seq, id, fp)
	}
	b := newReplica(t, "b", srv2.addr)
	waitSynced(t, b)
	if b.parts.Len() != 10 {
		t.Fatalf("fresh replica has %d parts, want 10", b.parts.Len())
	}
	if got := b.c.Status().LastSeq; got != seq {
		t.Fatalf("fresh replica at seq %d, want %d", got, seq)
	}
}

func TestClientRestartResendsOutboxOnce(t *testing.T) {
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	addr := srv.addr
	adir := filepath.Join(t.TempDir(), "a")
	a := openReplica(t, adir, "a", addr, nil)
	createWhenIDs(t, a, Part{Number: "seed"})
	waitSynced(t, a)
	srv.stop(t)
	for i := range 5 {
		if _, err := a.parts.Create(Part{Number: "queued", Quantity: i}); err != nil {
			t.Fatal(err)
		}
	}
	a.close() // the client stops with 5 changes in its outbox

	srv2 := startServer(t, sdir, addr, nil)
	seqBefore := srv2.Seq()
	a2 := openReplica(t, adir, "a", addr, nil)
	if st := a2.c.Status(); st.Outbox != 5 {
		t.Fatalf("outbox after restart = %d, want 5", st.Outbox)
	}
	waitSynced(t, a2)
	if got := srv2.Seq() - seqBefore; got != 5 {
		t.Fatalf("server applied %d changes, want 5", got)
	}
	// Reconnecting again sends nothing twice.
	a2.c.Close()
	c, err := netsync.Connect(a2.d, addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a2.c = c
	waitSynced(t, a2)
	if got := srv2.Seq() - seqBefore; got != 5 {
		t.Fatalf("after second reconnect the server applied %d changes, want 5", got)
	}
	b := newReplica(t, "b", addr)
	waitSynced(t, b)
	if b.parts.Len() != 6 {
		t.Fatalf("b has %d parts, want 6", b.parts.Len())
	}
}

func TestIdentityPinningRefusesAnotherServer(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	addr := srv.addr
	a := newReplica(t, "a", addr)
	createWhenIDs(t, a, Part{Number: "x"})
	waitSynced(t, a)
	srv.stop(t)

	// Another server (new UUID and certificate) on the same address.
	other := startServer(t, t.TempDir(), addr, nil)
	w := newReplica(t, "writer", other.addr)
	createWhenIDs(t, w, Part{Number: "from the impostor"})
	waitSynced(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.c.WaitSynced(ctx)
	if !errors.Is(err, netsync.ErrIdentity) {
		t.Fatalf("WaitSynced against another server: %v, want ErrIdentity", err)
	}
	if st := a.c.Status(); !errors.Is(st.Err, netsync.ErrIdentity) || st.Connected {
		t.Fatalf("status: %+v", st)
	}
	if a.parts.Len() != 1 {
		t.Fatalf("replica applied %d records from the other server", a.parts.Len()-1)
	}
}

func TestApplicationIDRefused(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{AppID: "parts-stock"})
	r := openReplica(t, filepath.Join(t.TempDir(), "r"), "r", srv.addr, &netsync.ClientOptions{AppID: "serials"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.WaitSynced(ctx); !errors.Is(err, netsync.ErrAppID) {
		t.Fatalf("WaitSynced with another app id: %v, want ErrAppID", err)
	}
	ok := openReplica(t, filepath.Join(t.TempDir(), "ok"), "ok", srv.addr, &netsync.ClientOptions{AppID: "parts-stock"})
	waitSynced(t, ok)
}

// A server store copied back by hand from an older backup, behind a
// replica that applied more of the log: the replica keeps what the server
// lacks and takes the server's state; nothing is synced silently.
func TestReplicaMeetsServerRestoredFromOlderBackup(t *testing.T) {
	sdir := t.TempDir()
	srv := startServer(t, sdir, "", nil)
	addr := srv.addr
	a := newReplica(t, "a", addr)
	createWhenIDs(t, a, Part{Number: "before the backup"})
	waitSynced(t, a)
	backup := filepath.Join(t.TempDir(), "backup")
	if err := srv.Checkpoint(backup); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		createWhenIDs(t, a, Part{Number: "after the backup"})
	}
	waitSynced(t, a)
	srv.stop(t)

	startServer(t, backup, addr, nil) // the same server, restored from the backup
	if re := waitRestored(t, a); re.Kept != 3 {
		t.Errorf("Kept = %d, want 3", re.Kept)
	}
	if a.parts.Len() != 1 || len(a.d.Recovered()) != 3 {
		t.Fatalf("replica has %d records and %d recovered, want 1 and 3", a.parts.Len(), len(a.d.Recovered()))
	}
}
