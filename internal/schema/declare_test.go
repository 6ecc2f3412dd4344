package schema_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hillsdb/hills/internal/schema"
)

func sch(major, minor uint16, fields ...schema.Field) *schema.Schema {
	return &schema.Schema{Tree: "parts", Major: major, Minor: minor, Type: schema.Type{Kind: schema.Struct, Fields: fields}}
}

func fld(name string, k schema.Kind) schema.Field {
	t := schema.Type{Kind: k}
	switch k {
	case schema.Int, schema.Uint, schema.Float:
		t.Bits = 64
	}
	return schema.Field{Name: name, Type: t}
}

func enc(t *testing.T, s *schema.Schema) []byte {
	t.Helper()
	b, err := schema.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(s *schema.Schema) string {
	var out []string
	for _, f := range s.Type.Fields {
		out = append(out, f.Name+":"+f.Type.String())
	}
	return strings.Join(out, " ")
}

func TestCheckDeclaration(t *testing.T) {
	qty, num, note := fld("qty", schema.Int), fld("number", schema.String), fld("note", schema.String)
	qtyText := fld("qty", schema.String)
	v12 := sch(1, 2, num, qty)
	bad := sch(1, 3, num, schema.Field{Name: "qty", Type: schema.Type{Kind: schema.Int, Bits: 7}})
	for _, tc := range []struct {
		name         string
		stored       *schema.Schema
		declared     *schema.Schema // encoded; nil: raw
		raw          []byte
		major, minor uint16 // of the header; 0.0: the schema's, unless asIs
		asIs         bool
		want         string // fields of the merged schema; "" with changed false: stored kept
		wantVer      string
		changed      bool
		err          string // in the error, "" for none
		is           error  // also wrapped by the error
	}{
		{name: "junk", stored: v12, raw: []byte("junk"), major: 1, minor: 3, err: "tree parts: schema: invalid", is: schema.ErrInvalid},
		{name: "truncated", stored: v12, raw: enc(t, sch(1, 3, num))[:10], major: 1, minor: 3, err: "tree parts: schema: invalid"},
		{name: "invalid type", stored: v12, declared: bad, err: "int of 7 bits"},
		{name: "major 0 in the header", stored: v12, declared: sch(1, 3, num), asIs: true, err: "major version 0"},
		{name: "major 0 in the schema", declared: sch(0, 1, num), major: 1, minor: 0, err: "major version 0"},
		{name: "other tree", declared: &schema.Schema{Tree: "tools", Major: 1, Type: schema.Type{Kind: schema.Struct}}, err: `of tree "tools"`},
		{name: "header newer than schema", stored: v12, declared: sch(1, 2, num), major: 1, minor: 4, err: "declared as 1.4 with a schema of the older 1.2"},
		{name: "older major", stored: sch(2, 0, num), declared: sch(1, 5, num), err: "1.5 is of an older major version than the stored 2.0"},
		{name: "kind changed at a newer minor", stored: v12, declared: sch(1, 3, num, qtyText),
			err: "tree parts: stored 1.2, then declared 1.3: incompatible: field qty: int64, then string", is: schema.ErrIncompatible},
		{name: "kind changed at an older minor", stored: v12, declared: sch(1, 1, qtyText),
			err: "stored 1.2, then declared 1.1: incompatible: field qty: int64, then string"},
		{name: "field added at a newer minor", stored: v12, declared: sch(1, 3, num, qty, note),
			want: "number:string qty:int64 note:string", wantVer: "1.3", changed: true},
		{name: "field dropped at a newer minor", stored: v12, declared: sch(1, 3, note, num),
			want: "note:string number:string qty:int64", wantVer: "1.3", changed: true},
		{name: "older minor with a field of its own", stored: v12, declared: sch(1, 1, num, note),
			want: "number:string qty:int64 note:string", wantVer: "1.2", changed: true},
		{name: "older minor", stored: v12, declared: sch(1, 1, num), wantVer: "1.2"},
		{name: "same version", stored: v12, declared: sch(1, 2, num, qty), wantVer: "1.2"},
		{name: "same version, other order", stored: v12, declared: sch(1, 2, qty, num), wantVer: "1.2"},
		{name: "header lags the schema", stored: v12, declared: sch(1, 3, num, qty), major: 1, minor: 0,
			want: "number:string qty:int64", wantVer: "1.3", changed: true},
		{name: "newer major replaces", stored: v12, declared: sch(2, 0, qtyText),
			want: "qty:string", wantVer: "2.0", changed: true},
		{name: "first declaration", declared: sch(1, 0, num), want: "number:string", wantVer: "1.0", changed: true},
		{name: "empty, nothing stored", raw: []byte{}, major: 1, minor: 0},
		{name: "empty, stored", stored: v12, raw: []byte{}, major: 1, minor: 2, wantVer: "1.2"},
		{name: "empty, older", stored: v12, raw: []byte{}, major: 1, minor: 0, wantVer: "1.2"},
		{name: "empty, newer", stored: v12, raw: []byte{}, major: 1, minor: 3, err: "version 1.3 declared without a schema; the stored schema is 1.2"},
		{name: "empty, major 0", raw: []byte{}, major: 0, minor: 0, err: "major version 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decl, major, minor := tc.raw, tc.major, tc.minor
			if tc.declared != nil {
				decl = enc(t, tc.declared)
				if major == 0 && minor == 0 && !tc.asIs {
					major, minor = tc.declared.Major, tc.declared.Minor
				}
			}
			var before []byte
			if tc.stored != nil {
				before = enc(t, tc.stored)
			}
			merged, changed, err := schema.CheckDeclaration("parts", tc.stored, decl, major, minor)
			if tc.stored != nil && string(enc(t, tc.stored)) != string(before) {
				t.Fatal("the stored schema was modified")
			}
			if tc.err != "" {
				if !errors.Is(err, schema.ErrIncompatibleDeclaration) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v\nwant one with %q", err, tc.err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("error %v does not wrap %v", err, tc.is)
				}
				if merged != nil || changed {
					t.Fatalf("refused, but merged %v, changed %v", merged, changed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Fatalf("changed %v, want %v", changed, tc.changed)
			}
			if !changed && merged != tc.stored {
				t.Fatalf("unchanged, but not the stored schema: %+v", merged)
			}
			if merged == nil {
				if tc.wantVer != "" {
					t.Fatalf("no schema, want %s", tc.wantVer)
				}
				return
			}
			want := tc.want
			if !changed {
				want = names(tc.stored)
			}
			if got := names(merged); got != want {
				t.Fatalf("fields %q, want %q", got, want)
			}
			if got := merged.Tree + " " + ver(merged); got != "parts "+tc.wantVer {
				t.Fatalf("schema %q, want parts %s", got, tc.wantVer)
			}
			if err := schema.Validate(merged); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func ver(s *schema.Schema) string { return fmt.Sprintf("%d.%d", s.Major, s.Minor) }

// TestCheckDeclarationLikeOpenTree declares the schemas a real database
// stores as a tree evolves, in the order clients would: each is accepted
// and the merged schema holds every field seen.
func TestCheckDeclarationLikeOpenTree(t *testing.T) {
	type v1 struct {
		Number string `msgpack:"number"`
		Qty    int32  `msgpack:"qty"`
	}
	type v2 struct {
		Number string `msgpack:"number"`
		Note   string `msgpack:"note"`
	}
	s1, _ := written[v1](t)
	s2 := dbSchema[v2](t, 1, 3)
	merged, changed, err := schema.CheckDeclaration("every", nil, enc(t, s1), s1.Major, s1.Minor)
	if err != nil || !changed {
		t.Fatalf("first: %v %v", changed, err)
	}
	merged, changed, err = schema.CheckDeclaration("every", merged, enc(t, s2), 1, 2)
	if err != nil || !changed {
		t.Fatalf("newer minor: %v %v", changed, err)
	}
	if got := names(merged) + " " + ver(merged); got != "number:string note:string qty:int32 1.3" {
		t.Fatalf("merged %s", got)
	}
	again, changed, err := schema.CheckDeclaration("every", merged, enc(t, s1), s1.Major, s1.Minor)
	if err != nil || changed || again != merged {
		t.Fatalf("older minor again: %v %v", changed, err)
	}
}

// dbSchema is the schema a real database stores for a tree of T at
// version major.minor.
func dbSchema[T any](t *testing.T, major, minor uint16) *schema.Schema {
	t.Helper()
	s, _ := writtenAt[T](t, major, minor)
	return s
}
