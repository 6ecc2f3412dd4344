package app

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/internal/testkit"
)

// The window opened by Loop carries the hills icon in _NET_WM_ICON, as
// a window manager reads it (xprop, from x11-utils).
func TestLoopSetsWindowIcon(t *testing.T) {
	testkit.Display(t)
	for _, tool := range []string{"xwininfo", "xprop"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/deps.sh installs x11-utils): %v", tool, err)
		}
	}
	a, logs := openWithLog(t)
	ui := newFrameCounter()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := loop(ctx, a, ui)
	defer func() { cancel(); waitLoop(t, done) }()
	select {
	case <-ui.first:
	case err := <-done:
		t.Fatalf("Loop returned before a frame: %v\n%s", err, logs)
	case <-time.After(testkit.Timeout):
		t.Fatal("no frame")
	}
	out, err := exec.Command("xwininfo", "-root", "-children").CombinedOutput()
	if err != nil {
		t.Fatalf("xwininfo: %v\n%s", err, out)
	}
	ids := regexp.MustCompile(`(?m)^\s+(0x[0-9a-f]+) `).FindAllStringSubmatch(string(out), -1)
	if len(ids) != 1 {
		t.Fatalf("want one window:\n%s", out)
	}
	var prop string
	testkit.Until(t, "the window's icon property", func() bool {
		b, _ := exec.Command("xprop", "-id", ids[0][1], "-notype", "_NET_WM_ICON").CombinedOutput()
		prop = string(b)
		return strings.Contains(prop, "_NET_WM_ICON")
	})
	// The first image: width, height, then its pixels.
	if !regexp.MustCompile(`_NET_WM_ICON\s*=?\s*\n?\s*(Icon \(16 x 16\)|16, 16,)`).MatchString(prop) {
		t.Fatalf("_NET_WM_ICON is not the 16×16 icon first:\n%.300s", prop)
	}
	if logs.String() != "" {
		t.Fatalf("Loop logged:\n%s", logs)
	}
}
