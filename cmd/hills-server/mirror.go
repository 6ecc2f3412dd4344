package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hillsdb/hills/internal/mirror"
)

const usageMirror = `Usage:
  hills-server mirror --server ADDR --postgres URL [--token T] [--replica DIR]
                      [--app-id ID] [--name NAME] [--log-format text|json] [--log-level LEVEL]

Keeps a PostgreSQL database a live copy of the server's trees for
reporting, until SIGINT or SIGTERM: one table per tree (the layout of
export, jsonb for nested values), its position in table _hills_mirror,
committed with the rows. It is a client of the server with a replica of
its own in DIR (default ./hills-mirror); enroll it with Read grants
(hills-server clients add mirror --grant '*=read') and pass the token on
the first start. --postgres is a URL such as
postgres://user@127.0.0.1:5432/reports?sslmode=disable. See
docs/operations.md.
`

func mirrorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("mirror")
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	pg := fs.String("postgres", "", "")
	replica := fs.String("replica", "./hills-mirror", "")
	appID := fs.String("app-id", envOr("HILLS_APP_ID", ""), "")
	name := fs.String("name", "mirror", "")
	var oc observeConfig
	fs.StringVar(&oc.logFormat, "log-format", os.Getenv("HILLS_LOG_FORMAT"), "")
	fs.StringVar(&oc.logLevel, "log-level", os.Getenv("HILLS_LOG_LEVEL"), "")
	pos, err := parse(fs, args, usageMirror, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("mirror: unexpected argument %q", pos[0]), usage: usageMirror}
	}
	if *server == "" || *pg == "" {
		return &usageError{msg: "mirror: --server and --postgres are required", usage: usageMirror}
	}
	logger, err := oc.logger(stderr)
	if err != nil {
		return &usageError{msg: "mirror: " + err.Error(), usage: usageMirror}
	}
	logger.Info("mirror: starting", "server", *server, "replica", *replica)
	err = mirror.Run(ctx, mirror.Options{Server: *server, Token: *token, AppID: *appID, Postgres: *pg,
		Replica: *replica, Name: *name, Logger: logger})
	if err == nil {
		logger.Info("mirror: stopped")
	}
	return err
}
