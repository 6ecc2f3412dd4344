package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hillsdb/hills/netsync"
)

const usageRestore = `Usage:
  hills-server restore --from BACKUP --data DIR [--force]

Makes DIR a copy of BACKUP (a hills-server backup directory, or a copy of
a stopped server's directory) with a new lineage, so that every replica
that synced with the server notices the restore: it keeps what the backup
lacks in its Recovered edits, takes the server's state and sends its
unacknowledged changes again. The server must be stopped. DIR must be
empty or absent; with --force a DIR that is not is moved aside to
DIR.before-restore-STAMP, never deleted. An interrupted restore leaves DIR
as it was (serve then refuses it until restore is run again).
`

// restoreProgress, when set, is told each stage of a restore (tests).
var restoreProgress func(stage string)

func restore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore")
	data := dataFlag(fs)
	from := fs.String("from", "", "")
	force := fs.Bool("force", false, "")
	pos, err := parse(fs, args, usageRestore, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("restore: unexpected argument %q", pos[0]), usage: usageRestore}
	}
	if *from == "" {
		return &usageError{msg: "restore: --from is required", usage: usageRestore}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	res, err := netsync.Restore(*from, *data, &netsync.RestoreOptions{Force: *force, Logger: log, Progress: restoreProgress})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored    %s\nserver      %s\nsequence    %d\nlineage     %s (the backup's was %s)\n",
		*data, res.ServerID, res.Seq, res.Lineage, res.Previous)
	if res.Aside != "" {
		fmt.Fprintf(stdout, "moved aside %s\n", res.Aside)
	}
	return nil
}
