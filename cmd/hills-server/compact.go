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
	if v := os.Getenv("HILLS_LOG_KEEP"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return p, &usageError{msg: fmt.Sprintf("serve: HILLS_LOG_KEEP=%q is not a count of entries", v), usage: usageServe}
		}
		p.keep = n
	}
	if v := os.Getenv("HILLS_LOG_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return p, &usageError{msg: fmt.Sprintf("serve: HILLS_LOG_MAX_AGE=%q is not a duration", v), usage: usageServe}
		}
		p.maxAge = d
	}
	return p, nil
}
