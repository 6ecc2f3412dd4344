package netsync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/store"
	"github.com/hillsdb/hills/netsync"
)

// The environment of the child replica of TestReplicaKilledBeforeLocalSync.
const (
	lostChildDir  = "HILLS_TEST_LOST_DIR"
	lostChildAddr = "HILLS_TEST_LOST_ADDR"
	lostChildKey  = "HILLS_TEST_LOST_KEY"
)

// A replica sends a change to the server while its own log syncs. Here
// it is killed (SIGKILL) after the server accepted the change and before
// the replica's own log sync, which its file system holds back, as a
// power cut would lose it: the replica reopens without the change. It
// learns the change back from the server's log, and a change it makes
// after reopening, offline, lands too: its outbox sequence is never taken
// for the lost one's.
func TestReplicaKilledBeforeLocalSync(t *testing.T) {
	if dir := os.Getenv(lostChildDir); dir != "" {
		runLostChild(dir)
		return
	}
	srv := startServer(t, t.TempDir(), "", nil)
	watcher := newReplica(t, "watcher", srv.addr)
	dir := filepath.Join(t.TempDir(), "killed")

	// The replica makes the record and checks it out, then closes.
	r := openReplica(t, dir, "killed", srv.addr, nil)
	k := createWhenIDs(t, r, Part{Number: "R1", Quantity: 1})
	waitSynced(t, r)
	if err := r.parts.CheckOut(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, r)
	r.close()

	// The child updates it with its log syncs held back; it is killed once
	// the server has the update.
	cmd, lines := startChild(t, "TestReplicaKilledBeforeLocalSync",
		lostChildDir+"="+dir, lostChildAddr+"="+srv.addr, lostChildKey+"="+k.String())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case l := <-lines:
		if l != "updating" {
			t.Fatalf("child: %q", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the child did not start updating within 60 s")
	}
	eventually(t, "the server has the child's update", func() bool {
		var q int
		watcher.parts.View(k, func(p *Part, _ db.Meta) { q = p.Quantity })
		return q == 42
	})
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("the child went on: %q", l)
		}
		t.Fatal("the child exited before it was killed")
	default:
	}
	cmd.Process.Kill()
	cmd.Wait()

	// Reopened, the replica lacks the update: it was never durable here.
	d, err := db.Open(dir, &db.Options{Replica: true, Name: "killed", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := parts.Get(k); err != nil || p.Quantity != 1 {
		t.Fatalf("reopened before sync: %+v, %v; want quantity 1 (the update lost here)", p, err)
	}
	// Offline, it makes a change of its own, on the record it still holds.
	if err := parts.Update(k, func(p *Part) error { p.Number = "R1-after"; return nil }); err != nil {
		t.Fatal(err)
	}
	c, err := netsync.Connect(d, srv.addr, &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	back := &replicaT{d: d, c: c, parts: parts, dir: dir}
	t.Cleanup(back.close)
	waitSynced(t, back, watcher)

	// The server took the lost update once, then the new change.
	recs, err := netsync.LogRecords(srv.Server, "parts", layout.Pack(k.ID, k.Rev))
	if err != nil {
		t.Fatal(err)
	}
	var got []Part
	for _, rec := range recs {
		_, data, err := record.Decode(rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		var p Part
		if err := msgpack.Unmarshal(data, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 3 || got[1].Quantity != 42 || got[2].Number != "R1-after" {
		t.Fatalf("the server's log of the record: %+v; want the create, the update to 42, then the change after reopening", got)
	}
	want := got[2]
	for _, rr := range []*replicaT{back, watcher} {
		p, _, err := rr.parts.Get(k)
		if err != nil || p != want {
			t.Errorf("%s: %+v, %v; the server's %+v", rr.d.Name(), p, err, want)
		}
	}
	if st := back.c.Status(); st.Outbox != 0 || st.Err != nil {
		t.Errorf("reopened replica: %d pending, err %v", st.Outbox, st.Err)
	}
}

// runLostChild is the child replica: it updates the record with its log
// syncs held back and waits to be killed.
func runLostChild(dir string) {
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	hold := &holdFS{}
	store.WrapFS = func(fs vfs.FS) vfs.FS { hold.FS = fs; return hold }
	k, err := db.ParseKey[Part](os.Getenv(lostChildKey))
	if err != nil {
		fail(err)
	}
	d, err := db.Open(dir, &db.Options{Replica: true, Name: "killed", Logger: quiet})
	if err != nil {
		fail(err)
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		fail(err)
	}
	c, err := netsync.Connect(d, os.Getenv(lostChildAddr), &netsync.ClientOptions{Logger: quiet})
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		fail(err)
	}
	hold.held.Store(true)
	fmt.Println("updating")
	go func() {
		err := parts.Update(k, func(p *Part) error { p.Quantity = 42; return nil })
		fmt.Printf("error: the update returned (%v) with the log sync held\n", err)
	}()
	time.Sleep(60 * time.Second) // killed long before
	fail(fmt.Errorf("not killed"))
}

// holdFS holds back the store's log once held is set: what is written to
// a log file after that never reaches it, and its syncs never return.
type holdFS struct {
	vfs.FS
	held atomic.Bool
}

func (h *holdFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := h.FS.Create(name, cat)
	return h.wrap(name, f), err
}

func (h *holdFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := h.FS.ReuseForWrite(oldname, newname, cat)
	return h.wrap(newname, f), err
}

func (h *holdFS) wrap(name string, f vfs.File) vfs.File {
	if f == nil || !strings.HasSuffix(name, ".log") {
		return f
	}
	return &heldFile{File: f, h: h}
}

type heldFile struct {
	vfs.File
	h *holdFS
}

func (f *heldFile) Write(p []byte) (int, error) {
	if f.h.held.Load() {
		return len(p), nil
	}
	return f.File.Write(p)
}

func (f *heldFile) block() {
	if f.h.held.Load() {
		select {} // until the process is killed
	}
}

func (f *heldFile) Sync() error     { f.block(); return f.File.Sync() }
func (f *heldFile) SyncData() error { f.block(); return f.File.SyncData() }
func (f *heldFile) SyncTo(n int64) (bool, error) {
	f.block()
	return f.File.SyncTo(n)
}
