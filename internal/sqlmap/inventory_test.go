package sqlmap_test

import (
	"path/filepath"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/internal/testkit"
)

// bomQuery is the example query of docs/guide.md ("Data out and back
// in"): every line of every released BOM with its part.
const bomQuery = `
SELECT b.name AS bom, b._rev AS rev, l.value ->> 'designators' AS designators,
       l.value ->> 'quantity' AS per_board, p.mpn, p.quantity AS on_hand
FROM boms AS b, json_each(b.lines) AS l
JOIN parts AS p ON p._id || '.' || p._rev = l.value ->> 'part'
WHERE b._version = 'released'
ORDER BY b.name, p.mpn`

// The guide's query runs on an export of the inventory example's trees
// and joins BOM lines to their parts.
func TestInventoryQuery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	d, err := db.Open(dir, &db.Options{Name: "planner", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := stock.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := stock.Seed(testkit.Context(t), s); err != nil {
		t.Fatal(err)
	}
	var released stock.BOM
	for k, b := range s.BOMs.All() {
		if _, m, _ := s.BOMs.Get(k); m.Version == db.Released {
			released = *b
		}
	}
	d.Close()
	file := filepath.Join(t.TempDir(), "inventory.sqlite")
	exportTo(t, dir, file)

	sq := openSQLite(t, file)
	rows, err := sq.Query(bomQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var bom, designators, mpn string
		var rev, perBoard, onHand int
		if err := rows.Scan(&bom, &rev, &designators, &perBoard, &mpn, &onHand); err != nil {
			t.Fatal(err)
		}
		if bom != released.Name || mpn == "" || designators == "" || perBoard < 1 {
			t.Fatalf("row %d: %s %d %s %d %s %d", n, bom, rev, designators, perBoard, mpn, onHand)
		}
		n++
	}
	if n != len(released.Lines) || n == 0 {
		t.Fatalf("%d rows, want the released BOM's %d lines", n, len(released.Lines))
	}
}
