package main

// hills-server clients: enroll clients, list them, change their grants,
// revoke them.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hillsdb/hills/netsync"
)

const usageClients = `Usage:
  hills-server clients add NAME --grant TREE=ACCESS[,ACCESS] ... [--ttl 24h] [--data DIR]
  hills-server clients list   [--data DIR] [--json]
  hills-server clients grant  NAME --grant TREE=ACCESS[,ACCESS] ... [--data DIR]
  hills-server clients revoke NAME [--data DIR]

add enrolls a client and prints its one-time token on stdout (only the
token; the rest goes to stderr). grant replaces a client's grants. revoke
ends a client's credential (or its unused token) and closes its
connections at once; hills-server borrows return --client NAME frees what
it holds. TREE is a tree name or '*' (every tree); ACCESS is read, create,
edit, release, adjust, admin or all. See docs/operations.md.
`

const usageClientsAdd = `Usage:
  hills-server clients add NAME --grant TREE=ACCESS[,ACCESS] ... [--ttl 24h] [--data DIR]

Enrolls the client NAME with its grants and prints its one-time token on
stdout, alone, so a script can capture it; what else there is to say goes
to stderr. The client passes the token once (-token, HILLS_TOKEN or
ClientOptions.Token); from then on it authenticates with its own key pair.
The token is usable once, within --ttl (default 24h). Enrolling a name
again before its token was used voids the old token.

  --grant TREE=ACCESS[,ACCESS]   repeatable, at least one; TREE is a tree
                                 name or '*'; ACCESS is read, create, edit,
                                 release, adjust, admin or all
  --ttl DURATION                 how long the token stays usable (24h)

Example:
  hills-server clients add alice --grant parts=read,create,edit --grant '*'=read
`

const usageClientsList = `Usage:
  hills-server clients list [--data DIR] [--json]

Lists the enrolled clients with their grants, whether they are connected
and when they were last seen, and the tokens not used yet with when they
expire.
`

const usageClientsGrant = `Usage:
  hills-server clients grant NAME --grant TREE=ACCESS[,ACCESS] ... [--data DIR]

Replaces the grants of the enrolled client NAME. Its connections close,
so it reconnects and learns them at once. A name whose token was not used
yet is changed by enrolling it again (clients add), which voids the old
token.

Example:
  hills-server clients grant bob --grant parts=read
`

const usageClientsRevoke = `Usage:
  hills-server clients revoke NAME [--data DIR]

Revokes the client NAME: its credential (or its unused token) stops
working and its connections close at once. The records it holds stay
held: free them with hills-server borrows return --client NAME.
`

func clients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "clients: add, list, grant or revoke?", usage: usageClients}
	}
	switch args[0] {
	case "add":
		return clientsAdd(ctx, args[1:], stdout, stderr)
	case "list":
		return clientsList(ctx, args[1:], stdout)
	case "grant":
		return clientsGrant(ctx, args[1:], stdout)
	case "revoke":
		return clientsRevoke(ctx, args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageClients)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("clients: unknown command %q", args[0]), usage: usageClients}
}

// grantFlags collects repeated --grant TREE=ACCESS flags.
type grantFlags []netsync.Grant

func (g *grantFlags) String() string {
	var parts []string
	for _, x := range *g {
		parts = append(parts, x.String())
	}
	return strings.Join(parts, " ")
}

func (g *grantFlags) Set(s string) error {
	x, err := netsync.ParseGrant(s)
	if err != nil {
		return err
	}
	*g = append(*g, x)
	return nil
}

// oneName checks that a command got exactly one client name.
func oneName(cmd string, pos []string, usage string) (string, error) {
	if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
		return "", &usageError{msg: cmd + ": want one client NAME", usage: usage}
	}
	return pos[0], nil
}

func clientsAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("clients add")
	data := dataFlag(fs)
	var grants grantFlags
	fs.Var(&grants, "grant", "")
	ttl := fs.Duration("ttl", netsync.DefaultTokenTTL, "")
	pos, err := parse(fs, args, usageClientsAdd, stdout)
	if err != nil {
		return err
	}
	name, err := oneName("clients add", pos, usageClientsAdd)
	if err != nil {
		return err
	}
	if len(grants) == 0 {
		return &usageError{msg: "clients add: at least one --grant is required", usage: usageClientsAdd}
	}
	if *ttl <= 0 {
		return &usageError{msg: "clients add: --ttl must be positive", usage: usageClientsAdd}
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	res, err := a.Enroll(ctx, name, *ttl, grants...)
	if err != nil {
		return fmt.Errorf("clients add %s: %w", name, err)
	}
	fmt.Fprintln(stdout, res.Token)
	fmt.Fprintf(stderr, "enrolled %s with %s; the token above works once, until %s\n",
		name, grants.String(), res.Expires.Local().Format(time.RFC3339))
	return nil
}

func clientsList(ctx context.Context, args []string, stdout io.Writer) error {
	return listing[netsync.EnrolledClient]{
		cmd: "clients list", usage: usageClientsList, none: "no enrolled clients",
		header: "NAME\tSTATE\tCONNECTED\tLAST SEEN\tGRANTS\tID",
		fetch:  admin.Enrolled,
		row: func(w io.Writer, c netsync.EnrolledClient) {
			state, seen, id := "enrolled", "-", c.ID
			switch {
			case c.Pending:
				state = "token until " + c.Expires.Local().Format(time.RFC3339)
				if time.Now().After(c.Expires) {
					state = "token expired " + c.Expires.Local().Format(time.RFC3339)
				}
				id = "-"
			case c.Revoked:
				state = "revoked"
			}
			if !c.LastSeen.IsZero() && c.LastSeen.Unix() > 0 {
				seen = c.LastSeen.Local().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s\n", c.Name, state, c.Connected, seen, grantsText(c.Grants), id)
		},
	}.run(ctx, args, stdout)
}

func grantsText(gs []netsync.Grant) string {
	if len(gs) == 0 {
		return "none"
	}
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, " ")
}

func clientsGrant(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("clients grant")
	data := dataFlag(fs)
	var grants grantFlags
	fs.Var(&grants, "grant", "")
	pos, err := parse(fs, args, usageClientsGrant, stdout)
	if err != nil {
		return err
	}
	name, err := oneName("clients grant", pos, usageClientsGrant)
	if err != nil {
		return err
	}
	if len(grants) == 0 {
		return &usageError{msg: "clients grant: at least one --grant is required (to stop a client, revoke it)", usage: usageClientsGrant}
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	if err := a.SetGrants(ctx, name, grants...); err != nil {
		return fmt.Errorf("clients grant %s: %w", name, err)
	}
	fmt.Fprintf(stdout, "%s may now: %s\n", name, grants.String())
	return nil
}

func clientsRevoke(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("clients revoke")
	data := dataFlag(fs)
	pos, err := parse(fs, args, usageClientsRevoke, stdout)
	if err != nil {
		return err
	}
	name, err := oneName("clients revoke", pos, usageClientsRevoke)
	if err != nil {
		return err
	}
	a, release, err := connect(*data)
	if err != nil {
		return err
	}
	defer release()
	if err := a.RevokeClient(ctx, name); err != nil {
		return fmt.Errorf("clients revoke %s: %w", name, err)
	}
	fmt.Fprintf(stdout, "revoked %s\n", name)
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
