package main

import (
	"context"
	"image/png"
	"io"
	"log/slog"
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
	"github.com/hillsdb/hills/internal/testkit/testnet"
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

// waitFor asks the viewer for frames until the last one shows what ok
// wants, and returns its snapshot.
func waitFor(t *testing.T, v *viewer, what string, ok func(s *snapshot) bool) *snapshot {
	t.Helper()
	var s *snapshot
	testkit.Until(t, "the viewer to show "+what, func() bool {
		v.w.Notify()
		s = v.snap.Load()
		return s != nil && ok(s)
	})
	return s
}

// presented waits until the window has presented the frame of s: the
// window library presents a frame before it starts the next, so a later
// frame means it is on the screen.
func presented(t *testing.T, v *viewer, s *snapshot) {
	t.Helper()
	waitFor(t, v, "the frame after the one to present", func(n *snapshot) bool { return n.Frame > s.Frame })
}

// TestViewerShowsWriterRecords runs a server, a writer client and the
// viewer in a real window under Xvfb: the viewer, a replica of its own,
// shows the record the writer created, the writer's check-out, and a
// record created while it watches.
func TestViewerShowsWriterRecords(t *testing.T) {
	testkit.Display(t)
	const appID = "hills-e2e"
	ctx := testkit.Context(t)
	addr := testnet.Server(t, appID)

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
	if err := wc.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	create := func(i int, s db.Key[demo.Supplier]) db.Key[demo.Part] {
		t.Helper()
		return testkit.Create(t, parts, demo.NewPart(i, s))
	}
	sk := testkit.Create(t, sup, demo.Supplier{Name: "Digi-Key", Country: "US", Rating: 5})
	pk := create(7, sk)
	// The server checks out records it has: wait for the creation to land.
	if err := wc.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := parts.CheckOut(ctx, pk); err != nil {
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
				t.Errorf("window loop: %v", err)
			}
		case <-time.After(testkit.Timeout):
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
	presented(t, v, s)
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
	s = waitFor(t, v, "the validation message", func(s *snapshot) bool { return strings.Contains(s.Msg, "fields are invalid") })
	presented(t, v, s)
	screenshot(t, artifacts, "viewer-form.png")
	v.run(func() {
		v.form.SetField("quantity", "1234")
		v.saveBtn.Click()
	})
	testkit.Until(t, "the writer to see the viewer's edit", func() bool {
		p, _, err := parts.Get(pk)
		return err == nil && p.Quantity == 1234
	})
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
}
