package db

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
)

type itemOld struct {
	Number string `msgpack:"number"`
}

type itemNew struct {
	Number string `msgpack:"number"`
	Color  string `msgpack:"color"`
	Count  int64  `msgpack:"count"`
}

func openT(t *testing.T, dir string) *DB {
	t.Helper()
	d, err := Open(dir, &Options{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// putRaw stores a record with the given data directly, as another writer
// (a newer version, or a crash midway through a migration) left it.
func putRaw(t *testing.T, d *DB, tree string, id uint32, major, minor uint16, data []byte) {
	t.Helper()
	m := record.Meta{Major: major, Minor: minor, Created: 1, Modified: 1, Changes: 1}
	if err := d.pdb.Set(layout.RecordKey(tree, layout.Pack(id, 0)), record.Encode(nil, &m, data), nil); err != nil {
		t.Fatal(err)
	}
}

func storedData(t *testing.T, d *DB, tree string, id uint32) (record.Meta, []byte) {
	t.Helper()
	b, err := d.get(layout.RecordKey(tree, layout.Pack(id, 0)))
	if err != nil || b == nil {
		t.Fatalf("stored %s/%d: %v", tree, id, err)
	}
	m, data, err := record.Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, data
}

// A newer version's fields survive an older version's update byte for
// byte, even in an encoding hills itself would not write.
func TestUnknownFieldsKeptByteForByte(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir)
	if _, err := OpenTree[itemNew](d, "items", SchemaVersion(1, 1)); err != nil {
		t.Fatal(err)
	}
	// "color" as str8 and "count" as a full int64: not the shortest forms.
	color := []byte{0xa5, 'c', 'o', 'l', 'o', 'r', 0xd9, 3, 'r', 'e', 'd'}
	count := []byte{0xa5, 'c', 'o', 'u', 'n', 't', 0xd3, 0, 0, 0, 0, 0, 0, 0, 9}
	data := append([]byte{0x83, 0xa6, 'n', 'u', 'm', 'b', 'e', 'r', 0xa2, 'A', '1'}, color...)
	data = append(data, count...)
	putRaw(t, d, "items", 1, 1, 1, data)
	d.Close()

	d = openT(t, dir)
	old, err := OpenTree[itemOld](d, "items")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Update(Key[itemOld]{ID: 1}, func(v *itemOld) error { v.Number = "A2"; return nil }); err != nil {
		t.Fatal(err)
	}
	m, got := storedData(t, d, "items", 1)
	if !bytes.Contains(got, color) || !bytes.Contains(got, count) {
		t.Fatalf("unknown fields not kept byte for byte: %x", got)
	}
	if m.Major != 1 || m.Minor != 1 {
		t.Fatalf("evolution %d.%d, want 1.1", m.Major, m.Minor)
	}
	d.Close()

	d = openT(t, dir)
	nw, err := OpenTree[itemNew](d, "items", SchemaVersion(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := nw.Get(Key[itemNew]{ID: 1})
	if err != nil || v != (itemNew{Number: "A2", Color: "red", Count: 9}) {
		t.Fatalf("newer code after the older update: %+v %v", v, err)
	}
}

type itemV2 struct {
	Name string `msgpack:"name"`
}

// A crash midway through a migration leaves records of the old major
// version; they stay readable through the migration and are rewritten at
// the next open.
func TestMigrationResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir)
	old, err := OpenTree[itemOld](d, "items")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := old.Create(itemOld{Number: n}); err != nil {
			t.Fatal(err)
		}
	}
	_, oldData := storedData(t, d, "items", 2)
	d.Close()

	migrate := Migrate(1, func(m map[string]any) (itemV2, error) {
		return itemV2{Name: "part " + m["number"].(string)}, nil
	})
	d = openT(t, dir)
	if _, err := OpenTree[itemV2](d, "items", SchemaVersion(2, 0), migrate); err != nil {
		t.Fatal(err)
	}
	// As if the process had stopped before record 2's batch.
	putRaw(t, d, "items", 2, 1, 0, oldData)
	d.Close()

	// Without the migration, the old record is reported, not misread.
	d = openT(t, dir)
	tr, err := OpenTree[itemV2](d, "items", SchemaVersion(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Corrupt()[Key[itemV2]{ID: 2}]; err == nil || !strings.Contains(err.Error(), "no migration") {
		t.Fatalf("old record without its migration: %v", tr.Corrupt())
	}
	d.Close()

	d = openT(t, dir)
	tr, err = OpenTree[itemV2](d, "items", SchemaVersion(2, 0), migrate)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uint32]string{1: "part a", 2: "part b", 3: "part c"} {
		v, m, err := tr.Get(Key[itemV2]{ID: id})
		if err != nil || v.Name != want || m.Evolution.Major != 2 {
			t.Fatalf("record %d: %+v %+v %v", id, v, m, err)
		}
		if sm, _ := storedData(t, d, "items", id); sm.Major != 2 {
			t.Fatalf("record %d stored at major %d after the migration resumed", id, sm.Major)
		}
	}
}

// Fields the stored schema lacks (a replica can receive records of a
// newer version before its schema) are shown after the known ones and
// survive opaque updates.
func TestOpaqueKeepsFieldsTheSchemaLacks(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir)
	if _, err := OpenTree[itemOld](d, "items"); err != nil {
		t.Fatal(err)
	}
	data, _ := msgpack.Marshal(itemNew{Number: "A1", Color: "red", Count: 3})
	putRaw(t, d, "items", 1, 1, 1, data)
	d.Close()

	d = openT(t, dir)
	op, err := d.Opaque("items")
	if err != nil {
		t.Fatal(err)
	}
	k := OpaqueKey{Tree: "items", ID: 1}
	text, err := op.Text(k)
	want := "{\n  \"number\": \"A1\",\n  \"color\": \"red\",\n  \"count\": 3\n}"
	if err != nil || text != want {
		t.Fatalf("text %v:\n%s", err, text)
	}
	if err := op.Update(k, text); err != nil {
		t.Fatal(err)
	}
	if t2, _ := op.Text(k); t2 != text {
		t.Fatalf("Text → Update → Text:\n%s\n%s", text, t2)
	}
	if err := op.Update(k, `{"number": "A1", "color": "blue"}`); !errors.Is(err, ErrInvalidText) || !strings.Contains(err.Error(), "color") {
		t.Fatalf("changing a field the schema lacks: %v", err)
	}
	if err := op.Update(k, `{"number": "A9"}`); err != nil {
		t.Fatal(err)
	}
	text, _ = op.Text(k)
	if want := "{\n  \"number\": \"A9\",\n  \"color\": \"red\",\n  \"count\": 3\n}"; text != want {
		t.Fatalf("after an update leaving them out:\n%s", text)
	}
	if m, _ := op.Meta(k); m.Evolution != (Evolution{1, 1}) {
		t.Fatalf("evolution %v, want the newer 1.1 kept", m.Evolution)
	}
}

func TestStoredSchemaCorrupt(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir)
	if _, err := OpenTree[itemOld](d, "items"); err != nil {
		t.Fatal(err)
	}
	d.pdb.Set(layout.SchemaKey("items"), []byte{0x81, 0xa4, 't', 'y', 'p', 'e', 0x81, 0xa4, 'k', 'i', 'n', 'd', 0x63}, nil)
	d.Close()
	d = openT(t, dir)
	if _, err := OpenTree[itemOld](d, "items"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenTree with a corrupt schema: %v", err)
	}
	if _, err := d.Opaque("items"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Opaque with a corrupt schema: %v", err)
	}
}
