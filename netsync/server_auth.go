package netsync

// Who a client is and what it may do: enrollment tokens, the binding of a
// client to its certificate, grants, revocation. See PROTOCOL.md,
// "Authentication and grants".

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/wire"
)

// Access is a set of things a client may do with a tree.
type Access uint8

// Accesses. Check-out needs Edit or Release (Release, SetState and
// Revise happen under a check-out too).
const (
	Read    Access = Access(replica.AccessRead)    // receive the tree's records, schemas and borrows
	Create  Access = Access(replica.AccessCreate)  // create records
	Edit    Access = Access(replica.AccessEdit)    // check out, update, delete
	Release Access = Access(replica.AccessRelease) // release, set state, revise
	Adjust  Access = Access(replica.AccessAdjust)  // Tree.Add on counter fields, without check-out
	Admin   Access = Access(replica.AccessAdmin)   // force-return, enroll and revoke clients (every tree)

	// AllAccess is every access: what an open server grants.
	AllAccess = Read | Create | Edit | Release | Adjust | Admin
)

// String lists the accesses, comma-separated ("read,create"); "none" when
// empty.
func (a Access) String() string { return replica.AccessText(uint8(a)) }

// ParseAccess reads a comma-separated list of accesses: read, create,
// edit, release, adjust, admin, or all.
func ParseAccess(s string) (Access, error) {
	var a Access
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "all" {
			a |= AllAccess
			continue
		}
		bit, ok := replica.ParseAccess(p)
		if !ok {
			return 0, fmt.Errorf("netsync: unknown access %q (want %s or all)", p, strings.Join(replica.AccessNames[:], ", "))
		}
		a |= Access(bit)
	}
	return a, nil
}

// Grant gives a client accesses to one tree, or to every tree ("*").
type Grant struct {
	Tree   string `json:"tree"`
	Access Access `json:"access"`
}

// String is the grant's text form, TREE=ACCESS[,ACCESS].
func (g Grant) String() string { return g.Tree + "=" + g.Access.String() }

// ParseGrant reads TREE=ACCESS[,ACCESS], for example "parts=read,create"
// or "*=read".
func ParseGrant(s string) (Grant, error) {
	tree, acc, ok := strings.Cut(s, "=")
	if !ok {
		return Grant{}, fmt.Errorf("netsync: grant %q is not TREE=ACCESS[,ACCESS]", s)
	}
	tree = strings.TrimSpace(tree)
	if tree != "*" && !layout.ValidTreeName(tree) {
		return Grant{}, fmt.Errorf("netsync: grant %q: invalid tree name %q", s, tree)
	}
	a, err := ParseAccess(acc)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Tree: tree, Access: a}, nil
}

func checkGrants(gs []Grant) error {
	for _, g := range gs {
		if g.Tree != "*" && !layout.ValidTreeName(g.Tree) {
			return fmt.Errorf("netsync: grant of invalid tree name %q", g.Tree)
		}
		if g.Access&^AllAccess != 0 {
			return fmt.Errorf("netsync: grant for %s has unknown access bits %#x", g.Tree, uint8(g.Access))
		}
	}
	return nil
}

// accessOf returns what grants allow on tree: the union of the grants
// naming it and those for "*". Admin on any grant counts for every tree.
func accessOf(gs []wire.Grant, tree string) Access {
	var a Access
	for _, g := range gs {
		if g.Tree == tree || g.Tree == "*" {
			a |= Access(g.Access)
		} else {
			a |= Access(g.Access) & Admin
		}
	}
	return a
}

func toWire(gs []Grant) []wire.Grant {
	out := make([]wire.Grant, len(gs))
	for i, g := range gs {
		out[i] = wire.Grant{Tree: g.Tree, Access: uint8(g.Access)}
	}
	return out
}

func fromWire(gs []wire.Grant) []Grant {
	out := make([]Grant, len(gs))
	for i, g := range gs {
		out[i] = Grant{Tree: g.Tree, Access: Access(g.Access)}
	}
	return out
}

// allGrants is what an open server grants every client.
var allGrants = []wire.Grant{{Tree: "*", Access: uint8(AllAccess)}}

// Token is what an enrollment token carries: a one-time secret and the
// server's identity, so a client's first contact is verified against it.
type token struct {
	Secret      []byte `msgpack:"s"`
	Server      string `msgpack:"id"`
	Fingerprint string `msgpack:"fp"`
	Name        string `msgpack:"n"`
}

const tokenPrefix = "hills1-"

func (t *token) String() string {
	b, _ := msgpack.Marshal(t)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// parseToken reads a token's text form.
func parseToken(s string) (*token, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: the token does not start with %q", ErrUnauthorized, tokenPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) > 4096 {
		return nil, fmt.Errorf("%w: the token is damaged", ErrUnauthorized)
	}
	t := new(token)
	if err := msgpack.Unmarshal(b, t); err != nil || len(t.Secret) != 32 || t.Server == "" || t.Fingerprint == "" {
		return nil, fmt.Errorf("%w: the token is damaged", ErrUnauthorized)
	}
	return t, nil
}

func secretHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// enrollment is a token not used yet.
type enrollment struct {
	Name    string       `msgpack:"name"`
	Grants  []wire.Grant `msgpack:"grants"`
	Expires int64        `msgpack:"expires"` // Unix ns
	Created int64        `msgpack:"created"`
}

func enrollKey(hash string) []byte { return append([]byte{layout.PrefixServer, 'e'}, hash...) }

// DefaultTokenTTL is how long an enrollment token stays usable.
const DefaultTokenTTL = 24 * time.Hour

// AddClient enrolls a client by name with its grants and returns its
// one-time token (valid DefaultTokenTTL). The client passes it once, as
// ClientOptions.Token; from then on it authenticates with its own key
// pair. Enrolling a name again, before its token was used, makes a new
// token and voids the old one; a name in use by an enrolled client is
// refused (revoke it first).
func (s *Server) AddClient(name string, grants ...Grant) (string, error) {
	return s.AddClientTTL(name, DefaultTokenTTL, grants...)
}

// AddClientTTL is AddClient with a token valid for ttl.
func (s *Server) AddClientTTL(name string, ttl time.Duration, grants ...Grant) (string, error) {
	r, err := s.enroll(name, ttl, grants)
	return r.Token, err
}

// enroll makes a client's enrollment and returns its token with when it
// expires.
func (s *Server) enroll(name string, ttl time.Duration, grants []Grant) (EnrollResult, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 256 {
		return EnrollResult{}, errors.New("netsync: a client name is 1 to 256 bytes")
	}
	if err := checkGrants(grants); err != nil {
		return EnrollResult{}, err
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	t := &token{Secret: secret, Server: s.ID(), Fingerprint: s.Fingerprint(), Name: name}
	now := time.Now()
	a := s.a
	err := a.commit(func(b *pebble.Batch, d *delivery) error {
		if id := a.names[name]; id != "" {
			return fmt.Errorf("netsync: client %q is enrolled already (revoke it first)", name)
		}
		for h, e := range a.enrollments {
			if e.Name == name {
				delete(a.enrollments, h)
				b.Delete(enrollKey(h), nil)
			}
		}
		e := &enrollment{Name: name, Grants: toWire(grants), Expires: now.Add(ttl).UnixNano(), Created: now.UnixNano()}
		h := secretHash(secret)
		a.enrollments[h] = e
		return putMsgpack(b, enrollKey(h), e)
	})
	if err != nil {
		return EnrollResult{}, err
	}
	expires := time.Unix(0, now.Add(ttl).UnixNano()).UTC()
	s.log.Info("client enrolled", "client", name, "grants", fmt.Sprint(grants), "token_expires", expires.Format(time.RFC3339))
	return EnrollResult{Token: t.String(), Expires: expires}, nil
}

// SetGrants replaces an enrolled client's grants. Its connections close,
// so it reconnects and learns them; when it may read other trees than
// before, it catches up from a snapshot.
func (s *Server) SetGrants(name string, grants ...Grant) error {
	if err := checkGrants(grants); err != nil {
		return err
	}
	a := s.a
	var id string
	err := a.commit(func(b *pebble.Batch, d *delivery) error {
		cl := a.enrolled(name)
		if cl == nil {
			return fmt.Errorf("%w: no enrolled client %q", ErrUnknownClient, name)
		}
		ng := toWire(grants)
		if readSet(cl.Grants) != readSet(ng) {
			cl.Resnap = true
		}
		cl.Grants = ng
		id = cl.ID
		return putMsgpack(b, clientKey(cl.ID), cl)
	})
	if err != nil {
		return err
	}
	s.log.Info("client grants changed", "client", name, "grants", fmt.Sprint(grants))
	s.closeClient(id, codeRegrant, "grants changed; reconnect")
	return nil
}

// readSet describes which trees grants let a client read, to compare two
// sets of grants.
func readSet(gs []wire.Grant) string {
	var trees []string
	for _, g := range gs {
		if Access(g.Access)&Read != 0 {
			trees = append(trees, g.Tree)
		}
	}
	slices.Sort(trees)
	return strings.Join(slices.Compact(trees), ",")
}

// RevokeClient revokes an enrolled client's credential (or its unused
// token) and closes its connections at once. What it holds stays held
// until an administrator returns it (ForceReturnClient).
func (s *Server) RevokeClient(name string) error {
	a := s.a
	var id string
	err := a.commit(func(b *pebble.Batch, d *delivery) error {
		found := false
		for h, e := range a.enrollments {
			if e.Name == name {
				delete(a.enrollments, h)
				b.Delete(enrollKey(h), nil)
				found = true
			}
		}
		if cl := a.enrolled(name); cl != nil {
			cl.Revoked = true
			delete(a.names, name)
			delete(a.byCert, cl.Cert)
			id = cl.ID
			found = true
			if err := putMsgpack(b, clientKey(cl.ID), cl); err != nil {
				return err
			}
		}
		if !found {
			return fmt.Errorf("%w: no enrolled client %q", ErrUnknownClient, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Warn("client revoked", "client", name)
	if id != "" {
		s.closeClient(id, codeUnauthorized, "credential revoked")
	}
	return nil
}

// enrolled returns the enrolled, unrevoked client of that name. Called
// with a.mu held.
func (a *authority) enrolled(name string) *clientState {
	if id := a.names[name]; id != "" {
		return a.clients[id]
	}
	return nil
}

// closeClient closes every connection of a client.
func (s *Server) closeClient(id string, code quicCode, msg string) {
	s.a.pubMu.Lock()
	var cs []*sconn
	for c := range s.a.conns {
		if c.clientID == id {
			cs = append(cs, c)
		}
	}
	s.a.pubMu.Unlock()
	// A connection still in its handshake is not registered yet: it looks
	// again once it is (sconn.run), so it cannot slip through.
	for _, c := range cs {
		c.refuse(code, msg)
	}
	// At once: when this returns, the sessions are over (or given up on
	// after 2 s, as a client that does not read its last messages is).
	timeout := time.After(2 * time.Second)
	for _, c := range cs {
		select {
		case <-c.gone:
		case <-timeout:
			return
		}
	}
}

// admitted reports whether a client may still be connected: not revoked,
// and its grants unchanged since the session read them.
func (a *authority) admitted(c *sconn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	cl := a.clients[c.clientID]
	if cl == nil || cl.Revoked {
		return false
	}
	return c.s.opts.Open || slices.Equal(cl.Grants, c.grants)
}

// authenticate finds who a connecting client is from its certificate's
// fingerprint (and, on first contact, its token), and records the visit.
// An open server admits anyone: a client id is bound to the first
// certificate that used it, so no other key can act as that client.
func (a *authority) authenticate(fp string, h *wire.Hello, open bool, now int64) (*clientState, error) {
	var cl *clientState
	err := a.commit(func(b *pebble.Batch, _ *delivery) error {
		var err error
		if open {
			cl, err = a.openClient(fp, h, now)
		} else {
			cl, err = a.closedClient(b, fp, h, now)
		}
		if err != nil {
			return err
		}
		cl.LastSeen = now
		return putMsgpack(b, clientKey(cl.ID), cl)
	})
	return cl, err
}

// openClient admits a client of an open server. Called with a.mu held.
func (a *authority) openClient(fp string, h *wire.Hello, now int64) (*clientState, error) {
	if id := a.byCert[fp]; id != "" {
		switch owner := a.clients[id]; {
		case owner != nil && owner.Enrolled && owner.Revoked:
			return nil, fmt.Errorf("%w: credential revoked", ErrUnauthorized)
		case owner != nil && owner.Enrolled:
			return owner, nil // an enrolled client is itself on an open server too
		case id != h.ClientID:
			// One key, one client: a key that made one client cannot act
			// as another.
			return nil, fmt.Errorf("%w: this certificate belongs to another client", ErrUnauthorized)
		}
	}
	cl := a.clients[h.ClientID]
	switch {
	case cl == nil:
		cl = &clientState{ID: h.ClientID, FirstSeen: now, Ranges: map[string][]layout.Range{}}
		a.clients[h.ClientID] = cl
	case cl.Revoked:
		return nil, fmt.Errorf("%w: client %s was revoked", ErrUnauthorized, cl.Name)
	case cl.Enrolled:
		return nil, fmt.Errorf("%w: client id %s is enrolled: it authenticates with its own key", ErrUnauthorized, h.ClientID)
	case cl.Cert != "" && cl.Cert != fp:
		return nil, fmt.Errorf("%w: client id %s belongs to another key", ErrUnauthorized, h.ClientID)
	}
	cl.Cert = fp
	cl.Name = h.Name
	cl.Grants = allGrants
	a.byCert[fp] = cl.ID
	return cl, nil
}

// closedClient admits an enrolled client, or enrolls one whose token is
// good. Called with a.mu held.
func (a *authority) closedClient(b *pebble.Batch, fp string, h *wire.Hello, now int64) (*clientState, error) {
	if id := a.byCert[fp]; id != "" {
		cl := a.clients[id]
		if cl == nil || cl.Revoked {
			return nil, fmt.Errorf("%w: credential revoked", ErrUnauthorized)
		}
		if !cl.Enrolled {
			// Admitted while the server ran open: a closed server admits
			// only the clients an administrator enrolled.
			return nil, fmt.Errorf("%w: client %s was admitted by an open server and is not enrolled", ErrUnauthorized, cl.Name)
		}
		return cl, nil
	}
	if h.Token == "" {
		return nil, fmt.Errorf("%w: this client is not enrolled (enroll it with hills-server clients add and pass its token)", ErrUnauthorized)
	}
	t, err := parseToken(h.Token)
	if err != nil {
		return nil, err
	}
	hash := secretHash(t.Secret)
	e := a.enrollments[hash]
	if e == nil {
		return nil, fmt.Errorf("%w: unknown or used token", ErrUnauthorized)
	}
	if now > e.Expires {
		return nil, fmt.Errorf("%w: the token of %s expired at %s", ErrUnauthorized, e.Name,
			time.Unix(0, e.Expires).UTC().Format(time.RFC3339))
	}
	delete(a.enrollments, hash)
	b.Delete(enrollKey(hash), nil)
	cl := &clientState{ID: uuid.NewString(), Name: e.Name, FirstSeen: now, Ranges: map[string][]layout.Range{},
		Cert: fp, Enrolled: true, Grants: e.Grants}
	a.clients[cl.ID] = cl
	a.names[cl.Name] = cl.ID
	a.byCert[fp] = cl.ID
	a.log.Info("client redeemed its token", "client", cl.Name, "id", cl.ID)
	return cl, nil
}

// indexClients rebuilds the maps by name and certificate after loading.
func (a *authority) indexClients() {
	for id, cl := range a.clients {
		if cl.Revoked {
			continue
		}
		if cl.Cert != "" {
			a.byCert[cl.Cert] = id
		}
		if cl.Enrolled {
			a.names[cl.Name] = id
		}
	}
	for _, bs := range a.borrows {
		if len(bs.Queue) > 0 {
			a.held[bs.Queue[0].ID]++
		}
	}
}

// connectedIDs returns the ids of the clients with a session now.
func (a *authority) connectedIDs() map[string]bool {
	a.pubMu.Lock()
	defer a.pubMu.Unlock()
	ids := make(map[string]bool, len(a.conns))
	for c := range a.conns {
		ids[c.clientID] = true
	}
	return ids
}

// EnrolledClient describes an enrolled client or an unused token.
type EnrolledClient struct {
	Name      string    `json:"name"`
	ID        string    `json:"id,omitempty"` // "" while its token is unused
	Grants    []Grant   `json:"grants"`
	Pending   bool      `json:"pending"`           // the token was not used yet
	Expires   time.Time `json:"expires,omitzero"`  // of an unused token
	Revoked   bool      `json:"revoked,omitempty"` // kept for the names in old records
	Connected bool      `json:"connected"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// Enrolled lists the enrolled clients and the unused tokens, by name.
func (s *Server) Enrolled() []EnrolledClient {
	connected := s.a.connectedIDs()
	a := s.a
	a.mu.Lock()
	var out []EnrolledClient
	for _, cl := range a.clients {
		if !cl.Enrolled {
			continue
		}
		out = append(out, EnrolledClient{Name: cl.Name, ID: cl.ID, Grants: fromWire(cl.Grants), Revoked: cl.Revoked,
			Connected: connected[cl.ID], LastSeen: time.Unix(0, cl.LastSeen).UTC()})
	}
	for _, e := range a.enrollments {
		out = append(out, EnrolledClient{Name: e.Name, Grants: fromWire(e.Grants), Pending: true,
			Expires: time.Unix(0, e.Expires).UTC()})
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y EnrolledClient) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}
