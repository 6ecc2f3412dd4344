package netsync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// serveMetrics serves reg's metrics and the server's readiness on
// 127.0.0.1 over HTTP until the test ends, and returns the base URL.
func serveMetrics(t *testing.T, reg *prometheus.Registry, s *netsync.Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Readiness(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// scrape reads and parses the metrics in the Prometheus text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of name with the labels given
// (name=value pairs), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func must(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s %v", name, labels)
	}
	return v
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &testkit.LockedBuffer{}
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{Metrics: reg, Limits: netsync.Limits{MaxCheckOuts: 1},
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	base := serveMetrics(t, reg, srv.Server)

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz of a serving server: %s", resp.Status)
	}

	before := scrape(t, base)
	if v, _ := value(before, "hills_server_changes_total", "tree", "parts"); v != 0 {
		t.Fatalf("changes before any traffic: %v", v)
	}
	if v := must(t, before, "hills_server_connections"); v != 0 {
		t.Fatalf("connections before any client: %v", v)
	}

	a := newReplica(t, "alice", srv.addr)
	b := newReplica(t, "bob", srv.addr)
	const creates = 5
	k1 := createWhenIDs(t, a, Part{Number: "P-1", Quantity: 1})
	for i := 1; i < creates; i++ {
		createWhenIDs(t, a, Part{Number: fmt.Sprintf("P-%d", i+1), Quantity: i})
	}
	k2 := createWhenIDs(t, b, Part{Number: "P-B", Quantity: 1})
	waitSynced(t, a, b)

	// Over its check-out limit (1), bob is refused the second record.
	checkOut(t, b, k2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	err = b.parts.CheckOut(ctx, k1)
	cancel()
	if err == nil {
		t.Fatal("a check-out over the limit was accepted")
	}
	waitSynced(t, a, b)

	var after map[string]*dto.MetricFamily
	eventually(t, "lag back to 0", func() bool {
		after = scrape(t, base)
		la, oka := value(after, "hills_server_client_lag", "client", "alice")
		lb, okb := value(after, "hills_server_client_lag", "client", "bob")
		return oka && okb && la == 0 && lb == 0
	})
	if got := must(t, after, "hills_server_changes_total", "tree", "parts"); got != creates+1 {
		t.Errorf("changes of parts: %v, want %d", got, creates+1)
	}
	if got := must(t, after, "hills_server_refusals_total", "reason", "Limit"); got != 1 {
		t.Errorf("Limit refusals: %v, want 1", got)
	}
	if !refusalLogged(logs.String(), "bob", "Limit") {
		t.Errorf("the refusal is not logged with bob's name:\n%s", logs)
	}
	if got := must(t, after, "hills_server_connections"); got != 2 {
		t.Errorf("connections: %v, want 2", got)
	}
	if got := must(t, after, "hills_server_clients", "state", "connected"); got != 2 {
		t.Errorf("connected clients: %v, want 2", got)
	}
	if got := must(t, after, "hills_server_log_sequence"); got != float64(srv.Seq()) || got < creates+1 {
		t.Errorf("log sequence %v, server says %d", got, srv.Seq())
	}
	if got := must(t, after, "hills_server_checkouts"); got != 1 {
		t.Errorf("records checked out: %v, want 1", got)
	}
	if got := must(t, after, "hills_server_fsync_seconds"); got < creates {
		t.Errorf("synced commits observed: %v, want at least %d", got, creates)
	}
	for _, name := range []string{"hills_server_received_bytes_total", "hills_server_sent_bytes_total"} {
		if b0, b1 := must(t, before, name), must(t, after, name); b1 <= b0 {
			t.Errorf("%s did not grow: %v then %v", name, b0, b1)
		}
	}

	// A disconnected client's lag series goes away with it.
	b.close()
	eventually(t, "bob's series removed", func() bool {
		fams := scrape(t, base)
		_, ok := value(fams, "hills_server_client_lag", "client", "bob")
		n, _ := value(fams, "hills_server_connections")
		return !ok && n == 1
	})
}

// refusalLogged reports whether a JSON log line refuses client with code.
func refusalLogged(logs, client, code string) bool {
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["client"] == client && m["code"] == code &&
			strings.Contains(fmt.Sprint(m["msg"]), "refused") {
			return true
		}
	}
	return false
}

// A server whose disk has less room than MinFreeDisk is not ready: it
// would refuse every change. No disk has an exbibyte free.
func TestReadinessDiskBelowMinimum(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := startServer(t, t.TempDir(), "", &netsync.ServerOptions{Metrics: reg, Limits: netsync.Limits{MinFreeDisk: 1 << 60}})
	if err := srv.Readiness(); !errors.Is(err, netsync.ErrServerUnavailable) {
		t.Fatalf("Readiness with the disk below the minimum: %v, want ErrServerUnavailable", err)
	}
	resp, err := http.Get(serveMetrics(t, reg, srv.Server) + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the disk below the minimum: %s, want 503", resp.Status)
	}
}

func TestReadinessAfterShutdown(t *testing.T) {
	srv := startServer(t, t.TempDir(), "", nil)
	if err := srv.Readiness(); err != nil {
		t.Fatalf("Readiness of a serving server: %v", err)
	}
	srv.stop(t)
	if err := srv.Readiness(); !errors.Is(err, netsync.ErrNotReady) {
		t.Fatalf("Readiness after Shutdown: %v, want ErrNotReady", err)
	}
}
