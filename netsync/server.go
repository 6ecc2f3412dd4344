package netsync

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/wire"
)

// ServerOptions configure NewServer. nil means the defaults.
type ServerOptions struct {
	// AppID names the application; clients of another are refused.
	// Default "".
	AppID string
	// MaxFrame is the largest frame accepted, in bytes. Default 16 MiB.
	MaxFrame int
	// QueueLimit is how many messages may wait for a slow client before
	// the server drops its connection (it catches up on reconnect).
	// Default 65536.
	QueueLimit int
	// CacheSize is the store's block cache in bytes. Default 64 MiB.
	CacheSize int64
	// Logger receives the server's log. Default slog.Default().
	Logger *slog.Logger
	// AdminSocket is the path of the Unix socket serving the administration
	// endpoint (see admin.go) while the server listens. Default "": none.
	// hills-server uses DIR/admin.sock.
	AdminSocket string
	// Open admits any client with every access, for trials and tests; the
	// server says so in its log when it starts. Default false: only
	// clients enrolled with AddClient are admitted.
	Open bool
	// Limits bound what one client may cost the server; zero fields take
	// the defaults (see Limits).
	Limits Limits
	// LogKeep and LogMaxAge are the log's compaction policy, applied in
	// the background while the server listens (see server_compact.go).
	// Without LogMaxAge, the log is compacted to its last LogKeep entries;
	// with it, the entries accepted more than LogMaxAge ago are compacted,
	// but never one of the last LogKeep. Defaults 0 and 0: keep everything.
	LogKeep   uint64
	LogMaxAge time.Duration
	// NoHistory turns the history off, for measurements: accepted
	// changes and check-out events are no longer kept (rows kept before
	// stay; the record after the last change kept before the gap is then
	// unknown). Default false: every record's history is kept (see
	// server_history.go and "History" in docs/operations.md).
	NoHistory bool
	// HistoryKeep and HistoryMaxAge are the history's retention, applied
	// in the background while the server listens, at start and then every
	// 10 minutes, independent of log compaction: a record keeps at most
	// its last HistoryKeep rows (changes and check-out events), and no row
	// older than HistoryMaxAge. Either limit alone trims. Defaults 0 and
	// 0: keep the whole history.
	HistoryKeep   int
	HistoryMaxAge time.Duration
	// Metrics, when set, receives the server's Prometheus metrics, named
	// hills_server_* (see "Metrics and health" in docs/operations.md).
	// Default nil: no metrics are kept.
	Metrics prometheus.Registerer
}

// Limits bound what one client may cost the server. A client over a limit
// gets a clear error; the others do not notice. Zero fields take the
// defaults given.
type Limits struct {
	// HandshakeTimeout is how long a new connection has to open its stream
	// and say Hello. Default 10 s.
	HandshakeTimeout time.Duration
	// MaxHandshakes is how many connections may be between the TLS
	// handshake and an accepted Hello at once; more are closed at once.
	// Default 256.
	MaxHandshakes int
	// MaxConns is how many sessions the server keeps at once. Default 4096.
	MaxConns int
	// MaxConnsPerClient is how many sessions one client may keep at once.
	// Default 8.
	MaxConnsPerClient int
	// MessageRate is how many messages per second one client may send,
	// over all its sessions, with bursts of MessageBurst; a client over it
	// is slowed down (its messages wait) and told once per session.
	// Defaults 2000 and 4000.
	MessageRate  float64
	MessageBurst int
	// MaxCheckOuts is how many records one client may hold at once.
	// Default 1000.
	MaxCheckOuts int
	// IDGrantsPerHour is how many id ranges one client may be granted per
	// tree in an hour. Default 60.
	IDGrantsPerHour int
	// MaxIDGrant is the most ids one range holds. Default 65536.
	MaxIDGrant uint32
	// MaxRecord is the largest record (or schema) accepted, in bytes.
	// Default 4 MiB.
	MaxRecord int
	// MinFreeDisk is the room the store's file system must have left, in
	// bytes: below it the server stores nothing and closes the sessions
	// that send changes with ErrServerUnavailable (they keep their changes
	// and send them again later). Default 64 MiB; negative: no check.
	MinFreeDisk int64
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = 10 * time.Second
	}
	def(&l.MaxHandshakes, 256)
	def(&l.MaxConns, 4096)
	def(&l.MaxConnsPerClient, 8)
	if l.MessageRate <= 0 {
		l.MessageRate = 2000
	}
	def(&l.MessageBurst, 4000)
	def(&l.MaxCheckOuts, 1000)
	def(&l.IDGrantsPerHour, 60)
	if l.MaxIDGrant == 0 {
		l.MaxIDGrant = 1 << 16
	}
	def(&l.MaxRecord, 4<<20)
	if l.MinFreeDisk == 0 {
		l.MinFreeDisk = 64 << 20
	}
	return l
}

func (o *ServerOptions) withDefaults() ServerOptions {
	var c ServerOptions
	if o != nil {
		c = *o
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = wire.MaxFrame
	}
	if c.QueueLimit <= 0 {
		c.QueueLimit = 1 << 16
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Server is the headless authority clients sync with. Its methods are safe
// for concurrent use.
type Server struct {
	opts ServerOptions
	a    *authority
	log  *slog.Logger

	mu       sync.Mutex
	ln       *quic.Listener
	listened chan struct{}
	conns    map[*sconn]struct{}
	closing  bool
	wg       sync.WaitGroup
	admin    *adminServer
	// Sessions per client and the rate limiter each client shares over
	// its sessions; handshakes is the connections not past Hello yet.
	perClient  map[string]int
	limiters   map[string]*rate.Limiter
	handshakes int

	storeMu     sync.RWMutex // read-held while admin reads touch the store
	storeClosed bool

	compactor *periodic // the compaction policy's run (server_compact.go)
	retainer  *periodic // the history retention's run (server_history.go)
}

// NewServer opens (creating on first start) the server's store in dir and
// its identity: a UUID and a self-signed certificate.
func NewServer(dir string, opts *ServerOptions) (*Server, error) {
	o := opts.withDefaults()
	if err := checkRestoring(dir); err != nil {
		return nil, err
	}
	a, err := openAuthority(dir, o.Logger, o.CacheSize)
	if err != nil {
		return nil, err
	}
	if a.id.RestoredAt != 0 {
		o.Logger.Info("the store was restored from a backup: replicas that synced after it take the server's state",
			"backup", a.id.RestoredFrom, "restored_at", time.Unix(0, a.id.RestoredAt).UTC(), "lineage", a.id.Lineage)
	}
	a.lim = o.Limits
	a.history = !o.NoHistory
	a.room = &diskRoom{dir: dir, min: o.Limits.MinFreeDisk, free: freeSpace}
	s := &Server{opts: o, a: a, log: o.Logger, listened: make(chan struct{}), conns: map[*sconn]struct{}{},
		perClient: map[string]int{}, limiters: map[string]*rate.Limiter{}}
	if o.Metrics != nil {
		if a.metrics, err = newServerMetrics(s, o.Metrics); err != nil {
			a.close()
			return nil, err
		}
	}
	return s, nil
}

// ID returns the server's UUID.
func (s *Server) ID() string { return s.a.id.ID }

// Fingerprint returns the SHA-256 fingerprint of the server's certificate,
// as clients pin it.
func (s *Server) Fingerprint() string { return Fingerprint(s.a.id.CertDER) }

// Seq returns the last sequence of the server's log.
func (s *Server) Seq() uint64 {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	return s.a.seq
}

// ListenAndServe listens on the UDP address addr and serves clients until
// ctx ends or Shutdown is called. It returns nil after Shutdown.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	cert, err := s.a.id.tlsCert()
	if err != nil {
		return err
	}
	// Every client shows a certificate of its own: its key pair is what
	// authenticates it (server_auth.go). No CA signs it: the server knows
	// each client by its certificate's fingerprint.
	tconf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{wire.ALPN}, MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("netsync: listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return fmt.Errorf("netsync: listen %s: %w", addr, err)
	}
	// The transport outlives the listener, so connections still say
	// goodbye after the server stops accepting.
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(tconf, quicConfig())
	if err != nil {
		udp.Close()
		return fmt.Errorf("netsync: listen %s: %w", addr, err)
	}
	defer func() {
		s.wg.Wait()
		tr.Close()
		udp.Close()
	}()
	if err := s.startAdmin(); err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.ln = ln
	close(s.listened)
	s.mu.Unlock()
	s.startCompactor()
	s.startRetainer()
	s.log.Info("hills server listening", "addr", ln.Addr().String(), "server", s.ID(), "fingerprint", s.Fingerprint(), "open", s.opts.Open)
	if s.opts.Open {
		s.log.Warn("open mode: any client that reaches this address is admitted with every access; enroll clients and serve without --open outside trials")
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		qc, err := ln.Accept(ctx)
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("netsync: accept: %w", err)
		}
		c := &sconn{s: s, qc: qc, gone: make(chan struct{})}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			qc.CloseWithError(codeGoingAway, "server shutting down")
			continue
		}
		if len(s.conns) >= s.opts.Limits.MaxConns || s.handshakes >= s.opts.Limits.MaxHandshakes {
			s.mu.Unlock()
			s.a.metrics.refusedConn(wire.CodeLimit)
			s.log.Warn("connection refused: server full", "addr", qc.RemoteAddr().String(),
				"sessions", len(s.conns), "handshakes", s.handshakes)
			qc.CloseWithError(codeLimit, "server busy: too many connections")
			continue
		}
		s.handshakes++
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			close(c.gone)
		}()
	}
}

// Addr returns the address the server listens on, once it does; nil
// before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Ready returns a channel closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.listened }

// Shutdown stops accepting connections, lets each connection finish the
// message it is processing, closes the connections and the store. When ctx
// ends first, connections are closed at once and ctx's error returned after
// the store is closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	s.stopAdmin(ctx)
	s.stopCompactor()
	s.stopRetainer()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			c.qc.CloseWithError(codeGoingAway, "server shutting down")
		}
		s.mu.Unlock()
		<-done
	}
	s.storeMu.Lock()
	s.storeClosed = true
	cerr := s.a.close()
	s.storeMu.Unlock()
	if err == nil && cerr != nil {
		err = fmt.Errorf("netsync: close server store: %w", cerr)
	}
	return err
}

// CompactLog deletes the log's entries but the last keep. A client whose
// last sequence is older catches up from a snapshot of the records instead.
// It returns the last sequence compacted. Compact also says how many
// entries went.
func (s *Server) CompactLog(keep uint64) (uint64, error) {
	res, err := s.Compact(keep)
	return res.After, err
}

// Borrows lists every borrowed record.
func (s *Server) Borrows() []BorrowInfo { return s.a.borrowList() }

// ForceReturn takes a record from its holder, as an administrator. The
// former holder's client is told, with reason and by, and keeps its unsent
// edits of the record aside. It returns who held it. An unknown tree is
// db.ErrNoTree, a missing record db.ErrNotFound, a bad key
// db.ErrInvalidKey, a record nobody holds db.ErrNotCheckedOut.
func (s *Server) ForceReturn(tree, key, reason, by string) (string, error) {
	id, rev, err := parseKeyText(key)
	if err != nil {
		return "", err
	}
	if err := s.checkRecord(tree, id, rev); err != nil {
		return "", err
	}
	former, err := s.a.forceReturn(tree, layout.Pack(id, rev), reason, by, time.Now().UnixNano())
	if err == nil {
		s.log.Warn("borrow force-returned", "client", former, "tree", tree, "key", key, "by", by, "reason", reason)
	}
	return former, err
}

func quicConfig() *quic.Config {
	return &quic.Config{
		KeepAlivePeriod:      5 * time.Second,
		MaxIdleTimeout:       30 * time.Second,
		HandshakeIdleTimeout: 10 * time.Second,
		MaxIncomingStreams:   4,
	}
}

// quicCode is a QUIC application error code closing a connection.
type quicCode = quic.ApplicationErrorCode

// Application error codes closing a QUIC connection. New codes are added
// at the end only.
const (
	codeNormal       quicCode = 0
	codeProtocol     quicCode = 1
	codeRefused      quicCode = 2 // after a Refuse message: application id, server behind
	codeGoingAway    quicCode = 3
	codeSlow         quicCode = 4
	codeInternal     quicCode = 5
	codeUnauthorized quicCode = 6 // no credential, or a revoked one
	codeRegrant      quicCode = 7 // the client's grants changed: reconnect to learn them
	codeLimit        quicCode = 8 // over a connection limit
	codeUnavailable  quicCode = 9 // the server's store failed: it accepts nothing
)
