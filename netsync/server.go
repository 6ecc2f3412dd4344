package netsync

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/quic-go/quic-go"

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

	storeMu     sync.RWMutex // read-held while admin reads touch the store
	storeClosed bool
}

// NewServer opens (creating on first start) the server's store in dir and
// its identity: a UUID and a self-signed certificate.
func NewServer(dir string, opts *ServerOptions) (*Server, error) {
	o := opts.withDefaults()
	a, err := openAuthority(dir, o.Logger, o.CacheSize)
	if err != nil {
		return nil, err
	}
	return &Server{opts: o, a: a, log: o.Logger, listened: make(chan struct{}), conns: map[*sconn]struct{}{}}, nil
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
	tconf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{wire.ALPN}, MinVersion: tls.VersionTLS13}
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
	s.log.Info("hills server listening", "addr", ln.Addr().String(), "server", s.ID(), "fingerprint", s.Fingerprint())
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
		c := &sconn{s: s, qc: qc}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			qc.CloseWithError(codeGoingAway, "server shutting down")
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// ErrServerClosed is returned by ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("netsync: server closed")

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
// It returns the last sequence compacted.
func (s *Server) CompactLog(keep uint64) (uint64, error) {
	seq := s.Seq()
	if seq <= keep {
		return s.a.compacted(), nil
	}
	return s.a.compact(seq - keep)
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
		s.log.Warn("borrow force-returned", "tree", tree, "key", key, "holder", former, "by", by, "reason", reason)
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

// Application error codes closing a QUIC connection.
const (
	codeNormal    quic.ApplicationErrorCode = 0
	codeProtocol  quic.ApplicationErrorCode = 1
	codeRefused   quic.ApplicationErrorCode = 2
	codeGoingAway quic.ApplicationErrorCode = 3
	codeSlow      quic.ApplicationErrorCode = 4
	codeInternal  quic.ApplicationErrorCode = 5
)

// sconn is one client connection on the server.
type sconn struct {
	s        *Server
	qc       *quic.Conn
	stream   *quic.Stream
	clientID string
	name     string
	out      outq
	readMu   sync.Mutex
	stopped  bool
}

func (c *sconn) stopReading() {
	c.readMu.Lock()
	c.stopped = true
	st := c.stream
	c.readMu.Unlock()
	if st != nil {
		st.CancelRead(0)
	} else {
		c.qc.CloseWithError(codeGoingAway, "server shutting down")
	}
}

func (c *sconn) serve() {
	s := c.s
	ctx := c.qc.Context()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	st, err := c.qc.AcceptStream(hctx)
	cancel()
	if err != nil {
		c.qc.CloseWithError(codeProtocol, "no stream")
		return
	}
	c.readMu.Lock()
	c.stream = st
	stopped := c.stopped
	c.readMu.Unlock()
	if stopped {
		c.qc.CloseWithError(codeGoingAway, "server shutting down")
		return
	}
	r := bufio.NewReaderSize(st, 64<<10)
	w := bufio.NewWriterSize(st, 64<<10)
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	t, body, err := wire.Read(r, 1<<16, nil)
	if err != nil || t != wire.THello {
		c.fail(codeProtocol, fmt.Sprintf("expected hello: %v", err))
		return
	}
	var h wire.Hello
	if err := wire.Decode(body, &h); err != nil || h.ClientID == "" || len(h.ClientID) > 64 || len(h.Name) > 256 {
		c.fail(codeProtocol, "malformed hello")
		return
	}
	st.SetReadDeadline(time.Time{})
	if h.AppID != s.opts.AppID {
		wire.Write(w, wire.TRefuse, &wire.Refuse{Code: wire.CodeAppID,
			Msg: fmt.Sprintf("server serves application %q, not %q", s.opts.AppID, h.AppID)})
		w.Flush()
		time.Sleep(50 * time.Millisecond)
		c.qc.CloseWithError(codeRefused, "application id")
		return
	}
	if seq := s.Seq(); h.LastSeq > seq {
		// The client has applied changes this server does not have: the
		// store was restored from an older backup. Syncing would hide
		// that and could reuse sequences the client already holds.
		wire.Write(w, wire.TRefuse, &wire.Refuse{Code: wire.CodeServerBehind,
			Msg: fmt.Sprintf("the server's log ends at %d, the client applied up to %d: the server was restored from an older backup", seq, h.LastSeq)})
		w.Flush()
		time.Sleep(50 * time.Millisecond)
		c.qc.CloseWithError(codeRefused, "server behind")
		return
	}
	c.clientID, c.name = h.ClientID, h.Name
	if err := s.a.hello(&h, time.Now().UnixNano()); err != nil {
		c.fail(codeInternal, err.Error())
		return
	}
	c.out.init(s.opts.QueueLimit)
	upto := s.a.register(c)
	defer func() {
		s.a.unregister(c)
		if err := s.a.leave(c.clientID); err != nil {
			s.log.Error("leaving queues", "client", c.name, "err", err)
		}
	}()
	s.a.mu.Lock()
	seq := s.a.seq
	s.a.mu.Unlock()
	if err := wire.Write(w, wire.TWelcome, &wire.Welcome{ServerID: s.ID(), AppID: s.opts.AppID, Seq: seq}); err != nil {
		return
	}
	s.log.Info("client connected", "client", c.name, "id", c.clientID, "addr", c.qc.RemoteAddr().String(), "from_seq", h.LastSeq)
	wdone := make(chan error, 1)
	go func() { wdone <- c.write(w, h.LastSeq, upto) }()
	rerr := c.read(r)
	c.out.close()
	var werr error
	select {
	case werr = <-wdone:
	case <-time.After(2 * time.Second):
		// The client does not read what is left: give up on it.
		c.qc.CloseWithError(codeGoingAway, "closing")
		werr = <-wdone
	}
	switch {
	case errors.Is(rerr, errSlow) || errors.Is(werr, errSlow):
		c.qc.CloseWithError(codeSlow, "client too slow; reconnect to catch up")
	case errors.Is(rerr, wire.ErrProtocol):
		s.log.Warn("client protocol error", "client", c.name, "err", rerr)
		c.qc.CloseWithError(codeProtocol, rerr.Error())
	default:
		c.qc.CloseWithError(codeNormal, "")
	}
	s.log.Info("client disconnected", "client", c.name, "read", rerr, "write", werr)
}

func (c *sconn) fail(code quic.ApplicationErrorCode, msg string) {
	c.s.log.Warn("refusing connection", "addr", c.qc.RemoteAddr().String(), "reason", msg)
	c.qc.CloseWithError(code, msg)
}

var errSlow = errors.New("netsync: client too slow")

// read handles the client's messages in order until the stream ends.
func (c *sconn) read(r *bufio.Reader) error {
	a := c.s.a
	var buf []byte
	for {
		c.readMu.Lock()
		stopped := c.stopped
		c.readMu.Unlock()
		if stopped {
			return nil
		}
		t, body, err := wire.Read(r, c.s.opts.MaxFrame, buf)
		if err != nil {
			return err
		}
		buf = body[:0]
		switch t {
		case wire.TPush:
			var m wire.Push
			if err := wire.Decode(body, &m); err != nil {
				return err
			}
			err = a.push(c, m.Changes, time.Now().UnixNano())
		case wire.TTree:
			var m wire.Tree
			if err := wire.Decode(body, &m); err != nil {
				return err
			}
			err = a.declare(c, m.Decl)
		case wire.TIDRequest:
			var m wire.IDRequest
			if err := wire.Decode(body, &m); err != nil {
				return err
			}
			err = a.grant(c, m)
		case wire.TCheckOut, wire.TCheckIn, wire.TCancel:
			var m wire.CheckOut
			if err := wire.Decode(body, &m); err != nil {
				return err
			}
			if t == wire.TCheckOut {
				err = a.checkOut(c, m)
			} else {
				err = a.checkIn(c, m, t == wire.TCancel)
			}
		case wire.TForcedSeen:
			var m wire.Forced
			if err := wire.Decode(body, &m); err != nil {
				return err
			}
			err = a.forcedSeen(c, m)
		case wire.TPing:
			var m wire.Ping
			if err := wire.Decode(body, &m); err != nil {
				return err
			}
			err = a.commit(func(_ *pebble.Batch, d *delivery) error {
				d.origin = c
				d.pongs = append(d.pongs, wire.Pong{Nonce: m.Nonce, Seq: a.seq})
				return nil
			})
		default:
			return fmt.Errorf("%w: unknown message type %d", wire.ErrProtocol, t)
		}
		if errors.Is(err, errBadTree) {
			return fmt.Errorf("%w: %v", wire.ErrProtocol, err)
		}
		if err != nil {
			return err
		}
	}
}

// write catches the client up from the log, then sends deliveries.
func (c *sconn) write(w *bufio.Writer, from, upto uint64) error {
	a := c.s.a
	if err := c.sendForced(w); err != nil {
		return err
	}
	if from < upto && from < a.compacted() {
		// The entries after from are gone: send the state as it is.
		if err := wire.Write(w, wire.TSnapshot, &wire.Snapshot{Seq: upto}); err != nil {
			return err
		}
		err := a.snapshotFrames(func(e *wire.Entries) error { return wire.Write(w, wire.TEntries, e) })
		if err != nil {
			return err
		}
		if err := wire.Write(w, wire.TSnapshot, &wire.Snapshot{Seq: upto, Done: true}); err != nil {
			return err
		}
		from = upto
	}
	for from < upto {
		entries, err := a.logFrom(from, upto, 1024)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			break
		}
		if entries[0].Seq != from+1 {
			// Compacted meanwhile: the client reconnects for a snapshot.
			return fmt.Errorf("netsync: log compacted during catch-up at %d", from)
		}
		for _, f := range c.framesFor(entries) {
			if err := writeFrame(w, f); err != nil {
				return err
			}
		}
		from = entries[len(entries)-1].Seq
	}
	if err := wire.Write(w, wire.TCaughtUp, &wire.CaughtUp{Seq: upto}); err != nil {
		return err
	}
	list, ver := a.borrowSnapshot()
	if err := wire.Write(w, wire.TBorrows, &wire.Borrows{List: list, Ver: ver}); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for {
		frames, err := c.out.take()
		if err != nil {
			return err
		}
		for _, f := range frames {
			if err := writeFrame(w, f); err != nil {
				return err
			}
		}
		if c.out.empty() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

// mergeAcks puts the acks of rejected and duplicate changes among the
// frames of a push's accepted ones, so the origin gets every outcome in
// outbox order: an ack never removes an outbox entry whose own outcome
// has not arrived.
func mergeAcks(fs []frame, acks []wire.Ack) []frame {
	if len(acks) == 0 {
		return fs
	}
	out := make([]frame, 0, len(fs)+len(acks))
	i := 0
	for _, f := range fs {
		if a, ok := f.v.(*wire.Ack); ok && f.t == wire.TAck {
			for i < len(acks) && acks[i].Outbox < a.Outbox {
				out = append(out, frame{t: wire.TAck, v: &acks[i]})
				i++
			}
		}
		out = append(out, f)
	}
	for ; i < len(acks); i++ {
		out = append(out, frame{t: wire.TAck, v: &acks[i]})
	}
	return out
}

type frame struct {
	t   uint8
	v   any
	raw []byte // the whole frame, encoded once for many connections
}

func writeFrame(w *bufio.Writer, f frame) error {
	if f.raw != nil {
		_, err := w.Write(f.raw)
		return err
	}
	return wire.Write(w, f.t, f.v)
}

// framesFor turns log entries into what this client is sent: its own
// changes as acks, the others' as entries, in sequence order.
func (c *sconn) framesFor(entries []logEntry) []frame {
	var out []frame
	var run []layout.Change
	size := 0
	flush := func() {
		if len(run) > 0 {
			out = append(out, frame{t: wire.TEntries, v: &wire.Entries{Changes: run}})
			run, size = nil, 0
		}
	}
	for _, e := range entries {
		if e.Origin == c.clientID && e.Kind != wire.KindTree {
			flush()
			out = append(out, frame{t: wire.TAck, v: &wire.Ack{Outbox: e.OriginSeq, Seq: e.Seq, Tree: e.Tree, Key: e.Key,
				Kind: e.Kind, Record: e.Record}})
			continue
		}
		run = append(run, e.Change)
		size += len(e.Record) + 32
		if size > 1<<20 {
			flush()
		}
	}
	flush()
	return out
}

// sendDelivery queues what a committed step sends this connection.
func (c *sconn) sendDelivery(d *delivery) {
	var fs []frame
	if d.shared != nil && !d.originOf(c.clientID) {
		fs = append(fs, *d.shared)
	} else {
		fs = append(fs, c.framesFor(d.entries)...)
	}
	if d.origin == c {
		fs = mergeAcks(fs, d.acks)
		for i := range d.grants {
			fs = append(fs, frame{t: wire.TIDGrant, v: &d.grants[i]})
		}
		for i := range d.pongs {
			fs = append(fs, frame{t: wire.TPong, v: &d.pongs[i]})
		}
	}
	for i := range d.borrows {
		fs = append(fs, frame{t: wire.TBorrow, v: &d.borrows[i]})
	}
	for _, r := range d.replies {
		if r.clientID == c.clientID && (d.origin == c || d.origin == nil) {
			fs = append(fs, frame{t: wire.TReply, v: &r.reply})
		}
	}
	for _, f := range d.forced {
		if f.clientID == c.clientID {
			fs = append(fs, frame{t: wire.TForced, v: &f.forced})
		}
	}
	if len(fs) > 0 {
		c.out.put(fs)
	}
}

// outq is a connection's queue of frames to send: never blocks the sender,
// and gives up on a client that falls too far behind.
type outq struct {
	mu     sync.Mutex
	frames []frame
	limit  int
	wake   chan struct{}
	closed bool
	slow   bool
}

func (q *outq) init(limit int) {
	q.limit = limit
	q.wake = make(chan struct{}, 1)
}

func (q *outq) put(fs []frame) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.frames)+len(fs) > q.limit {
		q.slow, q.closed = true, true
		q.frames = nil
	} else {
		q.frames = append(q.frames, fs...)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outq) take() ([]frame, error) {
	for {
		q.mu.Lock()
		if q.slow {
			q.mu.Unlock()
			return nil, errSlow
		}
		if len(q.frames) > 0 {
			fs := q.frames
			q.frames = nil
			q.mu.Unlock()
			return fs, nil
		}
		if q.closed {
			q.mu.Unlock()
			return nil, errQueueClosed
		}
		q.mu.Unlock()
		<-q.wake
	}
}

func (q *outq) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames) == 0
}

func (q *outq) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

var errQueueClosed = errors.New("netsync: connection closing")
