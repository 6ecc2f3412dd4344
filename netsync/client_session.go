package netsync

// One connection of a client: dial with the replica's own certificate,
// say Hello, check the server against the pin (or the enrollment token on
// first contact), then run: send and receive until the connection ends.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
)

func (c *Client) loadPin() (*pin, error) {
	b, err := c.link.SyncState("pin")
	if err != nil || b == nil {
		return nil, err
	}
	p := new(pin)
	if err := msgpack.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("netsync: stored server pin: %w", err)
	}
	return p, nil
}

// expected is what the client knows of the server before it connects:
// the pin, or on first contact what the enrollment token names.
func (c *Client) expected() (*pin, *token, error) {
	p, err := c.loadPin()
	if err != nil {
		return nil, nil, err
	}
	if c.opts.Token == "" {
		return p, nil, nil
	}
	t, err := parseToken(c.opts.Token)
	if err != nil {
		return nil, nil, err
	}
	if p != nil && (p.ServerID != t.Server || p.Fingerprint != t.Fingerprint) {
		return nil, nil, fmt.Errorf("%w: the token is for server %s, this replica is pinned to %s", ErrIdentity, t.Server, p.ServerID)
	}
	return p, t, nil
}

// credential returns the replica's key pair, made and kept on first use.
func (c *Client) credential() (tls.Certificate, error) {
	var cr credential
	b, err := c.link.SyncState("credential")
	if err != nil {
		return tls.Certificate{}, err
	}
	if b != nil {
		if err := msgpack.Unmarshal(b, &cr); err != nil {
			return tls.Certificate{}, fmt.Errorf("netsync: stored client credential: %w", err)
		}
		return tlsCert(cr.CertDER, cr.KeyDER)
	}
	cr.CertDER, cr.KeyDER, err = selfSigned("hills-client "+c.link.ClientID(), 0)
	if err != nil {
		return tls.Certificate{}, err
	}
	enc, err := msgpack.Marshal(&cr)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := c.link.SetSyncState("credential", enc); err != nil {
		return tls.Certificate{}, err
	}
	return tlsCert(cr.CertDER, cr.KeyDER)
}

// session runs one connection until it ends.
func (c *Client) session() error {
	p, t, err := c.expected()
	if err != nil {
		return err
	}
	qc, fingerprint, err := c.dial(p, t)
	if err != nil {
		return err
	}
	defer qc.CloseWithError(codeNormal, "")
	stop := context.AfterFunc(c.ctx, func() { qc.CloseWithError(codeNormal, "client closed") })
	defer stop()
	s, r, wm, err := c.handshake(qc, p, t)
	if err != nil {
		return err
	}
	if err := c.pin(p, t, wm, fingerprint); err != nil {
		return err
	}
	return c.runSession(qc, s, r, wm)
}

// dial opens the QUIC connection, showing the replica's certificate and
// checking the server's against the pin or the token.
func (c *Client) dial(p *pin, t *token) (*quic.Conn, string, error) {
	cert, err := c.credential()
	if err != nil {
		return nil, "", err
	}
	want := ""
	switch {
	case p != nil:
		want = p.Fingerprint
	case t != nil:
		want = t.Fingerprint
	}
	var fingerprint string
	tconf := &tls.Config{
		InsecureSkipVerify: true, // the server's certificate is self-signed: it is pinned instead
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{wire.ALPN},
		MinVersion:         tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate", ErrIdentity)
			}
			fingerprint = Fingerprint(cs.PeerCertificates[0].Raw)
			if want != "" && want != fingerprint {
				return fmt.Errorf("%w: certificate %s, expected %s", ErrIdentity, fingerprint, want)
			}
			return nil
		},
	}
	dctx, cancel := context.WithTimeout(c.ctx, dialTimeout)
	qc, err := quic.DialAddr(dctx, c.addr, tconf, quicConfig())
	cancel()
	if err != nil {
		if c.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, "", fmt.Errorf("%w: no answer from %s within %v: is the server running there, and UDP (not TCP) open on the way?", ErrUnreachable, c.addr, dialTimeout)
		}
		var ne *net.OpError
		if errors.As(err, &ne) || errors.As(err, new(*net.DNSError)) {
			return nil, "", fmt.Errorf("%w: %s: %w", ErrUnreachable, c.addr, err)
		}
		return nil, "", dialError(err)
	}
	return qc, fingerprint, nil
}

// handshake opens the stream, says Hello and reads the answer.
func (c *Client) handshake(qc *quic.Conn, p *pin, t *token) (*session, *bufio.Reader, *wire.Welcome, error) {
	st, err := qc.OpenStreamSync(c.ctx)
	if err != nil {
		return nil, nil, nil, readError(err)
	}
	s := &session{qc: qc, st: st, w: bufio.NewWriterSize(st, 64<<10), done: make(chan struct{})}
	r := bufio.NewReaderSize(st, 64<<10)
	pos := c.link.Position()
	h := &wire.Hello{AppID: c.opts.AppID, ClientID: c.link.ClientID(), Name: c.link.Name(), LastSeq: pos.Seq, LastSum: pos.Sum}
	if err := c.helloLineage(h, p); err != nil {
		return nil, nil, nil, err
	}
	if t != nil {
		h.Token = c.opts.Token
	}
	if err := s.send(wire.THello, h); err != nil {
		return nil, nil, nil, readError(err)
	}
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, body, err := wire.Read(r, c.opts.MaxFrame, nil)
	if err != nil {
		return nil, nil, nil, readError(err)
	}
	st.SetReadDeadline(time.Time{})
	switch typ {
	case wire.TRefuse:
		var m wire.Refuse
		if err := wire.Decode(body, &m); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, fmt.Errorf("%w: %s", codeError(m.Code), m.Msg)
	case wire.TWelcome:
	default:
		return nil, nil, nil, fmt.Errorf("%w: expected welcome, got type %d", ErrProtocol, typ)
	}
	wm := new(wire.Welcome)
	if err := wire.Decode(body, wm); err != nil {
		return nil, nil, nil, err
	}
	return s, r, wm, nil
}

// pin checks the server's identity against the pin (or the token) and
// pins it on first contact, with who the server says this client is.
func (c *Client) pin(p *pin, t *token, wm *wire.Welcome, fingerprint string) error {
	if wm.AppID != c.opts.AppID {
		return fmt.Errorf("%w: server serves %q, client is %q", ErrAppID, wm.AppID, c.opts.AppID)
	}
	if p != nil && p.ServerID != wm.ServerID {
		return fmt.Errorf("%w: server %s, pinned %s", ErrIdentity, wm.ServerID, p.ServerID)
	}
	if p == nil && t != nil && t.Server != wm.ServerID {
		return fmt.Errorf("%w: server %s, the token names %s", ErrIdentity, wm.ServerID, t.Server)
	}
	if p == nil {
		p = &pin{ServerID: wm.ServerID, Fingerprint: fingerprint, AppID: wm.AppID, Lineage: wm.Lineage}
		enc, err := msgpack.Marshal(p)
		if err != nil {
			return err
		}
		if err := c.link.SetSyncState("pin", enc); err != nil {
			return err
		}
		c.log.Info("pinned server", "server", wm.ServerID, "fingerprint", fingerprint, "verified_by_token", t != nil)
	}
	if err := c.meetServer(p, wm); err != nil {
		return err
	}
	g := replica.Grants{}
	for _, gr := range wm.Grants {
		g[gr.Tree] |= gr.Access
	}
	if err := c.link.SetIdentity(wm.Name, g); err != nil {
		return err
	}
	c.mu.Lock()
	c.me = wm.ClientID
	c.grants = g
	c.mu.Unlock()
	return nil
}

// runSession syncs on an accepted connection until it ends.
func (c *Client) runSession(qc *quic.Conn, s *session, r *bufio.Reader, wm *wire.Welcome) error {
	c.mu.Lock()
	c.sess = s
	c.status.Connected, c.status.ServerID, c.status.CaughtUp = true, wm.ServerID, false
	c.status.ServerSeq, c.status.Lineage = wm.Seq, wm.Lineage
	c.rangeReq = map[string]bool{}
	c.changedLocked()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sess = nil
		c.status.Connected, c.status.CaughtUp = false, false
		c.changedLocked()
		c.mu.Unlock()
	}()
	// Trees and id requests go out before anything from the server is
	// read: a WaitSynced answered after catch-up finds them asked for.
	declared := map[string]bool{}
	if err := c.declareTrees(s, declared); err != nil {
		return err
	}
	sdone := make(chan error, 1)
	go func() { sdone <- c.sender(s, declared) }()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.settleAll(s)
	}()
	err := c.receive(s, r)
	close(s.done)
	qc.CloseWithError(codeNormal, "")
	<-sdone
	return readError(err)
}

// dialTimeout bounds a connection attempt.
const dialTimeout = 10 * time.Second

// dialError classifies a failed dial: a server without this protocol
// version refuses the ALPN in the TLS handshake.
func dialError(err error) error {
	if errors.Is(err, ErrIdentity) {
		return err
	}
	var te *quic.TransportError
	if errors.As(err, &te) && te.ErrorCode.IsCryptoError() {
		if tls.AlertError(te.ErrorCode-quic.TransportErrorCode(0x100)) == tlsAlertNoApplicationProtocol {
			return fmt.Errorf("%w: the server does not speak %s: %w", ErrProtocolVersion, wire.ALPN, err)
		}
	}
	return err
}

// tlsAlertNoApplicationProtocol is TLS alert 120, no_application_protocol.
const tlsAlertNoApplicationProtocol tls.AlertError = 120

// readError maps the code a server closed the connection with to the
// error it stands for.
func readError(err error) error {
	var ae *quic.ApplicationError
	if err == nil || !errors.As(err, &ae) || !ae.Remote {
		return err
	}
	switch ae.ErrorCode {
	case codeRefused:
		if ae.ErrorMessage == "server behind" {
			return fmt.Errorf("%w: %s", ErrServerBehind, ae.ErrorMessage)
		}
		if ae.ErrorMessage == "application id" {
			return fmt.Errorf("%w: %s", ErrAppID, ae.ErrorMessage)
		}
	case codeRegrant:
		return fmt.Errorf("%w: %s", errRegrant, ae.ErrorMessage)
	case codeUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, ae.ErrorMessage)
	case codeLimit:
		return fmt.Errorf("%w: %s", ErrLimit, ae.ErrorMessage)
	case codeUnavailable:
		return fmt.Errorf("%w: %s", ErrServerUnavailable, ae.ErrorMessage)
	case codeProtocol:
		return fmt.Errorf("%w: the server closed the connection: %s", ErrProtocol, ae.ErrorMessage)
	}
	return err
}
