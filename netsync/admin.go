package netsync

// The administration endpoint: HTTP with JSON bodies on a Unix domain
// socket, so tools reach a running server (which holds its store's lock)
// without a network port. The socket is made with mode 0600: only the
// server's OS user (and root) may connect.
//
//	GET  /v1/info            ServerInfo
//	GET  /v1/borrows         []BorrowInfo
//	POST /v1/borrows/return  ForceReturnRequest → {"former": holder}
//	POST /v1/checkpoint      {"dir": absolute path} → {"dir": path}
//	GET  /v1/clients         []EnrolledClient
//	POST /v1/clients/add     EnrollRequest → EnrollResult
//	POST /v1/clients/grant   {"name", "grants"} → {}
//	POST /v1/clients/revoke  {"name"} → {}
//	POST /v1/clients/return  {"name", "reason", "by"} → {"returned": n}
//	POST /v1/compact         {"keep": n} → CompactResult
//	POST /v1/history         {"tree", "key", "after"} → {"changes": []Change, "next": after}
//
// Errors answer with a non-2xx status and {"error": text, "code": kind},
// kind one of "no_tree", "not_found", "invalid_key", "not_checked_out",
// "unknown_client", "bad_request", "closed", "internal".

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
)

// ServerInfo describes a server: identity, log and what it keeps.
type ServerInfo struct {
	ID          string       `json:"id"`          // server UUID
	Fingerprint string       `json:"fingerprint"` // certificate fingerprint clients pin
	Seq         uint64       `json:"seq"`         // last log sequence
	Floor       uint64       `json:"floor"`       // last log sequence compacted away; 0: none
	Addr        string       `json:"addr"`        // UDP address; "" when not listening
	AppID       string       `json:"app_id"`
	Trees       []TreeInfo   `json:"trees"`   // by name
	Clients     []ClientInfo `json:"clients"` // by name, then id
	// Lineage is the store's lineage id (a restore makes a new one);
	// RestoredFrom and RestoredAt say from which backup and when it was
	// restored, empty when it never was.
	Lineage      string    `json:"lineage"`
	RestoredFrom string    `json:"restored_from,omitempty"`
	RestoredAt   time.Time `json:"restored_at,omitzero"`
}

// TreeInfo describes one tree on the server.
type TreeInfo struct {
	Name      string `json:"name"`
	Records   int    `json:"records"` // stored records, counted from the store
	Versioned bool   `json:"versioned"`
	Major     uint16 `json:"major"` // schema version
	Minor     uint16 `json:"minor"`
	NextID    uint32 `json:"next_id"` // next id the server grants
}

// ClientInfo describes one client the server has seen.
type ClientInfo struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Connected  bool                 `json:"connected"`
	FirstSeen  time.Time            `json:"first_seen"`
	LastSeen   time.Time            `json:"last_seen"`   // last connection
	LastOutbox uint64               `json:"last_outbox"` // last outbox sequence processed
	Ranges     map[string][]IDRange `json:"ranges"`      // ids granted, per tree
}

// IDRange is the ids [Lo, Hi) granted to a client.
type IDRange struct {
	Lo uint32 `json:"lo"`
	Hi uint32 `json:"hi"`
}

// ForceReturnRequest is the body of POST /v1/borrows/return.
type ForceReturnRequest struct {
	Tree   string `json:"tree"`
	Key    string `json:"key"` // ID.Rev
	Reason string `json:"reason"`
	By     string `json:"by"` // who asks, for the log and the former holder
}

// EnrollRequest is the body of POST /v1/clients/add.
type EnrollRequest struct {
	Name   string  `json:"name"`
	Grants []Grant `json:"grants"`
	// TTL is how long the token stays usable, as a Go duration ("24h");
	// "" means DefaultTokenTTL.
	TTL string `json:"ttl,omitempty"`
}

// EnrollResult is a new client's one-time token and when it expires.
type EnrollResult struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// clientRequest is the body of the requests naming one enrolled client.
type clientRequest struct {
	Name   string  `json:"name"`
	Grants []Grant `json:"grants,omitempty"` // grant
	Reason string  `json:"reason,omitempty"` // return
	By     string  `json:"by,omitempty"`     // return
}

// MarshalText writes the accesses as String does ("read,create"), so
// grants read well in JSON.
func (a Access) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads what MarshalText writes (and "none").
func (a *Access) UnmarshalText(b []byte) error {
	if string(b) == "none" {
		*a = 0
		return nil
	}
	v, err := ParseAccess(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Enroll enrolls a client (Server.AddClientTTL; ttl <= 0 means
// DefaultTokenTTL) and returns its token with when the token expires.
func (s *Server) Enroll(name string, ttl time.Duration, grants ...Grant) (EnrollResult, error) {
	return s.enroll(name, ttl, grants)
}

// Info describes the server. It reads the store to count records: it takes
// time in proportion to the records kept. Safe for concurrent use.
func (s *Server) Info() (ServerInfo, error) {
	trees, err := s.Trees()
	if err != nil {
		return ServerInfo{}, err
	}
	info := ServerInfo{ID: s.ID(), Fingerprint: s.Fingerprint(), Seq: s.Seq(), Floor: s.Floor(), AppID: s.opts.AppID,
		Trees: trees, Clients: s.Clients(), Lineage: s.a.id.Lineage, RestoredFrom: s.a.id.RestoredFrom}
	if s.a.id.RestoredAt != 0 {
		info.RestoredAt = time.Unix(0, s.a.id.RestoredAt).UTC()
	}
	if a := s.Addr(); a != nil {
		info.Addr = a.String()
	}
	return info, nil
}

// Trees lists the server's trees by name, with their record counts (read
// from the store). The result is the caller's.
func (s *Server) Trees() ([]TreeInfo, error) {
	s.a.mu.Lock()
	out := make([]TreeInfo, 0, len(s.a.trees))
	for name, d := range s.a.trees {
		out = append(out, TreeInfo{Name: name, Versioned: d.Versioned, Major: d.Major, Minor: d.Minor, NextID: s.a.next[name]})
	}
	s.a.mu.Unlock()
	slices.SortFunc(out, func(x, y TreeInfo) int { return strings.Compare(x.Name, y.Name) })
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return nil, ErrStoreClosed
	}
	for i := range out {
		n, err := s.a.count(layout.RecordPrefix(out[i].Name))
		if err != nil {
			return nil, fmt.Errorf("netsync: count records of %s: %w", out[i].Name, err)
		}
		out[i].Records = n
	}
	return out, nil
}

// Clients lists the clients the server has seen, by name then id. The
// result is the caller's.
func (s *Server) Clients() []ClientInfo {
	connected := s.a.connectedIDs()
	s.a.mu.Lock()
	out := make([]ClientInfo, 0, len(s.a.clients))
	for _, cl := range s.a.clients {
		ci := ClientInfo{ID: cl.ID, Name: cl.Name, Connected: connected[cl.ID],
			FirstSeen: time.Unix(0, cl.FirstSeen).UTC(), LastSeen: time.Unix(0, cl.LastSeen).UTC(),
			LastOutbox: cl.LastOutbox, Ranges: map[string][]IDRange{}}
		for tree, rs := range cl.Ranges {
			for _, r := range rs {
				ci.Ranges[tree] = append(ci.Ranges[tree], IDRange{Lo: r.Lo, Hi: r.Hi})
			}
		}
		out = append(out, ci)
	}
	s.a.mu.Unlock()
	slices.SortFunc(out, func(x, y ClientInfo) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// Checkpoint writes a consistent copy of the server's store into dir,
// which must not exist, while the server runs: every change acknowledged
// to a client before the call is in it. Files are hard-linked when dir is
// on the same file system, so it is fast and small. The copy holds the
// server's identity (private key included): opened with NewServer it is
// the same server. Safe for concurrent use.
func (s *Server) Checkpoint(dir string) error {
	if dir == "" {
		return errors.New("netsync: checkpoint needs a directory")
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("netsync: checkpoint: %s exists", dir)
	}
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return ErrStoreClosed
	}
	if err := s.a.pdb.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("netsync: checkpoint %s: %w", dir, err)
	}
	return nil
}

// count counts the keys with prefix p.
func (a *authority) count(p []byte) (int, error) {
	it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: layout.PrefixEnd(p)})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, it.Close()
}

// checkRecord says why a record cannot be force-returned: an unknown tree
// or a missing record.
func (s *Server) checkRecord(tree string, id, rev uint32) error {
	s.a.mu.Lock()
	known := s.a.trees[tree] != nil
	s.a.mu.Unlock()
	if !known {
		return fmt.Errorf("%w: %q", db.ErrNoTree, tree)
	}
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return ErrStoreClosed
	}
	v, err := s.a.get(layout.RecordKey(tree, layout.Pack(id, rev)))
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("%w: %s/%d.%d", db.ErrNotFound, tree, id, rev)
	}
	return nil
}

// adminServer serves the administration endpoint.
type adminServer struct {
	path string
	srv  *http.Server
	done chan struct{}
}

// maxSocketPath is the longest Unix socket path every platform accepts.
const maxSocketPath = 103

// startAdmin listens on the administration socket, when configured.
func (s *Server) startAdmin() error {
	path := s.opts.AdminSocket
	if path == "" {
		return nil
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("netsync: admin socket path %s is longer than %d bytes", path, maxSocketPath)
	}
	if err := clearStaleSocket(path); err != nil {
		return err
	}
	// Bind under a temporary name, restrict it, then move it in place, so
	// the socket is never reachable with looser permissions.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return fmt.Errorf("netsync: admin socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return fmt.Errorf("netsync: admin socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return fmt.Errorf("netsync: admin socket: %w", err)
	}
	as := &adminServer{path: path, done: make(chan struct{}),
		srv: &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second,
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, peerKey{}, peerUID(c))
			}}}
	s.mu.Lock()
	if s.closing || s.admin != nil {
		s.mu.Unlock()
		ln.Close()
		os.Remove(path)
		return nil
	}
	s.admin = as
	s.mu.Unlock()
	go func() {
		defer close(as.done)
		if err := as.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin endpoint stopped", "err", err)
		}
	}()
	s.log.Info("admin endpoint listening", "socket", path)
	return nil
}

// clearStaleSocket removes a socket left by a server that did not stop
// cleanly; a socket something answers on, or a file that is no socket, is
// an error.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netsync: admin socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("netsync: admin socket %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("netsync: admin socket %s is in use by another server", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("netsync: remove stale admin socket: %w", err)
	}
	return nil
}

// stopAdmin stops the administration endpoint, letting requests in
// progress finish until ctx ends, and removes the socket.
func (s *Server) stopAdmin(ctx context.Context) {
	s.mu.Lock()
	as := s.admin
	s.mu.Unlock()
	if as == nil {
		return
	}
	if err := as.srv.Shutdown(ctx); err != nil {
		as.srv.Close()
	}
	<-as.done
	os.Remove(as.path)
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		info, err := s.Info()
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /v1/borrows", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Borrows())
	})
	mux.HandleFunc("POST /v1/borrows/return", func(w http.ResponseWriter, r *http.Request) {
		var req ForceReturnRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			adminJSON(w, http.StatusBadRequest, adminErr{Error: "malformed request: " + err.Error(), Code: "bad_request"})
			return
		}
		if strings.TrimSpace(req.Reason) == "" || strings.TrimSpace(req.By) == "" {
			adminJSON(w, http.StatusBadRequest, adminErr{Error: "a force-return needs a reason and who asks it", Code: "bad_request"})
			return
		}
		// by is what the caller says; the kernel's word on its user id goes
		// to the log beside it.
		uid, _ := r.Context().Value(peerKey{}).(int)
		s.log.Info("admin force-return requested", "tree", req.Tree, "key", req.Key, "by", req.By, "peer_uid", uid)
		former, err := s.ForceReturn(req.Tree, req.Key, req.Reason, req.By)
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]string{"former": former})
	})
	mux.HandleFunc("POST /v1/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Dir string `json:"dir"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			adminJSON(w, http.StatusBadRequest, adminErr{Error: "malformed request: " + err.Error(), Code: "bad_request"})
			return
		}
		if !filepath.IsAbs(req.Dir) {
			adminJSON(w, http.StatusBadRequest, adminErr{Error: fmt.Sprintf("checkpoint directory %q is not absolute", req.Dir), Code: "bad_request"})
			return
		}
		if err := s.Checkpoint(req.Dir); err != nil {
			s.log.Error("admin checkpoint failed", "dir", req.Dir, "peer_uid", peerOf(r), "err", err)
			adminError(w, err)
			return
		}
		s.log.Info("checkpoint written", "dir", req.Dir, "peer_uid", peerOf(r))
		adminJSON(w, http.StatusOK, map[string]string{"dir": req.Dir})
	})
	s.clientsHandlers(mux)
	s.compactHandlers(mux)
	s.historyHandlers(mux)
	s.importHandlers(mux) // admin_import.go
	return mux
}

// clientsHandlers serves the enrollment requests: the calls of
// AdminClient.Enroll, Enrolled, SetGrants, Revoke and ForceReturnClient.
func (s *Server) clientsHandlers(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/clients", func(w http.ResponseWriter, r *http.Request) {
		list := s.Enrolled()
		if list == nil {
			list = []EnrolledClient{}
		}
		adminJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("POST /v1/clients/add", func(w http.ResponseWriter, r *http.Request) {
		var req EnrollRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		var ttl time.Duration
		if req.TTL != "" {
			var err error
			if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
				badRequest(w, fmt.Sprintf("token ttl %q is not a positive duration", req.TTL))
				return
			}
		}
		if !checkEnrollInput(w, req.Name, req.Grants) {
			return
		}
		s.log.Info("admin enrollment requested", "client", req.Name, "peer_uid", peerOf(r))
		res, err := s.Enroll(req.Name, ttl, req.Grants...)
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/clients/grant", func(w http.ResponseWriter, r *http.Request) {
		var req clientRequest
		if !decodeAdmin(w, r, &req) || !checkEnrollInput(w, req.Name, req.Grants) {
			return
		}
		s.log.Info("admin grant change requested", "client", req.Name, "peer_uid", peerOf(r))
		if err := s.SetGrants(req.Name, req.Grants...); err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/clients/revoke", func(w http.ResponseWriter, r *http.Request) {
		var req clientRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		s.log.Info("admin revocation requested", "client", req.Name, "peer_uid", peerOf(r))
		if err := s.RevokeClient(req.Name); err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/clients/return", func(w http.ResponseWriter, r *http.Request) {
		var req clientRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		if strings.TrimSpace(req.Reason) == "" || strings.TrimSpace(req.By) == "" {
			badRequest(w, "a force-return needs a reason and who asks it")
			return
		}
		s.log.Info("admin force-return of a client requested", "client", req.Name, "by", req.By, "peer_uid", peerOf(r))
		n, err := s.ForceReturnClient(req.Name, req.Reason, req.By)
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]int{"returned": n})
	})
}

// decodeAdmin reads a request's JSON body into v; on failure it answers
// bad_request and returns false.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, "malformed request: "+err.Error())
		return false
	}
	return true
}

// checkEnrollInput refuses, as bad_request, a missing name or bad grants.
func checkEnrollInput(w http.ResponseWriter, name string, grants []Grant) bool {
	if strings.TrimSpace(name) == "" {
		badRequest(w, "a client name is required")
		return false
	}
	if err := checkGrants(grants); err != nil {
		badRequest(w, err.Error())
		return false
	}
	return true
}

func badRequest(w http.ResponseWriter, msg string) {
	adminJSON(w, http.StatusBadRequest, adminErr{Error: msg, Code: "bad_request"})
}

// peerOf is the connecting process's user id, from the kernel.
func peerOf(r *http.Request) int {
	uid, _ := r.Context().Value(peerKey{}).(int)
	return uid
}

// peerKey keys the connecting process's user id in a request's context.
type peerKey struct{}

type adminErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// adminCodes pair error kinds with the sentinels they stand for, both ways.
var adminCodes = []struct {
	code   string
	status int
	err    error
}{
	{"no_tree", http.StatusNotFound, db.ErrNoTree},
	{"not_found", http.StatusNotFound, db.ErrNotFound},
	{"invalid_key", http.StatusBadRequest, db.ErrInvalidKey},
	{"not_checked_out", http.StatusConflict, db.ErrNotCheckedOut},
	{"closed", http.StatusServiceUnavailable, ErrStoreClosed},
	{"unknown_client", http.StatusNotFound, ErrUnknownClient},
	{"import_refused", http.StatusConflict, ErrImport},
}

func adminError(w http.ResponseWriter, err error) {
	for _, c := range adminCodes {
		if errors.Is(err, c.err) {
			adminJSON(w, c.status, adminErr{Error: err.Error(), Code: c.code})
			return
		}
	}
	adminJSON(w, http.StatusInternalServerError, adminErr{Error: err.Error(), Code: "internal"})
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// AdminClient talks to a running server's administration socket. Its
// methods are safe for concurrent use; the zero value is not usable.
type AdminClient struct {
	path string
	hc   *http.Client
}

// NewAdminClient returns a client of the administration socket at path. It
// does not connect until a method is called; when nothing answers there,
// methods return an error matching ErrNoAdmin.
func NewAdminClient(path string) *AdminClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, fmt.Errorf("%w at %s: %w", ErrNoAdmin, path, err)
			}
			return c, nil
		},
		DisableKeepAlives: true,
	}
	return &AdminClient{path: path, hc: &http.Client{Transport: tr}}
}

// Info asks the server's description.
func (c *AdminClient) Info(ctx context.Context) (ServerInfo, error) {
	var info ServerInfo
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &info)
	return info, err
}

// Borrows lists every borrowed record.
func (c *AdminClient) Borrows(ctx context.Context) ([]BorrowInfo, error) {
	var list []BorrowInfo
	err := c.do(ctx, http.MethodGet, "/v1/borrows", nil, &list)
	return list, err
}

// ForceReturn takes a record from its holder (see Server.ForceReturn) and
// returns who held it. Errors match the same sentinels as
// Server.ForceReturn.
func (c *AdminClient) ForceReturn(ctx context.Context, tree, key, reason, by string) (string, error) {
	var out struct {
		Former string `json:"former"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/borrows/return",
		&ForceReturnRequest{Tree: tree, Key: key, Reason: reason, By: by}, &out)
	return out.Former, err
}

// Checkpoint asks the server to write a consistent copy of its store into
// dir (see Server.Checkpoint); dir is made absolute here, and is written by
// the server's process.
func (c *AdminClient) Checkpoint(ctx context.Context, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var out struct {
		Dir string `json:"dir"`
	}
	return c.do(ctx, http.MethodPost, "/v1/checkpoint", map[string]string{"dir": abs}, &out)
}

// Enroll enrolls a client with its grants (see Server.AddClientTTL; ttl
// <= 0 means DefaultTokenTTL) and returns its one-time token.
func (c *AdminClient) Enroll(ctx context.Context, name string, ttl time.Duration, grants ...Grant) (EnrollResult, error) {
	req := EnrollRequest{Name: name, Grants: grants}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	var res EnrollResult
	err := c.do(ctx, http.MethodPost, "/v1/clients/add", &req, &res)
	return res, err
}

// Enrolled lists the enrolled clients and unused tokens (see
// Server.Enrolled).
func (c *AdminClient) Enrolled(ctx context.Context) ([]EnrolledClient, error) {
	var list []EnrolledClient
	err := c.do(ctx, http.MethodGet, "/v1/clients", nil, &list)
	return list, err
}

// SetGrants replaces an enrolled client's grants (see Server.SetGrants).
// An unknown name matches ErrUnknownClient.
func (c *AdminClient) SetGrants(ctx context.Context, name string, grants ...Grant) error {
	return c.do(ctx, http.MethodPost, "/v1/clients/grant", &clientRequest{Name: name, Grants: grants}, &struct{}{})
}

// RevokeClient revokes a client's credential or unused token (see
// Server.RevokeClient). An unknown name matches ErrUnknownClient.
func (c *AdminClient) RevokeClient(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/clients/revoke", &clientRequest{Name: name}, &struct{}{})
}

// ForceReturnClient takes back every record the client of that name holds
// (see Server.ForceReturnClient) and returns how many.
func (c *AdminClient) ForceReturnClient(ctx context.Context, name, reason, by string) (int, error) {
	var out struct {
		Returned int `json:"returned"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/clients/return", &clientRequest{Name: name, Reason: reason, By: by}, &out)
	return out.Returned, err
}

func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hills-admin"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) && errors.Is(err, ErrNoAdmin) {
			return ue.Err
		}
		return fmt.Errorf("netsync: admin %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("netsync: admin response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e adminErr
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return fmt.Errorf("netsync: admin: %s", resp.Status)
		}
		for _, k := range adminCodes {
			if k.code == e.Code {
				return &remoteAdminError{msg: e.Error, err: k.err}
			}
		}
		return errors.New("netsync: admin: " + e.Error)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("netsync: admin response: %w", err)
	}
	return nil
}

// remoteAdminError is an error the server reported, matching its sentinel.
type remoteAdminError struct {
	msg string
	err error
}

func (e *remoteAdminError) Error() string { return e.msg }
func (e *remoteAdminError) Unwrap() error { return e.err }
