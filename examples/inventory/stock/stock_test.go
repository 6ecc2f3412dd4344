package stock

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hillsdb/hills/db"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	d, err := db.Open(t.TempDir(), &db.Options{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := Open(d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSeedPartsDistinct(t *testing.T) {
	seen := map[string]int{}
	for i := range SeedParts {
		p := SeedPart(i)
		if j, dup := seen[p.MPN]; dup {
			t.Fatalf("parts %d and %d share %s", j, i, p.MPN)
		}
		seen[p.MPN] = i
		if p.Quantity <= 0 || p.Manufacturer == "" || p.Description == "" || p.Location == "" {
			t.Fatalf("part %d incomplete: %+v", i, p)
		}
		if SeedPart(i) != p {
			t.Fatalf("part %d differs between calls", i)
		}
	}
}

func TestSeed(t *testing.T) {
	s := openStore(t)
	if err := Seed(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if n := s.Parts.Len(); n != SeedParts {
		t.Fatalf("%d parts, want %d", n, SeedParts)
	}
	if n := s.BOMs.Len(); n != len(seedBOMs) {
		t.Fatalf("%d boms, want %d", n, len(seedBOMs))
	}
	k, ok := s.Find("STM32F103C8T6")
	if !ok {
		t.Fatal("STM32F103C8T6 not found")
	}
	p, _, err := s.Parts.Get(k)
	if err != nil || p.Manufacturer != "STMicroelectronics" {
		t.Fatalf("got %+v, %v", p, err)
	}
	want := 0
	for i := range SeedParts {
		if strings.Contains(SeedPart(i).MPN, "STM32") {
			want++
		}
	}
	got := s.Search("stm32", 1000)
	if len(got) != want || want == 0 {
		t.Fatalf("search stm32: %d parts, want %d", len(got), want)
	}
	for _, k := range got {
		if p, _, _ := s.Parts.Get(k); !strings.Contains(p.MPN, "STM32") {
			t.Fatalf("search stm32 found %s", p.MPN)
		}
	}
	// A second seed into another database gives the same records.
	s2 := openStore(t)
	if err := Seed(context.Background(), s2); err != nil {
		t.Fatal(err)
	}
	for k, p := range s.Parts.All() {
		q, _, err := s2.Parts.Get(k)
		if err != nil || q != *p {
			t.Fatalf("%s: %+v vs %+v (%v)", k, *p, q, err)
		}
	}
	released := 0
	for k, b := range s.BOMs.All() {
		_, m, _ := s.BOMs.Get(k)
		if m.Version == db.Released {
			released++
		}
		for _, l := range b.Lines {
			if _, _, err := s.Parts.Get(l.Part); err != nil {
				t.Fatalf("bom %s line refers to %s: %v", b.Name, l.Part, err)
			}
		}
	}
	if released != 1 {
		t.Fatalf("%d released boms, want 1", released)
	}
}

func TestConsume(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	k, err := s.Parts.Create(Part{MPN: "X1", Quantity: 10})
	if err != nil {
		t.Fatal(err)
	}
	left, err := s.Consume(ctx, k, 4, "station-1", "job 7")
	if err != nil || left != 6 {
		t.Fatalf("consume: %d, %v", left, err)
	}
	if _, err := s.Consume(ctx, k, 7, "station-1", "job 8"); !errors.Is(err, ErrShort) {
		t.Fatalf("consume beyond stock: %v, want ErrShort", err)
	}
	if _, err := s.Consume(ctx, k, 0, "station-1", ""); err == nil {
		t.Fatal("consume 0 accepted")
	}
	p, _, _ := s.Parts.Get(k)
	if p.Quantity != 6 {
		t.Fatalf("quantity %d, want 6", p.Quantity)
	}
	if b := s.Parts.Borrow(k); b.Held {
		t.Fatalf("still checked out: %+v", b)
	}
	var moves []Movement
	for _, m := range s.Movements.All() {
		moves = append(moves, *m)
	}
	if len(moves) != 1 || moves[0].Part != k || moves[0].Delta != -4 || moves[0].Who != "station-1" || moves[0].Reason != "job 7" {
		t.Fatalf("movements %+v", moves)
	}
}

func TestBOMParts(t *testing.T) {
	a, b := db.Key[Part]{ID: 1}, db.Key[Part]{ID: 2}
	need := BOMParts(&BOM{Lines: []Line{{Part: a, Quantity: 2}, {Part: b, Quantity: 1}, {Part: a, Quantity: 1}}}, 10)
	if need[a] != 30 || need[b] != 10 || len(need) != 2 {
		t.Fatalf("need %v", need)
	}
}

func TestReleaseRevise(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	k, err := s.BOMs.Create(BOM{Name: "B", Lines: []Line{{Part: db.Key[Part]{ID: 1}, Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ReleaseBOM(ctx, s, k); err != nil {
		t.Fatal(err)
	}
	if err := s.BOMs.Update(k, func(b *BOM) error { b.Name = "C"; return nil }); !errors.Is(err, db.ErrReleased) {
		t.Fatalf("update of a released bom: %v", err)
	}
	k2, err := ReviseBOM(ctx, s, k)
	if err != nil || k2.ID != k.ID || k2.Rev != k.Rev+1 {
		t.Fatalf("revise: %s, %v", k2, err)
	}
	if err := s.BOMs.Update(k2, func(b *BOM) error { b.Lines[0].Quantity = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	old, _, _ := s.BOMs.Get(k)
	cur, m, _ := s.BOMs.Get(k2)
	if old.Lines[0].Quantity != 2 || cur.Lines[0].Quantity != 3 || m.Version != db.Draft {
		t.Fatalf("old %+v, new %+v %v", old, cur, m.Version)
	}
}
