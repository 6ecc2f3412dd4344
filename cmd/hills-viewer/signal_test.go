package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
)

// TestMain lets a test run the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("HILLS_VIEWER_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// The viewer, shown a tree and a record under a real X display, stops on
// SIGTERM with status 0 within 2 s, every time, and says nothing about
// Wayland on X11 (XDG_RUNTIME_DIR unset, as in many X sessions).
func TestViewerStopsOnSignal(t *testing.T) {
	testkit.Display(t)
	dir := seededDir(t, 5)
	os.Unsetenv("XDG_RUNTIME_DIR") // restored by Display's cleanup
	testkit.SignalStops(t, 20, func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-tree", "parts", "-select", "1.0", dir)
		cmd.Env = append(os.Environ(), "HILLS_VIEWER_TEST_MAIN=1")
		return cmd
	}, [2]int{100, 80}, [2]int{600, 120})
}

// The viewer idling under a real X display, after a tree and a record were
// clicked, takes under 2% of a core (it draws nothing without a cause).
func TestViewerIdleCPU(t *testing.T) {
	xdotool, err := exec.LookPath("xdotool")
	if err != nil {
		t.Fatal("xdotool is not installed: scripts/deps.sh installs it")
	}
	testkit.Display(t)
	dir := seededDir(t, 50)
	cmd := exec.Command(os.Args[0], dir)
	cmd.Env = append(os.Environ(), "HILLS_VIEWER_TEST_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	testkit.Until(t, "the viewer's window", func() bool { return testkit.Windows(t) > 0 })
	for _, p := range [][2]int{{100, 80}, {600, 120}, {1200, 700}} { // a tree, a row, away
		time.Sleep(500 * time.Millisecond)
		exec.Command(xdotool, "mousemove", strconv.Itoa(p[0]), strconv.Itoa(p[1]), "click", "1").Run()
	}
	time.Sleep(time.Second) // the clicks' frames
	const span = 3 * time.Second
	before := cpuTime(t, cmd.Process.Pid)
	time.Sleep(span)
	used := cpuTime(t, cmd.Process.Pid) - before
	if share := float64(used) / float64(span); share >= 0.02 {
		t.Fatalf("the idle viewer used %v of CPU in %v (%.1f%% of a core), want under 2%%", used, span, 100*share)
	}
}

// seededDir makes a standalone database of n demo parts and returns its
// directory, closed, for a child process to open.
func seededDir(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	a, err := app.Open(app.Config{Dir: dir, Name: "seeder"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := demo.Seed(a.DB, n); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cpuTime returns the user and system CPU time process pid used so far.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name (in parentheses, may hold
	// spaces): utime and stime are the 12th and 13th after it, in clock
	// ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}
