package netsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/commit"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/store"
	"github.com/hillsdb/hills/internal/wire"
)

// Server keys, after layout.PrefixServer:
//
//	'i'                 identity
//	'l' seq             log entry
//	'c' client id       client state
//	'x' tree 0 id rev   tombstone of a deleted record
//	'd' seq             digest of the log up to seq (server_lineage.go)
//	'h' tree 0 key pos  a row of the record's history (server_history.go)
//	'H'                 the last history position given
//
// Records, tree info, schemas and borrows use the shared layout.
var (
	identityKey = []byte{layout.PrefixServer, 'i'}
	logPrefix   = []byte{layout.PrefixServer, 'l'}
	floorKey    = []byte{layout.PrefixServer, 'f'} // last compacted log sequence
)

func logKey(seq uint64) []byte   { return binary.BigEndian.AppendUint64(slices.Clone(logPrefix), seq) }
func clientKey(id string) []byte { return append([]byte{layout.PrefixServer, 'c'}, id...) }

// outboxMarkKey keys a client's last outbox sequence processed, 8 bytes:
// a push writes it alone rather than the client's whole state. When it
// and the state's LastOutbox differ, the greater holds.
func outboxMarkKey(id string) []byte { return append([]byte{layout.PrefixServer, 'o'}, id...) }
func tombKey(tree string, k uint64) []byte {
	b := append([]byte{layout.PrefixServer, 'x'}, tree...)
	return binary.BigEndian.AppendUint64(append(b, 0), k)
}

// logEntry is one accepted change in the server's log.
type logEntry struct {
	layout.Change
	Origin    string `msgpack:"origin"`     // client id; "" for the server
	OriginSeq uint64 `msgpack:"origin_seq"` // the change's outbox sequence at the origin
	At        int64  `msgpack:"at"`
}

// clientState is what the server keeps of a client.
type clientState struct {
	ID         string                    `msgpack:"id"`
	Name       string                    `msgpack:"name"`
	LastOutbox uint64                    `msgpack:"last_outbox"` // last outbox sequence processed
	Ranges     map[string][]layout.Range `msgpack:"ranges"`      // ids granted per tree
	FirstSeen  int64                     `msgpack:"first_seen"`
	LastSeen   int64                     `msgpack:"last_seen"`
	// Cert is the fingerprint of the client's certificate: the key that
	// authenticates it. An open server binds a client id to the first
	// certificate that used it.
	Cert     string       `msgpack:"cert,omitempty"`
	Enrolled bool         `msgpack:"enrolled,omitempty"` // by an administrator, with a token
	Revoked  bool         `msgpack:"revoked,omitempty"`
	Grants   []wire.Grant `msgpack:"grants,omitempty"`
	// Resnap: the trees the client may read changed; its next session
	// catches up from a snapshot.
	Resnap bool `msgpack:"resnap,omitempty"`
	// IDGrants holds when the client was last granted ids, per tree
	// (Unix ns, the last hour's), for the server's limit.
	IDGrants map[string][]int64 `msgpack:"id_grants,omitempty"`
}

func (c *clientState) owns(tree string, id uint32) bool {
	for _, r := range c.Ranges[tree] {
		if id >= r.Lo && id < r.Hi {
			return true
		}
	}
	return false
}

// borrowState is a record's check-out queue; Queue[0] holds the record.
type borrowState struct {
	Queue []wire.Holder `msgpack:"queue"`
}

type recKey struct {
	tree string
	key  uint64
}

// delivery is what one committed step sends, in order, after it is
// durable.
type delivery struct {
	origin  *sconn
	entries []logEntry // to every connection; the origin gets acks for its own
	acks    []wire.Ack // to the origin: rejections and duplicates
	grants  []wire.IDGrant
	borrows []wire.Borrow // to every connection
	replies []connReply
	forced  []connForced
	pongs   []wire.Pong   // to the origin
	notices []wire.Notice // to the origin: refused declarations and id requests
	shared  *frame        // the entries as one frame, for connections that made none of them
	// lazy: the step changed only what a restart forgets anyway (those
	// waiting in queues), so it is not synced; a later synced step makes
	// it durable with its own.
	lazy bool
}

// originOf reports whether a client made one of the delivery's entries.
func (d *delivery) originOf(clientID string) bool {
	for _, e := range d.entries {
		if e.Origin == clientID && e.Kind != wire.KindTree {
			return true
		}
	}
	return false
}

// shareEntries encodes the entries once for every connection that gets
// them as they are.
func (d *delivery) shareEntries() {
	chs := make([]layout.Change, len(d.entries))
	for i, e := range d.entries {
		chs[i] = e.Change
	}
	raw, err := wire.AppendFrame(nil, wire.TEntries, &wire.Entries{Changes: chs})
	if err != nil {
		return
	}
	d.shared = &frame{t: wire.TEntries, raw: raw}
}

type connReply struct {
	clientID string
	reply    wire.Reply
}

type connForced struct {
	clientID string
	forced   wire.Forced
}

// authority is the server's store: the records, the log, the clients and
// their id ranges, the borrows. Changes go through commit, which keeps the
// log and what connections are sent in one order.
//
// Lock order: pubMu, then mu. The commit pipeline (internal/commit)
// prepares a step under mu and delivers it under pubMu; nothing takes
// pubMu with mu held.
type authority struct {
	pdb      *store.Store
	log      *slog.Logger
	id       *identity
	maxRange uint32
	pipe     *commit.Pipeline // commits, in ticket order; its first store failure refuses later ones

	mu      sync.Mutex // validation, sequence numbers, applying batches
	seq     uint64     // last log sequence assigned
	sum     []byte     // the log's digest at seq (nil: none yet)
	floor   uint64     // log entries up to floor were compacted away
	clients map[string]*clientState
	trees   map[string]*replica.TreeDecl
	next    map[string]uint32 // next id to grant, per tree
	borrows map[recKey]*borrowState
	// Who is who (server_auth.go), rebuilt from clients on loading.
	byCert      map[string]string // certificate fingerprint → client id
	names       map[string]string // enrolled name → client id
	enrollments map[string]*enrollment
	held        map[string]int            // client id → records it holds
	schemas     map[string]*schema.Schema // decoded tree schemas, for validation
	lim         Limits
	room        *diskRoom
	metrics     *serverMetrics // nil: none (server_metrics.go)
	// history: every change and borrow event is kept (server_history.go);
	// hpos is the last history position given, hposSaved the last stored.
	history         bool
	hpos, hposSaved uint64
	hkey, hrow      []byte // buffers of addHistory

	pubMu  sync.Mutex // delivery in ticket order
	pubSeq uint64     // last sequence delivered
	conns  map[*sconn]struct{}
}

func openAuthority(dir string, log *slog.Logger, cacheSize int64) (*authority, error) {
	// Memtables of 32 MiB, as a replica's: every change writes the log,
	// the record and its history, and smaller ones flush and compact
	// several times as often under a steady load.
	st, err := store.Open(dir, store.Options{CacheSize: cacheSize, MemTableSize: 32 << 20, Logger: log, Corrupt: ErrStoreCorrupt})
	if err != nil {
		if errors.Is(err, ErrStoreCorrupt) {
			return nil, err // it names the damaged file
		}
		if errors.Is(err, store.ErrOtherFiles) {
			return nil, fmt.Errorf("%w: %w: nothing was written there; serve from an empty or new directory", ErrNotServerStore, err)
		}
		return nil, fmt.Errorf("netsync: open server store %s: %w", dir, err)
	}
	a := &authority{pdb: st, log: log, maxRange: 1 << 20,
		clients: map[string]*clientState{}, trees: map[string]*replica.TreeDecl{},
		next: map[string]uint32{}, borrows: map[recKey]*borrowState{}, conns: map[*sconn]struct{}{},
		byCert: map[string]string{}, names: map[string]string{}, enrollments: map[string]*enrollment{},
		held: map[string]int{}, schemas: map[string]*schema.Schema{}}
	a.pipe = commit.New(commit.Env{
		Store:       st.DB,
		Indexed:     true,
		Writer:      &a.mu,
		Publication: &a.pubMu,
		Failure:     func(err error) error { return fmt.Errorf("%w: %w", ErrStoreFailed, err) },
	})
	if err := a.loadStore(); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func (a *authority) close() error { return a.pdb.Close() }

// load reads the server's state: identity (made on first start), the last
// log sequence, clients, trees and borrows.
func (a *authority) load() error {
	var id identity
	found, err := a.getMsgpack(identityKey, &id)
	if err != nil {
		return fmt.Errorf("netsync: server identity: %w", err)
	}
	if !found {
		var info layout.DBInfo
		if ok, _ := a.getMsgpack(layout.InfoKey, &info); ok {
			kind := "a standalone database"
			if info.Replica {
				kind = "a replica database"
			}
			return fmt.Errorf("%w: %s holds %s (client %s), not a server's store: serve from a directory of its own",
				ErrNotServerStore, a.pdb.Dir(), kind, info.ClientID)
		}
		nid, err := newIdentity()
		if err != nil {
			return err
		}
		if err := a.setMsgpack(identityKey, nid); err != nil {
			return err
		}
		id = *nid
	}
	a.id = &id
	if err := a.ensureLineage(); err != nil {
		return err
	}
	if err := a.scan(); err != nil {
		return err
	}
	return a.loadSum()
}

func (a *authority) scan() error {
	it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: logPrefix, UpperBound: layout.PrefixEnd(logPrefix)})
	if err != nil {
		return err
	}
	if it.Last() {
		a.seq = binary.BigEndian.Uint64(it.Key()[len(logPrefix):])
	}
	if err := it.Close(); err != nil {
		return err
	}
	if f, err := a.get(floorKey); err != nil {
		return err
	} else if len(f) == 8 {
		a.floor = binary.BigEndian.Uint64(f)
		a.seq = max(a.seq, a.floor)
	}
	a.pubSeq = a.seq
	for _, p := range []struct {
		prefix []byte
		fn     func(k, v []byte) error
	}{
		{[]byte{layout.PrefixServer, 'c'}, func(k, v []byte) error {
			cl := new(clientState)
			if err := msgpack.Unmarshal(v, cl); err != nil {
				return err
			}
			a.clients[cl.ID] = cl
			return nil
		}},
		{[]byte{layout.PrefixServer, 'o'}, func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("outbox mark %q: %d bytes", k[2:], len(v))
			}
			if cl := a.clients[string(k[2:])]; cl != nil {
				cl.LastOutbox = max(cl.LastOutbox, binary.BigEndian.Uint64(v))
			}
			return nil
		}},
		{[]byte{layout.PrefixTree}, func(k, v []byte) error {
			var info layout.TreeInfo
			if err := msgpack.Unmarshal(v, &info); err != nil {
				return err
			}
			name := string(k[1:])
			sc, err := a.get(layout.SchemaKey(name))
			if err != nil {
				return err
			}
			a.trees[name] = &replica.TreeDecl{Name: name, Versioned: info.Versioned, Major: info.Major, Minor: info.Minor, Schema: sc}
			a.next[name] = info.NextID
			if len(sc) > 0 {
				dec, err := schema.Decode(sc)
				if err != nil {
					return fmt.Errorf("schema of tree %s: %w", name, err)
				}
				a.schemas[name] = dec
			}
			return nil
		}},
		{[]byte{layout.PrefixServer, 'e'}, func(k, v []byte) error {
			e := new(enrollment)
			if err := msgpack.Unmarshal(v, e); err != nil {
				return err
			}
			a.enrollments[string(k[2:])] = e
			return nil
		}},
		{[]byte{layout.PrefixBorrow}, func(k, v []byte) error {
			tree, key, err := layout.ParseItemKey(k)
			if err != nil {
				return err
			}
			b := new(borrowState)
			if err := msgpack.Unmarshal(v, b); err != nil {
				return err
			}
			// No client is connected yet: those waiting ask again when
			// they reconnect, holders keep what they hold.
			if len(b.Queue) == 0 {
				return nil
			}
			b.Queue = b.Queue[:1]
			a.borrows[recKey{tree, key}] = b
			return nil
		}},
	} {
		it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: p.prefix, UpperBound: layout.PrefixEnd(p.prefix)})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			if err := p.fn(it.Key(), it.Value()); err != nil {
				it.Close()
				return fmt.Errorf("netsync: server store, key %x: %w", it.Key(), err)
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	a.indexClients()
	return nil
}

func (a *authority) get(key []byte) ([]byte, error) { return a.pdb.Value(key) }

func (a *authority) getMsgpack(key []byte, v any) (bool, error) { return a.pdb.GetMsgpack(key, v) }

func (a *authority) setMsgpack(key []byte, v any) error { return a.pdb.SetMsgpack(key, v, pebble.Sync) }

// commit runs step with a.mu held to fill an indexed batch and say what to
// deliver; applies the batch in step order, syncs it together with
// concurrent commits (unless the step is lazy), then delivers in the same
// order. After a failure of the store every later commit is refused.
func (a *authority) commit(step func(b *pebble.Batch, d *delivery) error) error {
	return a.pipe.Commit(&stepCommit{a: a, step: step, d: &delivery{}})
}

// deliver sends what a committed step produced, after every earlier step
// (the pipeline calls it in ticket order, with pubMu held).
func (a *authority) deliver(d *delivery) {
	if len(d.entries) > 0 && len(a.conns) > 1 && d.shared == nil {
		d.shareEntries()
	}
	// The origin first, everyone else after: the writer woken last runs
	// next on this P when the committing goroutine blocks, and another
	// client waits for its change more than the origin for its ack.
	if d.origin != nil {
		if _, ok := a.conns[d.origin]; ok {
			d.origin.sendDelivery(d)
		}
	}
	for c := range a.conns {
		if c != d.origin {
			c.sendDelivery(d)
		}
	}
	if n := len(d.entries); n > 0 {
		a.pubSeq = d.entries[n-1].Seq
	}
}

// register adds a connection to the deliveries and returns the sequence
// delivered so far: the connection catches up to it from the log, then
// takes deliveries.
func (a *authority) register(c *sconn) uint64 {
	a.pubMu.Lock()
	defer a.pubMu.Unlock()
	a.conns[c] = struct{}{}
	return a.pubSeq
}

func (a *authority) unregister(c *sconn) {
	a.pubMu.Lock()
	delete(a.conns, c)
	a.pubMu.Unlock()
}

func putMsgpack(b *pebble.Batch, key []byte, v any) error {
	enc, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(key, enc, nil)
}

// current returns the stored record, nil when there is none.
func (a *authority) current(b *pebble.Batch, tree string, key uint64) []byte {
	return batchGet(b, layout.RecordKey(tree, key))
}

// batchGet reads key through the batch: its own writes, then the store.
func batchGet(b *pebble.Batch, key []byte) []byte { return store.BatchValue(b, key) }

// eachLog passes each of the first max log entries in (after, upto] to
// fn, in order, and returns the sequence of the last. The entry, its
// Record and Sum are the store's memory, valid until fn returns.
func (a *authority) eachLog(after, upto uint64, max int, fn func(e *logEntry) error) (last uint64, err error) {
	it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: logKey(after + 1), UpperBound: logKey(upto + 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var r layout.Reader
	var e logEntry // one for all: fn keeps no reference to it
	n := 0
	for ok := it.First(); ok && n < max; ok = it.Next() {
		e = logEntry{}
		if err := unmarshalLogEntry(&r, it.Value(), &e, true); err != nil {
			return last, fmt.Errorf("netsync: log entry %x: %w", it.Key(), err)
		}
		if err := fn(&e); err != nil {
			return last, err
		}
		last = e.Seq
		n++
	}
	return last, it.Error()
}

// compacted returns the last compacted log sequence.
func (a *authority) compacted() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.floor
}

// snapshotFrames reads every tree declaration and record as they are now,
// as Entries of at most about 1 MiB, and passes each to send.
func (a *authority) snapshotFrames(c *sconn, send func(*wire.Entries) error) error {
	a.mu.Lock()
	decls := make([]layout.Change, 0, len(a.trees))
	for _, t := range a.trees {
		if !c.may(t.Name, Read) {
			continue
		}
		enc, err := msgpack.Marshal(t)
		if err != nil {
			a.mu.Unlock()
			return err
		}
		decls = append(decls, layout.Change{Tree: t.Name, Kind: wire.KindTree, Record: enc})
	}
	a.mu.Unlock()
	if err := send(&wire.Entries{Changes: decls}); err != nil {
		return err
	}
	prefix := []byte{layout.PrefixRecord}
	it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: layout.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	var run []layout.Change
	size := 0
	for ok := it.First(); ok; ok = it.Next() {
		tree, key, err := layout.ParseItemKey(it.Key())
		if err != nil {
			return fmt.Errorf("netsync: server store: %w", err)
		}
		if !c.may(tree, Read) {
			continue
		}
		run = append(run, layout.Change{Tree: tree, Key: key, Kind: uint8(db.Created), Record: slices.Clone(it.Value())})
		size += len(it.Value()) + 32
		if size > 1<<20 {
			if err := send(&wire.Entries{Changes: run}); err != nil {
				return err
			}
			run, size = nil, 0
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	if len(run) > 0 {
		return send(&wire.Entries{Changes: run})
	}
	return nil
}
