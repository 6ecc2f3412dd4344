package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gioui.org/layout"

	"github.com/hillsdb/hills/internal/testkit"
)

// frameCounter is a UI that counts its frames; first is closed at the
// first.
type frameCounter struct {
	mu    sync.Mutex
	n     int
	first chan struct{}
}

func newFrameCounter() *frameCounter { return &frameCounter{first: make(chan struct{})} }

func (f *frameCounter) Layout(gtx layout.Context) layout.Dimensions {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n++; f.n == 1 {
		close(f.first)
	}
	return layout.Dimensions{Size: gtx.Constraints.Max}
}

func openWithLog(t *testing.T) (*App, *testkit.LockedBuffer) {
	t.Helper()
	logs := &testkit.LockedBuffer{}
	a, err := Open(Config{Dir: t.TempDir(), Name: "w", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, logs
}

// loop runs a.Loop in a goroutine and returns its result channel.
func loop(ctx context.Context, a *App, ui UI) <-chan error {
	done := make(chan error, 1)
	go func() { done <- a.Loop(ctx, ui) }()
	return done
}

func waitLoop(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(testkit.Timeout):
		t.Fatal("Loop did not return")
	}
	return nil
}

// Under a real X server the window opens and draws, and ending ctx
// closes it: Loop returns nil, and leaves no window on the display.
func TestLoopDrawsAndCloses(t *testing.T) {
	testkit.Display(t)
	a, logs := openWithLog(t)
	ui := newFrameCounter()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := loop(ctx, a, ui)
	select {
	case <-ui.first:
	case err := <-done:
		t.Fatalf("Loop returned before a frame: %v\n%s", err, logs)
	case <-time.After(testkit.Timeout):
		t.Fatal("no frame")
	}
	if n := testkit.Windows(t); n != 1 {
		t.Fatalf("%d windows on the display, want 1", n)
	}
	cancel()
	if err := waitLoop(t, done); err != nil {
		t.Fatalf("Loop: %v", err)
	}
	testkit.Until(t, "no window left on the display", func() bool { return testkit.Windows(t) == 0 })
}

// With neither variable set, Loop says so at once and once.
func TestLoopWithoutDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	os.Unsetenv("DISPLAY")
	t.Setenv("WAYLAND_DISPLAY", "")
	os.Unsetenv("WAYLAND_DISPLAY")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	a, logs := openWithLog(t)
	err := waitLoop(t, loop(t.Context(), a, newFrameCounter()))
	if !errors.Is(err, ErrNoDisplay) || !strings.Contains(err.Error(), "DISPLAY and WAYLAND_DISPLAY are unset") {
		t.Fatalf("Loop without a display: %v", err)
	}
	if logs.String() != "" {
		t.Fatalf("Loop logged:\n%s", logs)
	}
}

// A display that nothing serves refuses the window: the error names it.
func TestLoopDisplayRefused(t *testing.T) {
	n := 3000
	for ; n < 3100; n++ {
		if _, err := os.Stat("/tmp/.X11-unix/X" + strconv.Itoa(n)); err != nil {
			break
		}
	}
	t.Setenv("DISPLAY", ":"+strconv.Itoa(n))
	t.Setenv("WAYLAND_DISPLAY", "")
	os.Unsetenv("WAYLAND_DISPLAY")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	a, _ := openWithLog(t)
	err := waitLoop(t, loop(t.Context(), a, newFrameCounter()))
	want := `the display refused the window (DISPLAY=":` + strconv.Itoa(n) + `"`
	if !errors.Is(err, ErrNoDisplay) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Loop on a display nobody serves: %v, want %q", err, want)
	}
}
