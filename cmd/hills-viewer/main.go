// Command hills-viewer browses and edits any hills database without the
// application's Go types: it opens a local database directory, or
// connects to a server as its own replica (kept in a per-server cache
// directory), lists the trees with their record counts, shows a tree as a
// live table, and shows, edits, creates, deletes, releases and checks out
// records.
//
//	hills-viewer DIR                         open a local database (-create: make it)
//	hills-viewer -server HOST:PORT [-app ID] [-token TOKEN] connect to a server
//
// A server that admits enrolled clients only wants the viewer's token on
// first contact: -token (env HILLS_TOKEN), from hills-server clients add.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
)

func main() {
	cfg, start, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	app.Main(cfg, func(a *app.App) (app.UI, error) {
		v := newViewer(a)
		v.startWith(start)
		return v, nil
	})
}

// startup is what the viewer shows first.
type startup struct {
	tree, key string
	json      bool
}

func parseFlags(args []string) (app.Config, startup, error) {
	fs := flag.NewFlagSet("hills-viewer", flag.ContinueOnError)
	cfg := app.Config{Title: "hills viewer", Width: 1280, Height: 800}
	var st startup
	cfg.RegisterFlags(fs)
	fs.StringVar(&st.tree, "tree", "", "tree to show at start")
	fs.StringVar(&st.key, "select", "", "key of the record to select at start (with -tree), such as 42.0")
	fs.BoolVar(&st.json, "json", false, "show records as JSON text rather than as a form")
	create := fs.Bool("create", false, "create the database directory when it holds no database yet")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hills-viewer [flags] [database dir]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, st, err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		if cfg.Dir != "" && cfg.Dir != fs.Arg(0) {
			return cfg, st, fmt.Errorf("hills-viewer: both -data and a directory given")
		}
		cfg.Dir = fs.Arg(0)
	default:
		return cfg, st, fmt.Errorf("hills-viewer: one database directory at most")
	}
	if cfg.Dir == "" && cfg.Server == "" {
		return cfg, st, fmt.Errorf("hills-viewer: give a database directory or -server")
	}
	if cfg.Server == "" && !*create {
		// A typo in a path must not make a new, empty database.
		cfg.DB = &db.Options{MustExist: true}
	}
	if cfg.Server != "" && cfg.Dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return cfg, st, fmt.Errorf("hills-viewer: no cache directory for the replica (set -data): %w", err)
		}
		cfg.Dir = base + string(os.PathSeparator) + "hills-viewer" + string(os.PathSeparator) + app.SanitizeAddr(cfg.Server)
	}
	return cfg, st, nil
}

// startWith shows what the flags asked for once the window runs.
func (v *viewer) startWith(st startup) {
	v.jsonMode = st.json
	if st.tree == "" {
		return
	}
	v.run(func() {
		v.openTree(st.tree)
		if st.key != "" {
			if err := v.selectKey(st.key); err != nil {
				v.msg, v.msgErr = "-select: "+err.Error(), true
			}
		}
	})
}
