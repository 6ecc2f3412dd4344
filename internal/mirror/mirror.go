// Package mirror keeps a PostgreSQL database a copy of a hills server's
// trees, for reporting: one table per tree in the layout of package sqlmap
// (jsonb for nested values, timestamptz for times, numeric for 64-bit
// unsigned integers), kept up to date as changes arrive.
//
// The mirror is an enrolled client of the server with a replica of its
// own (db, netsync). The client tells it each step of the server's log
// its replica applied, with the entries' sequences (ClientOptions.Applied);
// the mirror writes the records those entries changed into PostgreSQL
// and, in the same transaction, the log position they bring the tables
// to (the server, its store's lineage, the sequence and the log's digest
// there, in table _hills_mirror). The rows thus always hold every change
// up to the position committed with them.
//
// On a restart the mirror resumes from PostgreSQL's position, not the
// replica's: a replica ahead of it (the mirror stopped between the
// replica's apply and PostgreSQL's commit) is set back to it, so the
// server sends the changes PostgreSQL lacks again; a replica behind it
// (its last writes lost in a crash, or a fresh replica directory) catches
// up while the mirror passes over the entries up to the position, which
// PostgreSQL has. Only when PostgreSQL's position cannot be continued (no
// position yet, another server or lineage, a digest that differs, a log
// that ends before the position, the replica took a snapshot because the
// log was compacted past it or the server was restored from a backup)
// does the mirror reconcile every table with the replica; a row already
// equal is not written even then.
// A field a newer schema adds becomes a new column.
//
// There is one type, Mirror; Run runs it until its context ends.
package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/replica"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

// Options of Run. Server, Postgres and Replica are required.
type Options struct {
	Server   string // the hills server's address, host:port
	Token    string // enrollment token; needed on the first start only
	AppID    string // the application id the server presents
	Postgres string // PostgreSQL connection URL
	Replica  string // directory of the mirror's own replica
	Name     string // the client's name in open mode; default "mirror"
	// Flush is the longest changes gather before they are written to
	// PostgreSQL while a burst goes on; a change that finds the mirror
	// idle is written at once. Default 1ms.
	Flush  time.Duration
	Logger *slog.Logger // default slog.Default()
	// Flushed, when not nil, is called after each committed flush with
	// the position it committed and the records it wrote (nil for a
	// reconciliation), for tests and the lag benchmark.
	Flushed func(seq uint64, keys []db.OpaqueKey)
}

// position is a point of a server's log, as PostgreSQL keeps it.
type position struct {
	server, lineage string
	seq             uint64
	sum             []byte
}

// Mirror is a running mirror.
type Mirror struct {
	o    Options
	d    *db.DB
	c    *netsync.Client
	link replica.Link
	pg   *pgx.Conn
	log  *slog.Logger

	mu sync.Mutex
	// What the next flush writes: the records changed since the last
	// one, the trees declared, and the position they bring PostgreSQL to.
	dirty map[db.OpaqueKey]bool
	trees map[string]bool
	pos   position
	// full: PostgreSQL's rows may differ from the replica's anywhere;
	// the next flush reconciles every table.
	full bool
	// skip: PostgreSQL has every change up to this sequence already (the
	// replica was behind it); skipSum is the log's digest there.
	skip    uint64
	skipSum []byte
	wake    chan struct{}

	// Of the flushing goroutine only.
	tables    map[string]*table // by tree
	committed position          // what PostgreSQL holds
}

// table is what the mirror knows of one tree's PostgreSQL table.
type table struct {
	tree    db.OpaqueTree
	layout  *sqlmap.Layout
	upsert  string          // the upsert of a row, in layout
	columns map[string]bool // columns the table has
}

// Run mirrors until ctx ends, then writes what it has and returns nil; an
// error of PostgreSQL or of the server's refusal ends it earlier.
func Run(ctx context.Context, o Options) error {
	if o.Server == "" || o.Postgres == "" || o.Replica == "" {
		return errors.New("mirror: the server's address, the PostgreSQL URL and the replica directory are required")
	}
	if o.Flush <= 0 {
		o.Flush = time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name = "mirror"
	}
	m := &Mirror{o: o, log: o.Logger, dirty: map[db.OpaqueKey]bool{}, trees: map[string]bool{},
		wake: make(chan struct{}, 1), tables: map[string]*table{}}
	var err error
	if m.pg, err = pgx.Connect(ctx, o.Postgres); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	defer m.pg.Close(context.Background())
	if m.d, err = db.Open(o.Replica, &db.Options{Replica: true, Name: o.Name, Logger: o.Logger}); err != nil {
		return fmt.Errorf("mirror: replica: %w", err)
	}
	defer m.d.Close()
	if err := m.resume(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began
		}
		return err
	}
	if m.c, err = netsync.Connect(m.d, o.Server, &netsync.ClientOptions{Token: o.Token, AppID: o.AppID, Logger: o.Logger,
		Applied: m.applied}); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	defer m.c.Close()
	return m.loop(ctx)
}

// resume reads PostgreSQL's position and sets the replica and the mirror
// to continue from it (see the package's comment).
func (m *Mirror) resume(ctx context.Context) error {
	if _, err := m.pg.Exec(ctx, `CREATE TABLE IF NOT EXISTS _hills_mirror (
		id integer PRIMARY KEY, server text NOT NULL, seq bigint NOT NULL);
		ALTER TABLE _hills_mirror ADD COLUMN IF NOT EXISTS lineage text, ADD COLUMN IF NOT EXISTS sum bytea`); err != nil {
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	var p position
	var seq int64
	var lineage *string
	err := m.pg.QueryRow(ctx, `SELECT server, lineage, seq, sum FROM _hills_mirror WHERE id = 1`).Scan(&p.server, &lineage, &seq, &p.sum)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	if m.link, err = replica.Open(m.d); err != nil {
		return err
	}
	rp := m.link.Position()
	if lineage == nil || *lineage == "" {
		// No position PostgreSQL's rows can be continued from.
		m.full = true
		m.pos = position{seq: rp.Seq, sum: rp.Sum}
		m.log.Info("mirror: PostgreSQL holds no position; the tables will be reconciled with the replica", "replica", rp.Seq)
		return nil
	}
	p.lineage, p.seq = *lineage, uint64(seq)
	m.pos, m.committed = p, p
	switch {
	case rp.Seq > p.seq:
		// The replica applied changes PostgreSQL did not commit: take
		// them from the server again.
		if err := m.link.Apply(nil, replica.Pos{Seq: p.seq, Sum: p.sum}); err != nil {
			return fmt.Errorf("mirror: replica: %w", err)
		}
		m.log.Info("mirror: resuming from PostgreSQL's position; the replica was ahead", "mirrored", p.seq, "replica", rp.Seq)
	case rp.Seq < p.seq:
		m.skip, m.skipSum = p.seq, p.sum
		m.log.Info("mirror: resuming from PostgreSQL's position; the replica catches up to it first", "mirrored", p.seq, "replica", rp.Seq)
	default:
		m.log.Info("mirror: resuming from PostgreSQL's position", "mirrored", p.seq)
	}
	return nil
}

// applied takes a step of the log the replica applied (ClientOptions.
// Applied): the records it changed are written by the next flush, with
// its position.
func (m *Mirror) applied(a netsync.Applied) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.Snapshot {
		m.reconcileLocked("the replica took a snapshot of the server's state")
	} else if m.pos.lineage != "" && a.Lineage != "" && a.Lineage != m.pos.lineage {
		m.reconcileLocked("the server's store has another lineage than PostgreSQL's position")
	}
	for _, ch := range a.Changes {
		if ch.Seq <= m.skip {
			if ch.Seq == m.skip && m.skipSum != nil && ch.Sum != nil && !bytes.Equal(ch.Sum, m.skipSum) {
				m.reconcileLocked("the server's log differs from the one PostgreSQL's position is in")
			}
			continue
		}
		if ch.Kind == 0 {
			m.trees[ch.Key.Tree] = true
		} else {
			m.dirty[ch.Key] = true
		}
	}
	if a.Seq > m.skip || a.Snapshot {
		m.skip, m.skipSum = 0, nil
		m.pos = position{server: m.pos.server, lineage: a.Lineage, seq: a.Seq, sum: a.Sum}
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// reconcileLocked makes the next flush reconcile every table, saying why.
// Called with m.mu held.
func (m *Mirror) reconcileLocked(why string) {
	if !m.full {
		m.log.Info("mirror: the tables will be reconciled with the replica", "why", why)
	}
	m.full = true
	m.skip, m.skipSum = 0, nil
}

// check compares the server the client met with PostgreSQL's position.
func (m *Mirror) check(st netsync.Status) {
	if st.Lineage == "" {
		return // not connected yet
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.pos.server != "" && m.pos.server != st.ServerID:
		m.reconcileLocked("PostgreSQL's position is of server " + m.pos.server + ", the replica's server is " + st.ServerID)
	case m.pos.lineage != "" && m.pos.lineage != st.Lineage:
		m.reconcileLocked("the server's store has another lineage than PostgreSQL's position")
	case m.skip != 0 && st.CaughtUp && st.ServerSeq < m.skip:
		// A store copied back by hand keeps its lineage.
		m.reconcileLocked(fmt.Sprintf("the server's log ends at %d, before PostgreSQL's position %d", st.ServerSeq, m.skip))
	}
	m.pos.server = st.ServerID
}

func (m *Mirror) loop(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond) // the server's identity, and a reconciliation waiting for the catch-up
	defer tick.Stop()
	changed := m.c.Changed()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return m.flush(fctx)
		case <-m.wake:
		case <-changed:
			changed = m.c.Changed()
			st := m.c.Status()
			m.check(st)
			if err := fatal(st); err != nil {
				return err
			}
		case <-tick.C:
			m.check(m.c.Status())
		}
		// Not ctx: pgx closes a connection whose query's context ends,
		// and the last flush, when ctx ends, needs it.
		start := time.Now()
		if err := m.flush(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		// While a burst goes on, let its changes gather a little: fewer,
		// larger transactions. A change finding the mirror idle is
		// written at once.
		if d := time.Since(start); d < m.o.Flush && len(m.wake) > 0 {
			t := time.NewTimer(m.o.Flush - d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}

// fatal is the error that ends the mirror when the server refused it.
func fatal(st netsync.Status) error {
	if st.Err != nil && !st.Connected && (errors.Is(st.Err, netsync.ErrUnauthorized) || errors.Is(st.Err, netsync.ErrIdentity) ||
		errors.Is(st.Err, netsync.ErrAppID) || errors.Is(st.Err, netsync.ErrProtocolVersion) || errors.Is(st.Err, netsync.ErrServerBehind)) {
		return fmt.Errorf("mirror: %w", st.Err)
	}
	return nil
}

// flush writes the changed records (every record, when a reconciliation
// is due) and the position they bring PostgreSQL to in one transaction.
// The replica has applied at least the changes up to the position, so
// the rows hold them all (and maybe later ones, which come again).
func (m *Mirror) flush(ctx context.Context) error {
	st := m.c.Status()
	m.mu.Lock()
	if m.full {
		if !st.CaughtUp || st.Lineage == "" {
			// Reconcile with the replica once it has caught up.
			m.mu.Unlock()
			return nil
		}
		// The rows will be the replica's, at least at its position now.
		rp := m.link.Position()
		m.pos = position{server: st.ServerID, lineage: st.Lineage, seq: rp.Seq, sum: rp.Sum}
	}
	dirty, trees, pos, full := m.dirty, m.trees, m.pos, m.full
	m.dirty, m.trees, m.full = map[db.OpaqueKey]bool{}, map[string]bool{}, false
	m.mu.Unlock()
	if !full && len(dirty) == 0 && len(trees) == 0 && pos.seq == m.committed.seq && pos.lineage == m.committed.lineage {
		return nil
	}
	err := m.write(ctx, dirty, trees, pos, full)
	if err != nil {
		m.mu.Lock()
		for k := range dirty {
			m.dirty[k] = true
		}
		for t := range trees {
			m.trees[t] = true
		}
		m.full = m.full || full
		m.mu.Unlock()
		return err
	}
	m.committed = pos
	if m.o.Flushed != nil {
		var keys []db.OpaqueKey
		if !full {
			keys = slices.Collect(maps.Keys(dirty))
		}
		m.o.Flushed(pos.seq, keys)
	}
	return nil
}

// write is flush's transaction.
func (m *Mirror) write(ctx context.Context, dirty map[db.OpaqueKey]bool, trees map[string]bool, pos position, full bool) error {
	tx, err := m.pg.Begin(ctx)
	if err != nil {
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	defer tx.Rollback(context.Background())
	if full {
		for _, name := range m.d.Trees() {
			trees[name] = true
		}
	}
	for k := range dirty {
		trees[k.Tree] = true
	}
	for _, name := range slices.Sorted(maps.Keys(trees)) {
		t, err := m.table(name)
		if err != nil {
			return err
		}
		if err := m.ensureTable(ctx, tx, t); err != nil {
			return err
		}
		if full {
			if err := m.reconcile(ctx, tx, t); err != nil {
				return err
			}
		}
	}
	// The records and the position in one round trip.
	var b batch
	if !full {
		for _, k := range slices.SortedFunc(maps.Keys(dirty), compareKeys) {
			if err := m.queueRecord(&b, m.tables[k.Tree], k); err != nil {
				return err
			}
		}
	}
	b.queue(db.OpaqueKey{}, `INSERT INTO _hills_mirror (id, server, lineage, seq, sum) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET server = $1, lineage = $2, seq = $3, sum = $4`,
		pos.server, pos.lineage, int64(pos.seq), pos.sum)
	if err := b.send(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	return nil
}

func compareKeys(a, b db.OpaqueKey) int {
	if c := strings.Compare(a.Tree, b.Tree); c != 0 {
		return c
	}
	if a.ID != b.ID {
		return int(a.ID) - int(b.ID)
	}
	return int(a.Rev) - int(b.Rev)
}

// table returns the mirror's table of tree name.
func (m *Mirror) table(name string) (*table, error) {
	if t := m.tables[name]; t != nil {
		return t, nil
	}
	ot, err := m.d.Opaque(name)
	if err != nil {
		return nil, fmt.Errorf("mirror: tree %s: %w", name, err)
	}
	t := &table{tree: ot}
	m.tables[name] = t
	return t, nil
}

// ensureTable creates the tree's table, or adds the columns of fields
// its schema gained.
func (m *Mirror) ensureTable(ctx context.Context, tx pgx.Tx, t *table) error {
	sc := t.tree.Schema()
	s := &schema.Schema{Tree: sc.Tree, Major: sc.Evolution.Major, Minor: sc.Evolution.Minor, Type: sc.Type}
	if t.layout != nil && sameFields(t.layout.Tree.Schema, s) {
		return nil
	}
	l, err := sqlmap.NewLayout(sqlmap.Tree{Name: sc.Tree, Schema: s})
	if err != nil {
		return err
	}
	if t.columns == nil {
		var cols []string
		for _, c := range l.Columns {
			cols = append(cols, sqlmap.Quote(c.Name)+" "+pgType(&c)+map[bool]string{true: " NOT NULL", false: ""}[c.Name == sqlmap.ColID || c.Name == sqlmap.ColRev])
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY (_id, _rev))",
			sqlmap.Quote(sc.Tree), strings.Join(cols, ", "))); err != nil {
			return fmt.Errorf("mirror: table %s: %w", sc.Tree, err)
		}
		t.columns = map[string]bool{}
		rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = $1`, sc.Tree)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			rows.Scan(&c)
			t.columns[c] = true
		}
		rows.Close()
	}
	for _, c := range l.Columns {
		if t.columns[c.Name] {
			continue
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", sqlmap.Quote(sc.Tree), sqlmap.Quote(c.Name), pgType(&c))); err != nil {
			return fmt.Errorf("mirror: table %s, new column %s: %w", sc.Tree, c.Name, err)
		}
		t.columns[c.Name] = true
		m.log.Info("mirror: added a column", "table", sc.Tree, "column", c.Name)
	}
	t.layout, t.upsert = l, upsertSQL(l)
	return nil
}

func sameFields(a, b *schema.Schema) bool {
	if len(a.Type.Fields) != len(b.Type.Fields) {
		return false
	}
	for i := range a.Type.Fields {
		if a.Type.Fields[i].Name != b.Type.Fields[i].Name || a.Type.Fields[i].Type.String() != b.Type.Fields[i].Type.String() {
			return false
		}
	}
	return true
}

// queueRecord queues in b the upsert of record k, or the delete of its
// row when the replica no longer has it.
func (m *Mirror) queueRecord(b *batch, t *table, k db.OpaqueKey) error {
	meta, err := t.tree.Meta(k)
	if errors.Is(err, db.ErrNotFound) {
		b.queue(k, fmt.Sprintf("DELETE FROM %s WHERE _id = $1 AND _rev = $2", sqlmap.Quote(k.Tree)), int64(k.ID), int64(k.Rev))
		return nil
	}
	if err != nil {
		return err
	}
	text, err := t.tree.Text(k)
	if errors.Is(err, db.ErrNotFound) {
		return m.queueRecord(b, t, k)
	}
	if err != nil {
		return err
	}
	return queueUpsert(b, t, k, meta, text)
}

func queueUpsert(b *batch, t *table, k db.OpaqueKey, meta db.Meta, text string) error {
	vals, err := pgRow(t.layout, k, meta, text)
	if err != nil {
		return fmt.Errorf("mirror: %s/%s: %w", k.Tree, k, err)
	}
	b.queue(k, t.upsert, vals...)
	return nil
}

// batch is statements sent to PostgreSQL in one round trip, each with
// the record it writes, to name in an error.
type batch struct {
	b    pgx.Batch
	keys []db.OpaqueKey
}

func (b *batch) queue(k db.OpaqueKey, sql string, args ...any) {
	b.b.Queue(sql, args...)
	b.keys = append(b.keys, k)
}

// send runs the statements queued in tx, and empties b.
func (b *batch) send(ctx context.Context, tx pgx.Tx) error {
	if b.b.Len() == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, &b.b)
	var err error
	for _, k := range b.keys {
		if _, err = br.Exec(); err != nil {
			if k.Tree != "" {
				err = fmt.Errorf("mirror: %s/%s: %w", k.Tree, k, err)
			} else {
				err = fmt.Errorf("mirror: PostgreSQL: %w", err)
			}
			break
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mirror: PostgreSQL: %w", cerr)
	}
	b.b, b.keys = pgx.Batch{}, nil
	return err
}

func upsertSQL(l *sqlmap.Layout) string {
	var cols, params, sets, olds, news []string
	for i, c := range l.Columns {
		q := sqlmap.Quote(c.Name)
		cols = append(cols, q)
		params = append(params, fmt.Sprintf("$%d", i+1))
		if i >= 2 {
			sets = append(sets, q+" = EXCLUDED."+q)
			olds = append(olds, "t."+q)
			news = append(news, "EXCLUDED."+q)
		}
	}
	// A row already equal is left alone: a record that comes again
	// (a reconciliation, changes the server sends again after a restart)
	// is not rewritten.
	return fmt.Sprintf("INSERT INTO %s AS t (%s) VALUES (%s) ON CONFLICT (_id, _rev) DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)",
		sqlmap.Quote(l.Tree.Name), strings.Join(cols, ", "), strings.Join(params, ", "), strings.Join(sets, ", "),
		strings.Join(olds, ", "), strings.Join(news, ", "))
}

// reconcile makes the table hold exactly the replica's records.
func (m *Mirror) reconcile(ctx context.Context, tx pgx.Tx, t *table) error {
	const each = 500 // statements per round trip
	var b batch
	have := map[[2]int64]bool{}
	for k := range t.tree.Keys() {
		meta, err := t.tree.Meta(k)
		if err != nil {
			continue // deleted meanwhile: the step that did it follows
		}
		text, err := t.tree.Text(k)
		if err != nil {
			continue
		}
		if err := queueUpsert(&b, t, k, meta, text); err != nil {
			return err
		}
		have[[2]int64{int64(k.ID), int64(k.Rev)}] = true
		if b.b.Len() >= each {
			if err := b.send(ctx, tx); err != nil {
				return err
			}
		}
	}
	if err := b.send(ctx, tx); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT _id, _rev FROM %s", sqlmap.Quote(t.tree.Name())))
	if err != nil {
		return err
	}
	var gone [][2]int64
	for rows.Next() {
		var k [2]int64
		rows.Scan(&k[0], &k[1])
		if !have[k] {
			gone = append(gone, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mirror: table %s: %w", t.tree.Name(), err)
	}
	for _, k := range gone {
		b.queue(db.OpaqueKey{Tree: t.tree.Name(), ID: uint32(k[0]), Rev: uint32(k[1])},
			fmt.Sprintf("DELETE FROM %s WHERE _id = $1 AND _rev = $2", sqlmap.Quote(t.tree.Name())), k[0], k[1])
		if b.b.Len() >= each {
			if err := b.send(ctx, tx); err != nil {
				return err
			}
		}
	}
	return b.send(ctx, tx)
}
