package db_test

import (
	"testing"

	"github.com/hillsdb/hills/db"
)

func TestOpaqueScanMatchesText(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	kinds := mustTree[Kinds](t, d, "kinds")
	var keys []db.Key[Kinds]
	for range 5 {
		k, err := kinds.Create(sampleKinds())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := kinds.Delete(keys[2]); err != nil {
		t.Fatal(err)
	}
	op, err := d.Opaque("kinds")
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := op.(db.OpaqueScanner)
	if !ok {
		t.Fatal("the opaque tree is not an OpaqueScanner")
	}
	var got []db.OpaqueKey
	err = sc.Scan(func(k db.OpaqueKey, text string) bool {
		want, err := op.Text(k)
		if err != nil {
			t.Fatal(err)
		}
		if text != want {
			t.Fatalf("Scan text of %s differs from Text:\n%s\nwant\n%s", k, text, want)
		}
		got = append(got, k)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []db.OpaqueKey
	for k := range op.Keys() {
		want = append(want, k)
	}
	if len(got) != 4 || len(got) != len(want) {
		t.Fatalf("scanned %v, keys %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("scanned %v, keys %v", got, want)
		}
	}
	n := 0
	sc.Scan(func(db.OpaqueKey, string) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Scan went on after false: %d calls", n)
	}
}
