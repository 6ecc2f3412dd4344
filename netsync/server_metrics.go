package netsync

// The server's Prometheus metrics (ServerOptions.Metrics) and its
// readiness (Server.Readiness). Counters and the fsync histogram are
// updated where events happen, through the nil-safe methods of
// *serverMetrics; the gauges are read from the server's state when they
// are scraped, so a client's lag series exists exactly while the client
// is connected.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hillsdb/hills/internal/wire"
)

// codeNames are the wire codes' names, the reason label of
// hills_server_refusals_total. Indexed by code; append-only like the codes.
var codeNames = [...]string{
	wire.CodeOK:            "OK",
	wire.CodeNotCheckedOut: "NotCheckedOut",
	wire.CodeNotFound:      "NotFound",
	wire.CodeOutOfRange:    "OutOfRange",
	wire.CodeExists:        "Exists",
	wire.CodeReleased:      "Released",
	wire.CodeBadRecord:     "BadRecord",
	wire.CodeAppID:         "AppID",
	wire.CodeProtocol:      "Protocol",
	wire.CodeInternal:      "Internal",
	wire.CodeBadTree:       "BadTree",
	wire.CodeServerBehind:  "ServerBehind",
	wire.CodeUnauthorized:  "Unauthorized",
	wire.CodePermission:    "Permission",
	wire.CodeLimit:         "Limit",
	wire.CodeBadSchema:     "BadSchema",
	wire.CodeUnavailable:   "Unavailable",
	wire.CodeBelowFloor:    "BelowFloor",
}

// codeName names a wire code; a code newer than this table is "Code<N>".
func codeName(code uint16) string {
	if int(code) < len(codeNames) {
		return codeNames[code]
	}
	return "Code" + strconv.Itoa(int(code))
}

// serverMetrics are one server's metrics. A nil *serverMetrics (metrics
// off) ignores every event. Safe for concurrent use.
type serverMetrics struct {
	s         *Server
	changes   *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	fsync     prometheus.Histogram
	bytesIn   prometheus.Counter
	bytesOut  prometheus.Counter
	resyncs   prometheus.Counter
	connsDesc *prometheus.Desc
	clients   *prometheus.Desc
	seqDesc   *prometheus.Desc
	lagDesc   *prometheus.Desc
	heldDesc  *prometheus.Desc
	waitDesc  *prometheus.Desc
}

// newServerMetrics makes s's metrics and registers them with reg.
func newServerMetrics(s *Server, reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		s: s,
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hills_server_changes_total",
			Help: "Record changes accepted into the log, by tree."}, []string{"tree"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hills_server_refusals_total",
			Help: "Requests refused (rejected changes, refused declarations, id requests, check-outs and connections), by wire code."},
			[]string{"reason"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hills_server_fsync_seconds",
			Help:    "Time a synced commit waits for the store's log sync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "hills_server_received_bytes_total",
			Help: "Bytes read from client sessions' streams."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "hills_server_sent_bytes_total",
			Help: "Bytes written to client sessions' streams."}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "hills_server_diverged_sessions_total",
			Help: "Sessions of replicas whose log does not continue this server's (it was restored from a backup): each got the server's state from a snapshot."}),
		connsDesc: prometheus.NewDesc("hills_server_connections", "Client connections open, handshaking ones included.", nil, nil),
		clients: prometheus.NewDesc("hills_server_clients",
			"Clients by state: connected (with a session now), enrolled (not revoked), pending (unexpired enrollment tokens not yet redeemed), revoked.",
			[]string{"state"}, nil),
		seqDesc:  prometheus.NewDesc("hills_server_log_sequence", "The last sequence of the server's log.", nil, nil),
		lagDesc:  prometheus.NewDesc("hills_server_client_lag", "Log entries a connected client has not been sent yet (log sequence minus the sequence delivered to it), by client name.", []string{"client"}, nil),
		heldDesc: prometheus.NewDesc("hills_server_checkouts", "Records checked out now.", nil, nil),
		waitDesc: prometheus.NewDesc("hills_server_checkout_waiters", "Clients waiting in check-out queues behind a record's holder.", nil, nil),
	}
	for _, c := range []prometheus.Collector{m.changes, m.refusals, m.fsync, m.bytesIn, m.bytesOut, m.resyncs, (*stateCollector)(m)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("netsync: register metrics: %w", err)
		}
	}
	return m, nil
}

// published counts what a committed step did: its accepted changes and
// its refusals, which it also logs with the client's name.
func (m *serverMetrics) published(a *authority, d *delivery) {
	if m != nil {
		for i := range d.entries {
			if e := &d.entries[i]; e.Kind != wire.KindTree {
				m.changes.WithLabelValues(e.Tree).Inc()
			}
		}
	}
	origin := ""
	if d.origin != nil {
		origin = d.origin.name
	}
	for i := range d.acks {
		if ack := &d.acks[i]; ack.Code != wire.CodeOK {
			m.refused(a, ack.Code, origin, "change rejected", "tree", ack.Tree, "key", keyText(ack.Key), "reason", ack.Msg)
		}
	}
	for i := range d.notices {
		n := &d.notices[i]
		m.refused(a, n.Code, origin, "request refused", "tree", n.Tree, "reason", n.Msg)
	}
	for i := range d.replies {
		if r := &d.replies[i]; r.reply.Code != wire.CodeOK {
			m.refused(a, r.reply.Code, a.clientName(r.clientID), "check-out request refused", "reason", r.reply.Msg)
		}
	}
}

// clientName returns the name of the client id, the id when unknown.
// Called with pubMu held, which may be followed by a.mu.
func (a *authority) clientName(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cl := a.clients[id]; cl != nil {
		return cl.Name
	}
	return id
}

// refused counts and logs one refusal.
func (m *serverMetrics) refused(a *authority, code uint16, client, msg string, args ...any) {
	if m != nil {
		m.refusals.WithLabelValues(codeName(code)).Inc()
	}
	a.log.Info(msg, append([]any{"client", client, "code", codeName(code)}, args...)...)
}

// refusedConn counts a refused connection (its log line is written where
// it is refused).
func (m *serverMetrics) refusedConn(code uint16) {
	if m != nil {
		m.refusals.WithLabelValues(codeName(code)).Inc()
	}
}

// restoredClient counts a session of a replica that applied another log.
func (m *serverMetrics) restoredClient() {
	if m != nil {
		m.resyncs.Inc()
	}
}

// synced observes how long a synced commit waited for its log sync.
func (m *serverMetrics) synced(d time.Duration) {
	if m != nil {
		m.fsync.Observe(d.Seconds())
	}
}

// countingReader and countingWriter count a session's bytes.
type countingReader struct {
	r io.Reader
	n prometheus.Counter
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(float64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n prometheus.Counter
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(float64(n))
	return n, err
}

// counted wraps a session's stream so its bytes are counted.
func (m *serverMetrics) counted(rw io.ReadWriter) (io.Reader, io.Writer) {
	if m == nil {
		return rw, rw
	}
	return countingReader{rw, m.bytesIn}, countingWriter{rw, m.bytesOut}
}

// delivered records that a connection was sent the log up to seq.
func (c *sconn) delivered(seq uint64) {
	for {
		old := c.sentSeq.Load()
		if seq <= old || c.sentSeq.CompareAndSwap(old, seq) {
			return
		}
	}
}

// markDelivery marks the frames of a delivery so the writer records the
// delivery's last sequence once it wrote them; a delivery the client gets
// nothing of is delivered at once when nothing waits before it.
func (c *sconn) markDelivery(d *delivery, fs []frame) {
	n := len(d.entries)
	if n == 0 {
		return
	}
	seq := d.entries[n-1].Seq
	if len(fs) > 0 {
		fs[len(fs)-1].seq = seq
		return
	}
	c.out.mu.Lock()
	if k := len(c.out.frames); k > 0 {
		c.out.frames[k-1].seq = max(c.out.frames[k-1].seq, seq)
		c.out.mu.Unlock()
		return
	}
	c.out.mu.Unlock()
	c.delivered(seq)
}

// stateCollector collects the gauges read from the server's state.
type stateCollector serverMetrics

func (m *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.connsDesc, m.clients, m.seqDesc, m.lagDesc, m.heldDesc, m.waitDesc} {
		ch <- d
	}
}

func (m *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s, a := m.s, m.s.a
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	s.mu.Lock()
	conns, connected := len(s.conns), len(s.perClient)
	s.mu.Unlock()
	gauge(m.connsDesc, conns)

	// What each connection was sent, then the sequence: a lag is never
	// negative, only briefly high.
	a.pubMu.Lock()
	sent := map[string]uint64{} // the least over a client's sessions
	for c := range a.conns {
		v := c.sentSeq.Load()
		if old, ok := sent[c.name]; !ok || v < old {
			sent[c.name] = v
		}
	}
	a.pubMu.Unlock()

	a.mu.Lock()
	seq := a.seq
	var enrolled, revoked, held, waiting int
	for _, cl := range a.clients {
		switch {
		case cl.Revoked:
			revoked++
		case cl.Enrolled:
			enrolled++
		}
	}
	for _, b := range a.borrows {
		if len(b.Queue) > 0 {
			held++
			waiting += len(b.Queue) - 1
		}
	}
	pending, now := 0, time.Now().UnixNano()
	for _, e := range a.enrollments {
		if e.Expires > now {
			pending++
		}
	}
	a.mu.Unlock()

	gauge(m.clients, connected, "connected")
	gauge(m.clients, enrolled, "enrolled")
	gauge(m.clients, pending, "pending")
	gauge(m.clients, revoked, "revoked")
	gauge(m.seqDesc, int(seq))
	for name, v := range sent {
		gauge(m.lagDesc, int(seq-min(v, seq)), name)
	}
	gauge(m.heldDesc, held)
	gauge(m.waitDesc, waiting)
}

// ErrNotReady is what Readiness returns while the server does not listen.
var ErrNotReady = errors.New("netsync: server not listening")

// Readiness reports whether the server can take changes now: nil when it
// listens and its store is writable; otherwise why not (ErrNotReady, the
// store's failure, or ErrServerUnavailable when its disk has less room
// than Limits.MinFreeDisk). Safe for concurrent use; cheap enough for a
// probe (the disk is asked at most every 250 ms).
func (s *Server) Readiness() error {
	s.mu.Lock()
	listening := s.ln != nil && !s.closing
	s.mu.Unlock()
	if !listening {
		return ErrNotReady
	}
	if err := s.a.storeFailed(); err != nil {
		return err
	}
	return s.a.room.check()
}
