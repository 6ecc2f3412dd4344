package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

const usageImport = `Usage:
  hills-server import --sqlite FILE [--tree T ...] [--data DIR]
  hills-server import --csv FILE --tree T [--data DIR]

Imports records into the server of DIR: through its admin socket when it
runs (connected clients receive them at once), else into its store
(created when it does not exist). --sqlite reads an
export (hills-server export --sqlite) and declares its trees; --csv reads
one tree the store has, from a header row naming fields (and, optionally,
meta columns such as _id; a row without _id gets the tree's next id).
Records keep their keys and meta, their ids are reserved, and clients
receive them as changes. A row that does not fit the schema is refused,
naming the table or line and the column, and nothing is imported.
--data defaults to $HILLS_DATA, else ./hills-data.
`

func importCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("import")
	data := dataFlag(fs)
	sqlite := fs.String("sqlite", "", "")
	csvIn := fs.String("csv", "", "")
	var trees treeFlags
	fs.Var(&trees, "tree", "")
	pos, err := parse(fs, args, usageImport, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("import: unexpected argument %q", pos[0]), usage: usageImport}
	}
	if (*sqlite == "") == (*csvIn == "") {
		return &usageError{msg: "import: want one of --sqlite, --csv", usage: usageImport}
	}
	if *csvIn != "" && len(trees) != 1 {
		return &usageError{msg: "import: --csv reads one --tree", usage: usageImport}
	}
	def := sqlmap.Defaults{Now: time.Now().UnixNano(), By: "import " + osUser()}
	var in []sqlmap.ImportTree
	if *sqlite != "" {
		in, err = sqlmap.ReadSQLite(ctx, *sqlite, trees, def)
	} else {
		in, err = readCSVTree(ctx, *data, *csvIn, trees[0], def)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	decls, err := importTrees(in)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	n, err := importInto(ctx, *data, decls)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d records of %d trees into %s\n", n, len(decls), *data)
	return nil
}

// importInto imports trees into the server of dir: through its admin
// socket when it runs (its clients receive the records at once), else
// into its store.
func importInto(ctx context.Context, dir string, trees []netsync.ImportTree) (int, error) {
	sock := filepath.Join(dir, adminSocket)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		c.Close()
		return netsync.NewAdminClient(sock).Import(ctx, trees)
	}
	if pid := runningPID(dir); pid != 0 {
		return 0, fmt.Errorf("hills-server (pid %d) serves %s but its admin socket does not answer", pid, dir)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		return 0, err
	}
	defer s.Shutdown(context.Background())
	return s.Import(trees)
}

// readCSVTree reads the CSV file path as records of tree, whose schema is
// the one the server of dir has (read as export reads it).
func readCSVTree(ctx context.Context, dir, path, tree string, def sqlmap.Defaults) ([]sqlmap.ImportTree, error) {
	src, release, err := openSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	all, err := src.Trees()
	release()
	if err != nil {
		return nil, err
	}
	sel, err := sqlmap.Select(all, []string{tree})
	if err != nil {
		return nil, fmt.Errorf("%w in %s (a CSV import needs the tree and its schema on the server)", err, dir)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := sqlmap.ReadCSV(f, sel[0], def)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []sqlmap.ImportTree{{Tree: sel[0], Records: recs}}, nil
}

// importTrees turns what was read into the server's import.
func importTrees(in []sqlmap.ImportTree) ([]netsync.ImportTree, error) {
	out := make([]netsync.ImportTree, 0, len(in))
	for _, t := range in {
		sc, err := schema.Encode(t.Schema)
		if err != nil {
			return nil, fmt.Errorf("tree %s: schema: %w", t.Name, err)
		}
		recs := make([]netsync.ImportRecord, len(t.Records))
		for i, r := range t.Records {
			recs[i] = netsync.ImportRecord{Key: r.Key, Record: r.Record}
		}
		out = append(out, netsync.ImportTree{Name: t.Name, Versioned: t.Versioned,
			Major: t.Schema.Major, Minor: t.Schema.Minor, Schema: sc, Records: recs})
	}
	return out, nil
}
