// Package stock is the data model of the inventory example: parts with
// their stock, bills of materials whose lines refer to parts, and the
// stock movements that record every change of a quantity. The GUI
// (examples/inventory), the shop-floor station (examples/station) and the
// walk-through share it.
package stock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hillsdb/hills/db"
)

// Part is a record of the parts tree.
type Part struct {
	MPN          string `msgpack:"mpn"` // manufacturer part number
	Manufacturer string `msgpack:"manufacturer"`
	Description  string `msgpack:"description"`
	// Quantity on hand is a counter: it changes only by deltas
	// (Consume, Restock), which need no check-out, so a station takes
	// stock while a person holds the part to fix its description. The
	// server keeps it from going below 0.
	Quantity int    `msgpack:"quantity" hills:"counter,min=0"`
	Location string `msgpack:"location"` // shelf and bin
}

// Line is one line of a bill of materials.
type Line struct {
	Part        db.Key[Part] `msgpack:"part" hills:"ref=parts"`
	Quantity    int          `msgpack:"quantity"` // per assembly
	Designators string       `msgpack:"designators"`
}

// BOM is a record of the versioned boms tree: a released revision is
// frozen; Revise makes the next revision as an editable draft.
type BOM struct {
	Name        string `msgpack:"name"`
	Description string `msgpack:"description"`
	Lines       []Line `msgpack:"lines"`
}

// Movement is a record of the movements tree: Delta items of Part taken
// (negative) or put back (positive) by Who.
type Movement struct {
	Part   db.Key[Part] `msgpack:"part" hills:"ref=parts"`
	Delta  int          `msgpack:"delta"`
	Who    string       `msgpack:"who"`
	Reason string       `msgpack:"reason"`
	At     time.Time    `msgpack:"at"`
}

// Tree names.
const (
	PartsTree     = "parts"
	BOMsTree      = "boms"
	MovementsTree = "movements"
)

// ErrShort: a consumption asked for more than is on hand.
var ErrShort = errors.New("stock: not enough on hand")

// Store is the open inventory of one database. Its trees and index are
// safe for concurrent use.
type Store struct {
	DB        *db.DB
	Parts     *db.Tree[Part]
	BOMs      *db.Tree[BOM]
	Movements *db.Tree[Movement]
	// ByMPN indexes parts by manufacturer part number.
	ByMPN *db.Index[Part, string]
}

// Open opens (creating when needed) the inventory trees of d and the part
// number index.
func Open(d *db.DB) (*Store, error) {
	s := &Store{DB: d}
	var err error
	// Schema 1.1 made the quantity a counter: a newer minor version, so
	// that the server records the change of the schema.
	if s.Parts, err = db.OpenTree[Part](d, PartsTree, db.SchemaVersion(1, 1)); err != nil {
		return nil, err
	}
	if s.BOMs, err = db.OpenTree[BOM](d, BOMsTree, db.Versioned()); err != nil {
		return nil, err
	}
	if s.Movements, err = db.OpenTree[Movement](d, MovementsTree); err != nil {
		return nil, err
	}
	s.ByMPN, err = db.NewIndex(s.Parts, "mpn", func(_ db.Key[Part], p *Part) []string {
		return []string{p.MPN}
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Find returns the part whose number is mpn; ok is false when there is
// none (the first one when several share it).
func (s *Store) Find(mpn string) (k db.Key[Part], ok bool) {
	ks := s.ByMPN.Lookup(mpn)
	if len(ks) == 0 {
		return k, false
	}
	return ks[0], true
}

// Search returns up to limit parts whose number contains q, ignoring
// case, in part number order.
func (s *Store) Search(q string, limit int) []db.Key[Part] {
	return db.IndexSearch(s.ByMPN, q, limit)
}

// Consume takes n items of part k from stock on behalf of who, without a
// check-out: it lowers the quantity by n (Tree.Add) and records a
// Movement. It returns ErrShort, without changing anything, when fewer
// than n are on hand here; a server that finds fewer on hand refuses the
// delta later and the replica puts the quantity back (see db.Tree.Add).
func (s *Store) Consume(ctx context.Context, k db.Key[Part], n int, who, reason string) (left int, err error) {
	if n <= 0 {
		return 0, fmt.Errorf("stock: consume %d items: must be positive", n)
	}
	if err := s.move(ctx, k, -n, who, reason); err != nil {
		return 0, err
	}
	p, _, err := s.Parts.Get(k)
	return p.Quantity, err
}

// Restock puts n items of part k back in stock (or, n negative, takes
// them out) on behalf of who, without a check-out, and records a
// Movement.
func (s *Store) Restock(ctx context.Context, k db.Key[Part], n int, who, reason string) error {
	if n == 0 {
		return nil
	}
	return s.move(ctx, k, n, who, reason)
}

// move changes part k's quantity by delta and records the movement.
func (s *Store) move(ctx context.Context, k db.Key[Part], delta int, who, reason string) error {
	if err := s.Parts.Add(k, "quantity", int64(delta)); err != nil {
		if errors.Is(err, db.ErrBelowFloor) {
			return fmt.Errorf("%w: %w", ErrShort, err)
		}
		return err
	}
	_, err := s.Movements.CreateWait(ctx, Movement{Part: k, Delta: delta, Who: who, Reason: reason, At: time.Now().UTC()})
	return err
}

// BOMParts returns the total quantity of each part needed to build count
// assemblies of b.
func BOMParts(b *BOM, count int) map[db.Key[Part]]int {
	need := map[db.Key[Part]]int{}
	for _, l := range b.Lines {
		need[l.Part] += l.Quantity * count
	}
	return need
}

// ReleaseBOM freezes BOM revision k: it checks it out (a replica needs the
// check-out to change a record), releases it and checks it in.
func ReleaseBOM(ctx context.Context, s *Store, k db.Key[BOM]) error {
	if err := s.BOMs.CheckOut(ctx, k); err != nil {
		return err
	}
	err := s.BOMs.Release(k)
	return errors.Join(err, s.BOMs.CheckIn(ctx, k))
}

// ReviseBOM makes the next revision of released BOM k as a draft and
// returns its key; it holds k's check-out meanwhile.
func ReviseBOM(ctx context.Context, s *Store, k db.Key[BOM]) (db.Key[BOM], error) {
	if err := s.BOMs.CheckOut(ctx, k); err != nil {
		return db.Key[BOM]{}, err
	}
	next, err := s.BOMs.Revise(k)
	if err != nil {
		return next, errors.Join(err, s.BOMs.CheckIn(ctx, k))
	}
	// The new revision is created under k's check-out, but checking k in
	// waits only for k's own changes to reach the server. Checking the
	// new revision out first sends its creation while k is still held.
	if err := s.BOMs.CheckOut(ctx, next); err != nil {
		return next, errors.Join(err, s.BOMs.CheckIn(ctx, k))
	}
	return next, errors.Join(s.BOMs.CheckIn(ctx, next), s.BOMs.CheckIn(ctx, k))
}
