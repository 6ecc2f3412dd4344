package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/hillsdb/hills/netsync"
)

// compacter is what compact needs of a server, running or not.
type compacter interface {
	Compact(ctx context.Context, keep uint64) (netsync.CompactResult, error)
}

var _ compacter = (*netsync.AdminClient)(nil)
var _ compacter = local{}

func (l local) Compact(_ context.Context, keep uint64) (netsync.CompactResult, error) {
	return l.s.Compact(keep)
}

const usageCompact = `Usage:
  hills-server compact --keep N [--data DIR]

Deletes the server's log but its last N entries and prints the floor (the
last sequence compacted away) before and after and how many entries went.
A replica whose last applied sequence is below the floor catches up from a
snapshot: a full download of the trees it may read. --keep 0 keeps no log.
`

func compact(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("compact")
	data := dataFlag(fs)
	keep := fs.String("keep", "", "")
	pos, err := parse(fs, args, usageCompact, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("compact: unexpected argument %q", pos[0]), usage: usageCompact}
	}
	if *keep == "" {
		return &usageError{msg: "compact: --keep is required", usage: usageCompact}
	}
	n, err := strconv.ParseUint(*keep, 10, 64)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("compact: --keep %q is not a count of entries", *keep), usage: usageCompact}
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	c, ok := a.(compacter)
	if !ok {
		return fmt.Errorf("compact: this server cannot compact")
	}
	res, err := c.Compact(ctx, n)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Fprintf(stdout, "floor before  %d\nfloor after   %d\nremoved       %d entries\n", res.Before, res.After, res.Removed)
	return nil
}

// logPolicyFlags reads serve's compaction policy: --log-keep and
// --log-max-age, defaulting to $HILLS_LOG_KEEP and $HILLS_LOG_MAX_AGE.
type logPolicyFlags struct {
	keep   uint64
	maxAge time.Duration
}

// policyEnv reads the policy's environment variables as the flags'
// defaults; a value that does not parse is a usage error.
func policyEnv() (logPolicyFlags, error) {
	var p logPolicyFlags
	var err error
	if p.keep, err = envUint("HILLS_LOG_KEEP", "a count of entries"); err != nil {
		return p, err
	}
	p.maxAge, err = envDuration("HILLS_LOG_MAX_AGE")
	return p, err
}

// envUint reads the environment variable name as a count (what says of
// what), 0 when unset; a value that does not parse is serve's usage
// error.
func envUint(name, what string) (uint64, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, &usageError{msg: fmt.Sprintf("serve: %s=%q is not %s", name, v, what), usage: usageServe}
	}
	return n, nil
}

// envDuration reads the environment variable name as a duration that is
// not negative, 0 when unset.
func envDuration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &usageError{msg: fmt.Sprintf("serve: %s=%q is not a duration", name, v), usage: usageServe}
	}
	return d, nil
}
