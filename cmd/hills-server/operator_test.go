package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// What a new user gets wrong is said plainly, before anything is written.
func TestServeOperatorErrors(t *testing.T) {
	// A bad --listen: nothing is created.
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{"notanaddr", "127.0.0.1:99999", taken.LocalAddr().String()} {
		dir := filepath.Join(t.TempDir(), "data")
		_, stderr, code := runCmd(t, "serve", "--data", dir, "--listen", addr)
		if code == 0 || !strings.Contains(stderr, "--listen") {
			t.Errorf("serve --listen %s: exit %d, %q", addr, code, stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("serve --listen %s created %s (%v)", addr, dir, err)
		}
	}

	// A second server on a data directory in use names the first.
	dir := t.TempDir()
	first := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--open")
	ac := netsync.NewAdminClient(filepath.Join(dir, adminSocket))
	testkit.Until(t, "the first server", func() bool { _, err := ac.Info(t.Context()); return err == nil })
	cmd := exec.Command(os.Args[0], "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HILLS_SERVER_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	want := "in use by another hills-server (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("second serve: %v, %q; want %q", err, out, want)
	}
	first.stop(t)
	if _, err := os.Stat(filepath.Join(dir, pidName)); !os.IsNotExist(err) {
		t.Errorf("the pid file outlives the server: %v", err)
	}
}
