package netsync

// One client connection on the server: the handshake that finds who the
// client is, then its messages, each handled by one method, one at a time
// and in order.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"

	"github.com/hillsdb/hills/internal/wire"
)

// sconn is one client connection on the server.
type sconn struct {
	s        *Server
	qc       *quic.Conn
	stream   *quic.Stream
	clientID string // who the client is, from its credential
	name     string // its name on the server
	grants   []wire.Grant
	lim      *rate.Limiter
	told     bool // the client was told it is slowed down
	out      outq
	readMu   sync.Mutex
	stopped  bool
	gone     chan struct{} // closed once the connection is served and forgotten
	sentSeq  atomic.Uint64 // the log sequence delivered so far, for its lag metric
	direct   []byte        // the frames sendNow writes, reused
}

// may reports whether the client's grants allow any of want on tree.
func (c *sconn) may(tree string, want Access) bool { return accessOf(c.grants, tree)&want != 0 }

// accessText says what the client may do with tree, for refusals.
func (c *sconn) accessText(tree string) string { return accessOf(c.grants, tree).String() }

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

// refuse ends the connection with a code the client maps to an error.
func (c *sconn) refuse(code quicCode, msg string) {
	c.s.log.Warn("closing client connection", "client", c.name, "id", c.clientID, "reason", msg)
	c.qc.CloseWithError(code, msg)
}

func (c *sconn) serve() {
	s := c.s
	r, w, h, ok := c.handshake()
	s.mu.Lock()
	s.handshakes--
	s.mu.Unlock()
	if !ok {
		return
	}
	if !c.admit() {
		return
	}
	defer c.leave()
	c.run(r, w, h)
}

// handshake accepts the stream and reads Hello within the handshake
// timeout, then finds who the client is.
func (c *sconn) handshake() (*bufio.Reader, *bufio.Writer, *wire.Hello, bool) {
	s := c.s
	lim := s.opts.Limits
	hctx, cancel := context.WithTimeout(c.qc.Context(), lim.HandshakeTimeout)
	st, err := c.qc.AcceptStream(hctx)
	cancel()
	if err != nil {
		c.fail(codeProtocol, "no stream")
		return nil, nil, nil, false
	}
	c.readMu.Lock()
	c.stream = st
	stopped := c.stopped
	c.readMu.Unlock()
	if stopped {
		c.qc.CloseWithError(codeGoingAway, "server shutting down")
		return nil, nil, nil, false
	}
	sr, sw := s.a.metrics.counted(st)
	r := bufio.NewReaderSize(sr, 16<<10)
	w := bufio.NewWriterSize(sw, 32<<10)
	st.SetReadDeadline(time.Now().Add(lim.HandshakeTimeout))
	t, body, err := wire.Read(r, 1<<16, nil)
	if err != nil || t != wire.THello {
		c.fail(codeProtocol, fmt.Sprintf("expected hello: %v", err))
		return nil, nil, nil, false
	}
	var h wire.Hello
	if err := wire.Decode(body, &h); err != nil || h.ClientID == "" || len(h.ClientID) > 64 || len(h.Name) > 256 {
		c.fail(codeProtocol, "malformed hello")
		return nil, nil, nil, false
	}
	st.SetReadDeadline(time.Time{})
	c.name = h.Name // as the client calls itself, for refusals, until it is authenticated
	if h.AppID != s.opts.AppID {
		c.refuseHello(w, wire.CodeAppID, fmt.Sprintf("server serves application %q, not %q", s.opts.AppID, h.AppID))
		return nil, nil, nil, false
	}
	fp := c.peerFingerprint()
	if fp == "" {
		c.refuseHello(w, wire.CodeUnauthorized, "no client certificate")
		return nil, nil, nil, false
	}
	cl, err := s.a.authenticate(fp, &h, s.opts.Open, time.Now().UnixNano())
	if err != nil {
		code := wire.CodeInternal
		if errors.Is(err, ErrUnauthorized) {
			code = wire.CodeUnauthorized
		} else if s.a.storeFailed() != nil {
			code = wire.CodeUnavailable
		}
		s.log.Warn("client refused", "addr", c.qc.RemoteAddr().String(), "client", h.Name, "err", err)
		c.refuseHello(w, code, err.Error())
		return nil, nil, nil, false
	}
	s.a.mu.Lock()
	c.clientID, c.name, c.grants = cl.ID, cl.Name, cl.Grants
	if s.opts.Open {
		c.grants = allGrants
	}
	s.a.mu.Unlock()
	return r, w, &h, true
}

// peerFingerprint returns the fingerprint of the client's certificate.
func (c *sconn) peerFingerprint() string {
	cs := c.qc.ConnectionState().TLS
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return Fingerprint(cs.PeerCertificates[0].Raw)
}

// refuseHello answers Hello with a refusal and closes the connection.
func (c *sconn) refuseHello(w *bufio.Writer, code uint16, msg string) {
	wire.Write(w, wire.TRefuse, &wire.Refuse{Code: code, Msg: msg})
	w.Flush()
	c.s.a.metrics.refusedConn(code)
	c.s.log.Warn("refusing connection", "addr", c.qc.RemoteAddr().String(), "client", c.name, "code", codeName(code), "reason", msg)
	// Give the refusal time to arrive before the close overtakes it.
	select {
	case <-c.qc.Context().Done():
	case <-time.After(50 * time.Millisecond):
	}
	switch code {
	case wire.CodeAppID:
		c.qc.CloseWithError(codeRefused, "application id")
	case wire.CodeServerBehind:
		c.qc.CloseWithError(codeRefused, "server behind")
	case wire.CodeUnauthorized:
		c.qc.CloseWithError(codeUnauthorized, msg)
	case wire.CodeUnavailable:
		c.qc.CloseWithError(codeUnavailable, msg)
	default:
		c.qc.CloseWithError(codeInternal, msg)
	}
}

// admit counts the session against the client's and the server's limits.
func (c *sconn) admit() bool {
	s := c.s
	lim := s.opts.Limits
	s.mu.Lock()
	if s.perClient[c.clientID] >= lim.MaxConnsPerClient {
		n := s.perClient[c.clientID]
		s.mu.Unlock()
		s.a.metrics.refusedConn(wire.CodeLimit)
		c.refuse(codeLimit, fmt.Sprintf("client %s has %d sessions open (limit %d)", c.name, n, lim.MaxConnsPerClient))
		return false
	}
	s.perClient[c.clientID]++
	l := s.limiters[c.clientID]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(lim.MessageRate), lim.MessageBurst)
		s.limiters[c.clientID] = l
	}
	c.lim = l
	s.mu.Unlock()
	return true
}

func (c *sconn) leave() {
	s := c.s
	s.mu.Lock()
	s.perClient[c.clientID]--
	if s.perClient[c.clientID] <= 0 {
		delete(s.perClient, c.clientID)
		delete(s.limiters, c.clientID)
	}
	s.mu.Unlock()
}

// run serves an admitted session: catch-up and deliveries on one
// goroutine, the client's messages on this one.
func (c *sconn) run(r *bufio.Reader, w *bufio.Writer, h *wire.Hello) {
	s := c.s
	c.out.init(s.opts.QueueLimit)
	upto := s.a.register(c)
	defer func() {
		s.a.unregister(c)
		if err := s.a.leave(c.clientID); err != nil {
			s.log.Error("leaving queues", "client", c.name, "err", err)
		}
	}()
	if !s.a.admitted(c) {
		// Revoked or regranted while it said Hello.
		c.refuse(codeRegrant, "credential or grants changed while connecting; reconnect")
		return
	}
	resnap, err := s.a.takeResnap(c.clientID)
	if err != nil {
		c.refuse(codeUnavailable, err.Error())
		return
	}
	// A client whose log is not this server's (restored from a backup)
	// takes the server's state from a snapshot, and is told so.
	why, err := s.a.diverged(h)
	if err != nil {
		c.refuse(codeUnavailable, err.Error())
		return
	}
	if why != "" {
		resnap = true
		s.log.Warn("client's replica does not continue this server's log: sending it the server's state", "client", c.name,
			"id", c.clientID, "client_seq", h.LastSeq, "reason", why)
		s.a.metrics.restoredClient()
	}
	s.a.mu.Lock()
	seq, lineage := s.a.seq, s.a.id.Lineage
	s.a.mu.Unlock()
	if err := wire.Write(w, wire.TWelcome, &wire.Welcome{ServerID: s.ID(), AppID: s.opts.AppID, Seq: seq,
		ClientID: c.clientID, Name: c.name, Grants: c.grants, Lineage: lineage, Restored: why != "",
		Ranges: s.a.rangesOf(c.clientID)}); err != nil {
		return
	}
	s.log.Info("client connected", "client", c.name, "id", c.clientID, "addr", c.qc.RemoteAddr().String(), "from_seq", h.LastSeq)
	wdone := make(chan error, 1)
	go func() { wdone <- c.write(w, h.LastSeq, upto, resnap) }()
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
	case errors.Is(rerr, ErrServerUnavailable):
		s.log.Error("refusing changes: the store's disk is full", "client", c.name, "err", rerr)
		c.qc.CloseWithError(codeUnavailable, rerr.Error())
	case s.a.storeFailed() != nil:
		c.qc.CloseWithError(codeUnavailable, s.a.storeFailed().Error())
	default:
		c.qc.CloseWithError(codeNormal, "")
	}
	s.log.Info("client disconnected", "client", c.name, "read", rerr, "write", werr)
}

func (c *sconn) fail(code quicCode, msg string) {
	c.s.log.Warn("refusing connection", "addr", c.qc.RemoteAddr().String(), "reason", msg)
	c.qc.CloseWithError(code, msg)
}

// handler handles one message body of a connection.
type handler func(c *sconn, body []byte) error

// on makes a handler of a method taking the decoded message.
func on[M any](fn func(c *sconn, m *M) error) handler {
	return func(c *sconn, body []byte) error {
		var m M
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return fn(c, &m)
	}
}

// handlers are the messages a client may send.
var handlers = map[uint8]handler{
	wire.TPush:       on((*sconn).onPush),
	wire.TTree:       on((*sconn).onTree),
	wire.TIDRequest:  on((*sconn).onIDRequest),
	wire.TCheckOut:   on((*sconn).onCheckOut),
	wire.TCheckIn:    on((*sconn).onCheckIn),
	wire.TCancel:     on((*sconn).onCancel),
	wire.TForcedSeen: on((*sconn).onForcedSeen),
	wire.TPing:       on((*sconn).onPing),
	// server_history.go
	wire.THistoryRequest: on((*sconn).onHistoryRequest),
}

// read handles the client's messages in order until the stream ends.
func (c *sconn) read(r *bufio.Reader) error {
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
		h := handlers[t]
		if h == nil {
			return fmt.Errorf("%w: unknown message type %d", wire.ErrProtocol, t)
		}
		if err := c.pace(t); err != nil {
			return err
		}
		if t != wire.TPing && t != wire.THistoryRequest {
			// Everything but a ping or a read may write: not while the
			// disk is full.
			if err := c.s.a.room.check(); err != nil {
				return err
			}
		}
		if err := h(c, body); err != nil {
			return err
		}
	}
}

// pace slows a client that sends more messages than the server's limit,
// and tells it once per session.
func (c *sconn) pace(t uint8) error {
	if c.lim.Allow() {
		return nil
	}
	if !c.told {
		c.told = true
		c.s.log.Warn("client over its message rate: slowed down", "client", c.name, "limit", c.s.opts.Limits.MessageRate)
		c.notify(wire.Notice{Code: wire.CodeLimit, Of: t,
			Msg: fmt.Sprintf("%s sends more than %g messages a second: the server slows it down", c.name, c.s.opts.Limits.MessageRate)})
	}
	return c.lim.Wait(c.qc.Context())
}

// notify queues a notice for the client, in order with its deliveries.
func (c *sconn) notify(n wire.Notice) {
	c.s.a.commit(func(_ *pebble.Batch, d *delivery) error {
		d.origin = c
		d.notices = append(d.notices, n)
		return nil
	})
}

func (c *sconn) onPush(m *wire.Push) error {
	return c.s.a.push(c, m.Changes, time.Now().UnixNano())
}

func (c *sconn) onTree(m *wire.Tree) error { return c.s.a.declare(c, m.Decl) }

func (c *sconn) onIDRequest(m *wire.IDRequest) error { return c.s.a.grant(c, *m) }

func (c *sconn) onCheckOut(m *wire.CheckOut) error { return c.s.a.checkOut(c, *m) }

func (c *sconn) onCheckIn(m *wire.CheckIn) error { return c.s.a.checkIn(c, *m, false) }

func (c *sconn) onCancel(m *wire.CheckIn) error { return c.s.a.checkIn(c, *m, true) }

func (c *sconn) onForcedSeen(m *wire.Forced) error { return c.s.a.forcedSeen(c, *m) }

func (c *sconn) onPing(m *wire.Ping) error {
	a := c.s.a
	return a.commit(func(_ *pebble.Batch, d *delivery) error {
		d.origin = c
		d.pongs = append(d.pongs, wire.Pong{Nonce: m.Nonce, Seq: a.seq})
		return nil
	})
}
