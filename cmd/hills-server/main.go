// Command hills-server runs the hills sync server and administers it.
//
//	hills-server serve   [--data DIR] [--listen ADDR] [--app-id ID] [--open]
//	                     [--metrics ADDR] [--log-format text|json] [--log-level LEVEL]
//	hills-server info    [--data DIR] [--json]
//	hills-server borrows list   [--data DIR] [--json]
//	hills-server borrows return TREE KEY --reason TEXT [--data DIR]
//	hills-server borrows return --client NAME --reason TEXT [--data DIR]
//	hills-server clients add NAME --grant TREE=ACCESS[,ACCESS] ... [--ttl 24h] [--data DIR]
//	hills-server clients list   [--data DIR] [--json]
//	hills-server clients grant  NAME --grant TREE=ACCESS[,ACCESS] ... [--data DIR]
//	hills-server clients revoke NAME [--data DIR]
//	hills-server backup --to DIR [--data DIR]
//	hills-server compact --keep N [--data DIR]
//	hills-server history TREE KEY [--json] [--data DIR]
//	hills-server export --sqlite FILE [--tree T ...] [--data DIR]
//	hills-server export --jsonl|--csv FILE --tree T [--data DIR]
//	hills-server import --sqlite FILE [--tree T ...] [--data DIR]
//	hills-server import --csv FILE --tree T [--data DIR]
//	hills-server mirror --server ADDR --postgres URL [--token T] [--replica DIR]
//
// The administration commands talk to the running server through its
// socket DIR/admin.sock; when no server runs they open the store directly.
// See docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hillsdb/hills/netsync"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr and decides the process's exit code: 0
// for success, 2 for a usage error, 1 for any other failure.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "hills-server: %v\n\n%s", ue.msg, ue.usage)
		return 2
	}
	fmt.Fprintf(stderr, "hills-server: %v\n", err)
	if errors.Is(err, netsync.ErrStoreCorrupt) {
		fmt.Fprintf(stderr, "hills-server: the data directory is damaged: restore it from a backup "+
			"(see \"Recovering from a corrupted store\" in docs/operations.md)\n")
	}
	return 1
}

// usageError is a command line that does not parse; the process exits 2.
type usageError struct {
	msg   string
	usage string // the usage text of the command concerned
}

func (e *usageError) Error() string { return e.msg }

// run runs the command line args (without the program name). ctx ends the
// server; output goes to stdout, logs and diagnostics to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage was asked for and printed
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "no command", usage: usage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "info":
		return info(ctx, rest, stdout)
	case "backup":
		return backup(ctx, rest, stdout)
	case "compact":
		return compact(ctx, rest, stdout)
	case "history":
		return history(ctx, rest, stdout)
	case "restore":
		return restore(ctx, rest, stdout, stderr)
	case "export":
		return export(ctx, rest, stdout)
	case "import":
		return importCmd(ctx, rest, stdout)
	case "mirror":
		return mirrorCmd(ctx, rest, stdout, stderr)
	case "clients":
		return clients(ctx, rest, stdout, stderr)
	case "borrows":
		if len(rest) == 0 {
			return &usageError{msg: "borrows: list or return?", usage: usageBorrows}
		}
		switch rest[0] {
		case "list":
			return borrowsList(ctx, rest[1:], stdout)
		case "return":
			return borrowsReturn(ctx, rest[1:], stdout)
		}
		return &usageError{msg: fmt.Sprintf("borrows: unknown command %q", rest[0]), usage: usageBorrows}
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", cmd), usage: usage}
}

const usage = `hills-server runs the hills sync server and administers it.

Usage:
  hills-server serve   [--data DIR] [--listen ADDR] [--app-id ID] [--open]
                       [--log-keep N] [--log-max-age DUR]
                       [--history-keep N] [--history-max-age DUR]
                       [--metrics ADDR] [--log-format text|json] [--log-level LEVEL]
  hills-server info    [--data DIR] [--json]
  hills-server clients add NAME --grant TREE=ACCESS[,ACCESS] ... [--ttl 24h] [--data DIR]
  hills-server clients list   [--data DIR] [--json]
  hills-server clients grant  NAME --grant TREE=ACCESS[,ACCESS] ... [--data DIR]
  hills-server clients revoke NAME [--data DIR]
  hills-server borrows list   [--data DIR] [--json]
  hills-server borrows return TREE KEY --reason TEXT [--data DIR]
  hills-server borrows return --client NAME --reason TEXT [--data DIR]
  hills-server backup --to DIR [--data DIR]
  hills-server compact --keep N [--data DIR]
  hills-server history TREE KEY [--json] [--data DIR]
  hills-server restore --from BACKUP --data DIR [--force]
  hills-server export --sqlite FILE [--tree T ...] [--data DIR]
  hills-server export --jsonl|--csv FILE --tree T [--data DIR]
  hills-server import --sqlite FILE [--tree T ...] [--data DIR]
  hills-server import --csv FILE --tree T [--data DIR]
  hills-server mirror --server ADDR --postgres URL [--token T] [--replica DIR]
  hills-server help

serve runs the server on DIR until SIGINT or SIGTERM. Defaults:
  --data    $HILLS_DATA,   else ./hills-data
  --listen  $HILLS_LISTEN, else 127.0.0.1:7447 (UDP, QUIC)
  --app-id  $HILLS_APP_ID, else ""
  --metrics $HILLS_METRICS, else none (HTTP /metrics, /healthz, /readyz)
  --log-format $HILLS_LOG_FORMAT, else text (or json)
  --log-level  $HILLS_LOG_LEVEL,  else info (or debug, warn, error)
A flag wins over its environment variable. Without --open the server
admits only clients enrolled with clients add; --open admits anyone with
every access, for trials.

info, clients, borrows, backup, compact and history reach the running server through DIR/admin.sock;
when no server runs they open DIR directly. backup writes a consistent copy
of the store (a checkpoint) into a new directory while the server runs.
compact deletes the log but its last N entries; serve --log-keep and
--log-max-age do it in the background. history shows a record's changes
and check-outs, kept apart from the log; serve --history-keep and
--history-max-age trim it. restore puts a backup in place of a stopped
server's store, marked so that replicas notice.
`

const usageBorrows = `Usage:
  hills-server borrows list   [--data DIR] [--json]
  hills-server borrows return TREE KEY --reason TEXT [--data DIR]
  hills-server borrows return --client NAME --reason TEXT [--data DIR]

return takes the record TREE/KEY (KEY as ID.Rev, such as 12.0) from its
holder, or with --client every record the client NAME holds; the holder's
client is told who did it and why.
`

// newFlags returns a flag set that reports errors to the caller only.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses flags and positional arguments in any order. -h prints the
// usage to stdout and returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, usage)
				return nil, err
			}
			return nil, &usageError{msg: fs.Name() + ": " + err.Error(), usage: usage}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// envOr returns the environment variable name, or def when it is unset or
// empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
