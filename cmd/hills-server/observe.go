package main

// What serve tells operators: its log (--log-format, --log-level) and its
// metrics and health endpoints (--metrics).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hillsdb/hills/netsync"
)

// observeConfig is how serve logs and where it serves metrics. Empty
// strings are the defaults: text, info, no metrics.
type observeConfig struct {
	logFormat, logLevel string
	metrics             string // host:port of the HTTP metrics endpoint; "" for none
}

// observeFlags adds --log-format, --log-level and --metrics to fs, with
// their environment variables as defaults.
func observeFlags(fs *flag.FlagSet, c *observeConfig) {
	fs.StringVar(&c.logFormat, "log-format", os.Getenv("HILLS_LOG_FORMAT"), "")
	fs.StringVar(&c.logLevel, "log-level", os.Getenv("HILLS_LOG_LEVEL"), "")
	fs.StringVar(&c.metrics, "metrics", os.Getenv("HILLS_METRICS"), "")
}

// check reports a bad value as a usage error.
func (c observeConfig) check() error {
	if _, err := c.logger(io.Discard); err != nil {
		return &usageError{msg: "serve: " + err.Error(), usage: usageServe}
	}
	return nil
}

// logger returns the log serve writes to w.
func (c observeConfig) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch c.logLevel {
	case "debug":
		level = slog.LevelDebug
	case "", "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
}

// metricsEndpoint is serve's HTTP endpoint for /metrics, /healthz and
// /readyz. Make one with listenMetrics before the store is opened, so a
// bad address leaves nothing behind; serve it once the server exists.
type metricsEndpoint struct {
	ln   net.Listener
	reg  *prometheus.Registry
	hs   *http.Server
	done chan struct{} // closed once serving stopped
}

// listenMetrics listens on addr (TCP); nil, nil when addr is "".
func listenMetrics(addr string) (*metricsEndpoint, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: --metrics %q: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &metricsEndpoint{ln: ln, reg: reg, done: make(chan struct{})}, nil
}

// registerer is where the server's metrics go; nil when there is no
// endpoint.
func (m *metricsEndpoint) registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

// serve serves the endpoint for s in the background: /metrics in the
// Prometheus text format; /healthz 200 while the process runs; /readyz
// 200 while s listens and its store is writable, 503 with the reason
// otherwise.
func (m *metricsEndpoint) serve(s *netsync.Server, log *slog.Logger) {
	if m == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Readiness(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	m.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(m.done)
		if err := m.hs.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("metrics endpoint listening", "addr", m.ln.Addr().String())
}

// close stops the endpoint, or closes its listener when it never served.
func (m *metricsEndpoint) close() {
	if m == nil {
		return
	}
	if m.hs == nil {
		m.ln.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if m.hs.Shutdown(ctx) != nil {
		m.hs.Close()
	}
	<-m.done
}
