package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// compactOut is what compact prints for a result.
func compactOut(before, after uint64) string {
	return fmt.Sprintf("floor before  %d\nfloor after   %d\nremoved       %d entries\n", before, after, after-before)
}

// serveWithParts serves an open server from dir with n parts a replica
// made, and returns the server and the log's sequence.
func serveWithParts(t *testing.T, dir string, n int) (*served, uint64) {
	t.Helper()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--open")
	s.await(t, dir)
	a := newReplica(t, "a", s.info.Addr, "")
	for i := range n {
		a.create(t, Part{Number: fmt.Sprint("p", i)})
	}
	a.sync(t)
	return s, infoOf(t, dir).Seq
}

// infoOf reads the server's description through the admin command.
func infoOf(t *testing.T, dir string) netsync.ServerInfo {
	t.Helper()
	a, release, err := connect(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	in, err := a.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// compact works on a running server through its socket and on a stopped
// server's store; a replica that comes back after both holds every record.
func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	s, seq := serveWithParts(t, dir, 6)

	stdout, stderr, code := runCmd(t, "compact", "--keep", "2", "--data", dir)
	if code != 0 || stdout != compactOut(0, seq-2) {
		t.Fatalf("compact on a running server: %d %s\n%s", code, stderr, stdout)
	}
	if in := infoOf(t, dir); in.Floor != seq-2 || in.Addr == "" {
		t.Fatalf("info after compact: floor %d, want %d (addr %q)", in.Floor, seq-2, in.Addr)
	}
	s.stop(t)

	stdout, stderr, code = runCmd(t, "compact", "--keep", "0", "--data", dir)
	if code != 0 || stdout != compactOut(seq-2, seq) {
		t.Fatalf("compact on a stopped store: %d %s\n%s", code, stderr, stdout)
	}
	stdout, _, code = runCmd(t, "info", "--data", dir)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("log floor    %d\n", seq)) {
		t.Fatalf("info of the stopped store:\n%s", stdout)
	}

	// A new replica has applied nothing: below the floor, it gets a
	// snapshot with every record.
	s2 := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--open")
	s2.await(t, dir)
	b := newReplica(t, "b", s2.info.Addr, "")
	b.sync(t)
	n := 0
	for range b.parts.All() {
		n++
	}
	if n != 6 {
		t.Fatalf("b holds %d records after the snapshot, want 6", n)
	}
}

func TestCompactUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"compact", "--data", dir},
		{"compact", "--keep", "-1", "--data", dir},
		{"compact", "--keep", "lots", "--data", dir},
		{"compact", "--keep", "1", "extra", "--data", dir},
		{"serve", "--log-keep", "-3", "--data", dir},
		{"serve", "--log-max-age", "soon", "--data", dir},
		{"serve", "--log-max-age", "-1h", "--data", dir},
	} {
		if _, stderr, code := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	if _, stderr, code := runCmd(t, "compact", "--keep", "1", "--data", dir); code != 1 || !strings.Contains(stderr, "no server store") {
		t.Errorf("compact of an empty directory: %d %s", code, stderr)
	}
}

func TestLogPolicyFlags(t *testing.T) {
	t.Setenv("HILLS_DATA", "")
	t.Setenv("HILLS_LISTEN", "")
	t.Setenv("HILLS_LOG_KEEP", "")
	t.Setenv("HILLS_LOG_MAX_AGE", "")
	c, err := parseServe(nil, io.Discard)
	if err != nil || c.keep != 0 || c.maxAge != 0 {
		t.Fatalf("defaults %+v %v", c, err)
	}
	t.Setenv("HILLS_LOG_KEEP", "500")
	t.Setenv("HILLS_LOG_MAX_AGE", "168h")
	if c, err = parseServe(nil, io.Discard); err != nil || c.keep != 500 || c.maxAge != 168*time.Hour {
		t.Fatalf("from the environment %+v %v", c, err)
	}
	if c, err = parseServe([]string{"--log-keep", "7", "--log-max-age", "1h"}, io.Discard); err != nil || c.keep != 7 || c.maxAge != time.Hour {
		t.Fatalf("flags over the environment %+v %v", c, err)
	}
	t.Setenv("HILLS_LOG_KEEP", "many")
	if _, err = parseServe(nil, io.Discard); err == nil {
		t.Fatal("a bad HILLS_LOG_KEEP was taken")
	}
}

// serve's policy compacts by count and by age when it starts (and every
// minute after; the netsync tests run it faster), never below --log-keep,
// and never entries younger than --log-max-age.
func TestServeLogPolicy(t *testing.T) {
	dir := t.TempDir()
	s, seq := serveWithParts(t, dir, 8)
	s.stop(t)

	// restart serves the store with args until its floor is want (the
	// policy's first run follows the start), then stops it. For want 0 it
	// gives the policy a moment to do what it should not.
	restart := func(want uint64, args ...string) {
		t.Helper()
		s := startServe(t, append([]string{"--data", dir, "--listen", "127.0.0.1:0", "--open"}, args...)...)
		s.await(t, dir)
		if want == 0 {
			time.Sleep(200 * time.Millisecond)
		}
		waitFor(t, fmt.Sprintf("floor %d with %q", want, args), func() bool { return infoOf(t, dir).Floor == want })
		time.Sleep(100 * time.Millisecond) // more runs must not go further
		if f := infoOf(t, dir).Floor; f != want {
			t.Fatalf("%q: floor %d, want %d", args, f, want)
		}
		s.stop(t)
	}
	restart(0, "--log-max-age", "1h")
	restart(seq-5, "--log-keep", "5")
	restart(seq-2, "--log-keep", "2", "--log-max-age", "1ms")
	t.Setenv("HILLS_LOG_KEEP", "0")
	t.Setenv("HILLS_LOG_MAX_AGE", "1ms")
	restart(seq)
}
