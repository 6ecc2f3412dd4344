package widgets

import (
	"slices"
	"testing"

	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
)

type person struct {
	Name string `msgpack:"n"`
}

// TestTableFilterAgreesWithIndexSearch checks that the table's filter and
// IndexSearch find the same records for a query, by the one case folding
// rule, and the records the rule says.
func TestTableFilterAgreesWithIndexSearch(t *testing.T) {
	names := []string{
		1: "MÜLLER", 2: "müller", 3: "Muller",
		4: "ǅemal", 5: "ǄEMAL", // Dž titlecase and uppercase
		6: "ΟΔΟΣ", 7: "οδος", // capital and final sigma
		8: "STRASSE", 9: "Straße",
		10: "\u212Aelvin", // Kelvin sign
		11: "Spring Washer",
	}
	cases := []struct {
		query string
		want  []uint32
	}{
		{"müller", []uint32{1, 2}},
		{"MÜLLER", []uint32{1, 2}},
		{"Müll", []uint32{1, 2}},
		{"muller", []uint32{3}},
		{"ǆemal", []uint32{4, 5}},
		{"Ǆ", []uint32{4, 5}},
		{"οδος", []uint32{6, 7}},
		{"ΟΔΟΣ", []uint32{6, 7}},
		{"οδοσ", []uint32{6, 7}},
		{"straße", []uint32{8, 9}},
		{"STRASSE", []uint32{8, 9}},
		{"kelvin", []uint32{10}},
		{"WASHER", []uint32{11}},
		{"spring w", []uint32{11}},
		{"bolt", nil},
	}
	d, err := db.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	tr, err := db.OpenTree[person](d, "people")
	if err != nil {
		t.Fatal(err)
	}
	byName, err := db.NewIndex(tr, "by-name", func(_ db.Key[person], p *person) []string { return []string{p.Name} })
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names[1:] {
		k, err := tr.Create(person{n})
		if err != nil || k.ID != uint32(i+1) {
			t.Fatalf("create %q: %v %v", n, k, err)
		}
	}
	o, err := d.Opaque("people")
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(nil)
	tb := NewTable(o, w)
	t.Cleanup(func() { tb.Close(); w.Close() })
	th := NewTheme()
	u := newUI(900, 28*20)
	for _, c := range cases {
		var searched []uint32
		for _, k := range db.IndexSearch(byName, c.query, 0) {
			searched = append(searched, k.ID)
		}
		slices.Sort(searched)
		tb.SetFilter(c.query)
		tb.WaitIdle()
		u.frame(func(gtx layout.Context) { tb.Layout(gtx, th) })
		var filtered []uint32
		for i := range tb.Len() {
			filtered = append(filtered, tb.Key(i).ID)
		}
		if !slices.Equal(searched, c.want) || !slices.Equal(filtered, c.want) {
			t.Errorf("%q: IndexSearch %v, table filter %v, want %v", c.query, searched, filtered, c.want)
		}
	}
}
