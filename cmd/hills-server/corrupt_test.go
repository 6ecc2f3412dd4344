package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hillsdb/hills/internal/storetest"
	"github.com/hillsdb/hills/netsync"
)

// damagedData makes a server store in a new directory, shuts it down and
// applies the damages that need no table file: a cut MANIFEST, garbage in
// OPTIONS.
func damagedData(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for _, damage := range storetest.Damages {
		if strings.HasPrefix(damage.Name, "sst") {
			continue // covered by netsync's tests, which can flush a table
		}
		dir := t.TempDir()
		s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		damage.Do(t, dir)
		dirs[damage.Name] = dir
	}
	return dirs
}

// TestCorruptData: info and serve on a damaged data directory exit 1 with
// a message that says the store is corrupt and where to look.
func TestCorruptData(t *testing.T) {
	for name, dir := range damagedData(t) {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				{"info", "--data", dir},
				{"serve", "--data", dir, "--listen", "127.0.0.1:0"},
			} {
				_, stderr, code := runCmd(t, args...)
				if code != 1 {
					t.Fatalf("%s: exit %d, want 1; stderr %q", args[0], code, stderr)
				}
				if !strings.Contains(stderr, "server store corrupt") || !strings.Contains(stderr, dir) ||
					!strings.Contains(stderr, "backup") {
					t.Fatalf("%s: stderr %q", args[0], stderr)
				}
			}
		})
	}
}

// TestCorruptDataProcess: the real binary exits 1 on a damaged data
// directory, without a panic.
func TestCorruptDataProcess(t *testing.T) {
	dir := damagedData(t)["manifest-truncated"]
	cmd := exec.Command(os.Args[0], "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HILLS_SERVER_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("serve: %v, want exit status 1; output %s", err, out)
	}
	if strings.Contains(string(out), "panic") || !strings.Contains(string(out), filepath.Base(dir)) {
		t.Fatalf("serve output %s", out)
	}
}
