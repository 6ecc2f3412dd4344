package netsync_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// numbers returns the Numbers of a replica's parts, sorted.
func numbers(r *replicaT) []string {
	var out []string
	for _, p := range r.parts.All() {
		out = append(out, p.Number)
	}
	slices.Sort(out)
	return out
}

// recoveredNumbers returns the Numbers of the parts a replica kept in
// Recovered, sorted.
func recoveredNumbers(t *testing.T, r *replicaT) []string {
	t.Helper()
	var out []string
	for _, rc := range r.d.Recovered() {
		p, err := r.parts.RecoveredValue(rc)
		if err != nil {
			t.Fatalf("recovered %s: %v", rc.Key, err)
		}
		out = append(out, p.Number)
	}
	slices.Sort(out)
	return out
}

// waitRestored waits until WaitSynced reports the restore, then until the
// replica is synced.
func waitRestored(t *testing.T, r *replicaT) *netsync.RestoredError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := r.c.WaitSynced(ctx)
	if err == nil {
		// The restore may have been told before WaitSynced began.
		err = r.c.Status().Err
	}
	var re *netsync.RestoredError
	if !errors.As(err, &re) || !errors.Is(err, netsync.ErrServerRestored) {
		t.Fatalf("%s: WaitSynced and Status().Err = %v, want a RestoredError", r.d.Name(), err)
	}
	waitSynced(t, r)
	return re
}

// A server store copied back by hand from a backup (same lineage) that
// has since accepted more changes than a replica had applied: the
// replica does not sync silently. It keeps the records the server lost in
// Recovered, takes the server's state, reports ErrServerRestored, and
// syncs on from there. Also when the restored server compacted its log
// past the replica's position: the digests outlive the log.
func TestRestoredServerOvertakingReplica(t *testing.T) {
	t.Run("log", func(t *testing.T) { testOvertaking(t, false) })
	t.Run("compacted", func(t *testing.T) { testOvertaking(t, true) })
}

func testOvertaking(t *testing.T, compact bool) {
	srv := startServer(t, t.TempDir(), "", nil)
	addr := srv.addr
	a := newReplica(t, "a", addr)
	createWhenIDs(t, a, Part{Number: "before"})
	waitSynced(t, a)
	backup := filepath.Join(t.TempDir(), "backup")
	if err := srv.Checkpoint(backup); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"lost-1", "lost-2", "lost-3"} {
		createWhenIDs(t, a, Part{Number: n})
	}
	waitSynced(t, a)
	before := a.c.Status().LastSeq
	a.c.Close()
	a.c = nil
	srv.stop(t)

	// The operator puts the backup back by hand and the server goes on
	// accepting changes: its log passes the replica's sequence.
	restored := startServer(t, backup, addr, nil)
	c := newReplica(t, "c", addr)
	var fromC []string
	for i := range 6 {
		n := "new-" + string(rune('a'+i))
		createWhenIDs(t, c, Part{Number: n})
		fromC = append(fromC, n)
	}
	waitSynced(t, c)
	if restored.Seq() <= before {
		t.Fatalf("the restored server's log is at %d, not past the replica's %d", restored.Seq(), before)
	}
	if compact {
		if _, err := restored.Compact(0); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var recoveredEvents int
	cancel := a.parts.Subscribe(func(e db.Event[Part]) {
		if e.Kind == db.EditsRecovered {
			mu.Lock()
			recoveredEvents++
			mu.Unlock()
		}
	})
	defer cancel()
	a.c = mustConnect(t, a.d, addr)
	re := waitRestored(t, a)
	if re.Kept != 3 {
		t.Errorf("RestoredError.Kept = %d, want 3: %v", re.Kept, re)
	}
	want := append([]string{"before"}, fromC...)
	slices.Sort(want)
	if got := numbers(a); !slices.Equal(got, want) {
		t.Errorf("replica's parts %v, want the server's %v", got, want)
	}
	if got := recoveredNumbers(t, a); !slices.Equal(got, []string{"lost-1", "lost-2", "lost-3"}) {
		t.Errorf("Recovered %v, want the three records the server lost", got)
	}
	testkit.Until(t, "EditsRecovered events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return recoveredEvents == 3
	})

	// From here on the replica and the server agree.
	createWhenIDs(t, a, Part{Number: "after the restore"})
	waitSynced(t, a, c)
	if got, want := numbers(c), numbers(a); !slices.Equal(got, want) {
		t.Fatalf("c has %v, a has %v", got, want)
	}
	// A reconnection is an ordinary one: nothing more is set aside.
	a.c.Close()
	a.c = mustConnect(t, a.d, addr)
	waitSynced(t, a)
	if n := len(a.d.Recovered()); n != 3 {
		t.Errorf("%d records in Recovered after a plain reconnection, want 3", n)
	}
}

// A replica whose log is ahead of the restored server's (restored with
// Restore) keeps what the server lacks too.
func TestRestoredServerBehindReplica(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	addr := srv.addr
	a := newReplica(t, "a", addr)
	createWhenIDs(t, a, Part{Number: "before"})
	waitSynced(t, a)
	backup := filepath.Join(t.TempDir(), "backup")
	if err := srv.Checkpoint(backup); err != nil {
		t.Fatal(err)
	}
	k := createWhenIDs(t, a, Part{Number: "lost"})
	waitSynced(t, a)
	srv.stop(t)
	data := filepath.Join(t.TempDir(), "data")
	res, err := netsync.Restore(backup, data, &netsync.RestoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lineage == "" || res.Lineage == res.Previous || res.ServerID != srv.ID() {
		t.Fatalf("restore result %+v: want a new lineage and the same server", res)
	}
	restored := startServer(t, data, addr, nil)
	if info, err := restored.Info(); err != nil || info.Lineage != res.Lineage || info.RestoredFrom != backup {
		t.Fatalf("info of the restored server: %+v, %v", info, err)
	}
	re := waitRestored(t, a)
	if re.Kept != 1 {
		t.Errorf("Kept = %d, want 1", re.Kept)
	}
	if _, _, err := a.parts.Get(k); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("the replica still has %v, which the server lacks", k)
	}
	if got := recoveredNumbers(t, a); !slices.Equal(got, []string{"lost"}) {
		t.Errorf("Recovered %v, want [lost]", got)
	}
}

// udpRelay forwards UDP datagrams between clients and a server; with down
// set, it drops what the server sends.
type udpRelay struct {
	pc     net.PacketConn
	server *net.UDPAddr
	down   atomic.Bool // drop server → client
	mu     sync.Mutex
	peers  map[string]*net.UDPConn
}

func startUDPRelay(t *testing.T, server string) *udpRelay {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ua, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{pc: pc, server: ua, peers: map[string]*net.UDPConn{}}
	t.Cleanup(func() {
		pc.Close()
		r.mu.Lock()
		for _, c := range r.peers {
			c.Close()
		}
		r.mu.Unlock()
	})
	go r.run()
	return r
}

func (r *udpRelay) addr() string { return r.pc.LocalAddr().String() }

func (r *udpRelay) run() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		up := r.peers[from.String()]
		if up == nil {
			up, err = net.DialUDP("udp", nil, r.server)
			if err != nil {
				r.mu.Unlock()
				continue
			}
			r.peers[from.String()] = up
			go r.back(up, from)
		}
		r.mu.Unlock()
		up.Write(buf[:n])
	}
}

func (r *udpRelay) back(up *net.UDPConn, to net.Addr) {
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if !r.down.Load() {
			r.pc.WriteTo(buf[:n], to)
		}
	}
}

// A restore between a replica's push and its ack: the server accepted the
// change, the ack never arrived, and the server came back from a backup
// without it. The replica kept the change and sends it again; the
// restored server accepts it once.
func TestRestoreBetweenPushAndAck(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	addr := srv.addr
	rl := startUDPRelay(t, addr)
	a := openReplica(t, filepath.Join(t.TempDir(), "a"), "a", rl.addr(), nil)
	createWhenIDs(t, a, Part{Number: "before"})
	waitSynced(t, a)
	backup := filepath.Join(t.TempDir(), "backup")
	if err := srv.Checkpoint(backup); err != nil {
		t.Fatal(err)
	}
	seq := srv.Seq()
	rl.down.Store(true)
	k := createWhenIDs(t, a, Part{Number: "pushed"})
	testkit.Until(t, "the server accepting the push", func() bool { return srv.Seq() > seq })
	if a.c.Status().Outbox == 0 {
		t.Fatal("the ack arrived although the relay drops what the server sends")
	}
	a.c.Close()
	a.c = nil
	srv.stop(t)

	data := filepath.Join(t.TempDir(), "data")
	if _, err := netsync.Restore(backup, data, &netsync.RestoreOptions{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	restored := startServer(t, data, addr, nil)
	if restored.Seq() != seq {
		t.Fatalf("restored server at %d, want the backup's %d", restored.Seq(), seq)
	}
	a.c = mustConnect(t, a.d, addr)
	re := waitRestored(t, a)
	if re.Kept != 0 {
		t.Errorf("Kept = %d: the pushed change is still the replica's own, nothing to keep", re.Kept)
	}
	if a.c.Status().Outbox != 0 {
		t.Fatalf("outbox %d after sync", a.c.Status().Outbox)
	}
	b := newReplica(t, "b", addr)
	waitSynced(t, b)
	if got := numbers(b); !slices.Equal(got, []string{"before", "pushed"}) {
		t.Fatalf("the restored server has %v, want [before pushed]", got)
	}
	if restored.Seq() != seq+1 {
		t.Errorf("the restored server's log is at %d, want %d: the change accepted once", restored.Seq(), seq+1)
	}
	if _, _, err := a.parts.Get(k); err != nil {
		t.Errorf("the replica lost its change: %v", err)
	}
}

// Restore refuses a non-empty directory unless forced, and moves it aside
// then; a server refuses a directory whose restore did not finish.
func TestRestoreTargets(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	backup := filepath.Join(t.TempDir(), "backup")
	if err := srv.Checkpoint(backup); err != nil {
		t.Fatal(err)
	}
	if _, err := netsync.Restore(backup, srv.dir, &netsync.RestoreOptions{Logger: quiet, Force: true}); err == nil {
		t.Fatal("restore into a running server's directory succeeded")
	}
	srv.stop(t)
	if _, err := netsync.Restore(backup, srv.dir, &netsync.RestoreOptions{Logger: quiet}); err == nil {
		t.Fatal("restore into a non-empty directory without Force succeeded")
	}
	res, err := netsync.Restore(backup, srv.dir, &netsync.RestoreOptions{Logger: quiet, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Aside == "" {
		t.Fatal("the replaced directory was not moved aside")
	}
	old, err := netsync.NewServer(res.Aside, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("the directory moved aside does not open: %v", err)
	}
	old.Shutdown(context.Background())
	notStore := t.TempDir()
	if _, err := netsync.Restore(notStore, filepath.Join(t.TempDir(), "x"), &netsync.RestoreOptions{Logger: quiet}); !errors.Is(err, netsync.ErrNotServerStore) {
		t.Fatalf("restore from an empty directory: %v, want ErrNotServerStore", err)
	}
}
