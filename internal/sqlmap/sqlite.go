package sqlmap

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	_ "modernc.org/sqlite" // the pure Go SQLite driver, "sqlite"

	"github.com/hillsdb/hills/internal/schema"
)

// TreesTable is the table listing the trees of an export.
const TreesTable = "_hills_trees"

// Quote quotes an SQL identifier.
func Quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// CreateTable returns the CREATE TABLE statement of l's table in SQLite.
func (l *Layout) CreateTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", Quote(l.Tree.Name))
	for i, c := range l.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", Quote(c.Name), c.Class.SQLite())
		if i < 2 {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(", PRIMARY KEY (_id, _rev)) WITHOUT ROWID")
	return b.String()
}

// Insert returns the INSERT statement of l's table, with one ? per column.
func (l *Layout) Insert() string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (", Quote(l.Tree.Name))
	for i, c := range l.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Quote(c.Name))
	}
	b.WriteString(") VALUES (")
	for i := range l.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('?')
	}
	b.WriteByte(')')
	return b.String()
}

// SchemaJSON is the JSON form of a schema in _hills_trees: its stored
// form's members (tree, major, minor, type with kind numbers, bits,
// fields ...).
func SchemaJSON(s *schema.Schema) (string, error) {
	b, err := schema.Encode(s)
	if err != nil {
		return "", err
	}
	var v any
	if err := msgpack.Unmarshal(b, &v); err != nil {
		return "", err
	}
	j, err := json.Marshal(v)
	return string(j), err
}

// ParseSchemaJSON reads a schema written by SchemaJSON, validating it.
func ParseSchemaJSON(text string) (*schema.Schema, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	b, err := msgpack.Marshal(numbers(v))
	if err != nil {
		return nil, err
	}
	return schema.Decode(b)
}

// numbers turns the JSON numbers in v into integers.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
	}
	return v
}

// OpenSQLite opens (creating) the SQLite database file path for a bulk
// write: no journal, no sync until the file is closed.
func OpenSQLite(path string) (*sql.DB, error) {
	sdb, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	sdb.SetMaxOpenConns(1)
	for _, p := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF"} {
		if _, err := sdb.Exec(p); err != nil {
			sdb.Close()
			return nil, err
		}
	}
	return sdb, nil
}

// WriteSQLite writes the trees of src into a new SQLite file path, in
// one transaction. It is written under a temporary name first and renamed
// when complete, so path holds a whole export or nothing. n is the number
// of records written.
func WriteSQLite(ctx context.Context, path string, src *Source, trees []Tree) (n int, err error) {
	if _, err := os.Lstat(path); err == nil {
		return 0, fmt.Errorf("sqlmap: %s exists", path)
	}
	tmp := path + ".part"
	os.Remove(tmp)
	sdb, err := OpenSQLite(tmp)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := sdb.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return
		}
		err = os.Rename(tmp, path)
	}()
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.Exec("CREATE TABLE " + TreesTable + " (name TEXT PRIMARY KEY, versioned INTEGER NOT NULL, major INTEGER NOT NULL, minor INTEGER NOT NULL, schema TEXT NOT NULL)"); err != nil {
		return 0, err
	}
	for _, t := range trees {
		c, err := writeTree(ctx, tx, src, t)
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, tx.Commit()
}

func writeTree(ctx context.Context, tx *sql.Tx, src *Source, t Tree) (int, error) {
	l, err := NewLayout(t)
	if err != nil {
		return 0, err
	}
	sj, err := SchemaJSON(t.Schema)
	if err != nil {
		return 0, fmt.Errorf("tree %s: schema: %w", t.Name, err)
	}
	if _, err := tx.Exec("INSERT INTO "+TreesTable+" VALUES (?, ?, ?, ?, ?)", t.Name, t.Versioned, t.Schema.Major, t.Schema.Minor, sj); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(l.CreateTable()); err != nil {
		return 0, fmt.Errorf("tree %s: %w", t.Name, err)
	}
	st, err := tx.Prepare(l.Insert())
	if err != nil {
		return 0, err
	}
	defer st.Close()
	// Records are read and turned into rows on one goroutine while SQLite
	// inserts on this one.
	batches := make(chan []Row, 4)
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		rr := l.reader()
		batch := make([]Row, 0, rowBatch)
		err := src.Scan(t.Name, func(key uint64, rec []byte) error {
			row, err := rr.row(key, rec)
			if err != nil {
				return fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, t.Name, keyText(key), err)
			}
			for i, v := range row {
				row[i] = SQLValue(&l.Columns[i], v)
			}
			if batch = append(batch, row); len(batch) == rowBatch {
				select {
				case batches <- batch:
				case <-stop:
					return errStopped
				}
				batch = make([]Row, 0, rowBatch)
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			select {
			case batches <- batch:
			case <-stop:
			}
		}
		readErr <- err
	}()
	n := 0
	var werr error
	for batch := range batches {
		if werr != nil {
			continue
		}
		for _, row := range batch {
			if _, err := st.ExecContext(ctx, row...); err != nil {
				werr = fmt.Errorf("tree %s, record %d.%d: %w", t.Name, row[0], row[1], err)
				close(stop)
				break
			}
			n++
		}
	}
	if err := <-readErr; werr == nil && err != nil {
		werr = err
	}
	return n, werr
}

// rowBatch is how many rows the reading goroutine hands over at once.
const rowBatch = 256

var errStopped = errors.New("sqlmap: stopped")

func keyText(key uint64) string { return fmt.Sprintf("%d.%d", key>>32, uint32(key)) }

// ImportTree is a tree read from an export, with its records.
type ImportTree struct {
	Tree
	Records []KeyRecord
}

// KeyRecord is one record in its stored form.
type KeyRecord struct {
	Key    uint64
	Record []byte
}

// ReadSQLite reads every tree of the SQLite export at path (the ones
// named, when names is not empty) into records. A row that does not fit
// its tree's schema is an error naming the table, the row and the column.
func ReadSQLite(ctx context.Context, path string, names []string, def Defaults) ([]ImportTree, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	sdb, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer sdb.Close()
	trees, err := readTrees(ctx, sdb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if trees, err = Select(trees, names); err != nil {
		return nil, err
	}
	var out []ImportTree
	for _, t := range trees {
		l, err := NewLayout(t)
		if err != nil {
			return nil, err
		}
		recs, err := readTable(ctx, sdb, l, def)
		if err != nil {
			return nil, err
		}
		out = append(out, ImportTree{Tree: t, Records: recs})
	}
	return out, nil
}

func readTrees(ctx context.Context, sdb *sql.DB) ([]Tree, error) {
	rows, err := sdb.QueryContext(ctx, "SELECT name, versioned, schema FROM "+TreesTable+" ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("not a hills export (table %s): %w", TreesTable, err)
	}
	defer rows.Close()
	var trees []Tree
	for rows.Next() {
		var name, sj string
		var versioned bool
		if err := rows.Scan(&name, &versioned, &sj); err != nil {
			return nil, fmt.Errorf("table %s: %w", TreesTable, err)
		}
		sc, err := ParseSchemaJSON(sj)
		if err != nil {
			return nil, fmt.Errorf("table %s, tree %s: schema: %w", TreesTable, name, err)
		}
		if sc.Tree != name {
			return nil, fmt.Errorf("table %s, tree %s: the schema is of tree %q", TreesTable, name, sc.Tree)
		}
		trees = append(trees, Tree{Name: name, Versioned: versioned, Schema: sc})
	}
	return trees, rows.Err()
}

// RowError is a row of a table that does not fit its tree's schema.
type RowError struct {
	Table string
	Row   int    // 1-based, in the order of _id, _rev
	Key   string // "ID.Rev" when known
	Err   error  // a *ColumnError, mostly
}

func (e *RowError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("table %s, row %d (_id.rev %s): %v", e.Table, e.Row, e.Key, e.Err)
	}
	return fmt.Sprintf("table %s, row %d: %v", e.Table, e.Row, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

func readTable(ctx context.Context, sdb *sql.DB, l *Layout, def Defaults) ([]KeyRecord, error) {
	rows, err := sdb.QueryContext(ctx, "SELECT * FROM "+Quote(l.Tree.Name)+" ORDER BY _id, _rev")
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", l.Tree.Name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	at := make([]int, len(cols)) // result column → layout column
	for i, c := range cols {
		if at[i] = l.Index(c); at[i] < 0 {
			return nil, fmt.Errorf("table %s: column %s is not a field of the tree's schema", l.Tree.Name, c)
		}
	}
	if !slices.Contains(cols, ColID) {
		return nil, fmt.Errorf("table %s: no column %s", l.Tree.Name, ColID)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []KeyRecord
	for n := 1; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, &RowError{Table: l.Tree.Name, Row: n, Err: err}
		}
		row := make(Row, len(l.Columns))
		for i, v := range vals {
			row[at[i]] = v
		}
		key, rec, err := l.Record(row, def)
		if err != nil {
			return nil, &RowError{Table: l.Tree.Name, Row: n, Key: rowKey(row), Err: err}
		}
		out = append(out, KeyRecord{Key: key, Record: rec})
	}
	return out, rows.Err()
}

// rowKey is the "ID.Rev" a row names, "" when it names none.
func rowKey(row Row) string {
	id, ok := row[0].(int64)
	if !ok {
		return ""
	}
	rev, _ := row[1].(int64)
	return fmt.Sprintf("%d.%d", id, rev)
}
