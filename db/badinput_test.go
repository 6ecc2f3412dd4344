package db_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
)

func TestInvalidTreeName(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	for _, name := range []string{
		"", "Parts", "PARTS", "_parts", ".parts", "-parts", "my parts", " parts",
		"parts ", "parts\x00x", "parts/x", "pärts", strings.Repeat("p", 129),
	} {
		if _, err := db.OpenTree[Part](d, name); !errors.Is(err, db.ErrInvalidName) {
			t.Errorf("OpenTree(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	if len(d.Trees()) != 0 {
		t.Errorf("invalid names created trees: %q", d.Trees())
	}
	for _, name := range []string{"p", "parts", "parts_2", "a.b-c", "0", strings.Repeat("p", 128)} {
		if _, err := db.OpenTree[Part](d, name); err != nil {
			t.Errorf("OpenTree(%q) = %v, want success", name, err)
		}
	}
}

func TestTreeWithTwoTypes(t *testing.T) {
	type Other struct {
		Number string `msgpack:"number"`
	}
	d := mustOpen(t, t.TempDir(), nil)
	parts := mustTree[Part](t, d, "parts")
	if _, err := db.OpenTree[Other](d, "parts"); !errors.Is(err, db.ErrTypeMismatch) {
		t.Fatalf("OpenTree with a second type: %v, want ErrTypeMismatch", err)
	}
	// Neither a pointer type nor a named copy of the type is the same type.
	type PartCopy Part
	if _, err := db.OpenTree[PartCopy](d, "parts"); !errors.Is(err, db.ErrTypeMismatch) {
		t.Fatalf("OpenTree with a named copy of the type: %v, want ErrTypeMismatch", err)
	}
	if _, err := db.OpenTree[*Part](d, "parts"); !errors.Is(err, db.ErrTypeMismatch) {
		t.Fatalf("OpenTree with *Part: %v, want ErrTypeMismatch", err)
	}
	// The same type gets the same handle, which still works.
	again := mustTree[Part](t, d, "parts")
	if again != parts {
		t.Fatal("opening a tree twice with its type gave another handle")
	}
	if _, err := again.Create(Part{Number: "X"}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenTwiceInProcess(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, nil)
	if d2, err := db.Open(dir, nil); !errors.Is(err, db.ErrInUse) {
		if d2 != nil {
			d2.Close()
		}
		t.Fatalf("second Open of %s: %v, want ErrInUse", dir, err)
	}
	// A relative spelling of the same directory is the same directory.
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(wd, dir); err == nil {
		if _, err := db.Open(rel, nil); !errors.Is(err, db.ErrInUse) {
			t.Fatalf("Open of %s by a relative path: %v, want ErrInUse", rel, err)
		}
	}
	// The first handle is unaffected; after Close the directory is free.
	parts := mustTree[Part](t, d, "parts")
	if _, err := parts.Create(Part{Number: "X"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := mustOpen(t, dir, nil)
	if n := mustTree[Part](t, d2, "parts").Len(); n != 1 {
		t.Fatalf("Len after reopen = %d, want 1", n)
	}
}

// holdDirEnv names the directory a child test process opens and holds.
const holdDirEnv = "HILLS_TEST_HOLD_DIR"

// TestOpenHeldByOtherProcess starts this test binary again as a child that
// opens the database and holds it until its stdin closes.
func TestOpenHeldByOtherProcess(t *testing.T) {
	if dir := os.Getenv(holdDirEnv); dir != "" {
		holdOpen(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenHeldByOtherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			stdin.Close()
			cmd.Wait()
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "held") || strings.HasPrefix(l, "error") {
				lines <- l
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-lines:
		if l != "held" {
			t.Fatalf("child: %s", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("child did not open the database within 60 s")
	}
	d, err := db.Open(dir, nil)
	if !errors.Is(err, db.ErrInUse) {
		if d != nil {
			d.Close()
		}
		t.Fatalf("Open of a directory another process holds: %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), "another process") {
		t.Errorf("error %q does not say another process holds it", err)
	}
	// Once the child lets go, the directory opens and holds its record.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	exited = true
	d = mustOpen(t, dir, nil)
	if n := mustTree[Part](t, d, "parts").Len(); n != 1 {
		t.Fatalf("Len after the child closed = %d, want 1", n)
	}
}

// holdOpen runs in the child process: open dir, write one record, say
// "held", wait for stdin to close, then close the database.
func holdOpen(dir string) {
	d, err := db.Open(dir, nil)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	parts, err := db.OpenTree[Part](d, "parts")
	if err == nil {
		_, err = parts.Create(Part{Number: "held"})
	}
	if err != nil {
		fmt.Println("error:", err)
		d.Close()
		return
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	d.Close()
}

// corrupt overwrites the stored bytes of record (id, 0) of tree with b,
// with the database closed.
func corrupt(t *testing.T, dir, tree string, id uint32, b []byte) {
	t.Helper()
	pdb, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pdb.Set(layout.RecordKey(tree, layout.Pack(id, 0)), b, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := pdb.Close(); err != nil {
		t.Fatal(err)
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func TestCorruptRecord(t *testing.T) {
	validHeader := func(data []byte) []byte {
		return record.Encode(nil, &record.Meta{Changes: 1, CreatedBy: "x", ModifiedBy: "x"}, data)
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		{"empty", []byte{}},
		{"garbage", []byte("this is not a record at all, just some text")},
		{"short header", []byte{record.Format, 0, 1, 2}},
		{"unknown format", append([]byte{99}, validHeader([]byte{0x80})[1:]...)},
		{"huge name length", append(validHeader(nil)[:30], 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"no data", validHeader(nil)},
		{"bad msgpack", validHeader([]byte{0xc1, 0xc1})},
		{"truncated msgpack", validHeader([]byte{0x82, 0xa6, 'n', 'u'})},
		{"wrong field type", validHeader([]byte{0x81, 0xa8, 'q', 'u', 'a', 'n', 't', 'i', 't', 'y', 0xa3, 'a', 'b', 'c'})},
		{"not a map", validHeader([]byte{0xa3, 'a', 'b', 'c'})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d, err := db.Open(dir, &db.Options{Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			parts := mustTree[Part](t, d, "parts")
			var keys []db.Key[Part]
			for i := range 5 {
				k, err := parts.Create(Part{Number: fmt.Sprint("P", i), Quantity: i})
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
			}
			d.Close()
			bad := keys[2]
			corrupt(t, dir, "parts", bad.ID, tc.bytes)

			d, err = db.Open(dir, &db.Options{Logger: discardLogger()})
			if err != nil {
				t.Fatalf("Open with a corrupt record: %v", err)
			}
			t.Cleanup(func() { d.Close() })
			parts, err = db.OpenTree[Part](d, "parts")
			if err != nil {
				t.Fatalf("OpenTree with a corrupt record: %v", err)
			}
			checkErr := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, db.ErrCorrupt) {
					t.Fatalf("%s of the corrupt record: %v, want ErrCorrupt", what, err)
				}
				if !strings.Contains(err.Error(), "parts/"+bad.String()) {
					t.Fatalf("%s error %q does not name parts/%s", what, err, bad)
				}
			}
			checkErr("View", parts.View(bad, func(*Part, db.Meta) { t.Fatal("View called fn for a corrupt record") }))
			_, _, err = parts.Get(bad)
			checkErr("Get", err)
			checkErr("Update", parts.Update(bad, func(*Part) error { t.Fatal("Update called fn for a corrupt record"); return nil }))

			if parts.Len() != 4 {
				t.Fatalf("Len = %d, want 4", parts.Len())
			}
			for i, k := range keys {
				if k == bad {
					continue
				}
				p, _, err := parts.Get(k)
				if err != nil || p.Quantity != i {
					t.Fatalf("Get(%v) = %+v, %v", k, p, err)
				}
			}
			var seen []db.Key[Part]
			for k := range parts.All() {
				seen = append(seen, k)
			}
			if fmt.Sprint(seen) != fmt.Sprint([]db.Key[Part]{keys[0], keys[1], keys[3], keys[4]}) {
				t.Fatalf("All yields %v", seen)
			}
			c := parts.Corrupt()
			if len(c) != 1 || c[bad] == nil {
				t.Fatalf("Corrupt() = %v, want only %v", c, bad)
			}

			if err := parts.Delete(bad); err != nil {
				t.Fatalf("Delete of the corrupt record: %v", err)
			}
			if err := parts.View(bad, func(*Part, db.Meta) {}); !errors.Is(err, db.ErrNotFound) {
				t.Fatalf("View after delete: %v, want ErrNotFound", err)
			}
			if len(parts.Corrupt()) != 0 {
				t.Fatalf("Corrupt() after delete = %v", parts.Corrupt())
			}
			// Ids stay unique: the next record does not take the corrupt one's id.
			k, err := parts.Create(Part{Number: "new"})
			if err != nil || k.ID != 6 {
				t.Fatalf("Create after delete: %v, %v, want id 6", k, err)
			}
			d.Close()
			d = mustOpen(t, dir, nil)
			parts = mustTree[Part](t, d, "parts")
			if parts.Len() != 5 || len(parts.Corrupt()) != 0 {
				t.Fatalf("after reopen: Len %d, Corrupt %v", parts.Len(), parts.Corrupt())
			}
		})
	}
}

func TestParseKeyGarbage(t *testing.T) {
	for _, s := range []string{
		"", "1", "1.", ".1", ".", "a.b", "1.a", "-1.0", "+1.0", "1.-0", "1.0.0", " 1.0",
		"1.0 ", "1 .0", "0x1.0", "1e3.0", "4294967296.0", "1.4294967296",
		"99999999999.0", "1.00000000000", "١.٠", "1\x00.0",
	} {
		k, err := db.ParseKey[Part](s)
		if !errors.Is(err, db.ErrInvalidKey) {
			t.Errorf("ParseKey(%q) = %v, %v, want ErrInvalidKey", s, k, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Errorf("ParseKey(%q) error %q does not quote the input", s, err)
		}
		if k != (db.Key[Part]{}) {
			t.Errorf("ParseKey(%q) returned key %v with its error", s, k)
		}
	}
	for _, k := range []db.Key[Part]{
		{}, {ID: 1}, {ID: 42, Rev: 7}, {ID: 4294967295, Rev: 4294967295}, {ID: 0, Rev: 4294967295},
	} {
		got, err := db.ParseKey[Part](k.String())
		if err != nil || got != k {
			t.Errorf("ParseKey(%q) = %v, %v, want %v", k.String(), got, err, k)
		}
	}
	// Leading zeros parse to the same key; the text form has none.
	if k, err := db.ParseKey[Part]("007.01"); err != nil || k != (db.Key[Part]{ID: 7, Rev: 1}) || k.String() != "7.1" {
		t.Errorf("ParseKey(\"007.01\") = %v, %v", k, err)
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"1.0", "42.7", "4294967295.4294967295", "4294967296.0", "a.b", "", "1.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := db.ParseKey[Part](s)
		if err != nil {
			if !errors.Is(err, db.ErrInvalidKey) {
				t.Fatalf("ParseKey(%q): %v is not ErrInvalidKey", s, err)
			}
			return
		}
		again, err := db.ParseKey[Part](k.String())
		if err != nil || again != k {
			t.Fatalf("ParseKey(%q) = %v, whose text %q parses to %v, %v", s, k, k.String(), again, err)
		}
	})
}

// discardLogger swallows the errors tests provoke on purpose.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestTreeOptionsMismatch opens a stored tree with options that contradict
// it, then correctly: the failed opening leaves the tree usable.
func TestTreeOptionsMismatch(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, nil)
	docs := mustTree[Part](t, d, "docs", db.Versioned())
	k, err := docs.Create(Part{Number: "D1", Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	d = mustOpen(t, dir, nil)
	if _, err := db.OpenTree[Part](d, "docs"); !errors.Is(err, db.ErrTreeOptions) {
		t.Fatalf("OpenTree of a versioned tree without Versioned: %v, want ErrTreeOptions", err)
	}
	docs = mustTree[Part](t, d, "docs", db.Versioned())
	p, m, err := docs.Get(k)
	if err != nil || p.Number != "D1" || p.Quantity != 3 || m.Version != db.Draft {
		t.Fatalf("Get after a failed opening: %+v %+v %v", p, m, err)
	}
	if err := docs.View(k, func(v *Part, _ db.Meta) {
		if v.Number != "D1" {
			t.Errorf("View: %+v", v)
		}
	}); err != nil {
		t.Fatal(err)
	}
}
