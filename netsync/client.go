package netsync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

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
	// Token is the enrollment token an administrator made for this client
	// (hills-server clients add). It is needed on first contact only: it
	// names the server, so the first contact is verified, and the server
	// binds this replica's own key pair to the enrolled name. Later
	// connections authenticate with that key pair. Default "": an open
	// server, or a replica enrolled before.
	Token string
	// Applied, when not nil, is called after each step of the server's
	// log the replica applied, in log order, with the entries' sequences
	// and the replica's position after them (see Applied). It runs as
	// the client receives: it must return quickly, as it holds up this
	// client (never the server).
	Applied func(Applied)
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
	// Lineage is the server store's lineage, which a restore from a
	// backup makes anew; "" before the first connection.
	Lineage string
}

// pin is what a replica remembers of its server.
type pin struct {
	ServerID    string `msgpack:"server"`
	Fingerprint string `msgpack:"fingerprint"`
	AppID       string `msgpack:"app"`
	// Lineage is the server store's lineage this replica applied the log
	// of; "" before the first session that told it.
	Lineage string `msgpack:"lineage,omitempty"`
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
	sum      []byte         // the log's digest at status.LastSeq; nil when unknown
	errGen   uint64         // counts the errors put in status.Err
	me       string         // this client's id on the server, from Welcome
	grants   replica.Grants // what the server said this client may do, from Welcome
	fatal    error          // refused: identity, application, protocol
	sess     *session       // nil when not connected
	changed  chan struct{}
	nextReq  uint64
	replies  map[uint64]chan wire.Reply
	pongs    map[uint64]chan uint64
	rangeReq map[string]bool
	snapshot map[string]map[uint64]bool // records of a snapshot under way
	// restoring: this session takes a restored server's state; set at
	// Welcome, cleared when its snapshot is in (client_restore.go).
	restoring *restoring
	// givingBack holds records this client gave back (CheckIn, or a
	// cancelled CheckOut) without the server's answer: not its own any
	// more, given back again on the next connection (client_checkout.go).
	givingBack map[recKey]bool

	// histories: History calls waiting for their page, by request
	// (server_history.go).
	histories map[uint64]chan *wire.History
}

// Connect attaches a sync client to a replica database and returns at once;
// it connects, catches up and reconnects in the background. The database
// must have been opened with Options.Replica.
func Connect(d *db.DB, addr string, opts *ClientOptions) (*Client, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	link, err := replica.Open(d)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{d: d, link: link, addr: addr, opts: o, log: o.Logger, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), changed: make(chan struct{}),
		replies: map[uint64]chan wire.Reply{}, pongs: map[uint64]chan uint64{}, histories: map[uint64]chan *wire.History{}, rangeReq: map[string]bool{},
		givingBack: map[recKey]bool{}}
	c.status.Server = addr
	pos := link.Position()
	c.status.LastSeq, c.sum = pos.Seq, pos.Sum
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

// checkAddr refuses a server address that can never work: not
// host:port, or a port that is not a number from 1 to 65535.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("netsync: server address %q: %w (want host:port, such as 10.0.0.5:7447)", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("netsync: server address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	if host == "" {
		return fmt.Errorf("netsync: server address %q: no host", addr)
	}
	return nil
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
// It returns at once with the error when the server was refused, and
// returns the server's refusal of anything this client sent while it
// waits (a rejected change or schema, a limit, a failed server store,
// revocation, a change it could not apply), the same error as in
// Status().Err, instead of running into ctx's deadline.
func (c *Client) WaitSynced(ctx context.Context) error {
	var target uint64
	have := false
	c.mu.Lock()
	gen := c.errGen
	c.mu.Unlock()
	for {
		c.mu.Lock()
		fatal, s, st := c.fatal, c.sess, c.status
		ch := c.changed
		newErr := c.errGen != gen
		c.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		if newErr && st.Err != nil {
			return st.Err
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
	n, ch, done := newRequest(c, c.pongs)
	defer done()
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
			c.status.Connected = false
			c.setErrLocked(err)
			c.mu.Unlock()
			return
		}
		if err != nil {
			c.sessionEnded(err)
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
		errors.Is(err, ErrServerBehind) || errors.Is(err, ErrUnauthorized)
}

// sessionEnded reports why a connection ended in Status().Err. The
// server's word (a limit, a failed store, a protocol error) is logged as
// a warning and ends a WaitSynced; a network error (the server is
// unreachable or restarting) is logged once and waited through.
func (c *Client) sessionEnded(err error) {
	if errors.Is(err, errRegrant) {
		c.log.Info("grants changed on the server; reconnecting", "server", c.addr)
		return
	}
	refusal := errors.Is(err, ErrLimit) || errors.Is(err, ErrServerUnavailable) || errors.Is(err, ErrProtocol) ||
		errors.Is(err, db.ErrCorrupt) || errors.Is(err, db.ErrStorage)
	c.mu.Lock()
	same := c.status.Err != nil && c.status.Err.Error() == err.Error()
	if refusal {
		c.setErrLocked(err)
	} else {
		c.status.Err = err
		c.changedLocked()
	}
	c.mu.Unlock()
	switch {
	case same:
		c.log.Debug("sync connection ended", "server", c.addr, "err", err)
	case refusal:
		c.log.Warn("sync connection ended by the server", "server", c.addr, "err", err)
	default:
		c.log.Info("sync connection ended; reconnecting", "server", c.addr, "err", err)
	}
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
		if !c.grants.Allows(n, replica.AccessCreate) || !c.grants.Allows(n, replica.AccessRead) {
			// The server grants ids to clients that may create (and
			// read) only: a read-only replica does not ask.
			c.mu.Unlock()
			continue
		}
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
