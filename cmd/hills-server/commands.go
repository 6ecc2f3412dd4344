package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// adminSocket is the administration socket's name in the data directory.
const adminSocket = "admin.sock"

// pidName is the file in the data directory that names the serving
// process, for the error another serve on the same directory gives.
const pidName = "hills-server.pid"

// checkListen refuses an address that cannot be listened on: not a
// host:port, a port out of range, or one in use.
func checkListen(addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("serve: --listen %q: %w", addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("serve: --listen %q: %w", addr, err)
	}
	return pc.Close()
}

// outboxText shows a client's last outbox position readably: which
// opening of its replica (the epoch, the high 32 bits) and which change of
// it; "-" before its first.
func outboxText(seq uint64) string {
	if seq == 0 {
		return "-"
	}
	return fmt.Sprintf("%d.%d", seq>>32, seq&(1<<32-1))
}

// runningPID returns the pid of a hills-server serving dir, 0 when none.
func runningPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, pidName))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0
	}
	if p, err := os.FindProcess(pid); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return 0
	}
	return pid
}

// shutdownTimeout bounds how long serve waits for connections to drain.
const shutdownTimeout = 10 * time.Second

// serveConfig is what serve runs with.
type serveConfig struct {
	data, listen, appID string
	open                bool
	logPolicyFlags      // compaction policy (compact.go)
	historyFlags        // history retention (history.go)
	observeConfig       // --log-format, --log-level, --metrics (observe.go)
}

const usageServe = `Usage:
  hills-server serve [--data DIR] [--listen ADDR] [--app-id ID] [--open]
                     [--log-keep N] [--log-max-age DUR]
                     [--history-keep N] [--history-max-age DUR]
                     [--metrics ADDR] [--log-format text|json] [--log-level LEVEL]

  --data DIR      the server's store and admin socket ($HILLS_DATA, default ./hills-data)
  --listen ADDR   UDP address for QUIC ($HILLS_LISTEN, default 127.0.0.1:7447)
  --app-id ID     application id clients must present ($HILLS_APP_ID, default "")
  --open          admit any client with every access, for trials ($HILLS_OPEN=1);
                  without it only enrolled clients are admitted (hills-server clients add)
  --log-keep N    compact the log to its last N entries, every minute
                  ($HILLS_LOG_KEEP, default 0: keep everything)
  --log-max-age DUR
                  compact the log entries older than DUR (such as 168h), but never
                  one of the last --log-keep ($HILLS_LOG_MAX_AGE, default 0: off)
  --history-keep N
                  keep the last N rows of each record's history (changes and
                  check-out events), trimmed every 10 minutes
                  ($HILLS_HISTORY_KEEP, default 0: every row)
  --history-max-age DUR
                  delete history rows older than DUR, such as 8760h
                  ($HILLS_HISTORY_MAX_AGE, default 0: keep them forever)
  --metrics ADDR  TCP host:port serving /metrics (Prometheus), /healthz and /readyz over
                  HTTP ($HILLS_METRICS, default none), such as 127.0.0.1:9447
  --log-format F  text or json, to stderr ($HILLS_LOG_FORMAT, default text)
  --log-level L   debug, info, warn or error ($HILLS_LOG_LEVEL, default info)
`

func parseServe(args []string, stdout io.Writer) (serveConfig, error) {
	fs := newFlags("serve")
	var c serveConfig
	p, err := policyEnv()
	if err != nil {
		return c, err
	}
	fs.Uint64Var(&c.keep, "log-keep", p.keep, "")
	fs.DurationVar(&c.maxAge, "log-max-age", p.maxAge, "")
	if err := c.historyFlags.register(fs); err != nil {
		return c, err
	}
	fs.StringVar(&c.data, "data", envOr("HILLS_DATA", "./hills-data"), "")
	fs.StringVar(&c.listen, "listen", envOr("HILLS_LISTEN", "127.0.0.1:7447"), "")
	fs.StringVar(&c.appID, "app-id", os.Getenv("HILLS_APP_ID"), "")
	fs.BoolVar(&c.open, "open", os.Getenv("HILLS_OPEN") == "1", "")
	observeFlags(fs, &c.observeConfig)
	pos, err := parse(fs, args, usageServe, stdout)
	if err != nil {
		return c, err
	}
	if len(pos) > 0 {
		return c, &usageError{msg: fmt.Sprintf("serve: unexpected argument %q", pos[0]), usage: usageServe}
	}
	if c.data == "" || c.listen == "" {
		return c, &usageError{msg: "serve: --data and --listen may not be empty", usage: usageServe}
	}
	if c.maxAge < 0 {
		return c, &usageError{msg: "serve: --log-max-age may not be negative", usage: usageServe}
	}
	if err := c.historyFlags.check(); err != nil {
		return c, err
	}
	return c, c.observeConfig.check()
}

// serve runs the server until ctx ends, then shuts it down.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, stdout)
	if err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	// The address is checked before anything is written: a typo or a
	// port in use should not leave a new store behind.
	if err := checkListen(c.listen); err != nil {
		return err
	}
	mx, err := listenMetrics(c.metrics)
	if err != nil {
		return err
	}
	defer mx.close()
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return err
	}
	s, err := netsync.NewServer(c.data, &netsync.ServerOptions{AppID: c.appID, Logger: log, Open: c.open,
		AdminSocket: filepath.Join(c.data, adminSocket), LogKeep: c.keep, LogMaxAge: c.maxAge,
		HistoryKeep: int(c.historyKeep), HistoryMaxAge: c.historyMaxAge, Metrics: mx.registerer()})
	if err != nil {
		if pid := runningPID(c.data); pid != 0 {
			return fmt.Errorf("%s is in use by another hills-server (pid %d)", c.data, pid)
		}
		return err
	}
	pidFile := filepath.Join(c.data, pidName)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		log.Warn("cannot write the pid file", "file", pidFile, "err", err)
	}
	defer os.Remove(pidFile)
	fmt.Fprintf(stdout, "server      %s\nfingerprint %s\n", s.ID(), s.Fingerprint())
	mx.serve(s, log)
	// The server's own context never ends: stopping goes through Shutdown,
	// which drains connections.
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(context.Background(), c.listen) }()
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := s.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn("shutdown deadline passed; connections closed at once")
		}
		return err
	}
	select {
	case <-s.Ready():
		fmt.Fprintf(stdout, "listening   %s\n", s.Addr())
		if mx != nil {
			fmt.Fprintf(stdout, "metrics     http://%s/metrics\n", mx.ln.Addr())
		}
	case err := <-served:
		shutdown()
		return err
	case <-ctx.Done():
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		// Only Shutdown stops the server normally; this is a failure.
		shutdown()
		return err
	}
	err = shutdown()
	if serr := <-served; err == nil && serr != nil && !errors.Is(serr, netsync.ErrServerClosed) {
		err = serr
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// admin is what the administration commands need of a server, running
// (through its socket) or not (its store opened directly).
type admin interface {
	Info(ctx context.Context) (netsync.ServerInfo, error)
	Borrows(ctx context.Context) ([]netsync.BorrowInfo, error)
	ForceReturn(ctx context.Context, tree, key, reason, by string) (string, error)
	Checkpoint(ctx context.Context, dir string) error
	Enroll(ctx context.Context, name string, ttl time.Duration, grants ...netsync.Grant) (netsync.EnrollResult, error)
	Enrolled(ctx context.Context) ([]netsync.EnrolledClient, error)
	SetGrants(ctx context.Context, name string, grants ...netsync.Grant) error
	RevokeClient(ctx context.Context, name string) error
	ForceReturnClient(ctx context.Context, name, reason, by string) (int, error)
}

var _ admin = (*netsync.AdminClient)(nil)
var _ admin = local{}

// local administers a server's store while no server runs.
type local struct{ s *netsync.Server }

func (l local) Info(context.Context) (netsync.ServerInfo, error) { return l.s.Info() }
func (l local) Borrows(context.Context) ([]netsync.BorrowInfo, error) {
	return l.s.Borrows(), nil
}
func (l local) ForceReturn(_ context.Context, tree, key, reason, by string) (string, error) {
	return l.s.ForceReturn(tree, key, reason, by)
}
func (l local) Checkpoint(_ context.Context, dir string) error { return l.s.Checkpoint(dir) }
func (l local) Enroll(_ context.Context, name string, ttl time.Duration, grants ...netsync.Grant) (netsync.EnrollResult, error) {
	return l.s.Enroll(name, ttl, grants...)
}
func (l local) Enrolled(context.Context) ([]netsync.EnrolledClient, error) {
	return l.s.Enrolled(), nil
}
func (l local) SetGrants(_ context.Context, name string, grants ...netsync.Grant) error {
	return l.s.SetGrants(name, grants...)
}
func (l local) RevokeClient(_ context.Context, name string) error { return l.s.RevokeClient(name) }
func (l local) ForceReturnClient(_ context.Context, name, reason, by string) (int, error) {
	return l.s.ForceReturnClient(name, reason, by)
}

// connect reaches the server of dir: its admin socket when it runs, else
// its store. The returned function releases it.
func connect(dir string) (admin, func(), error) {
	sock := filepath.Join(dir, adminSocket)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		c.Close()
		return netsync.NewAdminClient(sock), func() {}, nil
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
		return nil, nil, fmt.Errorf("no server store in %s (and no server answers on %s)", dir, sock)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		return nil, nil, fmt.Errorf("%w (no server answers on %s)", err, sock)
	}
	return local{s}, func() { s.Shutdown(context.Background()) }, nil
}

func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", envOr("HILLS_DATA", "./hills-data"), "")
}

const usageInfo = `Usage:
  hills-server info [--data DIR] [--json]

Shows the server's UUID, certificate fingerprint, log sequence, trees and
clients. --data defaults to $HILLS_DATA, else ./hills-data.
`

func info(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("info")
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	pos, err := parse(fs, args, usageInfo, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("info: unexpected argument %q", pos[0]), usage: usageInfo}
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	in, err := a.Info(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, in)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	addr, app := in.Addr, fmt.Sprintf("%q", in.AppID)
	if addr == "" {
		// The application id is an option of serve, not kept in the store.
		addr, app = "(not running)", "(set by serve)"
	}
	fmt.Fprintf(tw, "server\t%s\nfingerprint\t%s\napp id\t%s\nsequence\t%d\nlog floor\t%d\nlistening\t%s\n",
		in.ID, in.Fingerprint, app, in.Seq, in.Floor, addr)
	fmt.Fprintf(tw, "lineage\t%s\n", in.Lineage)
	if in.RestoredFrom != "" {
		fmt.Fprintf(tw, "restored\t%s from %s\n", in.RestoredAt.Format(time.RFC3339), in.RestoredFrom)
	}
	fmt.Fprintf(tw, "\ntrees\t%d\n", len(in.Trees))
	if len(in.Trees) > 0 {
		fmt.Fprintf(tw, "  NAME\tRECORDS\tVERSION\tVERSIONED\tNEXT ID\n")
	}
	for _, t := range in.Trees {
		fmt.Fprintf(tw, "  %s\t%d\t%d.%d\t%v\t%d\n", t.Name, t.Records, t.Major, t.Minor, t.Versioned, t.NextID)
	}
	fmt.Fprintf(tw, "\nclients\t%d\n", len(in.Clients))
	if len(in.Clients) > 0 {
		fmt.Fprintf(tw, "  NAME\tID\tCONNECTED\tLAST SEEN\tLAST CHANGE (OPENING.N)\tRANGES\n")
	}
	for _, c := range in.Clients {
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\t%s\t%s\n", c.Name, c.ID, c.Connected,
			c.LastSeen.Format(time.RFC3339), outboxText(c.LastOutbox), rangesText(c.Ranges))
	}
	return tw.Flush()
}

func rangesText(rs map[string][]netsync.IDRange) string {
	var parts []string
	for tree, list := range rs {
		var s []string
		for _, r := range list {
			s = append(s, fmt.Sprintf("[%d,%d)", r.Lo, r.Hi))
		}
		parts = append(parts, tree+" "+strings.Join(s, " "))
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts) // map order is random
	return strings.Join(parts, "; ")
}

const usageBorrowsList = `Usage:
  hills-server borrows list [--data DIR] [--json]

Lists every borrowed record: tree, key, holder and who waits.
`

func borrowsList(ctx context.Context, args []string, stdout io.Writer) error {
	return listing[netsync.BorrowInfo]{
		cmd: "borrows list", usage: usageBorrowsList, none: "no borrowed records",
		header: "TREE\tKEY\tHOLDER\tCLIENT\tWAITING",
		fetch:  admin.Borrows,
		row: func(w io.Writer, b netsync.BorrowInfo) {
			waiting := strings.Join(b.Waiting, ", ")
			if waiting == "" {
				waiting = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.Tree, b.Key, b.Holder, b.Client, waiting)
		},
	}.run(ctx, args, stdout)
}

// listing is a command that lists what the server holds: flags --data and
// --json, no arguments; the list as JSON ([] when empty), else a line
// saying there is none or a table of header and one row an item.
type listing[T any] struct {
	cmd, usage string
	none       string // the line printed for an empty list
	header     string // the table's header, columns separated by tabs
	fetch      func(admin, context.Context) ([]T, error)
	row        func(w io.Writer, x T) // writes one row, a line of tab-separated columns
}

func (l listing[T]) run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags(l.cmd)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	pos, err := parse(fs, args, l.usage, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", l.cmd, pos[0]), usage: l.usage}
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	list, err := l.fetch(a, ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if list == nil {
			list = []T{}
		}
		return writeJSON(stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, l.none)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, l.header)
	for _, x := range list {
		l.row(tw, x)
	}
	return tw.Flush()
}

const usageBorrowsReturn = `Usage:
  hills-server borrows return TREE KEY --reason TEXT [--data DIR]
  hills-server borrows return --client NAME --reason TEXT [--data DIR]

Takes the record TREE/KEY (KEY as ID.Rev, such as 12.0) from its holder,
as the OS user running the command; with --client, every record the
client NAME holds (a revoked client's too). The holder's client is told
who and why, and keeps its unsent edits of the records aside. --reason is
required.
`

func borrowsReturn(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("borrows return")
	data := dataFlag(fs)
	reason := fs.String("reason", "", "")
	client := fs.String("client", "", "")
	pos, err := parse(fs, args, usageBorrowsReturn, stdout)
	if err != nil {
		return err
	}
	if *client != "" {
		if len(pos) > 0 {
			return &usageError{msg: "borrows return: --client takes no TREE or KEY", usage: usageBorrowsReturn}
		}
		if strings.TrimSpace(*reason) == "" {
			return &usageError{msg: "borrows return: --reason is required", usage: usageBorrowsReturn}
		}
		a, release, err := connect(*data)
		if err != nil {
			return err
		}
		defer release()
		n, err := a.ForceReturnClient(ctx, *client, *reason, osUser())
		if err != nil {
			return fmt.Errorf("borrows return --client %s: %w", *client, err)
		}
		fmt.Fprintf(stdout, "returned %d %s held by %s\n", n, plural(n, "record", "records"), *client)
		return nil
	}
	if len(pos) != 2 {
		return &usageError{msg: "borrows return: want TREE and KEY", usage: usageBorrowsReturn}
	}
	if strings.TrimSpace(*reason) == "" {
		return &usageError{msg: "borrows return: --reason is required", usage: usageBorrowsReturn}
	}
	tree, key := pos[0], pos[1]
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	former, err := a.ForceReturn(ctx, tree, key, *reason, osUser())
	if err != nil {
		return fmt.Errorf("borrows return %s/%s: %w", tree, key, err)
	}
	fmt.Fprintf(stdout, "returned %s/%s from %s\n", tree, key, former)
	return nil
}

const usageBackup = `Usage:
  hills-server backup --to DIR [--data DIR]

Writes a consistent copy of the server's store into DIR, which must not
exist, while the server runs (or from the store when it does not). Every
change acknowledged to a client before the command is in the copy. DIR is
written by the server's process; on the same file system its files are
hard links. Start a server on DIR to use the copy: it is the same server,
with the same identity.
`

func backup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("backup")
	data := dataFlag(fs)
	to := fs.String("to", "", "")
	pos, err := parse(fs, args, usageBackup, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("backup: unexpected argument %q", pos[0]), usage: usageBackup}
	}
	if *to == "" {
		return &usageError{msg: "backup: --to is required", usage: usageBackup}
	}
	dest, err := filepath.Abs(*to)
	if err != nil {
		return err
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	if err := a.Checkpoint(ctx, dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s\n", dest)
	return nil
}

// osUser names the OS user running the command.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
