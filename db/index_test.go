package db_test

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/cases"
	"pgregory.net/rapid"

	"github.com/hillsdb/hills/db"
)

type Doc struct {
	Title string   `msgpack:"title"`
	Tags  []string `msgpack:"tags,omitempty"`
}

func docTags(_ db.Key[Doc], d *Doc) []string { return d.Tags }

// docLens indexes a record under the length of its title and the number
// of its tags (the same number once).
func docLens(_ db.Key[Doc], d *Doc) []int { return []int{len(d.Title), len(d.Tags)} }

type pair[K cmp.Ordered] struct {
	k   K
	key db.Key[Doc]
}

func comparePairs[K cmp.Ordered](a, b pair[K]) int {
	if c := cmp.Compare(a.k, b.k); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key.ID, b.key.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.key.Rev, b.key.Rev)
}

// scan is the brute-force index: every (index key, record) pair of the
// tree's records, distinct, in order.
func scan[K cmp.Ordered](tr *db.Tree[Doc], extract func(db.Key[Doc], *Doc) []K) []pair[K] {
	var out []pair[K]
	for k, v := range tr.All() {
		keys := slices.Clone(extract(k, v))
		slices.Sort(keys)
		for _, ik := range slices.Compact(keys) {
			out = append(out, pair[K]{ik, k})
		}
	}
	slices.SortFunc(out, comparePairs[K])
	return out
}

func collect[K cmp.Ordered](seq func(func(K, db.Key[Doc]) bool)) []pair[K] {
	var out []pair[K]
	for k, key := range seq {
		out = append(out, pair[K]{k, key})
	}
	return out
}

func filter[K cmp.Ordered](ps []pair[K], in func(K) bool) []pair[K] {
	var out []pair[K]
	for _, p := range ps {
		if in(p.k) {
			out = append(out, p)
		}
	}
	return out
}

func lookup[K cmp.Ordered](ps []pair[K], k K) []db.Key[Doc] {
	var out []db.Key[Doc]
	for _, p := range ps {
		if p.k == k {
			out = append(out, p.key)
		}
	}
	return out
}

// search is IndexSearch by brute force.
func search(ps []pair[string], sub string, limit int) []db.Key[Doc] {
	var out []db.Key[Doc]
	seen := map[db.Key[Doc]]bool{}
	for _, p := range ps {
		if !strings.Contains(cases.Fold().String(p.k), cases.Fold().String(sub)) || seen[p.key] {
			continue
		}
		seen[p.key] = true
		out = append(out, p.key)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

var (
	genTag  = rapid.StringMatching(`[aAbBésSßΣσς]{0,3}`)
	genTags = rapid.SliceOfN(genTag, 0, 4)
	genDoc  = rapid.Custom(func(t *rapid.T) Doc {
		return Doc{Title: rapid.StringMatching(`[a-c]{0,5}`).Draw(t, "title"), Tags: genTags.Draw(t, "tags")}
	})
)

// TestIndexProperty checks the indexes of a tree after every step of random
// creates, updates, deletes and state changes against a scan of the tree.
func TestIndexProperty(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "prop", Durability: db.NoSync})
	var run atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		tr := mustTree[Doc](t, d, fmt.Sprintf("docs-%d", run.Add(1)))
		// Records present before the index are indexed too.
		for _, v := range rapid.SliceOfN(genDoc, 0, 5).Draw(rt, "before") {
			if _, err := tr.Create(v); err != nil {
				rt.Fatal(err)
			}
		}
		byTag, err := db.NewIndex(tr, "by-tag", docTags)
		if err != nil {
			rt.Fatal(err)
		}
		byLen, err := db.NewIndex(tr, "by-len", docLens)
		if err != nil {
			rt.Fatal(err)
		}
		var keys []db.Key[Doc]
		for k := range tr.All() {
			keys = append(keys, k)
		}
		rebuilt := 0
		rt.Repeat(map[string]func(*rapid.T){
			"create": func(rt *rapid.T) {
				k, err := tr.Create(genDoc.Draw(rt, "doc"))
				if err != nil {
					rt.Fatal(err)
				}
				keys = append(keys, k)
			},
			"update": func(rt *rapid.T) {
				if len(keys) == 0 {
					rt.Skip("no records")
				}
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				v := genDoc.Draw(rt, "doc")
				if err := tr.Update(k, func(d *Doc) error { *d = v; return nil }); err != nil {
					rt.Fatal(err)
				}
			},
			"delete": func(rt *rapid.T) {
				if len(keys) == 0 {
					rt.Skip("no records")
				}
				i := rapid.IntRange(0, len(keys)-1).Draw(rt, "i")
				if err := tr.Delete(keys[i]); err != nil {
					rt.Fatal(err)
				}
				keys = slices.Delete(keys, i, i+1)
			},
			"state": func(rt *rapid.T) {
				if len(keys) == 0 {
					rt.Skip("no records")
				}
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				if err := tr.SetState(k, rapid.Uint32().Draw(rt, "state")); err != nil {
					rt.Fatal(err)
				}
			},
			"rebuild": func(rt *rapid.T) {
				rebuilt++
				ix, err := db.NewIndex(tr, fmt.Sprintf("again-%d", rebuilt), docTags)
				if err != nil {
					rt.Fatal(err)
				}
				if got, want := collect(ix.All()), collect(byTag.All()); !slices.Equal(got, want) {
					rt.Fatalf("rebuilt index %v, live index %v", got, want)
				}
			},
			"": func(rt *rapid.T) {
				tags := scan(tr, docTags)
				if got := collect(byTag.All()); !slices.Equal(got, tags) {
					rt.Fatalf("index All %v, scan %v", got, tags)
				}
				if byTag.Len() != len(tags) {
					rt.Fatalf("Len %d, scan %d", byTag.Len(), len(tags))
				}
				for _, tag := range append([]string{genTag.Draw(rt, "lookup")}, lookupSample(tags)...) {
					if got, want := byTag.Lookup(tag), lookup(tags, tag); !slices.Equal(got, want) {
						rt.Fatalf("Lookup(%q) = %v, want %v", tag, got, want)
					}
				}
				lo, hi := genTag.Draw(rt, "lo"), genTag.Draw(rt, "hi")
				if got, want := collect(byTag.Range(lo, hi)), filter(tags, func(k string) bool { return lo <= k && k < hi }); !slices.Equal(got, want) {
					rt.Fatalf("Range(%q, %q) = %v, want %v", lo, hi, got, want)
				}
				p := genTag.Draw(rt, "prefix")
				if got, want := collect(db.IndexPrefix(byTag, p)), filter(tags, func(k string) bool { return strings.HasPrefix(k, p) }); !slices.Equal(got, want) {
					rt.Fatalf("IndexPrefix(%q) = %v, want %v", p, got, want)
				}
				sub, limit := genTag.Draw(rt, "substr"), rapid.IntRange(0, 3).Draw(rt, "limit")
				if got, want := db.IndexSearch(byTag, sub, limit), search(tags, sub, limit); !slices.Equal(got, want) {
					rt.Fatalf("IndexSearch(%q, %d) = %v, want %v", sub, limit, got, want)
				}

				lens := scan(tr, docLens)
				if got := collect(byLen.All()); !slices.Equal(got, lens) {
					rt.Fatalf("by-len All %v, scan %v", got, lens)
				}
				a, b := rapid.IntRange(-1, 7).Draw(rt, "a"), rapid.IntRange(-1, 7).Draw(rt, "b")
				if got, want := collect(byLen.Range(a, b)), filter(lens, func(k int) bool { return a <= k && k < b }); !slices.Equal(got, want) {
					rt.Fatalf("by-len Range(%d, %d) = %v, want %v", a, b, got, want)
				}
				if got, want := byLen.Lookup(a), lookup(lens, a); !slices.Equal(got, want) {
					rt.Fatalf("by-len Lookup(%d) = %v, want %v", a, got, want)
				}
			},
		})
	})
}

func lookupSample(ps []pair[string]) []string {
	var out []string
	for i, p := range ps {
		if i == 0 || ps[i-1].k != p.k {
			out = append(out, p.k)
		}
	}
	return out
}

// TestNewIndexDuringWrites builds indexes while writers change the tree:
// each index ends up holding exactly what a scan finds.
func TestNewIndexDuringWrites(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "busy", Durability: db.NoSync})
	tr := mustTree[Doc](t, d, "docs")
	for i := range 2000 {
		if _, err := tr.Create(Doc{Title: fmt.Sprintf("seed-%d", i), Tags: []string{fmt.Sprint(i % 50)}}); err != nil {
			t.Fatal(err)
		}
	}
	byTitle := func(_ db.Key[Doc], d *Doc) []string { return []string{d.Title} }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			var mine []db.Key[Doc]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				title := fmt.Sprintf("w%d-%d", w, i)
				switch {
				case i%3 == 0 || len(mine) == 0:
					k, err := tr.Create(Doc{Title: title, Tags: []string{fmt.Sprint(i % 50), "new"}})
					if err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, k)
				case i%3 == 1:
					if err := tr.Update(mine[i%len(mine)], func(d *Doc) error { d.Title, d.Tags = title, []string{"upd"}; return nil }); err != nil {
						t.Error(err)
						return
					}
				default:
					j := i % len(mine)
					if err := tr.Delete(mine[j]); err != nil {
						t.Error(err)
						return
					}
					mine = slices.Delete(mine, j, j+1)
				}
			}
		})
	}
	var tagIxs []*db.Index[Doc, string]
	var titleIxs []*db.Index[Doc, string]
	for i := range 8 {
		ix, err := db.NewIndex(tr, fmt.Sprintf("tags-%d", i), docTags)
		if err != nil {
			t.Fatal(err)
		}
		tagIxs = append(tagIxs, ix)
		ix, err = db.NewIndex(tr, fmt.Sprintf("title-%d", i), byTitle, db.Unique())
		if err != nil {
			t.Fatal(err)
		}
		titleIxs = append(titleIxs, ix)
	}
	close(stop)
	wg.Wait()
	tags, titles := scan(tr, docTags), scan(tr, byTitle)
	for i := range tagIxs {
		if got := collect(tagIxs[i].All()); !slices.Equal(got, tags) {
			t.Fatalf("index %s: %d entries, scan %d, first difference at %d", tagIxs[i].Name(), len(got), len(tags), firstDiff(got, tags))
		}
		if got := collect(titleIxs[i].All()); !slices.Equal(got, titles) {
			t.Fatalf("index %s: %d entries, scan %d, first difference at %d", titleIxs[i].Name(), len(got), len(titles), firstDiff(got, titles))
		}
	}
}

// TestIndexRangeChunks walks a range larger than one chunk of the index's
// reading, with several records per key, while the loop body writes.
func TestIndexRangeChunks(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "chunks", Durability: db.NoSync})
	tr := mustTree[Doc](t, d, "docs")
	for i := range 700 {
		if _, err := tr.Create(Doc{Title: fmt.Sprint(i), Tags: []string{fmt.Sprintf("t%03d", i%300), "all"}}); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := db.NewIndex(tr, "tags", docTags)
	if err != nil {
		t.Fatal(err)
	}
	want := filter(scan(tr, docTags), func(k string) bool { return "t" <= k && k < "u" })
	var got []pair[string]
	for k, key := range ix.Range("t", "u") {
		got = append(got, pair[string]{k, key})
		// A write meanwhile outside the range does not disturb the walk.
		if _, err := tr.Create(Doc{Tags: []string{"z"}}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Range over %d entries: got %d entries, first difference at %d", len(want), len(got), firstDiff(got, want))
	}
	if n := len(ix.Lookup("all")); n != 700 {
		t.Fatalf("Lookup(all) = %d records, want 700", n)
	}
	if n := len(ix.Lookup("z")); n != len(want) {
		t.Fatalf("Lookup(z) = %d records, want %d", n, len(want))
	}
}

func firstDiff[E comparable](a, b []E) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func byNumber(_ db.Key[Part], p *Part) []string { return []string{p.Number} }

func TestUniqueIndex(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, &db.Options{Name: "unique"})
	parts := mustTree[Part](t, d, "parts")
	ix, err := db.NewIndex(parts, "by-number", byNumber, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	r1, err := parts.Create(Part{Number: "R1"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := parts.Create(Part{Number: "R2"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = parts.Create(Part{Number: "R1", Quantity: 5})
	if !errors.Is(err, db.ErrDuplicate) {
		t.Fatalf("duplicate create: %v, want ErrDuplicate", err)
	}
	for _, s := range []string{"by-number", `"R1"`, "parts/" + r1.String()} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	err = parts.Update(r2, func(p *Part) error { p.Number = "R1"; return nil })
	if !errors.Is(err, db.ErrDuplicate) {
		t.Fatalf("duplicate update: %v, want ErrDuplicate", err)
	}
	if p, _, _ := parts.Get(r2); p.Number != "R2" {
		t.Fatalf("refused update changed the record: %+v", p)
	}
	// Keeping one's own value is no duplicate.
	if err := parts.Update(r1, func(p *Part) error { p.Quantity = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	if parts.Len() != 2 {
		t.Fatalf("Len = %d after refused writes, want 2", parts.Len())
	}
	// A deleted record's value is free again.
	if err := parts.Delete(r1); err != nil {
		t.Fatal(err)
	}
	r3, err := parts.Create(Part{Number: "R1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Lookup("R1"); !slices.Equal(got, []db.Key[Part]{r3}) {
		t.Fatalf("Lookup(R1) = %v, want [%v]", got, r3)
	}
	// Swapping values through a free one works.
	if err := parts.Update(r2, func(p *Part) error { p.Number = "tmp"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := parts.Update(r3, func(p *Part) error { p.Number = "R2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := parts.Update(r2, func(p *Part) error { p.Number = "R1"; return nil }); err != nil {
		t.Fatal(err)
	}

	// Nothing refused was written.
	d.Close()
	d = mustOpen(t, dir, &db.Options{Name: "unique"})
	parts = mustTree[Part](t, d, "parts")
	if parts.Len() != 2 {
		t.Fatalf("after reopen Len = %d, want 2", parts.Len())
	}
	ix, err = db.NewIndex(parts, "by-number", byNumber, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Lookup("R1"); !slices.Equal(got, []db.Key[Part]{r2}) {
		t.Fatalf("after reopen Lookup(R1) = %v, want [%v]", got, r2)
	}
}

// TestUniqueIndexConcurrentCreate: of writers creating the same value at
// once, exactly one succeeds.
func TestUniqueIndexConcurrentCreate(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "race"})
	parts := mustTree[Part](t, d, "parts")
	ix, err := db.NewIndex(parts, "by-number", byNumber, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	for round := range 20 {
		number := fmt.Sprintf("P%d", round)
		var wg sync.WaitGroup
		var won atomic.Int32
		errs := make(chan error, writers)
		start := make(chan struct{})
		for range writers {
			wg.Go(func() {
				<-start
				_, err := parts.Create(Part{Number: number})
				switch {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, db.ErrDuplicate):
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if won.Load() != 1 {
			t.Fatalf("round %d: %d creates of %s succeeded, want 1", round, won.Load(), number)
		}
		if n := len(ix.Lookup(number)); n != 1 {
			t.Fatalf("round %d: Lookup(%s) has %d records", round, number, n)
		}
	}
	if parts.Len() != 20 {
		t.Fatalf("Len = %d, want 20", parts.Len())
	}
}

// TestUniqueIndexConcurrentMix runs writers that create, rename and delete
// records over a few values at once; uniqueness and the index hold after.
func TestUniqueIndexConcurrentMix(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "mix"})
	parts := mustTree[Part](t, d, "parts")
	ix, err := db.NewIndex(parts, "by-number", byNumber, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	values := []string{"a", "b", "c", "d", "e"}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range 6 {
		wg.Go(func() {
			var mine []db.Key[Part]
			for i := range 60 {
				v := values[(i*7+w*3)%len(values)]
				switch {
				case i%3 == 0 || len(mine) == 0:
					k, err := parts.Create(Part{Number: v})
					if err == nil {
						mine = append(mine, k)
					} else if !errors.Is(err, db.ErrDuplicate) {
						fail(err)
					}
				case i%3 == 1:
					err := parts.Update(mine[i%len(mine)], func(p *Part) error { p.Number = v; return nil })
					if err != nil && !errors.Is(err, db.ErrDuplicate) {
						fail(err)
					}
				default:
					j := i % len(mine)
					if err := parts.Delete(mine[j]); err != nil {
						fail(err)
					}
					mine = slices.Delete(mine, j, j+1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	owner := map[string]db.Key[Part]{}
	for k, p := range parts.All() {
		if o, ok := owner[p.Number]; ok {
			t.Fatalf("%s held by %v and %v", p.Number, o, k)
		}
		owner[p.Number] = k
		if got := ix.Lookup(p.Number); !slices.Equal(got, []db.Key[Part]{k}) {
			t.Fatalf("Lookup(%s) = %v, want [%v]", p.Number, got, k)
		}
	}
	if ix.Len() != len(owner) {
		t.Fatalf("index Len %d, records %d", ix.Len(), len(owner))
	}
}

// TestUniqueIndexWhileWriting makes a unique index while another writer
// creates a value: writes still pending when the index is made count, so
// exactly one of that writer and a create after NewIndex holds the value.
func TestUniqueIndexWhileWriting(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "pending"})
	for round := range 200 {
		parts := mustTree[Part](t, d, fmt.Sprintf("parts-%d", round))
		done := make(chan error, 1)
		go func() {
			_, err := parts.Create(Part{Number: "X"})
			done <- err
		}()
		// Vary the moment so that NewIndex sometimes meets the create
		// written but not yet durable.
		time.Sleep(time.Duration(round%8) * 40 * time.Microsecond)
		ix, err := db.NewIndex(parts, "by-number", byNumber, db.Unique())
		if err != nil {
			t.Fatal(err)
		}
		_, err = parts.Create(Part{Number: "X"})
		if err != nil && !errors.Is(err, db.ErrDuplicate) {
			t.Fatal(err)
		}
		first := <-done
		if first != nil && !errors.Is(first, db.ErrDuplicate) {
			t.Fatal(first)
		}
		if (first == nil) == (err == nil) {
			t.Fatalf("round %d: first create: %v, create after NewIndex: %v; want exactly one to succeed", round, first, err)
		}
		if n := len(ix.Lookup("X")); n != 1 || parts.Len() != 1 {
			t.Fatalf("round %d: Lookup(X) has %d records, tree %d", round, n, parts.Len())
		}
	}
}

func TestUniqueIndexOverDuplicates(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "dups"})
	parts := mustTree[Part](t, d, "parts")
	for _, n := range []string{"R1", "R2", "R1"} {
		if _, err := parts.Create(Part{Number: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.NewIndex(parts, "by-number", byNumber, db.Unique()); !errors.Is(err, db.ErrDuplicate) {
		t.Fatalf("unique index over duplicates: %v, want ErrDuplicate", err)
	}
	// The failed index left nothing behind: the name is free, and writes
	// are not checked against it.
	ix, err := db.NewIndex(parts, "by-number", byNumber)
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Lookup("R1"); len(got) != 2 {
		t.Fatalf("Lookup(R1) = %v, want two records", got)
	}
	if _, err := parts.Create(Part{Number: "R1"}); err != nil {
		t.Fatal(err)
	}
}

// TestUniqueIndexRevise: revisions of a record share its values; another
// record may not.
func TestUniqueIndexRevise(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "rev"})
	parts := mustTree[Part](t, d, "parts", db.Versioned())
	ix, err := db.NewIndex(parts, "by-number", byNumber, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	k, err := parts.Create(Part{Number: "R1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := parts.Release(k); err != nil {
		t.Fatal(err)
	}
	k1, err := parts.Revise(k)
	if err != nil {
		t.Fatalf("Revise with a unique index: %v", err)
	}
	if got := ix.Lookup("R1"); !slices.Equal(got, []db.Key[Part]{k, k1}) {
		t.Fatalf("Lookup(R1) = %v, want [%v %v]", got, k, k1)
	}
	if _, err := parts.Create(Part{Number: "R1"}); !errors.Is(err, db.ErrDuplicate) {
		t.Fatalf("create of a revised record's value: %v, want ErrDuplicate", err)
	}
}

func TestIndexNames(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "names"})
	parts := mustTree[Part](t, d, "parts")
	other := mustTree[Part](t, d, "other")
	for _, name := range []string{"", "By", "_x", "a b", strings.Repeat("a", 129)} {
		if _, err := db.NewIndex(parts, name, byNumber); !errors.Is(err, db.ErrInvalidName) {
			t.Errorf("NewIndex(%q): %v, want ErrInvalidName", name, err)
		}
	}
	if _, err := db.NewIndex(parts, "by-number", byNumber); err != nil {
		t.Fatal(err)
	}
	if _, err := db.NewIndex(parts, "by-number", byNumber); !errors.Is(err, db.ErrExists) {
		t.Fatalf("second index of a name: %v, want ErrExists", err)
	}
	if _, err := db.NewIndex(other, "by-number", byNumber); err != nil {
		t.Fatalf("same name on another tree: %v", err)
	}
	if _, err := db.NewIndex[Part, string](parts, "nil", nil); err == nil {
		t.Fatal("nil extract accepted")
	}
	if _, err := db.NewIndex[Part](nil, "nil", byNumber); err == nil {
		t.Fatal("nil tree accepted")
	}
	d.Close()
	if _, err := db.NewIndex(parts, "late", byNumber); !errors.Is(err, db.ErrClosed) {
		t.Fatalf("NewIndex after Close: %v, want ErrClosed", err)
	}
}

// TestIndexReopen: an application makes its indexes again after opening;
// they hold the stored records and follow new changes.
func TestIndexReopen(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, &db.Options{Name: "reopen"})
	parts := mustTree[Part](t, d, "parts")
	var keys []db.Key[Part]
	for i := range 50 {
		k, err := parts.Create(Part{Number: fmt.Sprintf("N%02d", i), Maker: []string{"acme", "bolt"}[i%2]})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, dir, &db.Options{Name: "reopen"})
	parts = mustTree[Part](t, d, "parts")
	byMaker, err := db.NewIndex(parts, "by-maker", func(_ db.Key[Part], p *Part) []string { return []string{p.Maker} })
	if err != nil {
		t.Fatal(err)
	}
	if got := byMaker.Lookup("acme"); len(got) != 25 || got[0] != keys[0] || got[24] != keys[48] {
		t.Fatalf("Lookup(acme) after reopen = %v", got)
	}
	k, err := parts.Create(Part{Number: "N50", Maker: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if got := byMaker.Lookup("acme"); len(got) != 26 || got[25] != k {
		t.Fatalf("Lookup(acme) after create = %v", got)
	}
}

// TestIndexBeforeEvent: when a change's event arrives, the index shows it.
// Values are never reused, so later changes cannot hide a late update.
func TestIndexBeforeEvent(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "events", Durability: db.NoSync})
	parts := mustTree[Part](t, d, "parts")
	ix, err := db.NewIndex(parts, "by-number", byNumber)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var numbers sync.Map // key -> number, filled by the subscriber
	var bad atomic.Value
	events := make(chan db.EventKind, 2*n)
	cancel := parts.Subscribe(func(ev db.Event[Part]) {
		switch ev.Kind {
		case db.Created:
			var number string
			if err := parts.View(ev.Key, func(p *Part, _ db.Meta) { number = p.Number }); err != nil {
				bad.CompareAndSwap(nil, err.Error())
			}
			numbers.Store(ev.Key, number)
			if !slices.Contains(ix.Lookup(number), ev.Key) {
				bad.CompareAndSwap(nil, fmt.Sprintf("created %v: not in Lookup(%s)", ev.Key, number))
			}
		case db.Deleted:
			number, _ := numbers.Load(ev.Key)
			if slices.Contains(ix.Lookup(number.(string)), ev.Key) {
				bad.CompareAndSwap(nil, fmt.Sprintf("deleted %v: still in Lookup(%s)", ev.Key, number))
			}
		}
		events <- ev.Kind
	})
	defer cancel()
	var mu sync.Mutex
	var keys []db.Key[Part]
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				k, err := parts.Create(Part{Number: fmt.Sprintf("E%d-%d", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				keys = append(keys, k)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for range n {
		<-events
	}
	for _, k := range keys {
		wg.Go(func() {
			if err := parts.Delete(k); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range n {
		<-events
	}
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	if ix.Len() != 0 {
		t.Fatalf("index holds %d entries after every delete", ix.Len())
	}
}

// TestIndexExtractPanic: a panicking extraction refuses the write of a
// unique index and is logged for another index; nothing breaks.
func TestIndexExtractPanic(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "panic", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	parts := mustTree[Part](t, d, "parts")
	picky := func(_ db.Key[Part], p *Part) []string {
		if p.Number == "boom" {
			panic("no boom")
		}
		return []string{p.Number}
	}
	u, err := db.NewIndex(parts, "unique", picky, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parts.Create(Part{Number: "boom"}); err == nil || !strings.Contains(err.Error(), "no boom") {
		t.Fatalf("create with a panicking extraction: %v", err)
	}
	if parts.Len() != 0 {
		t.Fatalf("Len = %d, want 0", parts.Len())
	}
	plain, err := db.NewIndex(parts, "plain", func(_ db.Key[Part], p *Part) []string {
		if p.Maker == "boom" {
			panic("no boom")
		}
		return []string{p.Maker}
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := parts.Create(Part{Number: "ok", Maker: "boom"})
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Lookup("ok"); !slices.Equal(got, []db.Key[Part]{k}) {
		t.Fatalf("unique Lookup(ok) = %v", got)
	}
	if plain.Len() != 0 {
		t.Fatalf("plain index holds %d entries for a record its extraction refused", plain.Len())
	}
}

func ExampleNewIndex() {
	dir, err := os.MkdirTemp("", "hills-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, &db.Options{Name: "stores"})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		panic(err)
	}
	for _, p := range []Part{
		{Number: "R-100", Maker: "Acme", Tags: []string{"resistor", "smd"}},
		{Number: "C-220", Maker: "Bolt", Tags: []string{"capacitor", "smd"}},
		{Number: "R-470", Maker: "Bolt", Tags: []string{"resistor"}},
	} {
		if _, err := parts.Create(p); err != nil {
			panic(err)
		}
	}

	// Indexes are built from the records present and follow every change.
	byNumber, err := db.NewIndex(parts, "by-number", func(_ db.Key[Part], p *Part) []string {
		return []string{p.Number}
	}, db.Unique())
	if err != nil {
		panic(err)
	}
	byTag, err := db.NewIndex(parts, "by-tag", func(_ db.Key[Part], p *Part) []string {
		return p.Tags
	})
	if err != nil {
		panic(err)
	}

	fmt.Println("smd:", byTag.Lookup("smd"))
	for number, k := range byNumber.Range("C", "S") {
		fmt.Println("range:", number, k)
	}
	for number, k := range db.IndexPrefix(byNumber, "R-") {
		fmt.Println("prefix:", number, k)
	}
	fmt.Println("search:", db.IndexSearch(byNumber, "r-4", 0))
	_, err = parts.Create(Part{Number: "R-100"})
	fmt.Println(errors.Is(err, db.ErrDuplicate))
	// Output:
	// smd: [1.0 2.0]
	// range: C-220 2.0
	// range: R-100 1.0
	// range: R-470 3.0
	// prefix: R-100 1.0
	// prefix: R-470 3.0
	// search: [3.0]
	// true
}

// TestIndexFloatKeys: NaN is an index key like any other, ordered first,
// and never a duplicate.
func TestIndexFloatKeys(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &db.Options{Name: "floats", Durability: db.NoSync})
	parts := mustTree[Part](t, d, "parts")
	ratio := func(_ db.Key[Part], p *Part) []float64 {
		if p.Quantity == 0 {
			return []float64{math.NaN()}
		}
		return []float64{1 / float64(p.Quantity)}
	}
	ix, err := db.NewIndex(parts, "ratio", ratio, db.Unique())
	if err != nil {
		t.Fatal(err)
	}
	var keys []db.Key[Part]
	for _, q := range []int{0, 0, 2, 4, -1} {
		k, err := parts.Create(Part{Quantity: q})
		if err != nil {
			t.Fatalf("create quantity %d: %v", q, err)
		}
		keys = append(keys, k)
	}
	if _, err := parts.Create(Part{Quantity: 4}); !errors.Is(err, db.ErrDuplicate) {
		t.Fatalf("duplicate 0.25: %v", err)
	}
	if got := ix.Lookup(math.NaN()); !slices.Equal(got, keys[:2]) {
		t.Fatalf("Lookup(NaN) = %v, want %v", got, keys[:2])
	}
	var got []float64
	for k := range ix.Range(math.Inf(-1), 0.5) {
		got = append(got, k)
	}
	if !slices.Equal(got, []float64{-1, 0.25}) {
		t.Fatalf("Range(-Inf, 0.5) = %v", got)
	}
	if err := parts.Delete(keys[0]); err != nil {
		t.Fatal(err)
	}
	if got := ix.Lookup(math.NaN()); !slices.Equal(got, keys[1:2]) {
		t.Fatalf("after delete Lookup(NaN) = %v, want %v", got, keys[1:2])
	}
}
