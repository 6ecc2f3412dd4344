package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// openInfo opens a stopped server's store and returns its info.
func openInfo(t *testing.T, dir string) netsync.ServerInfo {
	t.Helper()
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer s.Shutdown(context.Background())
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// killedAt runs `restore` in a child process, stops it at stage and kills
// it with SIGKILL.
func killedAt(t *testing.T, stage string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"restore"}, args...)...)
	cmd.Env = append(os.Environ(), "HILLS_SERVER_TEST_MAIN=1", "HILLS_RESTORE_PAUSE="+stage)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	paused := false
	for sc.Scan() {
		if sc.Text() == "paused "+stage {
			paused = true
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !paused {
		t.Fatalf("restore did not reach %q: %s", stage, stderr.String())
	}
}

// A restore killed with SIGKILL at any stage leaves the data directory
// as it was, or (killed between moving it aside and putting the restored
// store in place) absent with the old store aside; a server refuses the
// directory until the restore is run again, which then completes.
func TestRestoreKilled(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, "--data", data, "--listen", "127.0.0.1:0", "--open")
	srv.await(t, data)
	r := newReplica(t, "r", srv.info.Addr, "")
	r.create(t, Part{Number: "in the backup"})
	r.sync(t)
	backup := filepath.Join(t.TempDir(), "backup")
	if _, stderr, code := runCmd(t, "backup", "--to", backup, "--data", data); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	r.create(t, Part{Number: "after the backup"})
	r.sync(t)
	r.c.Close()
	srv.stop(t)
	old := openInfo(t, data)
	inBackup := openInfo(t, backup)
	if old.Seq <= inBackup.Seq {
		t.Fatalf("the store (%d) is not ahead of the backup (%d)", old.Seq, inBackup.Seq)
	}

	args := []string{"--from", backup, "--data", data, "--force"}
	for _, stage := range []string{"copying", "copied", "marked", "replacing"} {
		killedAt(t, stage, args...)
		_, err := netsync.NewServer(data, &netsync.ServerOptions{Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), "did not finish") {
			t.Fatalf("killed at %s: a server opens the directory: %v", stage, err)
		}
		// Put the restore's leftover away to look at the directory itself.
		left := data + ".restoring"
		if err := os.Rename(left, left+".x"); err != nil {
			t.Fatalf("killed at %s: %v", stage, err)
		}
		if got := openInfo(t, data); got.Lineage != old.Lineage || got.Seq != old.Seq {
			t.Fatalf("killed at %s: the directory changed: lineage %s seq %d, was %s %d", stage, got.Lineage, got.Seq, old.Lineage, old.Seq)
		}
		if err := os.Rename(left+".x", left); err != nil {
			t.Fatal(err)
		}
	}

	killedAt(t, "moved aside", args...)
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("killed after moving the directory aside: it is there (%v)", err)
	}
	if _, err := netsync.NewServer(data, &netsync.ServerOptions{Logger: quiet}); err == nil {
		t.Fatal("a server starts a new store where the restore did not finish")
	}
	aside, _ := filepath.Glob(data + ".before-restore-*")
	if len(aside) != 1 {
		t.Fatalf("directories moved aside: %v", aside)
	}
	if got := openInfo(t, aside[0]); got.Lineage != old.Lineage || got.Seq != old.Seq {
		t.Fatalf("the directory moved aside is not the old store: %+v", got)
	}

	stdout, stderr, code := runCmd(t, "restore", "--from", backup, "--data", data)
	if code != 0 {
		t.Fatalf("restore again: exit %d: %s", code, stderr)
	}
	got := openInfo(t, data)
	if got.Seq != inBackup.Seq || got.ID != old.ID || got.Lineage == old.Lineage || got.Lineage == "" {
		t.Fatalf("restored: %+v; backup seq %d, server %s, old lineage %s", got, inBackup.Seq, old.ID, old.Lineage)
	}
	if !strings.Contains(stdout, got.Lineage) || !strings.Contains(stderr, "restored from a backup") {
		t.Errorf("restore output: %q, log %q", stdout, stderr)
	}
	if _, err := os.Stat(data + ".restoring"); !os.IsNotExist(err) {
		t.Errorf("the restore's work directory is left: %v", err)
	}
	// info names the restore.
	out, _, code := runCmd(t, "info", "--data", data)
	if code != 0 || !strings.Contains(out, "restored") || !strings.Contains(out, backup) {
		t.Errorf("info after restore: %q", out)
	}
}
