// Package mirror keeps a PostgreSQL database a copy of a hills server's
// trees, for reporting: one table per tree in the layout of package sqlmap
// (jsonb for nested values, timestamptz for times, numeric for 64-bit
// unsigned integers), kept up to date as changes arrive.
//
// The mirror is an enrolled client of the server with a replica of its
// own (db, netsync): the replica catches up incrementally from the
// server's log, and the mirror writes what changed into PostgreSQL. Each
// flush is one PostgreSQL transaction holding the rows and the position
// (the server log sequence the replica had applied, in table
// _hills_mirror). A restarted mirror's replica resumes from its own
// position in the server's log; the mirror then reconciles every table
// with the replica in one transaction (the replica may have applied
// changes PostgreSQL had not committed when the mirror stopped), so no
// change is lost or applied twice. A field a newer schema adds becomes a
// new column.
//
// There is one type, Mirror; Run runs it until its context ends.
package mirror

import (
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
	// Flush is the longest a change waits before it is written to
	// PostgreSQL. Default 10ms.
	Flush  time.Duration
	Logger *slog.Logger // default slog.Default()
	// Flushed, when not nil, is called after each committed flush with
	// the position it committed and the records it wrote (nil for a
	// reconciliation), for tests and the lag benchmark.
	Flushed func(seq uint64, keys []db.OpaqueKey)
}

// Mirror is a running mirror.
type Mirror struct {
	o   Options
	d   *db.DB
	c   *netsync.Client
	pg  *pgx.Conn
	log *slog.Logger

	mu      sync.Mutex
	dirty   map[db.OpaqueKey]bool
	wake    chan struct{}
	tables  map[string]*table // by tree
	cancels []func()
}

// table is what the mirror knows of one tree's PostgreSQL table.
type table struct {
	tree    db.OpaqueTree
	layout  *sqlmap.Layout
	columns map[string]bool // columns the table has
}

// Run mirrors until ctx ends, then writes what it has and returns nil; an
// error of PostgreSQL or of the server's refusal ends it earlier.
func Run(ctx context.Context, o Options) error {
	if o.Server == "" || o.Postgres == "" || o.Replica == "" {
		return errors.New("mirror: the server's address, the PostgreSQL URL and the replica directory are required")
	}
	if o.Flush <= 0 {
		o.Flush = 10 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name = "mirror"
	}
	m := &Mirror{o: o, log: o.Logger, dirty: map[db.OpaqueKey]bool{}, wake: make(chan struct{}, 1), tables: map[string]*table{}}
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
	if m.c, err = netsync.Connect(m.d, o.Server, &netsync.ClientOptions{Token: o.Token, AppID: o.AppID, Logger: o.Logger}); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	defer m.c.Close()
	defer func() {
		for _, c := range m.cancels {
			c()
		}
	}()
	if err := m.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began
		}
		return err
	}
	return m.loop(ctx)
}

// start sets up the position table, waits for the replica to catch up
// and reconciles the tables with it.
func (m *Mirror) start(ctx context.Context) error {
	if _, err := m.pg.Exec(ctx, `CREATE TABLE IF NOT EXISTS _hills_mirror (
		id integer PRIMARY KEY, server text NOT NULL, seq bigint NOT NULL)`); err != nil {
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	if err := m.c.WaitSynced(ctx); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	var seq int64
	err := m.pg.QueryRow(ctx, `SELECT seq FROM _hills_mirror WHERE id = 1`).Scan(&seq)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("mirror: PostgreSQL: %w", err)
	}
	m.watchTrees()
	m.log.Info("mirror: reconciling the tables with the replica", "mirrored", seq, "replica", m.c.Status().LastSeq)
	return m.flush(ctx, true)
}

// watchTrees subscribes to the trees not watched yet.
func (m *Mirror) watchTrees() {
	for _, name := range m.d.Trees() {
		m.mu.Lock()
		_, ok := m.tables[name]
		m.mu.Unlock()
		if ok {
			continue
		}
		ot, err := m.d.Opaque(name)
		if err != nil {
			continue
		}
		cancel := ot.Subscribe(func(kind db.EventKind, k db.OpaqueKey) {
			if kind == db.BorrowChanged {
				return
			}
			m.mu.Lock()
			m.dirty[k] = true
			m.mu.Unlock()
			select {
			case m.wake <- struct{}{}:
			default:
			}
		})
		m.mu.Lock()
		m.tables[name] = &table{tree: ot}
		m.cancels = append(m.cancels, cancel)
		m.mu.Unlock()
	}
}

func (m *Mirror) loop(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond) // new trees, and the position when only schemas changed
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return m.flush(fctx, false)
		case <-m.wake:
			// Let a burst of changes gather, within the flush delay.
			t := time.NewTimer(m.o.Flush)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		case <-tick.C:
			m.watchTrees()
		}
		// Not ctx: pgx closes a connection whose query's context ends,
		// and the last flush, when ctx ends, needs it.
		if err := m.flush(context.WithoutCancel(ctx), false); err != nil {
			return err
		}
	}
}

// flush writes the changed records (every record, when all) and the
// position into PostgreSQL in one transaction. The position is read
// before the records: what is written holds at least every change up to
// it.
func (m *Mirror) flush(ctx context.Context, all bool) error {
	seq := m.c.Status().LastSeq
	m.mu.Lock()
	dirty := m.dirty
	m.dirty = map[db.OpaqueKey]bool{}
	tables := maps.Clone(m.tables)
	m.mu.Unlock()
	if !all && len(dirty) == 0 {
		var cur int64
		if m.pg.QueryRow(ctx, `SELECT seq FROM _hills_mirror WHERE id = 1`).Scan(&cur) == nil && uint64(cur) == seq {
			return nil
		}
	}
	tx, err := m.pg.Begin(ctx)
	if err != nil {
		return m.requeue(dirty, fmt.Errorf("mirror: PostgreSQL: %w", err))
	}
	defer tx.Rollback(context.Background())
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		t := tables[name]
		if err := m.ensureTable(ctx, tx, t); err != nil {
			return m.requeue(dirty, err)
		}
		if all {
			if err := m.reconcile(ctx, tx, t); err != nil {
				return m.requeue(dirty, err)
			}
		}
	}
	if !all {
		for k := range dirty {
			t := tables[k.Tree]
			if t == nil {
				continue
			}
			if err := m.write(ctx, tx, t, k); err != nil {
				return m.requeue(dirty, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO _hills_mirror (id, server, seq) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET server = $1, seq = $2`, m.c.Status().ServerID, int64(seq)); err != nil {
		return m.requeue(dirty, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return m.requeue(dirty, fmt.Errorf("mirror: PostgreSQL: %w", err))
	}
	if m.o.Flushed != nil {
		var keys []db.OpaqueKey
		if !all {
			keys = slices.Collect(maps.Keys(dirty))
		}
		m.o.Flushed(seq, keys)
	}
	return nil
}

// requeue puts back the keys of a flush that failed, and returns err.
func (m *Mirror) requeue(dirty map[db.OpaqueKey]bool, err error) error {
	m.mu.Lock()
	for k := range dirty {
		m.dirty[k] = true
	}
	m.mu.Unlock()
	return err
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
	t.layout = l
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

// write upserts the record k, or deletes its row when the replica no
// longer has it.
func (m *Mirror) write(ctx context.Context, tx pgx.Tx, t *table, k db.OpaqueKey) error {
	meta, err := t.tree.Meta(k)
	if errors.Is(err, db.ErrNotFound) {
		_, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE _id = $1 AND _rev = $2", sqlmap.Quote(k.Tree)), int64(k.ID), int64(k.Rev))
		return err
	}
	if err != nil {
		return err
	}
	text, err := t.tree.Text(k)
	if errors.Is(err, db.ErrNotFound) {
		return m.write(ctx, tx, t, k)
	}
	if err != nil {
		return err
	}
	return m.upsert(ctx, tx, t, k, meta, text)
}

func (m *Mirror) upsert(ctx context.Context, tx pgx.Tx, t *table, k db.OpaqueKey, meta db.Meta, text string) error {
	vals, err := pgRow(t.layout, k, meta, text)
	if err != nil {
		return fmt.Errorf("mirror: %s/%s: %w", k.Tree, k, err)
	}
	_, err = tx.Exec(ctx, upsertSQL(t.layout), vals...)
	if err != nil {
		return fmt.Errorf("mirror: %s/%s: %w", k.Tree, k, err)
	}
	return nil
}

func upsertSQL(l *sqlmap.Layout) string {
	var cols, params, sets []string
	for i, c := range l.Columns {
		q := sqlmap.Quote(c.Name)
		cols = append(cols, q)
		params = append(params, fmt.Sprintf("$%d", i+1))
		if i >= 2 {
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (_id, _rev) DO UPDATE SET %s",
		sqlmap.Quote(l.Tree.Name), strings.Join(cols, ", "), strings.Join(params, ", "), strings.Join(sets, ", "))
}

// reconcile makes the table hold exactly the replica's records.
func (m *Mirror) reconcile(ctx context.Context, tx pgx.Tx, t *table) error {
	have := map[[2]int64]bool{}
	for k := range t.tree.Keys() {
		meta, err := t.tree.Meta(k)
		if err != nil {
			continue // deleted meanwhile: its event follows
		}
		text, err := t.tree.Text(k)
		if err != nil {
			continue
		}
		if err := m.upsert(ctx, tx, t, k, meta, text); err != nil {
			return err
		}
		have[[2]int64{int64(k.ID), int64(k.Rev)}] = true
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
	for _, k := range gone {
		if _, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE _id = $1 AND _rev = $2", sqlmap.Quote(t.tree.Name())), k[0], k[1]); err != nil {
			return err
		}
	}
	return nil
}
