package sqlmap_test

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/sqlmap"
	"github.com/hillsdb/hills/netsync"
)

// TestMain bounds rapid's checks so the suite stays fast; -rapid.checks
// on the command line wins.
func TestMain(m *testing.M) {
	if dir := os.Getenv("HILLS_SQLMAP_HOLD"); dir != "" {
		holdOpen(dir)
		return
	}
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		flag.Set("rapid.checks", "25")
	}
	os.Exit(m.Run())
}

// genType draws a type of any kind, nested at most depth more levels.
func genType(t *rapid.T, depth int, label string) schema.Type {
	kinds := []schema.Kind{schema.Bool, schema.Int, schema.Uint, schema.Float, schema.String, schema.Bytes,
		schema.Time, schema.Ref, schema.Enum, schema.Raw}
	if depth > 0 {
		kinds = append(kinds, schema.Struct, schema.Slice, schema.Array, schema.Map, schema.Pointer)
	}
	k := rapid.SampledFrom(kinds).Draw(t, label+".kind")
	bits := func(of ...uint8) uint8 { return rapid.SampledFrom(of).Draw(t, label+".bits") }
	switch k {
	case schema.Int, schema.Uint:
		return schema.Type{Kind: k, Bits: bits(8, 16, 32, 64)}
	case schema.Float:
		return schema.Type{Kind: k, Bits: bits(32, 64)}
	case schema.Enum:
		return schema.Type{Kind: k, Bits: bits(8, 16, 32, 64), Signed: rapid.Bool().Draw(t, label+".signed"), Name: "E"}
	case schema.Bytes:
		return schema.Type{Kind: k, Len: rapid.SampledFrom([]int{0, 0, 4}).Draw(t, label+".len")}
	case schema.Ref:
		return schema.Type{Kind: k, Ref: "other", Name: "Other"}
	case schema.Raw:
		return schema.Type{Kind: k, Name: "R"}
	case schema.Struct:
		return genStruct(t, depth-1, label)
	case schema.Slice, schema.Pointer:
		e := genType(t, depth-1, label+".elem")
		if k == schema.Pointer && e.Kind == schema.Pointer {
			return e
		}
		return schema.Type{Kind: k, Elem: &e}
	case schema.Array:
		e := genType(t, depth-1, label+".elem")
		return schema.Type{Kind: k, Len: rapid.IntRange(1, 3).Draw(t, label+".len"), Elem: &e}
	case schema.Map:
		keys := []schema.Type{{Kind: schema.String}, {Kind: schema.Int, Bits: 64}, {Kind: schema.Uint, Bits: 16}}
		if strings.HasPrefix(label, "newer") {
			// A field the stored schema does not know renders without a
			// schema, which reads maps with string keys only.
			keys = keys[:1]
		}
		key := rapid.SampledFrom(keys).Draw(t, label+".key")
		e := genType(t, depth-1, label+".elem")
		return schema.Type{Kind: k, Key: &key, Elem: &e}
	}
	return schema.Type{Kind: k}
}

func genStruct(t *rapid.T, depth int, label string) schema.Type {
	n := rapid.IntRange(0, 5).Draw(t, label+".fields")
	st := schema.Type{Kind: schema.Struct, Name: "S"}
	for i := range n {
		name := fmt.Sprintf("f%d", i)
		st.Fields = append(st.Fields, schema.Field{Name: name, Type: genType(t, depth, label+"."+name)})
	}
	return st
}

// newer returns the type of a newer minor version of st: more fields at
// the top and in the structs directly below, which the older schema does
// not know.
func newer(t *rapid.T, st schema.Type, label string) schema.Type {
	out := st
	out.Fields = append([]schema.Field(nil), st.Fields...)
	for i := range out.Fields {
		f := &out.Fields[i]
		switch {
		case f.Type.Kind == schema.Struct:
			f.Type = newer(t, f.Type, label+"."+f.Name)
		case f.Type.Kind == schema.Pointer && f.Type.Elem.Kind == schema.Struct:
			e := newer(t, *f.Type.Elem, label+"."+f.Name)
			f.Type = schema.Type{Kind: schema.Pointer, Elem: &e}
		}
	}
	for i := range rapid.IntRange(0, 2).Draw(t, label+".added") {
		name := fmt.Sprintf("x%d", i)
		out.Fields = append(out.Fields, schema.Field{Name: name, Type: genType(t, 1, label+"."+name)})
	}
	return out
}

// genValue encodes a random value of type ty.
func genValue(t *rapid.T, enc *msgpack.Encoder, ty *schema.Type, depth int) {
	switch ty.Kind {
	case schema.Bool:
		enc.EncodeBool(rapid.Bool().Draw(t, "bool"))
	case schema.Int, schema.Enum:
		if ty.Kind == schema.Enum && !ty.Signed {
			enc.EncodeUint(rapid.Uint64Max(math.MaxUint64>>(64-ty.Bits)).Draw(t, "uint"))
			return
		}
		lim := int64(math.MaxInt64 >> (64 - ty.Bits))
		enc.EncodeInt(rapid.Int64Range(-lim-1, lim).Draw(t, "int"))
	case schema.Uint:
		enc.EncodeUint(rapid.Uint64Max(math.MaxUint64>>(64-ty.Bits)).Draw(t, "uint"))
	case schema.Float:
		f := rapid.OneOf(rapid.Float64(), rapid.SampledFrom([]float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, 1e300})).Draw(t, "float")
		if ty.Bits == 32 {
			enc.EncodeFloat32(float32(f))
		} else {
			enc.EncodeFloat64(f)
		}
	case schema.String:
		enc.EncodeString(rapid.String().Draw(t, "string"))
	case schema.Bytes:
		n := ty.Len
		if n == 0 {
			n = rapid.IntRange(0, 6).Draw(t, "bytes.len")
		}
		enc.EncodeBytes(rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "bytes"))
	case schema.Time:
		enc.EncodeTime(time.Unix(rapid.Int64Range(-1e10, 1e10).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "ns")).UTC())
	case schema.Ref:
		enc.EncodeMapLen(2)
		enc.EncodeString("ID")
		enc.EncodeUint32(rapid.Uint32().Draw(t, "ref.id"))
		enc.EncodeString("Rev")
		enc.EncodeUint32(rapid.Uint32().Draw(t, "ref.rev"))
	case schema.Raw:
		enc.Encode(rapid.SampledFrom([]any{int64(3), "raw", []any{true, nil}, map[string]any{"k": 1.5}}).Draw(t, "raw"))
	case schema.Struct:
		var present []int
		for i := range ty.Fields {
			if rapid.IntRange(0, 5).Draw(t, "present") > 0 {
				present = append(present, i)
			}
		}
		enc.EncodeMapLen(len(present))
		for _, i := range present {
			enc.EncodeString(ty.Fields[i].Name)
			genValue(t, enc, &ty.Fields[i].Type, depth+1)
		}
	case schema.Slice, schema.Array:
		n := ty.Len
		if ty.Kind == schema.Slice {
			if rapid.IntRange(0, 4).Draw(t, "nil slice") == 0 {
				enc.EncodeNil()
				return
			}
			n = rapid.IntRange(0, 3).Draw(t, "slice.len")
		}
		enc.EncodeArrayLen(n)
		for range n {
			genValue(t, enc, ty.Elem, depth+1)
		}
	case schema.Map:
		n := rapid.IntRange(0, 3).Draw(t, "map.len")
		keys := map[string]bool{}
		enc.EncodeMapLen(n)
		for i := range n {
			switch ty.Key.Kind {
			case schema.String:
				k := fmt.Sprintf("k%d", i)
				keys[k] = true
				enc.EncodeString(k)
			case schema.Int:
				enc.EncodeInt(int64(i) - 1)
			default:
				enc.EncodeUint(uint64(i))
			}
			genValue(t, enc, ty.Elem, depth+1)
		}
	case schema.Pointer:
		if rapid.Bool().Draw(t, "nil pointer") {
			enc.EncodeNil()
			return
		}
		genValue(t, enc, ty.Elem, depth+1)
	}
}

// The round trip is the identity: random trees of random schemas (every
// kind, nesting, fields of a newer minor version the stored schema does
// not know) with random records go into a server's store, export to
// SQLite, import into an empty server's store and export again: the two
// exports hold equal tables, and every record's opaque text and meta are
// those it had.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		base := t.TempDir()
		var trees []netsync.ImportTree
		for ti := range rapid.IntRange(1, 2).Draw(rt, "trees") {
			old := genStruct(rt, 2, "schema")
			sc := &schema.Schema{Tree: fmt.Sprintf("t%d", ti), Major: 1, Minor: 1, Type: old}
			enc, err := schema.Encode(sc)
			if err != nil {
				rt.Fatalf("schema: %v", err)
			}
			if err := schema.Validate(sc); err != nil {
				rt.Skipf("drew an invalid schema: %v", err)
			}
			nt := newer(rt, old, "newer")
			versioned := rapid.Bool().Draw(rt, "versioned")
			tree := netsync.ImportTree{Name: sc.Tree, Versioned: versioned, Major: 1, Minor: 1, Schema: enc}
			ids := rapid.SliceOfNDistinct(rapid.Uint32Range(1, 1000), 0, 6, func(x uint32) uint32 { return x }).Draw(rt, "ids")
			for _, id := range ids {
				var buf bytes.Buffer
				e := msgpack.NewEncoder(&buf)
				minor := uint16(1)
				ty := &old
				if rapid.Bool().Draw(rt, "newer record") {
					ty, minor = &nt, 2
				}
				genValue(rt, e, ty, 0)
				m := record.Meta{Version: record.NonVersioned, State: rapid.Uint32().Draw(rt, "state"), Major: 1, Minor: minor,
					Created:   rapid.Int64Range(0, 4e18).Draw(rt, "created"),
					Modified:  rapid.Int64Range(0, 4e18).Draw(rt, "modified"),
					CreatedBy: rapid.StringN(0, 8, 16).Draw(rt, "by"), ModifiedBy: rapid.StringN(0, 8, 16).Draw(rt, "mby"), Changes: 1}
				if versioned {
					m.Version = rapid.SampledFrom([]uint8{record.Draft, record.Released}).Draw(rt, "version")
				}
				rev := rapid.Uint32Range(0, 2).Draw(rt, "rev")
				tree.Records = append(tree.Records, netsync.ImportRecord{Key: layout.Pack(id, rev), Record: record.Encode(nil, &m, buf.Bytes())})
			}
			trees = append(trees, tree)
		}
		a := filepath.Join(base, "a")
		importInto(rt, a, trees)

		file1 := filepath.Join(base, "1.sqlite")
		exportTo(rt, a, file1)
		in, err := sqlmap.ReadSQLite(context.Background(), file1, nil, sqlmap.Defaults{})
		if err != nil {
			rt.Fatalf("reading the export: %v", err)
		}
		b := filepath.Join(base, "b")
		importInto(rt, b, toImport(rt, in))
		file2 := filepath.Join(base, "2.sqlite")
		exportTo(rt, b, file2)

		if ta, tb := tables(rt, file1), tables(rt, file2); !reflect.DeepEqual(ta, tb) {
			rt.Fatalf("the exports differ:\n%v\n%v", ta, tb)
		}
		ra, rb := storeRecords(rt, a), storeRecords(rt, b)
		if !reflect.DeepEqual(ra, rb) {
			rt.Fatalf("the records differ:\n%v\n%v", ra, rb)
		}
		for _, tr := range trees {
			if len(ra[tr.Name]) != len(tr.Records) {
				rt.Fatalf("tree %s: %d records stored, %d imported", tr.Name, len(ra[tr.Name]), len(tr.Records))
			}
		}
	})
}

func importInto(t *rapid.T, dir string, trees []netsync.ImportTree) {
	s, err := netsync.NewServer(dir, &netsync.ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if _, err := s.Import(trees); err != nil {
		t.Fatalf("Import: %v", err)
	}
}

// tables reads every table of an SQLite file: name → rows of typed values.
func tables(t *rapid.T, file string) map[string][][]any {
	s, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	names := []string{"_hills_trees"}
	rows, err := s.Query(`SELECT name FROM _hills_trees`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	out := map[string][][]any{}
	for _, n := range names {
		rows, err := s.Query(`SELECT * FROM "` + n + `" ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			out[n] = append(out[n], append([]any{fmt.Sprint(cols)}, vals...))
		}
		rows.Close()
	}
	return out
}
