// Package storetest damages the files of a closed store the ways a disk or
// an interrupted copy does, for the tests of db and netsync that check a
// damaged store is reported as an error, never a panic (CheckDamages runs
// that check). It is used by tests only.
package storetest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Damage changes the files of the closed store in dir and returns the
// path of the file it damaged.
type Damage struct {
	Name string
	Do   func(t testing.TB, dir string) string
}

// Damages are the ways tests damage a store: bytes flipped in the middle
// of a table's data blocks, a table cut in half, a MANIFEST cut inside
// its first record, garbage in the OPTIONS file.
var Damages = []Damage{
	{"sst-flipped", func(t testing.TB, dir string) string {
		return change(t, dir, ".sst", func(b []byte) []byte {
			for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
				b[i] ^= 0xff
			}
			return b
		})
	}},
	{"sst-truncated", func(t testing.TB, dir string) string {
		return change(t, dir, ".sst", func(b []byte) []byte { return b[:len(b)/2] })
	}},
	{"manifest-truncated", func(t testing.TB, dir string) string {
		return change(t, dir, "MANIFEST-", func(b []byte) []byte { return b[:min(len(b), 12)] })
	}},
	{"options-garbage", func(t testing.TB, dir string) string {
		return change(t, dir, "OPTIONS-", func([]byte) []byte { return []byte("garbage[[[\x00\xff") })
	}},
}

// CheckDamages runs a subtest for each of Damages: build makes a store in
// a new directory and closes it, the damage is applied, and open must then
// fail with an error that wraps want and names the damaged file. A panic
// in open fails the test.
func CheckDamages(t *testing.T, build func(t *testing.T) (dir string), open func(dir string) error, want error) {
	for _, damage := range Damages {
		t.Run(damage.Name, func(t *testing.T) {
			dir := build(t)
			file := damage.Do(t, dir)
			err := func() error {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				return open(dir)
			}()
			if err == nil {
				t.Fatalf("opening a store with %s: no error", damage.Name)
			}
			t.Logf("%v", err)
			if !errors.Is(err, want) {
				t.Fatalf("opening a store with %s: %v, want %v", damage.Name, err, want)
			}
			if !strings.Contains(err.Error(), filepath.Base(file)) {
				t.Fatalf("error %q does not name %s", err, filepath.Base(file))
			}
		})
	}
}

// change rewrites the largest file of dir whose name has the prefix
// "MANIFEST-"/"OPTIONS-" or the suffix ".sst" given by kind.
func change(t testing.TB, dir, kind string, fn func([]byte) []byte) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var path string
	var size int64 = -1
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, kind) && !strings.HasPrefix(n, kind) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > size {
			path, size = filepath.Join(dir, n), fi.Size()
		}
	}
	if path == "" {
		t.Fatalf("no %s file in %s", kind, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
