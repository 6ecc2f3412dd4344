package sqlmap_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

type benchPart struct {
	MPN          string   `msgpack:"mpn"`
	Manufacturer string   `msgpack:"manufacturer"`
	Description  string   `msgpack:"description"`
	Quantity     int      `msgpack:"quantity"`
	Location     string   `msgpack:"location"`
	Tags         []string `msgpack:"tags"`
}

// benchRecords is the number of records of BenchmarkExport:
// HILLS_EXPORT_RECORDS, default 20000 (the figure is 1000000).
func benchRecords(b *testing.B) int {
	if s := os.Getenv("HILLS_EXPORT_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("HILLS_EXPORT_RECORDS=%q", s)
		}
		return n
	}
	return 20000
}

// BenchmarkExport exports a server store of parts to SQLite, beside a
// raw INSERT loop of the same rows into the same table layout, file and
// settings (one transaction, a prepared statement): what SQLite alone
// costs. It reports both rates and hills' as a fraction of the raw loop's.
//
//	go test ./internal/sqlmap -run '^$' -bench Export -benchtime 3x
//	HILLS_EXPORT_RECORDS=1000000 go test ./internal/sqlmap -run '^$' -bench Export -benchtime 1x
func BenchmarkExport(b *testing.B) {
	n := benchRecords(b)
	dir := filepath.Join(b.TempDir(), "server")
	sc := &schema.Schema{Tree: "parts", Major: 1, Minor: 0, Type: schema.Type{Kind: schema.Struct, Fields: []schema.Field{
		{Name: "mpn", Type: schema.Type{Kind: schema.String}},
		{Name: "manufacturer", Type: schema.Type{Kind: schema.String}},
		{Name: "description", Type: schema.Type{Kind: schema.String}},
		{Name: "quantity", Type: schema.Type{Kind: schema.Int, Bits: 64}},
		{Name: "location", Type: schema.Type{Kind: schema.String}},
		{Name: "tags", Type: schema.Type{Kind: schema.Slice, Elem: &schema.Type{Kind: schema.String}}},
	}}}
	enc, err := schema.Encode(sc)
	if err != nil {
		b.Fatal(err)
	}
	tree := netsync.ImportTree{Name: "parts", Major: 1, Schema: enc}
	now := time.Now().UnixNano()
	for i := range n {
		var buf bytes.Buffer
		if err := msgpack.NewEncoder(&buf).Encode(&benchPart{MPN: fmt.Sprintf("RC0603FR-07%dKL", i), Manufacturer: "Yageo",
			Description: "resistor 0603 1%", Quantity: i % 5000, Location: fmt.Sprintf("A%d-%d", i%40, i%12), Tags: []string{"smd"}}); err != nil {
			b.Fatal(err)
		}
		m := record.Meta{Version: record.NonVersioned, Major: 1, Created: now, Modified: now, CreatedBy: "bench", ModifiedBy: "bench", Changes: 1}
		tree.Records = append(tree.Records, netsync.ImportRecord{Key: layout.Pack(uint32(i+1), 0), Record: record.Encode(nil, &m, buf.Bytes())})
	}
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Import([]netsync.ImportTree{tree}); err != nil {
		b.Fatal(err)
	}
	s.Shutdown(context.Background())

	src, err := sqlmap.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	trees, err := src.Trees()
	if err != nil {
		b.Fatal(err)
	}
	l, err := sqlmap.NewLayout(trees[0])
	if err != nil {
		b.Fatal(err)
	}
	// The raw loop's rows: the same values, made before it is timed.
	rows := make([]sqlmap.Row, 0, n)
	if err := src.Scan("parts", func(key uint64, rec []byte) error {
		row, err := l.Row(key, rec)
		rows = append(rows, row)
		return err
	}); err != nil {
		b.Fatal(err)
	}

	var hillsTime, rawTime time.Duration
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(b.TempDir(), fmt.Sprintf("hills%d.sqlite", i))
		t0 := time.Now()
		if c, err := sqlmap.WriteSQLite(context.Background(), out, src, trees); err != nil || c != n {
			b.Fatalf("export: %d, %v", c, err)
		}
		hillsTime += time.Since(t0)

		t0 = time.Now()
		rawInsert(b, filepath.Join(b.TempDir(), fmt.Sprintf("raw%d.sqlite", i)), l, rows)
		rawTime += time.Since(t0)
	}
	hills := float64(n*b.N) / hillsTime.Seconds()
	raw := float64(n*b.N) / rawTime.Seconds()
	b.ReportMetric(hills, "records/s")
	b.ReportMetric(raw, "raw-records/s")
	b.ReportMetric(hills/raw, "x-raw")
}

// rawInsert writes rows into a new SQLite file with the settings and
// statements WriteSQLite uses, and nothing else.
func rawInsert(b *testing.B, path string, l *sqlmap.Layout, rows []sqlmap.Row) {
	sdb, err := sqlmap.OpenSQLite(path)
	if err != nil {
		b.Fatal(err)
	}
	defer sdb.Close()
	tx, err := sdb.Begin()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec(l.CreateTable()); err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare(l.Insert())
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rows {
		if _, err := st.Exec(r...); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
