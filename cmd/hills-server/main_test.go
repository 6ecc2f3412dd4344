package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// TestMain lets a test run the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("HILLS_SERVER_TEST_MAIN") == "1" {
		if pause := os.Getenv("HILLS_RESTORE_PAUSE"); pause != "" {
			// The restore stops at this stage, for the test to kill it.
			restoreProgress = func(stage string) {
				if stage == pause {
					fmt.Println("paused", stage)
					select {}
				}
			}
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// runCmd runs a command line and returns its output and exit code.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, args, &out, &errb)
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}

type served struct {
	dir    string
	info   netsync.ServerInfo
	out    *testkit.LockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServe runs `hills-server serve` in a goroutine until the test ends
// or stop is called, and waits until its admin socket answers.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{out: &testkit.LockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), s.out, io.Discard) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *served) await(t *testing.T, dir string) {
	t.Helper()
	s.dir = dir
	ac := netsync.NewAdminClient(filepath.Join(dir, adminSocket))
	testkit.Until(t, "the server's admin socket", func() bool {
		select {
		case err := <-s.done:
			t.Fatalf("serve stopped: %v\n%s", err, s.out)
		default:
		}
		info, err := ac.Info(t.Context())
		if err == nil && info.Addr != "" {
			s.info = info
			return true
		}
		return false
	})
}

func (s *served) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}

type Part struct {
	Number string `msgpack:"number"`
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type replicaT struct {
	d     *db.DB
	c     *netsync.Client
	parts *db.Tree[Part]
}

func newReplica(t *testing.T, name, addr, app string) *replicaT {
	t.Helper()
	return newReplicaWith(t, name, addr, &netsync.ClientOptions{AppID: app})
}

// newReplicaWith opens a replica named name and connects it to addr with
// opts (its Logger set here).
func newReplicaWith(t *testing.T, name, addr string, opts *netsync.ClientOptions) *replicaT {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), name), &db.Options{Replica: true, Name: name, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		t.Fatal(err)
	}
	o := *opts
	o.Logger = quiet
	c, err := netsync.Connect(d, addr, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); d.Close() })
	return &replicaT{d: d, c: c, parts: parts}
}

func (r *replicaT) create(t *testing.T, p Part) db.Key[Part] {
	t.Helper()
	return testkit.Create(t, r.parts, p)
}

func (r *replicaT) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.c.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
}

func TestServeAndAdminister(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--app-id", "shop", "--open")
	s.await(t, dir)
	out := s.out.String()
	if !strings.Contains(out, s.info.ID) || !strings.Contains(out, s.info.Fingerprint) {
		t.Fatalf("serve printed %q; server %s %s", out, s.info.ID, s.info.Fingerprint)
	}
	if fi, err := os.Stat(filepath.Join(dir, adminSocket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v", fi, err)
	}

	bob := newReplica(t, "bob", s.info.Addr, "shop")
	k := bob.create(t, Part{Number: "P-1"})
	bob.sync(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bob.parts.CheckOut(ctx, k); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runCmd(t, "info", "--data", dir)
	if code != 0 {
		t.Fatalf("info: %d %s", code, stderr)
	}
	for _, want := range []string{s.info.ID, s.info.Fingerprint, `"shop"`, s.info.Addr, "parts", "bob"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("info output lacks %q:\n%s", want, stdout)
		}
	}
	// Outbox positions read as the replica's opening and its change.
	if !regexp.MustCompile(`(?m)^\s+bob\s+\S+\s+\S+\s+\S+\s+[1-9][0-9]*\.[0-9]+\s`).MatchString(stdout) {
		t.Errorf("info shows bob's last change unreadably:\n%s", stdout)
	}
	stdout, _, code = runCmd(t, "info", "--data", dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"records": 1`) {
		t.Errorf("info --json: %d\n%s", code, stdout)
	}

	stdout, stderr, code = runCmd(t, "borrows", "list", "--data", dir)
	if code != 0 || !strings.Contains(stdout, k.String()) || !strings.Contains(stdout, "bob") {
		t.Fatalf("borrows list: %d %s\n%s", code, stderr, stdout)
	}

	// Clear errors for an unknown tree, a missing record, a free record.
	free := bob.create(t, Part{Number: "P-2"})
	bob.sync(t)
	for _, c := range []struct{ tree, key, want string }{
		{"nope", k.String(), "no such tree"},
		{"parts", "777.0", "not found"},
		{"parts", "x", "invalid key"},
		{"parts", free.String(), "not checked out"},
	} {
		_, stderr, code := runCmd(t, "borrows", "return", c.tree, c.key, "--reason", "audit", "--data", dir)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("borrows return %s %s: exit %d, %q; want 1 and %q", c.tree, c.key, code, stderr, c.want)
		}
	}

	stdout, stderr, code = runCmd(t, "borrows", "return", "parts", k.String(), "--reason", "bob left", "--data", dir)
	if code != 0 || !strings.Contains(stdout, "bob") {
		t.Fatalf("borrows return: %d %s\n%s", code, stderr, stdout)
	}
	testkit.Until(t, "bob to lose the record to the force-return", func() bool { return !bob.parts.Borrow(k).Mine })
	stdout, _, _ = runCmd(t, "borrows", "list", "--data", dir)
	if !strings.Contains(stdout, "no borrowed records") {
		t.Errorf("borrows list after return:\n%s", stdout)
	}

	// A backup of the running server, then one of the stopped server.
	backupDir := filepath.Join(t.TempDir(), "backup")
	if stdout, stderr, code := runCmd(t, "backup", "--data", dir, "--to", backupDir); code != 0 {
		t.Fatalf("backup: %d %s\n%s", code, stderr, stdout)
	}
	if _, stderr, code := runCmd(t, "backup", "--data", dir, "--to", backupDir); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("backup over an existing directory: %d %s", code, stderr)
	}
	stdout, stderr, code = runCmd(t, "info", "--data", backupDir, "--json")
	if code != 0 || !strings.Contains(stdout, s.info.ID) || !strings.Contains(stdout, `"records": 2`) {
		t.Fatalf("info of the backup: %d %s\n%s", code, stderr, stdout)
	}

	// Stopped: the socket is gone and the commands open the store.
	bob.c.Close()
	s.stop(t)
	if _, stderr, code := runCmd(t, "backup", "--data", dir, "--to", filepath.Join(t.TempDir(), "b2")); code != 0 {
		t.Errorf("backup of a stopped server: %d %s", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, adminSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket after stop: %v", err)
	}
	stdout, stderr, code = runCmd(t, "info", "--data", dir)
	if code != 0 || !strings.Contains(stdout, s.info.ID) || !strings.Contains(stdout, "not running") ||
		!strings.Contains(stdout, "parts") {
		t.Fatalf("info of a stopped server: %d %s\n%s", code, stderr, stdout)
	}
	stdout, _, code = runCmd(t, "borrows", "list", "--data", dir, "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("borrows list --json of a stopped server: %d %q", code, stdout)
	}

	// Restarted on the same data: same identity.
	s2 := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--app-id", "shop", "--open")
	s2.await(t, dir)
	if s2.info.ID != s.info.ID || s2.info.Fingerprint != s.info.Fingerprint || s2.info.Seq < s.info.Seq {
		t.Fatalf("restart: %+v, before %+v", s2.info, s.info)
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("HILLS_DATA", "")
	t.Setenv("HILLS_LISTEN", "")
	t.Setenv("HILLS_APP_ID", "")
	c, err := parseServe(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c != (serveConfig{data: "./hills-data", listen: "127.0.0.1:7447"}) {
		t.Fatalf("defaults %+v", c)
	}

	dir := t.TempDir()
	t.Setenv("HILLS_DATA", dir)
	t.Setenv("HILLS_LISTEN", "127.0.0.1:0")
	t.Setenv("HILLS_APP_ID", "from-env")
	c, err = parseServe(nil, io.Discard)
	if err != nil || c != (serveConfig{data: dir, listen: "127.0.0.1:0", appID: "from-env"}) {
		t.Fatalf("from the environment %+v %v", c, err)
	}
	c, err = parseServe([]string{"--app-id", "from-flag", "--listen", "127.0.0.1:9"}, io.Discard)
	if err != nil || c != (serveConfig{data: dir, listen: "127.0.0.1:9", appID: "from-flag"}) {
		t.Fatalf("flags over the environment %+v %v", c, err)
	}

	// A real server from the environment alone; info finds it the same way.
	s := startServe(t)
	s.await(t, dir)
	if s.info.AppID != "from-env" || !strings.HasPrefix(s.info.Addr, "127.0.0.1:") {
		t.Fatalf("served %+v", s.info)
	}
	stdout, stderr, code := runCmd(t, "info")
	if code != 0 || !strings.Contains(stdout, s.info.ID) || !strings.Contains(stdout, `"from-env"`) {
		t.Fatalf("info from HILLS_DATA: %d %s\n%s", code, stderr, stdout)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"serve", "--bogus"},
		{"serve", "--data", dir, "extra"},
		{"serve", "--listen"},
		{"info", "--data"},
		{"info", "--data", dir, "extra"},
		{"borrows"},
		{"borrows", "lend"},
		{"borrows", "list", "--nope"},
		{"borrows", "return", "parts", "--reason", "x", "--data", dir},
		{"borrows", "return", "parts", "1.0", "--data", dir},
		{"borrows", "return", "parts", "1.0", "--reason", " ", "--data", dir},
		{"backup", "--data", dir},
		{"backup", "--data", dir, "--to", "x", "y"},
		{"clients"},
		{"clients", "frob"},
		{"clients", "add", "--grant", "*=read", "--data", dir},
		{"clients", "add", "a", "b", "--grant", "*=read", "--data", dir},
		{"clients", "add", "x", "--data", dir},
		{"clients", "add", "x", "--grant", "parts", "--data", dir},
		{"clients", "add", "x", "--grant", "parts=fly", "--data", dir},
		{"clients", "add", "x", "--grant", "bad/name=read", "--data", dir},
		{"clients", "add", "x", "--grant", "*=read", "--ttl", "-1h", "--data", dir},
		{"clients", "add", "x", "--grant", "*=read", "--ttl", "soon", "--data", dir},
		{"clients", "list", "extra", "--data", dir},
		{"clients", "grant", "x", "--data", dir},
		{"clients", "grant", "--grant", "*=read", "--data", dir},
		{"clients", "revoke", "--data", dir},
		{"borrows", "return", "--client", "x", "--data", dir},
		{"borrows", "return", "--client", "x", "parts", "1.0", "--reason", "r", "--data", dir},
	} {
		stdout, stderr, code := runCmd(t, args...)
		if code != 2 || !strings.Contains(stderr, "Usage:") || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage", args, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"serve", "-h"}, {"borrows", "return", "--help"},
		{"clients", "--help"}, {"clients", "add", "-h"}, {"clients", "grant", "-h"}} {
		stdout, stderr, code := runCmd(t, args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	_, stderr, code := runCmd(t, "info", "--data", filepath.Join(dir, "missing"))
	if code != 1 || !strings.Contains(stderr, "no server store") {
		t.Errorf("info of a missing store: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("info created a store: %v", err)
	}
}

// TestSignal runs the real binary's main and stops it with SIGTERM.
func TestSignal(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HILLS_SERVER_TEST_MAIN=1")
	var out, errb testkit.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	reaped := false // the test's goroutine only, as its cleanups
	t.Cleanup(func() {
		if !reaped { // the test failed with the server running
			cmd.Process.Kill()
			<-waited
		}
	})
	ac := netsync.NewAdminClient(filepath.Join(dir, adminSocket))
	testkit.Until(t, "the server binary's admin socket", func() bool {
		select {
		case err := <-waited:
			reaped = true
			t.Fatalf("the server exited: %v\n%s\n%s", err, out.String(), errb.String())
		default:
		}
		_, err := ac.Info(t.Context())
		return err == nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		reaped = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, errb.String())
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(errb.String(), "stopped") {
		t.Errorf("log lacks the clean stop:\n%s", errb.String())
	}
	if _, err := os.Lstat(filepath.Join(dir, adminSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket after SIGTERM: %v", err)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// enroll runs clients add and returns the token it printed.
func enroll(t *testing.T, dir, name string, grants ...string) string {
	t.Helper()
	args := []string{"clients", "add", name, "--data", dir}
	for _, g := range grants {
		args = append(args, "--grant", g)
	}
	stdout, stderr, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("clients add %s: exit %d %s", name, code, stderr)
	}
	tok := strings.TrimSpace(stdout)
	if strings.Count(stdout, "\n") != 1 || !strings.HasPrefix(tok, "hills1-") {
		t.Fatalf("clients add %s: stdout %q is not one token line", name, stdout)
	}
	if !strings.Contains(stderr, "enrolled "+name) {
		t.Errorf("clients add %s: stderr %q", name, stderr)
	}
	return tok
}

// listClients runs clients list --json.
func listClients(t *testing.T, dir string) map[string]netsync.EnrolledClient {
	t.Helper()
	stdout, stderr, code := runCmd(t, "clients", "list", "--data", dir, "--json")
	if code != 0 {
		t.Fatalf("clients list: exit %d %s", code, stderr)
	}
	var list []netsync.EnrolledClient
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("clients list --json: %v\n%s", err, stdout)
	}
	m := map[string]netsync.EnrolledClient{}
	for _, c := range list {
		m[c.Name] = c
	}
	return m
}

func TestClients(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--app-id", "shop")
	s.await(t, dir)

	// Closed by default: a client without a token is refused.
	stranger := newReplicaWith(t, "stranger", s.info.Addr, &netsync.ClientOptions{AppID: "shop"})
	waitFor(t, "the stranger refused", func() bool { return errors.Is(stranger.c.Status().Err, netsync.ErrUnauthorized) })
	stranger.c.Close()

	tok := enroll(t, dir, "alice", "parts=read,create,edit", "*=read")
	stdout, _, _ := runCmd(t, "clients", "list", "--data", dir)
	if !strings.Contains(stdout, "alice") || !strings.Contains(stdout, "token until") {
		t.Errorf("clients list before the token is used:\n%s", stdout)
	}
	if c := listClients(t, dir)["alice"]; !c.Pending || c.Expires.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("alice's pending enrollment: %+v", c)
	}

	alice := newReplicaWith(t, "alice", s.info.Addr, &netsync.ClientOptions{AppID: "shop", Token: tok})
	k := alice.create(t, Part{Number: "P-1"})
	k2 := alice.create(t, Part{Number: "P-2"})
	alice.sync(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range []db.Key[Part]{k, k2} {
		if err := alice.parts.CheckOut(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	c := listClients(t, dir)["alice"]
	if c.Pending || !c.Connected || c.ID == "" || time.Since(c.LastSeen) > time.Minute ||
		grantsText(c.Grants) != "parts=read,create,edit *=read" {
		t.Fatalf("alice once connected: %+v", c)
	}
	stdout, _, _ = runCmd(t, "clients", "list", "--data", dir)
	if !strings.Contains(stdout, "enrolled") || !strings.Contains(stdout, "true") || !strings.Contains(stdout, "parts=read,create,edit") {
		t.Errorf("clients list:\n%s", stdout)
	}
	if _, stderr, code := runCmd(t, "clients", "add", "alice", "--grant", "*=read", "--data", dir); code != 1 || !strings.Contains(stderr, "enrolled already") {
		t.Errorf("enrolling alice twice: exit %d %q", code, stderr)
	}

	// Read only: the replica learns it and refuses a create at once.
	if stdout, stderr, code := runCmd(t, "clients", "grant", "alice", "--grant", "parts=read", "--data", dir); code != 0 || !strings.Contains(stdout, "parts=read") {
		t.Fatalf("clients grant: exit %d %s\n%s", code, stderr, stdout)
	}
	waitFor(t, "alice's create refused", func() bool {
		_, err := alice.parts.Create(Part{Number: "P-late"})
		if err != nil && !errors.Is(err, db.ErrPermission) && !errors.Is(err, db.ErrNoIDs) {
			t.Fatalf("create after the grant change: %v", err)
		}
		return errors.Is(err, db.ErrPermission)
	})
	if g := listClients(t, dir)["alice"].Grants; grantsText(g) != "parts=read" {
		t.Errorf("grants after clients grant: %v", g)
	}

	// Everything alice holds, returned at once.
	if _, stderr, code := runCmd(t, "borrows", "return", "--client", "nobody", "--reason", "x", "--data", dir); code != 1 || !strings.Contains(stderr, "unknown client") {
		t.Errorf("borrows return --client nobody: exit %d %q", code, stderr)
	}
	stdout, stderr, code := runCmd(t, "borrows", "return", "--client", "alice", "--reason", "alice left", "--data", dir)
	if code != 0 || !strings.Contains(stdout, "returned 2 records held by alice") {
		t.Fatalf("borrows return --client: exit %d %s\n%s", code, stderr, stdout)
	}
	waitFor(t, "alice's borrows returned", func() bool { return !alice.parts.Borrow(k).Mine && !alice.parts.Borrow(k2).Mine })
	if stdout, _, _ := runCmd(t, "borrows", "list", "--data", dir); !strings.Contains(stdout, "no borrowed records") {
		t.Errorf("borrows list after return --client:\n%s", stdout)
	}

	// Revoked: the connection closes and the replica says why.
	if stdout, stderr, code := runCmd(t, "clients", "revoke", "alice", "--data", dir); code != 0 || !strings.Contains(stdout, "revoked alice") {
		t.Fatalf("clients revoke: exit %d %s\n%s", code, stderr, stdout)
	}
	waitFor(t, "alice told she is revoked", func() bool { return errors.Is(alice.c.Status().Err, netsync.ErrUnauthorized) })
	if c := listClients(t, dir)["alice"]; !c.Revoked || c.Connected {
		t.Errorf("alice after revoke: %+v", c)
	}
	for _, args := range [][]string{
		{"clients", "revoke", "alice"},
		{"clients", "grant", "nobody", "--grant", "*=read"},
	} {
		if _, stderr, code := runCmd(t, append(args, "--data", dir)...); code != 1 || !strings.Contains(stderr, "unknown client") {
			t.Errorf("%q: exit %d %q; want 1 and unknown client", args, code, stderr)
		}
	}
	alice.c.Close()

	// Stopped: the commands work on the store, and the next server honours
	// what they did.
	s.stop(t)
	carol := enroll(t, dir, "carol", "parts=read")
	enroll(t, dir, "dave", "*=all")
	if _, stderr, code := runCmd(t, "clients", "revoke", "dave", "--data", dir); code != 0 {
		t.Fatalf("revoke of a stopped server: %s", stderr)
	}
	m := listClients(t, dir)
	if !m["carol"].Pending || !m["alice"].Revoked || m["alice"].Connected {
		t.Errorf("clients of a stopped server: %+v", m)
	}
	if _, ok := m["dave"]; ok {
		t.Errorf("dave's revoked token still listed: %+v", m["dave"])
	}
	if _, stderr, code := runCmd(t, "clients", "grant", "alice", "--grant", "*=read", "--data", dir); code != 1 || !strings.Contains(stderr, "unknown client") {
		t.Errorf("grant to a revoked client, stopped: exit %d %q", code, stderr)
	}

	s2 := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--app-id", "shop")
	s2.await(t, dir)
	cr := newReplicaWith(t, "carol", s2.info.Addr, &netsync.ClientOptions{AppID: "shop", Token: carol})
	// Not WaitSynced: a read-only replica is refused the ids it asks for.
	waitFor(t, "carol sees the 2 parts", func() bool { return cr.parts.Len() == 2 })
	if _, err := cr.parts.Create(Part{Number: "P-3"}); !errors.Is(err, db.ErrPermission) {
		t.Errorf("carol's create with read only: %v", err)
	}
	if c := listClients(t, dir)["carol"]; !c.Connected || c.Pending {
		t.Errorf("carol after connecting: %+v", c)
	}
}
