package netsync

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
)

// ClientOptions configure Connect. nil means the defaults.
type ClientOptions struct {
	// AppID names the application; a server of another is refused.
	// Default "".
	AppID string
	// RangeSize is how many ids of a tree the client asks for at once; it
	// asks again when fewer than half are left. Default 1000.
	RangeSize uint32
	// MaxFrame is the largest frame accepted, in bytes. Default 16 MiB.
	MaxFrame int
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles after each failure, with jitter. Defaults
	// 50 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the client's log. Default slog.Default().
	Logger *slog.Logger
}

func (o *ClientOptions) withDefaults() ClientOptions {
	var c ClientOptions
	if o != nil {
		c = *o
	}
	if c.RangeSize == 0 {
		c.RangeSize = 1000
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = wire.MaxFrame
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 50 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Status is a client's view of its sync.
type Status struct {
	Connected bool
	Server    string // address
	ServerID  string // pinned server UUID
	LastSeq   uint64 // last server sequence applied
	Outbox    int    // local changes not yet acknowledged
	Err       error  // last error (identity refused, rejected change, ...)
	CaughtUp  bool   // the catch-up after connecting is complete
	// ServerSeq is the server's log sequence when this session began,
	// raised as later entries arrive: LastSeq/ServerSeq is the progress
	// of catching up. 0 before the first connection.
	ServerSeq uint64
}

// pin is what a replica remembers of its server.
type pin struct {
	ServerID    string `msgpack:"server"`
	Fingerprint string `msgpack:"fingerprint"`
	AppID       string `msgpack:"app"`
}

// Client keeps a replica database in sync with a server. Its methods are
// safe for concurrent use.
type Client struct {
	d    *db.DB
	link replica.Link
	addr string
	opts ClientOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu       sync.Mutex
	status   Status
	fatal    error    // refused: identity, application, protocol
	sess     *session // nil when not connected
	changed  chan struct{}
	nextReq  uint64
	replies  map[uint64]chan wire.Reply
	pongs    map[uint64]chan uint64
	rangeReq map[string]bool
	snapshot map[string]map[uint64]bool // records of a snapshot under way
	// givingBack holds records this client gave back (CheckIn, or a
	// cancelled CheckOut) without the server's answer: not its own any
	// more, given back again on the next connection (checkout.go).
	givingBack map[recKey]bool
}

// Connect attaches a sync client to a replica database and returns at once;
// it connects, catches up and reconnects in the background. The database
// must have been opened with Options.Replica.
func Connect(d *db.DB, addr string, opts *ClientOptions) (*Client, error) {
	link, err := replica.Open(d)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{d: d, link: link, addr: addr, opts: o, log: o.Logger, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), changed: make(chan struct{}),
		replies: map[uint64]chan wire.Reply{}, pongs: map[uint64]chan uint64{}, rangeReq: map[string]bool{},
		givingBack: map[recKey]bool{}}
	c.status.Server = addr
	c.status.LastSeq = link.LastSeq()
	if err := c.loadGivingBack(); err != nil {
		cancel()
		return nil, err
	}
	if p, err := c.loadPin(); err == nil && p != nil {
		c.status.ServerID = p.ServerID
	}
	link.Attach(c)
	c.wg.Add(1)
	go c.run()
	return c, nil
}

// Close stops syncing and leaves the database open; a new Connect on the
// same database resumes where this one stopped.
func (c *Client) Close() error {
	c.link.Detach(c)
	c.cancel() // ends the connection, see session
	c.wg.Wait()
	return nil
}

// Status returns the client's view of its sync.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Outbox = c.link.OutboxLen()
	return s
}

// Changed returns a channel that is closed at the client's next change of
// Status (connection, catch-up, sequence, error); call it again for the
// change after that. A GUI selects on it to redraw without polling.
func (c *Client) Changed() <-chan struct{} { return c.wait() }

// Notify is called by the database after a local change; it never blocks.
func (c *Client) Notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// changedLocked wakes everyone waiting for the client's state to change.
// Called with c.mu held.
func (c *Client) changedLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) update(fn func(s *Status)) {
	c.mu.Lock()
	fn(&c.status)
	c.changedLocked()
	c.mu.Unlock()
}

// wait returns a channel closed at the client's next change of state.
func (c *Client) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// WaitSynced returns when the client is connected, has applied the
// server's log up to the sequence current at the call, and its outbox is
// acknowledged, and the id ranges it asked for are granted, so that the
// trees open when it connected can create records after it, offline too.
// It returns at once with the error when the server was refused.
func (c *Client) WaitSynced(ctx context.Context) error {
	var target uint64
	have := false
	for {
		c.mu.Lock()
		fatal, s, st := c.fatal, c.sess, c.status
		ch := c.changed
		c.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		if s != nil && st.CaughtUp {
			if !have {
				seq, err := c.ping(ctx, s)
				if err == nil {
					target, have = seq, true
					continue
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			} else if st.LastSeq >= target && c.link.OutboxLen() == 0 && c.haveIDs() {
				return nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return ErrClosed
		}
	}
}

// haveIDs reports whether every id range asked for was granted.
func (c *Client) haveIDs() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, asked := range c.rangeReq {
		if asked {
			return false
		}
	}
	return true
}

// ping asks the server its current sequence.
func (c *Client) ping(ctx context.Context, s *session) (uint64, error) {
	c.mu.Lock()
	c.nextReq++
	n := c.nextReq
	ch := make(chan uint64, 1)
	c.pongs[n] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pongs, n)
		c.mu.Unlock()
	}()
	if err := s.send(wire.TPing, &wire.Ping{Nonce: n}); err != nil {
		return 0, err
	}
	select {
	case seq := <-ch:
		return seq, nil
	case <-s.done:
		return 0, errSessionEnded
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

var errSessionEnded = errors.New("netsync: connection lost")

// run connects and reconnects until Close or a refusal.
func (c *Client) run() {
	defer c.wg.Done()
	backoff := c.opts.MinBackoff
	for c.ctx.Err() == nil {
		start := time.Now()
		err := c.session()
		if c.ctx.Err() != nil {
			return
		}
		if isFatal(err) {
			c.log.Error("sync refused", "server", c.addr, "err", err)
			c.mu.Lock()
			c.fatal = err
			c.status.Err = err
			c.status.Connected = false
			c.changedLocked()
			c.mu.Unlock()
			return
		}
		if err != nil {
			c.log.Debug("sync connection ended", "server", c.addr, "err", err)
		}
		if time.Since(start) > 10*time.Second {
			backoff = c.opts.MinBackoff
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, c.opts.MaxBackoff)
		select {
		case <-time.After(sleep):
		case <-c.ctx.Done():
			return
		}
	}
}

func isFatal(err error) bool {
	return errors.Is(err, ErrIdentity) || errors.Is(err, ErrAppID) || errors.Is(err, ErrProtocolVersion) ||
		errors.Is(err, ErrServerBehind)
}

// session is one connection to the server.
type session struct {
	qc   *quic.Conn
	st   *quic.Stream
	wmu  sync.Mutex
	w    *bufio.Writer
	done chan struct{}
	// sent is the last outbox sequence sent; waiters counts those who
	// wait for it to grow (CheckOut).
	sent    atomic.Uint64
	waiters atomic.Int32
	// borrowVer is the version of the check-outs list received on
	// connecting; used by the receiving goroutine only.
	borrowVer uint64
}

func (s *session) send(t uint8, v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := wire.Write(s.w, t, v); err != nil {
		return err
	}
	return s.w.Flush()
}

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

// session runs one connection: handshake, pin check, catch-up, then
// live sync, until the connection ends.
func (c *Client) session() error {
	p, err := c.loadPin()
	if err != nil {
		return err
	}
	var fingerprint string
	tconf := &tls.Config{
		InsecureSkipVerify: true, // the server's certificate is self-signed: it is pinned instead
		NextProtos:         []string{wire.ALPN},
		MinVersion:         tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate", ErrIdentity)
			}
			fingerprint = Fingerprint(cs.PeerCertificates[0].Raw)
			if p != nil && p.Fingerprint != fingerprint {
				return fmt.Errorf("%w: certificate %s, pinned %s", ErrIdentity, fingerprint, p.Fingerprint)
			}
			return nil
		},
	}
	dctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	qc, err := quic.DialAddr(dctx, c.addr, tconf, quicConfig())
	cancel()
	if err != nil {
		return dialError(err, p)
	}
	defer qc.CloseWithError(codeNormal, "")
	stop := context.AfterFunc(c.ctx, func() { qc.CloseWithError(codeNormal, "client closed") })
	defer stop()
	st, err := qc.OpenStreamSync(c.ctx)
	if err != nil {
		return err
	}
	s := &session{qc: qc, st: st, w: bufio.NewWriterSize(st, 64<<10), done: make(chan struct{})}
	r := bufio.NewReaderSize(st, 64<<10)
	lastSeq := c.link.LastSeq()
	if err := s.send(wire.THello, &wire.Hello{AppID: c.opts.AppID, ClientID: c.link.ClientID(),
		Name: c.link.Name(), LastSeq: lastSeq}); err != nil {
		return err
	}
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	t, body, err := wire.Read(r, c.opts.MaxFrame, nil)
	if err != nil {
		return readError(err)
	}
	st.SetReadDeadline(time.Time{})
	switch t {
	case wire.TRefuse:
		var m wire.Refuse
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", codeError(m.Code), m.Msg)
	case wire.TWelcome:
	default:
		return fmt.Errorf("%w: expected welcome, got type %d", ErrProtocol, t)
	}
	var wm wire.Welcome
	if err := wire.Decode(body, &wm); err != nil {
		return err
	}
	if wm.AppID != c.opts.AppID {
		return fmt.Errorf("%w: server serves %q, client is %q", ErrAppID, wm.AppID, c.opts.AppID)
	}
	if p != nil && p.ServerID != wm.ServerID {
		return fmt.Errorf("%w: server %s, pinned %s", ErrIdentity, wm.ServerID, p.ServerID)
	}
	if p == nil {
		enc, err := msgpack.Marshal(&pin{ServerID: wm.ServerID, Fingerprint: fingerprint, AppID: wm.AppID})
		if err != nil {
			return err
		}
		if err := c.link.SetSyncState("pin", enc); err != nil {
			return err
		}
		c.log.Info("pinned server", "server", wm.ServerID, "fingerprint", fingerprint)
	}
	c.mu.Lock()
	c.sess = s
	c.status.Connected, c.status.ServerID, c.status.CaughtUp = true, wm.ServerID, false
	c.status.ServerSeq = wm.Seq
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
	err = c.receive(s, r)
	close(s.done)
	qc.CloseWithError(codeNormal, "")
	<-sdone
	return err
}

func dialError(err error, p *pin) error {
	if errors.Is(err, ErrIdentity) {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "no application protocol") || strings.Contains(msg, "0x178") {
		return fmt.Errorf("%w: the server does not speak %s: %v", ErrProtocolVersion, wire.ALPN, err)
	}
	if strings.Contains(msg, ErrIdentity.Error()) {
		return fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return err
}

func readError(err error) error {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.ErrorCode == codeRefused {
		if ae.ErrorMessage == "server behind" {
			return fmt.Errorf("%w: %s", ErrServerBehind, ae.ErrorMessage)
		}
		return fmt.Errorf("%w: %s", ErrAppID, ae.ErrorMessage)
	}
	return err
}

// sender declares trees, asks for ids and sends the outbox, whenever the
// database says something changed.
func (c *Client) sender(s *session, declared map[string]bool) error {
	var sent uint64 // last outbox sequence sent in this session
	for {
		// Changes go out first; trees are declared before them only when
		// one of them needs it, and ids are asked for after them.
		for {
			chs, err := c.link.Outbox(sent, 512)
			if err != nil {
				return err
			}
			if len(chs) == 0 {
				break
			}
			if !treesDeclared(chs, declared) {
				if err := c.declareTrees(s, declared); err != nil {
					return err
				}
			}
			if err := s.send(wire.TPush, &wire.Push{Changes: chs}); err != nil {
				return err
			}
			sent = chs[len(chs)-1].Seq
			s.sent.Store(sent)
			if s.waiters.Load() > 0 {
				c.update(func(*Status) {})
			}
		}
		if err := c.declareTrees(s, declared); err != nil {
			return err
		}
		select {
		case <-c.wake:
		case <-s.done:
			return nil
		case <-c.ctx.Done():
			return nil
		}
	}
}

// treesDeclared reports whether every change's tree was declared in this
// session.
func treesDeclared(chs []layout.Change, declared map[string]bool) bool {
	for i := range chs {
		if !declared[chs[i].Tree] {
			return false
		}
	}
	return true
}

// declareTrees tells the server of trees it does not know from this
// session yet, and asks for ids where few are left.
func (c *Client) declareTrees(s *session, declared map[string]bool) error {
	names := c.d.Trees()
	fresh := false
	for _, n := range names {
		if !declared[n] {
			fresh = true
		}
	}
	if fresh {
		decls, err := c.link.Trees()
		if err != nil {
			return err
		}
		for _, d := range decls {
			if declared[d.Name] {
				continue
			}
			if err := s.send(wire.TTree, &wire.Tree{Decl: d}); err != nil {
				return err
			}
			declared[d.Name] = true
		}
	}
	for _, n := range names {
		if c.link.IDsLeft(n) >= int(c.opts.RangeSize/2) {
			continue
		}
		c.mu.Lock()
		asked := c.rangeReq[n]
		c.rangeReq[n] = true
		c.mu.Unlock()
		if asked {
			continue
		}
		if err := s.send(wire.TIDRequest, &wire.IDRequest{Tree: n, N: c.opts.RangeSize}); err != nil {
			return err
		}
	}
	return nil
}

// receive applies what the server sends until the connection ends.
func (c *Client) receive(s *session, r *bufio.Reader) error {
	var buf []byte
	for {
		t, body, err := wire.Read(r, c.opts.MaxFrame, buf)
		if err != nil {
			return err
		}
		buf = body[:0]
		if err := c.handle(s, t, body); err != nil {
			return err
		}
	}
}

func (c *Client) handle(s *session, t uint8, body []byte) error {
	switch t {
	case wire.TEntries:
		var m wire.Entries
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return c.applyEntries(m.Changes)
	case wire.TAck:
		var m wire.Ack
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return c.ack(&m)
	case wire.TSnapshot:
		var m wire.Snapshot
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		if !m.Done {
			c.mu.Lock()
			c.snapshot = map[string]map[uint64]bool{}
			c.mu.Unlock()
			return nil
		}
		c.mu.Lock()
		keep := c.snapshot
		c.snapshot = nil
		c.mu.Unlock()
		if keep == nil {
			return fmt.Errorf("%w: snapshot end without a start", ErrProtocol)
		}
		if err := c.link.Prune(keep, m.Seq); err != nil {
			return err
		}
		c.setSeq(m.Seq)
	case wire.TCaughtUp:
		var m wire.CaughtUp
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		c.update(func(st *Status) {
			st.CaughtUp = true
			st.ServerSeq = max(st.ServerSeq, m.Seq)
		})
	case wire.TBorrows:
		var m wire.Borrows
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		list := map[string]map[uint64]replica.Borrow{}
		for _, b := range m.List {
			if list[b.Tree] == nil {
				list[b.Tree] = map[uint64]replica.Borrow{}
			}
			list[b.Tree][b.Key] = c.borrowOf(b.Tree, b.Key, b.Queue)
		}
		if err := c.link.ResetBorrows(list); err != nil {
			return err
		}
		s.borrowVer = m.Ver
		c.update(func(*Status) {})
	case wire.TBorrow:
		var m wire.Borrow
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		if m.Ver != 0 && m.Ver <= s.borrowVer {
			return nil // the list sent on connecting had it already, or newer
		}
		if err := c.link.SetBorrow(m.Tree, m.Key, c.borrowOf(m.Tree, m.Key, m.Queue)); err != nil {
			return err
		}
		c.update(func(*Status) {})
	case wire.TReply:
		var m wire.Reply
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		c.mu.Lock()
		ch := c.replies[m.Req]
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	case wire.TIDGrant:
		var m wire.IDGrant
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		if m.Hi <= m.Lo {
			return fmt.Errorf("%w: empty id grant", ErrProtocol)
		}
		if err := c.link.AddRange(m.Tree, layout.Range{Lo: m.Lo, Hi: m.Hi}); err != nil {
			return err
		}
		c.mu.Lock()
		c.rangeReq[m.Tree] = false
		c.changedLocked()
		c.mu.Unlock()
	case wire.TPong:
		var m wire.Pong
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		c.mu.Lock()
		ch := c.pongs[m.Nonce]
		c.mu.Unlock()
		if ch != nil {
			ch <- m.Seq
		}
	case wire.TForced:
		var m wire.Forced
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return c.forced(s, &m)
	case wire.TRefuse:
		var m wire.Refuse
		if err := wire.Decode(body, &m); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", codeError(m.Code), m.Msg)
	default:
		return fmt.Errorf("%w: unknown message type %d", ErrProtocol, t)
	}
	return nil
}

func (c *Client) borrowOf(tree string, key uint64, q []wire.Holder) replica.Borrow {
	if len(q) == 0 {
		return replica.Borrow{}
	}
	me := c.link.ClientID()
	c.mu.Lock()
	giving := c.givingBackLocked(tree, key)
	c.mu.Unlock()
	b := replica.Borrow{Holder: q[0].Name, HolderID: q[0].ID, Mine: q[0].ID == me && !giving, Queued: len(q) - 1}
	for i, h := range q[1:] {
		if h.ID == me {
			b.Waiting = i + 1
		}
	}
	return b
}

// applyEntries applies log entries in order: tree declarations one by
// one, record changes in batches.
func (c *Client) applyEntries(chs []layout.Change) error {
	for len(chs) > 0 {
		if chs[0].Kind == wire.KindTree {
			var decl replica.TreeDecl
			if err := msgpack.Unmarshal(chs[0].Record, &decl); err != nil {
				return fmt.Errorf("%w: tree declaration: %v", ErrProtocol, err)
			}
			if err := c.link.ApplyTree(decl); err != nil {
				return err
			}
			if chs[0].Seq != 0 {
				if err := c.link.Apply(nil, chs[0].Seq); err != nil {
					return err
				}
				c.setSeq(chs[0].Seq)
			}
			chs = chs[1:]
			continue
		}
		n := 1
		for n < len(chs) && chs[n].Kind != wire.KindTree {
			n++
		}
		seq := chs[n-1].Seq
		batch := chs[:n]
		if seq == 0 {
			// A snapshot's records: the sequence moves at its end, and
			// records with changes still in the outbox keep them.
			pending, err := c.pendingKeys()
			if err != nil {
				return err
			}
			batch = make([]layout.Change, 0, n)
			c.mu.Lock()
			seq = c.status.LastSeq
			for _, ch := range chs[:n] {
				if c.snapshot != nil {
					if c.snapshot[ch.Tree] == nil {
						c.snapshot[ch.Tree] = map[uint64]bool{}
					}
					c.snapshot[ch.Tree][ch.Key] = true
				}
				if !pending[recordRef{ch.Tree, ch.Key}] {
					batch = append(batch, ch)
				}
			}
			c.mu.Unlock()
		}
		if err := c.link.Apply(batch, seq); err != nil {
			return err
		}
		c.setSeq(seq)
		chs = chs[n:]
	}
	return nil
}

func (c *Client) setSeq(seq uint64) {
	c.update(func(st *Status) {
		if seq > st.LastSeq {
			st.LastSeq = seq
		}
		st.ServerSeq = max(st.ServerSeq, st.LastSeq)
	})
}

// forced handles an administrator's force-return of a record this client
// held: the record's changes not yet accepted are set aside in the
// replica (the server refuses them when they arrive, which puts the local
// copy back to the server's version), then the server is told it may
// forget the notice.
func (c *Client) forced(s *session, m *wire.Forced) error {
	at := m.At
	if at == 0 {
		at = time.Now().UnixNano()
	}
	kept, err := c.link.Recover(m.Tree, m.Key, math.MaxUint64, replica.Note{Reason: m.Reason, By: m.By, At: at, Forced: true})
	if err != nil {
		return err
	}
	c.log.Warn("check-out returned by an administrator", "tree", m.Tree, "key", keyText(m.Key), "by", m.By,
		"reason", m.Reason, "edits_kept", kept)
	ferr := &ForcedError{Tree: m.Tree, Key: keyText(m.Key), By: m.By, Reason: m.Reason, At: time.Unix(0, at), Kept: kept}
	c.update(func(st *Status) { st.Err = ferr })
	return s.send(wire.TForcedSeen, m)
}

// ack handles the outcome of one pushed change.
func (c *Client) ack(m *wire.Ack) error {
	if m.Seq != 0 && m.Code == wire.CodeOK && m.Kind != 0 && !c.link.OutboxKnown(m.Outbox) &&
		!c.link.PendingAfter(m.Tree, m.Key, m.Outbox) {
		// The server has a change this replica made and then lost in a
		// crash before it was durable here: take it back.
		ch := layout.Change{Tree: m.Tree, Key: m.Key, Kind: m.Kind, Record: m.Record}
		if err := c.link.Apply([]layout.Change{ch}, m.Seq); err != nil {
			return err
		}
	}
	if m.Code == wire.CodeNotCheckedOut && m.Tree != "" {
		// A change made under a check-out the server does not know: keep
		// the record as this replica's edits left it (the later ones are
		// refused as well) before the server's version replaces it.
		if _, err := c.link.Recover(m.Tree, m.Key, math.MaxUint64, replica.Note{
			Reason: "refused by the server: " + m.Msg, At: time.Now().UnixNano()}); err != nil {
			return err
		}
	}
	if m.Seq == 0 && m.Tree != "" && !c.link.PendingAfter(m.Tree, m.Key, m.Outbox) {
		// Rejected, or a duplicate whose outcome was lost: take the
		// server's version of the record.
		ch := layout.Change{Tree: m.Tree, Key: m.Key, Kind: uint8(db.Updated), Record: m.Record}
		if m.Record == nil {
			ch.Kind = uint8(db.Deleted)
		}
		c.mu.Lock()
		seq := c.status.LastSeq
		c.mu.Unlock()
		if err := c.link.Apply([]layout.Change{ch}, seq); err != nil {
			return err
		}
	}
	if err := c.link.Ack(m.Outbox, m.Seq); err != nil {
		return err
	}
	if m.Code != wire.CodeOK {
		err := &rejection{reason: codeError(m.Code), msg: m.Msg}
		c.log.Warn("change rejected", "err", err)
		c.update(func(st *Status) {
			var f *ForcedError
			if m.Code == wire.CodeNotCheckedOut && errors.As(st.Err, &f) && f.Tree == m.Tree && f.Key == keyText(m.Key) {
				return // the force-return says more
			}
			st.Err = err
		})
		return nil
	}
	if m.Seq != 0 {
		c.setSeq(m.Seq)
	} else {
		c.update(func(*Status) {})
	}
	return nil
}

type recordRef struct {
	tree string
	key  uint64
}

// pendingKeys returns the records with changes in the outbox.
func (c *Client) pendingKeys() (map[recordRef]bool, error) {
	chs, err := c.link.Outbox(0, 1<<30)
	if err != nil {
		return nil, err
	}
	out := make(map[recordRef]bool, len(chs))
	for _, ch := range chs {
		out[recordRef{ch.Tree, ch.Key}] = true
	}
	return out, nil
}
