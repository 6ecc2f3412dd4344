package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hillsdb/hills/internal/testkit"
)

// TestMain lets a test run the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("HILLS_INVENTORY_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// The inventory, with parts shown and one selected under a real X
// display, stops on SIGTERM with status 0 within 2 s, every time, without
// Wayland noise on X11.
func TestInventoryStopsOnSignal(t *testing.T) {
	testkit.Display(t)
	dir := filepath.Join(t.TempDir(), "inv")
	seed := exec.Command(os.Args[0], "-data", dir, "-name", "seeder", "-seed")
	seed.Env = append(os.Environ(), "HILLS_INVENTORY_TEST_MAIN=1")
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	os.Unsetenv("XDG_RUNTIME_DIR") // restored by Display's cleanup
	testkit.SignalStops(t, 20, func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-data", dir, "-name", "tester")
		cmd.Env = append(os.Environ(), "HILLS_INVENTORY_TEST_MAIN=1")
		return cmd
	}, [2]int{200, 150}, [2]int{400, 200})
}
