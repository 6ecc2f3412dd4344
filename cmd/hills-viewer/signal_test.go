package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
	dir := filepath.Join(t.TempDir(), "db")
	a, err := app.Open(app.Config{Dir: dir, Name: "seeder"})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(a.DB, 5); err != nil {
		t.Fatal(err)
	}
	a.Close()
	os.Unsetenv("XDG_RUNTIME_DIR") // restored by Display's cleanup
	testkit.SignalStops(t, 20, func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-tree", "parts", "-select", "1.0", dir)
		cmd.Env = append(os.Environ(), "HILLS_VIEWER_TEST_MAIN=1")
		return cmd
	}, [2]int{100, 80}, [2]int{600, 120})
}
