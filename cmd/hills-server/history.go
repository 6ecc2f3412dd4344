package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// historian is what history needs of a server, running or not.
type historian interface {
	History(ctx context.Context, tree, key string) ([]netsync.Change, error)
}

var _ historian = (*netsync.AdminClient)(nil)
var _ historian = local{}

func (l local) History(_ context.Context, tree, key string) ([]netsync.Change, error) {
	return l.s.History(tree, key)
}

const usageHistory = `Usage:
  hills-server history TREE KEY [--json] [--data DIR]

Shows the history of the record TREE/KEY (KEY as ID.Rev, such as 12.0),
oldest first: every change the server accepted (when, by which client,
what changed) and every check-out, check-in and force-return (by whom and
why). The record need not exist any more. --json prints every row with the
record before and after as JSON. serve --history-keep and
--history-max-age bound what is kept.
`

// changeJSON is one row of history --json.
type changeJSON struct {
	Seq    uint64          `json:"seq"`
	At     time.Time       `json:"at"`
	By     string          `json:"by"`
	Kind   string          `json:"kind"`             // created, updated, deleted, meta changed, borrow changed
	Borrow string          `json:"borrow,omitempty"` // checked out, checked in, force-returned
	Holder string          `json:"holder,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Old    json.RawMessage `json:"old,omitempty"`
	New    json.RawMessage `json:"new,omitempty"`
}

func history(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("history")
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	pos, err := parse(fs, args, usageHistory, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return &usageError{msg: "history: want TREE and KEY", usage: usageHistory}
	}
	tree, key := pos[0], pos[1]
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	h, ok := a.(historian)
	if !ok {
		return fmt.Errorf("history: this server keeps no history")
	}
	list, err := h.History(ctx, tree, key)
	if err != nil {
		return fmt.Errorf("history %s/%s: %w", tree, key, err)
	}
	if *asJSON {
		out := make([]changeJSON, len(list))
		for i, c := range list {
			out[i] = changeJSON{Seq: c.Seq, At: c.At, By: c.By, Kind: c.Kind.String(), Holder: c.Holder, Reason: c.Reason,
				Old: rawJSON(c.Old), New: rawJSON(c.New)}
			if c.Borrow != 0 {
				out[i].Borrow = c.Borrow.String()
			}
		}
		return writeJSON(stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintf(stdout, "no history of %s/%s\n", tree, key)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tBY\tWHAT\tDETAIL")
	for _, c := range list {
		what := c.Kind.String()
		if c.Kind == db.BorrowChanged {
			what = c.Borrow.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.Seq, c.At.Local().Format("2006-01-02 15:04:05.000"), c.By, what, changeDetail(c))
	}
	return tw.Flush()
}

// rawJSON is text as raw JSON, nil for "".
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// changeDetail says in one line what a row did: the fields an update
// changed (old → new), the record created or deleted, who lost a record
// to a force-return and why.
func changeDetail(c netsync.Change) string {
	switch {
	case c.Borrow == netsync.ForceReturned:
		return fmt.Sprintf("from %s: %s", c.Holder, c.Reason)
	case c.Kind == db.BorrowChanged:
		return "-"
	case c.Old == "":
		return compactJSON(c.New)
	case c.New == "":
		return "was " + compactJSON(c.Old)
	}
	fields := c.Fields()
	switch {
	case fields == nil:
		return compactJSON(c.New)
	case len(fields) == 0:
		return "value unchanged"
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%s: %s → %s", f.Field, orNone(f.Old), orNone(f.New))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func compactJSON(s string) string { return netsync.CompactJSON(s) }

// historyFlags reads serve's history retention: --history-keep and
// --history-max-age, defaulting to $HILLS_HISTORY_KEEP and
// $HILLS_HISTORY_MAX_AGE.
type historyFlags struct {
	historyKeep   uint64
	historyMaxAge time.Duration
}

func (h *historyFlags) register(fs *flag.FlagSet) error {
	keep, err := envUint("HILLS_HISTORY_KEEP", "a count of rows")
	if err != nil {
		return err
	}
	age, err := envDuration("HILLS_HISTORY_MAX_AGE")
	if err != nil {
		return err
	}
	fs.Uint64Var(&h.historyKeep, "history-keep", keep, "")
	fs.DurationVar(&h.historyMaxAge, "history-max-age", age, "")
	return nil
}

func (h *historyFlags) check() error {
	switch {
	case h.historyMaxAge < 0:
		return &usageError{msg: "serve: --history-max-age may not be negative", usage: usageServe}
	case h.historyKeep > 1<<31:
		return &usageError{msg: fmt.Sprintf("serve: --history-keep %d is more than %d", h.historyKeep, 1<<31), usage: usageServe}
	}
	return nil
}
