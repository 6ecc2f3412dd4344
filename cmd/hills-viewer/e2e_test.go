package main

import (
	"context"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/xvfb"
	"github.com/hillsdb/hills/netsync"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// screenshot saves the X screen as a PNG in dir (kept as the test's
// artifact) and returns its path; "" when ImageMagick is missing.
func screenshot(t *testing.T, dir, name string) string {
	t.Helper()
	imp, err := exec.LookPath("import")
	if err != nil {
		t.Log("ImageMagick's import is not installed: no screenshot")
		return ""
	}
	p := filepath.Join(dir, name)
	if out, err := exec.Command(imp, "-window", "root", p).CombinedOutput(); err != nil {
		t.Fatalf("import: %v: %s", err, out)
	}
	return p
}

// waitFor polls the viewer's last frame until ok holds.
func waitFor(t *testing.T, v *viewer, what string, ok func(s *snapshot) bool) *snapshot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v.w.Notify()
		if s := v.snap.Load(); s != nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the viewer to show %s; last frame: %+v", what, v.snap.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestViewerShowsWriterRecords runs a server, a writer client and the
// viewer in a real window under Xvfb: the viewer, a replica of its own,
// shows the record the writer created, the writer's check-out, and a
// record created while it watches.
func TestViewerShowsWriterRecords(t *testing.T) {
	xvfb.Start(t)
	const appID = "hills-e2e"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	srv, err := netsync.NewServer(t.TempDir(), &netsync.ServerOptions{AppID: appID, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	}()

	// The writer: a replica with the application's Go types.
	wd, err := db.Open(t.TempDir(), &db.Options{Replica: true, Name: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	defer wd.Close()
	wc, err := netsync.Connect(wd, addr, &netsync.ClientOptions{AppID: appID, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	sup, parts, err := demo.Open(wd)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := wc.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	create := func(i int, s db.Key[demo.Supplier]) db.Key[demo.Part] {
		t.Helper()
		return testkit.Create(t, parts, demo.NewPart(i, s))
	}
	sk := testkit.Create(t, sup, demo.Supplier{Name: "Digi-Key", Country: "US", Rating: 5})
	pk := create(7, sk)
	// The server checks out records it has: wait for the creation to land.
	if err := wc.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	if err := parts.CheckOut(wctx, pk); err != nil {
		t.Fatal(err)
	}

	// The viewer: its own replica, in a real window.
	a, err := app.Open(app.Config{AppID: appID, Server: addr, Dir: t.TempDir(), Name: "viewer", Title: "hills viewer", Width: 1280, Height: 800, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v := newViewer(a)
	loopCtx, stopLoop := context.WithCancel(ctx)
	looped := make(chan error, 1)
	go func() { looped <- a.Loop(loopCtx, v) }()
	defer func() {
		stopLoop()
		select {
		case err := <-looped:
			if err != nil {
				_, derr := net.Dial("unix", "/tmp/.X11-unix/X"+strings.TrimPrefix(os.Getenv("DISPLAY"), ":"))
				t.Errorf("window loop: %v (DISPLAY %s, dial %v)", err, os.Getenv("DISPLAY"), derr)
			}
		case <-time.After(10 * time.Second):
			t.Error("the window did not close")
		}
		v.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()

	waitFor(t, v, "the parts tree with one record", func(s *snapshot) bool { return s.Trees["parts"] == 1 })
	v.run(func() {
		v.openTree("parts")
		if err := v.selectKey(pk.String()); err != nil {
			t.Error(err)
		}
	})
	want := demo.NewPart(7, sk)
	s := waitFor(t, v, "the writer's record, held by the writer", func(s *snapshot) bool {
		return s.Tree == "parts" && s.Rows == 1 && len(s.Cells) == 1 && s.Cells[0][1] == want.Number &&
			s.Selected == pk.String() && s.Borrow == "Held by writer" && s.Text != ""
	})
	if s.Cells[0][2] != want.Name {
		t.Fatalf("name cell %q, want %q", s.Cells[0][2], want.Name)
	}
	time.Sleep(300 * time.Millisecond) // let the window present the frame
	artifacts := t.TempDir()
	if d := os.Getenv("HILLS_SCREENSHOT_DIR"); d != "" {
		artifacts = d
	}
	if p := screenshot(t, artifacts, "viewer-checkout.png"); p != "" {
		checkNotBlank(t, p)
		t.Logf("screenshot: %s", p)
	}

	// Live: a record the writer creates now appears.
	pk2 := create(8, sk)
	waitFor(t, v, "a record created while watching", func(s *snapshot) bool {
		return s.Rows == 2 && len(s.Cells) == 2 && s.Cells[1][0] == pk2.String()
	})
	// The writer checks in: the viewer's button offers the check-out.
	if err := parts.CheckIn(t.Context(), pk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, v, "the record free after check-in", func(s *snapshot) bool { return s.Borrow == "Check out" })

	// The viewer checks it out and edits it through the form: a bad
	// value is refused with a message, a good one reaches the writer.
	v.run(func() { v.checkout.Click() })
	waitFor(t, v, "the viewer's check-out", func(s *snapshot) bool { return s.Borrow == "Check in" })
	v.run(func() {
		v.form.SetField("quantity", "lots")
		v.saveBtn.Click()
	})
	waitFor(t, v, "the validation message", func(s *snapshot) bool { return strings.Contains(s.Msg, "fields are invalid") })
	time.Sleep(300 * time.Millisecond)
	screenshot(t, artifacts, "viewer-form.png")
	v.run(func() {
		v.form.SetField("quantity", "1234")
		v.saveBtn.Click()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, _, err := parts.Get(pk)
		if err == nil && p.Quantity == 1234 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer never saw the viewer's edit (last %+v, %v; viewer %+v)", p, err, v.snap.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNotBlank fails when the PNG at p is one flat color.
func checkNotBlank(t *testing.T, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	colors := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colors) < 8 {
		t.Fatalf("screenshot %s has %d colors: the window drew nothing", p, len(colors))
	}
	_ = image.Point{}
}
