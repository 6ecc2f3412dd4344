package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gioui.org/layout"

	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/xvfb"
)

// logBuf keeps what a logger wrote.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type frameCounter struct{ n atomic.Int64 }

func (f *frameCounter) Layout(gtx layout.Context) layout.Dimensions {
	f.n.Add(1)
	return layout.Dimensions{Size: gtx.Constraints.Max}
}

func openWithLog(t *testing.T) (*App, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	a, err := Open(Config{Dir: t.TempDir(), Name: "w", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, logs
}

// A display that refuses the window at first (still starting) gets it a
// moment later: Loop opens the window again and draws.
func TestLoopOpensTheWindowAgain(t *testing.T) {
	n := xvfb.FreeDisplay(t)
	xvfb.Use(t, n) // nothing serves it yet
	a, logs := openWithLog(t)
	ui := &frameCounter{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Loop(ctx, ui) }()
	wait(t, "a refused window", func() bool { return strings.Contains(logs.String(), "opening it again") })
	xvfb.StartOn(t, n)
	wait(t, "a frame", func() bool { return ui.n.Load() > 0 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Loop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the window did not close")
	}
}

// With no display at all, Loop gives up after a few tries with the error.
func TestLoopWithoutDisplay(t *testing.T) {
	xvfb.Use(t, xvfb.FreeDisplay(t))
	a, logs := openWithLog(t)
	done := make(chan error, 1)
	go func() { done <- a.Loop(context.Background(), &frameCounter{}) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Loop returned nil without a display")
		}
		if got := strings.Count(logs.String(), "opening it again"); got != windowTries-1 {
			t.Fatalf("%d retries logged, want %d:\n%s", got, windowTries-1, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Loop did not give up")
	}
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Until(t, what, cond)
}
