package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

const usageExport = `Usage:
  hills-server export --sqlite FILE [--tree T ...] [--data DIR]
  hills-server export --jsonl FILE --tree T [--data DIR]
  hills-server export --csv FILE --tree T [--data DIR]

Writes the records of DIR's trees (all, or those named by --tree) with
their meta into a new SQLite file, one table per tree, or one tree as JSON
lines or CSV (FILE "-" is the standard output). DIR is a server's store, a
replica or a standalone database. When a server runs on DIR, the export is
of a consistent checkpoint taken through its admin socket; any other
process holding DIR open is an error. The table layout is in
docs/guide.md ("Data out and back in"). --data defaults to $HILLS_DATA,
else ./hills-data.
`

// treeFlags collects repeated --tree T flags.
type treeFlags []string

func (f *treeFlags) String() string { return strings.Join(*f, " ") }
func (f *treeFlags) Set(s string) error {
	*f = append(*f, s)
	return nil
}

func export(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("export")
	data := dataFlag(fs)
	sqlite := fs.String("sqlite", "", "")
	jsonl := fs.String("jsonl", "", "")
	csvOut := fs.String("csv", "", "")
	var trees treeFlags
	fs.Var(&trees, "tree", "")
	pos, err := parse(fs, args, usageExport, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("export: unexpected argument %q", pos[0]), usage: usageExport}
	}
	formats := 0
	for _, f := range []string{*sqlite, *jsonl, *csvOut} {
		if f != "" {
			formats++
		}
	}
	if formats != 1 {
		return &usageError{msg: "export: want one of --sqlite, --jsonl, --csv", usage: usageExport}
	}
	if *sqlite == "" && len(trees) != 1 {
		return &usageError{msg: "export: --jsonl and --csv write one --tree", usage: usageExport}
	}
	src, release, err := openSource(ctx, *data)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer release()
	all, err := src.Trees()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	sel, err := sqlmap.Select(all, trees)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	var n int
	switch {
	case *sqlite != "":
		n, err = sqlmap.WriteSQLite(ctx, *sqlite, src, sel)
	default:
		n, err = writeText(*jsonl+*csvOut, *csvOut != "", stdout, src, sel[0])
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if *sqlite != "" || *jsonl != "-" && *csvOut != "-" {
		fmt.Fprintf(stdout, "exported %d records of %d trees from %s (%s)\n", n, len(sel), *data, src.Kind)
	}
	return nil
}

// writeText writes one tree as CSV or JSON lines to path ("-": out).
func writeText(path string, asCSV bool, out io.Writer, src *sqlmap.Source, t sqlmap.Tree) (n int, err error) {
	w := out
	if path != "-" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return 0, err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	if asCSV {
		return sqlmap.WriteCSV(w, src, t)
	}
	return sqlmap.WriteJSONLines(w, src, t)
}

// openSource opens dir for an export: a consistent checkpoint of the
// server running on it, taken through its admin socket, or dir itself
// when nothing holds it. The returned function releases it.
func openSource(ctx context.Context, dir string) (*sqlmap.Source, func(), error) {
	sock := filepath.Join(dir, adminSocket)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		c.Close()
		return checkpointSource(ctx, dir, netsync.NewAdminClient(sock))
	}
	if pid := runningPID(dir); pid != 0 {
		return nil, nil, fmt.Errorf("%w: hills-server (pid %d) serves %s but its admin socket does not answer", sqlmap.ErrInUse, pid, dir)
	}
	src, err := sqlmap.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	return src, func() { src.Close() }, nil
}

// checkpointSource takes a checkpoint of the running server of dir next
// to it (a checkpoint hard-links the store's files, so it stays on the
// same file system) and opens it.
func checkpointSource(ctx context.Context, dir string, a admin) (*sqlmap.Source, func(), error) {
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".hills-export-")
	if err != nil {
		return nil, nil, err
	}
	cp := filepath.Join(tmp, "checkpoint")
	if err := a.Checkpoint(ctx, cp); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("checkpoint of the running server: %w", err)
	}
	src, err := sqlmap.Open(cp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return src, func() { src.Close(); os.RemoveAll(tmp) }, nil
}
