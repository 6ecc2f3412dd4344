package db

// What the server allows this replica: its grants, learnt when the sync
// layer connects and kept in the replica's store, so that a refusal comes
// at once and offline too, not later from the server.

import (
	"fmt"
	"maps"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
)

// identity is what the server said of this client: its name there and
// its grants.
type identity struct {
	Name   string         `msgpack:"name"`
	Grants replica.Grants `msgpack:"grants"`
}

// loadIdentity reads what the server last said of this client.
func (d *DB) loadIdentity() error {
	var id identity
	found, err := d.pdb.GetMsgpack(layout.SyncKey("identity"), &id)
	if err != nil {
		return fmt.Errorf("%w: stored grants: %w", ErrCorrupt, err)
	}
	if found {
		d.ident = &id
	}
	return nil
}

func (l link) SetIdentity(name string, g replica.Grants) error {
	if g == nil {
		g = replica.Grants{}
	}
	l.d.mu.Lock()
	same := l.d.ident != nil && l.d.ident.Name == name && maps.Equal(l.d.ident.Grants, g)
	l.d.mu.Unlock()
	if same {
		return nil // every session says it again: no write, no sync
	}
	enc, err := msgpack.Marshal(&identity{Name: name, Grants: g})
	if err != nil {
		return err
	}
	if err := l.SetSyncState("identity", enc); err != nil {
		return err
	}
	l.d.mu.Lock()
	l.d.ident = &identity{Name: name, Grants: g}
	l.d.mu.Unlock()
	return nil
}

// writer returns the name this client writes under: the server's name for
// it once known, else Options.Name. Called with d.mu held.
func (d *DB) writer() string {
	if d.ident != nil && d.ident.Name != "" {
		return d.ident.Name
	}
	return d.opts.Name
}

// permit refuses what this replica's grants do not allow on the tree:
// any of the accesses want (replica.Access*). Called with d.mu held.
func (c *core) permit(want uint8, what string) error {
	d := c.d
	if !d.replica || d.ident == nil || d.ident.Grants.Allows(c.name, want) {
		return nil
	}
	return fmt.Errorf("%w: %s in tree %s (this client's grants: %s)", ErrPermission, what, c.name, grantsText(d.ident.Grants, c.name))
}

// grantsText describes the accesses grants give on tree.
func grantsText(g replica.Grants, tree string) string { return replica.AccessText(g[tree] | g["*"]) }

// Allows reports whether this client's grants allow access ("read",
// "create", "edit", "release", "adjust" or "admin") on tree, so that an
// application can disable what would be refused: always true on a
// standalone database and on a replica the server has not yet told its
// grants; false for an unknown access name.
func (d *DB) Allows(tree, access string) bool {
	a, ok := replica.ParseAccess(access)
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.replica || d.ident == nil || d.ident.Grants.Allows(tree, a)
}
