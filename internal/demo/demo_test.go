package demo

import (
	"os"
	"testing"

	"github.com/hillsdb/hills/db"
)

// TestSeed seeds a database; with HILLS_DEMO_DIR set it seeds that
// directory (for trying the viewer) instead of a temporary one.
func TestSeed(t *testing.T) {
	dir := os.Getenv("HILLS_DEMO_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	d, err := db.Open(dir, &db.Options{Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := Seed(d, 250); err != nil {
		t.Fatal(err)
	}
	_, pt, err := Open(d)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Len() < 250 {
		t.Fatalf("parts: %d records, want at least 250", pt.Len())
	}
	o, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	if f := o.Schema().Fields(); len(f) != 10 || f[7].Type.Kind != db.KindRef || f[7].Type.Ref != "suppliers" {
		t.Fatalf("parts schema: %+v", f)
	}
}
