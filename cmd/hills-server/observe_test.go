package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hillsdb/hills/internal/testkit"
)

// TestServeMetricsAndJSONLog runs serve with --metrics and --log-format
// json, checks its HTTP endpoints and that its log lines are JSON objects
// with the expected keys, the client's name among them.
func TestServeMetricsAndJSONLog(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &testkit.LockedBuffer{}, &testkit.LockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--open",
			"--metrics", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}, out, errb)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	re := regexp.MustCompile(`metrics     (http://\S+)/metrics`)
	var base string
	testkit.Until(t, "the metrics address", func() bool {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			return true
		}
		return false
	})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s %s", path, resp.Status, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "hills_server_log_sequence 0") {
			t.Errorf("/metrics lacks the log sequence:\n%s", body)
		}
	}

	// A client's session is logged with its name.
	addr := regexp.MustCompile(`listening   (\S+)`).FindStringSubmatch(out.String())
	if addr == nil {
		t.Fatalf("serve printed no address: %q", out.String())
	}
	r := newReplica(t, "alice", addr[1], "")
	r.sync(t)
	r.c.Close()
	r.c = nil
	testkit.Until(t, "alice's disconnection logged", func() bool { return strings.Contains(errb.String(), `"client disconnected"`) })
	stop()

	msgs := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(errb.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := line[k]; !ok {
				t.Errorf("log line %q has no %q", sc.Text(), k)
			}
		}
		msgs[line["msg"].(string)] = line
	}
	if l := msgs["open mode: any client that reaches this address is admitted with every access; enroll clients and serve without --open outside trials"]; l == nil || l["level"] != "WARN" {
		t.Errorf("no open-mode warning in the log: %v", msgs)
	}
	if l := msgs["client connected"]; l == nil || l["client"] != "alice" {
		t.Errorf("client connected: %v, want client alice", l)
	}
	if msgs["metrics endpoint listening"] == nil {
		t.Errorf("the metrics endpoint is not logged")
	}
}

func TestServeObserveUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--data", dir, "--log-format", "xml"},
		{"serve", "--data", dir, "--log-level", "loud"},
		{"serve", "--data", dir, "--metrics"},
	} {
		stdout, stderr, code := runCmd(t, args...)
		if code != 2 || !strings.Contains(stderr, "Usage:") || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage", args, code, stdout, stderr)
		}
	}
	t.Setenv("HILLS_LOG_FORMAT", "yaml")
	if _, stderr, code := runCmd(t, "serve", "--data", dir); code != 2 || !strings.Contains(stderr, "--log-format") {
		t.Errorf("HILLS_LOG_FORMAT=yaml: exit %d, %q", code, stderr)
	}
	t.Setenv("HILLS_LOG_FORMAT", "")
	// A bad metrics address fails before the store is created.
	data := filepath.Join(dir, "new")
	_, stderr, code := runCmd(t, "serve", "--data", data, "--listen", "127.0.0.1:0", "--metrics", "notanaddr")
	if code != 1 || !strings.Contains(stderr, "--metrics") {
		t.Errorf("--metrics notanaddr: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a store was created despite a bad --metrics: %v", err)
	}
}

func TestServeObserveEnvironment(t *testing.T) {
	t.Setenv("HILLS_METRICS", "127.0.0.1:9447")
	t.Setenv("HILLS_LOG_FORMAT", "json")
	t.Setenv("HILLS_LOG_LEVEL", "warn")
	c, err := parseServe(nil, io.Discard)
	if err != nil || c.observeConfig != (observeConfig{logFormat: "json", logLevel: "warn", metrics: "127.0.0.1:9447"}) {
		t.Fatalf("from the environment: %+v %v", c.observeConfig, err)
	}
	c, err = parseServe([]string{"--metrics", "", "--log-format", "text", "--log-level", "debug"}, io.Discard)
	if err != nil || c.observeConfig != (observeConfig{logFormat: "text", logLevel: "debug"}) {
		t.Fatalf("flags over the environment: %+v %v", c.observeConfig, err)
	}
}
