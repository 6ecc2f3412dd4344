// Command station is a headless shop-floor client of the inventory: a
// pick-and-place station that, for each board it builds, takes the parts
// it placed from stock. It keeps a replica of the inventory, syncs it with
// the server, finds parts by part number through an index, lowers each
// part's quantity (a counter: no check-out, so it never waits for a
// person editing the part, and two stations on one reel do not queue) and
// records a stock movement. The server applies the deltas in order and
// refuses one that would take the quantity below 0.
//
//	station -server 127.0.0.1:7500 -name smt-line-1 -pick RC0603FR-0710KL=4,STM32G031K8T6=1 -boards 3
//
// A server that admits enrolled clients only wants the station's token
// on first contact: -token (env HILLS_TOKEN), from hills-server clients
// add.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/netsync"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "station:", err)
		os.Exit(1)
	}
}

// Pick is one placement of a board: N items of the part numbered MPN.
type Pick struct {
	MPN string
	N   int
}

// ParsePicks parses "MPN=N,MPN=N"; a pick without "=N" takes one item.
func ParsePicks(s string) ([]Pick, error) {
	var picks []Pick
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mpn, ns, found := strings.Cut(f, "=")
		n := 1
		if found {
			var err error
			if n, err = strconv.Atoi(ns); err != nil || n <= 0 {
				return nil, fmt.Errorf("pick %q: count must be a positive number", f)
			}
		}
		if mpn == "" {
			return nil, fmt.Errorf("pick %q: no part number", f)
		}
		picks = append(picks, Pick{MPN: mpn, N: n})
	}
	if len(picks) == 0 {
		return nil, errors.New("no picks given")
	}
	return picks, nil
}

// Station consumes stock for the boards it builds.
type Station struct {
	Name  string
	Store *stock.Store
	Out   io.Writer // progress, one line per pick
}

// FindPart returns the part numbered mpn, waiting until ctx ends for it
// to arrive when the replica does not have it yet.
func (s *Station) FindPart(ctx context.Context, mpn string) (db.Key[stock.Part], error) {
	for {
		if k, ok := s.Store.Find(mpn); ok {
			return k, nil
		}
		select {
		case <-ctx.Done():
			return db.Key[stock.Part]{}, fmt.Errorf("part %s: not in the inventory (%w)", mpn, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Build builds one board: it consumes every pick, in order. A pick the
// stock cannot cover stops the board with stock.ErrShort; the picks
// before it stay consumed, as they were placed.
func (s *Station) Build(ctx context.Context, board int, picks []Pick) error {
	for _, p := range picks {
		k, err := s.FindPart(ctx, p.MPN)
		if err != nil {
			return err
		}
		left, err := s.Store.Consume(ctx, k, p.N, s.Name, fmt.Sprintf("board %d", board))
		if err != nil {
			return fmt.Errorf("board %d: %w", board, err)
		}
		fmt.Fprintf(s.Out, "%s: board %d: took %d × %s (%s), %d left\n", s.Name, board, p.N, p.MPN, k, left)
	}
	return nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("station", flag.ContinueOnError)
	server := fs.String("server", os.Getenv("HILLS_SERVER"), "sync server address host:port (env HILLS_SERVER)")
	appID := fs.String("app", "inventory", "application id")
	name := fs.String("name", "station", "this station's name, shown to other users")
	token := fs.String("token", os.Getenv("HILLS_TOKEN"), "enrollment token from hills-server clients add, needed on first contact only (env HILLS_TOKEN)")
	data := fs.String("data", "", "replica directory (default: <user cache dir>/<app>/<name>)")
	pickList := fs.String("pick", "", "parts placed on each board: MPN=N,MPN=N")
	boards := fs.Int("boards", 1, "how many boards to build")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the server and for each part")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" {
		return errors.New("-server is required")
	}
	picks, err := ParsePicks(*pickList)
	if err != nil {
		return fmt.Errorf("-pick: %w", err)
	}
	if *boards < 0 {
		return errors.New("-boards must not be negative")
	}
	if *data == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no cache directory (set -data): %w", err)
		}
		*data = filepath.Join(base, *appID, *name)
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := db.Open(*data, &db.Options{Replica: true, Name: *name, Logger: logger})
	if err != nil {
		return err
	}
	defer d.Close()
	st, err := stock.Open(d)
	if err != nil {
		return err
	}
	c, err := netsync.Connect(d, *server, &netsync.ClientOptions{AppID: *appID, Token: *token, Logger: logger})
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	err = c.WaitSynced(wctx)
	cancel()
	if err != nil {
		return fmt.Errorf("syncing with %s: %w", *server, err)
	}
	fmt.Fprintf(out, "%s: synced with %s, %d parts\n", *name, *server, st.Parts.Len())
	s := &Station{Name: *name, Store: st, Out: out}
	for b := 1; b <= *boards; b++ {
		bctx, cancel := context.WithTimeout(ctx, *timeout)
		err := s.Build(bctx, b, picks)
		cancel()
		if err != nil {
			return err
		}
	}
	// Leave only when the server has every movement.
	wctx, cancel = context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := c.WaitSynced(wctx); err != nil {
		return fmt.Errorf("sending the movements: %w", err)
	}
	fmt.Fprintf(out, "%s: built %d boards\n", *name, *boards)
	return nil
}
