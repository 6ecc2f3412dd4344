package main

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"

	"gioui.org/layout"
	"gioui.org/widget"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/widgets"
)

// Export… writes the shown tree to a file, as CSV or JSON lines (the
// formats of hills-server export, package sqlmap), from a checkpoint of
// the open database: a consistent copy taken while the viewer runs.

// exportForm is the inline export form under the top bar.
type exportForm struct {
	open      bool
	tree      string // the tree the form was opened for
	jsonLines bool
	busy      bool
	msg       string
	isErr     bool

	btn, csv, jsonl, run, close widget.Clickable
	path                        widget.Editor
}

// exportDone is the outcome of an export run in a goroutine.
type exportDone struct {
	tree, path string
	n          int
	err        error
}

// openExport opens the form for the shown tree, with the default path
// ~/TREE.csv (or .jsonl).
func (v *viewer) openExport() {
	e := &v.export
	if e.open && e.tree == v.cur {
		e.open = false
		return
	}
	e.open, e.tree, e.msg, e.isErr = true, v.cur, "", false
	e.path.SingleLine = true
	e.path.SetText(defaultExportPath(v.cur, e.jsonLines))
}

// defaultExportPath is ~/TREE.csv or ~/TREE.jsonl.
func defaultExportPath(tree string, jsonLines bool) string {
	return filepath.Join("~", tree+exportExt(jsonLines))
}

func exportExt(jsonLines bool) string {
	if jsonLines {
		return ".jsonl"
	}
	return ".csv"
}

// setExportFormat switches the format; a path with the other format's
// extension takes this one's.
func (v *viewer) setExportFormat(jsonLines bool) {
	e := &v.export
	if e.jsonLines == jsonLines {
		return
	}
	p := e.path.Text()
	if old := exportExt(e.jsonLines); strings.HasSuffix(p, old) {
		e.path.SetText(strings.TrimSuffix(p, old) + exportExt(jsonLines))
	}
	e.jsonLines = jsonLines
}

// startExport runs the export in a goroutine.
func (v *viewer) startExport() {
	e := &v.export
	path, err := expandHome(strings.TrimSpace(e.path.Text()))
	if err != nil {
		e.msg, e.isErr = err.Error(), true
		return
	}
	d, tree, jsonLines := v.d, e.tree, e.jsonLines
	e.busy, e.msg, e.isErr = true, "exporting "+tree+" to "+path+"…", false
	go func() {
		n, err := exportTree(d, tree, path, jsonLines)
		v.mu.Lock()
		v.exportRes = &exportDone{tree: tree, path: path, n: n, err: err}
		v.mu.Unlock()
		v.w.Wake()
	}()
}

// finishExport shows an export's outcome.
func (v *viewer) finishExport(r *exportDone) {
	e := &v.export
	e.busy = false
	if r.err != nil {
		e.msg, e.isErr = "export failed: "+r.err.Error(), true
		v.log.Error("export", "tree", r.tree, "path", r.path, "err", r.err)
		return
	}
	e.msg, e.isErr = fmt.Sprintf("exported %s of %s to %s", plural2(r.n, "record"), r.tree, r.path), false
	v.log.Info("export", "tree", r.tree, "path", r.path, "records", r.n)
}

// expandHome replaces a leading ~ by the home directory; the path must
// name a file.
func expandHome(p string) (string, error) {
	if p == "" {
		return "", errors.New("export: give the path of the file to write")
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("export: %w", err)
		}
		p = filepath.Join(home, p[1:])
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return "", fmt.Errorf("export: %s is a directory: give a file name", p)
	}
	return p, nil
}

// exportTree writes tree of d to path as CSV or JSON lines and returns
// the number of records. It reads a checkpoint of d (next to the
// database, where hard links work; else in the temporary directory), and
// writes a temporary file renamed to path at the end, so that a failed
// export leaves no half-written file.
func exportTree(d *db.DB, tree, path string, jsonLines bool) (n int, err error) {
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(d.Dir())), ".hills-export-")
	if err != nil {
		if tmp, err = os.MkdirTemp("", "hills-export-"); err != nil {
			return 0, err
		}
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, "checkpoint")
	if err := d.Checkpoint(cp); err != nil {
		return 0, err
	}
	src, err := sqlmap.Open(cp)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	trees, err := src.Trees()
	if err != nil {
		return 0, err
	}
	sel, err := sqlmap.Select(trees, []string{tree})
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-")
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if jsonLines {
		n, err = sqlmap.WriteJSONLines(f, src, sel[0])
	} else {
		n, err = sqlmap.WriteCSV(f, src, sel[0])
	}
	if err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

// handleExport handles the form's buttons.
func (v *viewer) handleExport(gtx layout.Context) {
	e := &v.export
	if e.btn.Clicked(gtx) && v.tree != nil {
		v.openExport()
	}
	if e.close.Clicked(gtx) {
		e.open = false
	}
	if e.csv.Clicked(gtx) {
		v.setExportFormat(false)
	}
	if e.jsonl.Clicked(gtx) {
		v.setExportFormat(true)
	}
	if e.run.Clicked(gtx) && e.open && !e.busy {
		v.startExport()
	}
}

// layoutExport lays out the form: path, format, Export and Close, and the
// outcome.
func (v *viewer) layoutExport(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	e := &v.export
	if !e.open {
		return layout.Dimensions{}
	}
	gap := layout.Rigid(func(gtx layout.Context) layout.Dimensions { return layout.Dimensions{Size: image.Pt(gtx.Dp(8), 0)} })
	return widgets.Background(gtx, th.Stripe, func(gtx layout.Context) layout.Dimensions {
		gtx.Constraints.Min.X = gtx.Constraints.Max.X
		return layout.Inset{Top: 6, Bottom: 6, Left: 12, Right: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return th.Label("Export " + e.tree + " to").Layout(gtx) }),
				gap,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints = layout.Exact(image.Pt(gtx.Dp(300), gtx.Dp(30)))
					return smallField(gtx, th, &e.path, "~/file.csv", e.busy)
				}),
				gap,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return tab(gtx, th, &e.csv, "CSV", !e.jsonLines) }),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return tab(gtx, th, &e.jsonl, "JSON lines", e.jsonLines) }),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &e.run, "Export", !e.busy) }),
				gap,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &e.close, "Close", true) }),
				gap,
				layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
					l := th.Label(e.msg)
					l.MaxLines = 2
					l.Color = th.Muted
					if e.isErr {
						l.Color = th.Error
					}
					return l.Layout(gtx)
				}),
			)
		})
	})
}
