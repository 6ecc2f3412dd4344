// Package layouttest holds, for tests, twins of layout's msgpack types
// without their hand-written codecs: msgpack encodes and decodes a twin by
// reflection, as it did the real type before its codec, so tests compare
// the codec with it byte for byte. A twin converts to and from the real
// type (layout.Change(c)): the fields are the same. It imports nothing of
// hills, so layout's own tests can use it.
package layouttest

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Change is layout.Change's twin: the same fields and tags, no methods.
type Change struct {
	Seq    uint64 `msgpack:"seq"`
	Tree   string `msgpack:"tree"`
	Key    uint64 `msgpack:"key"`
	Kind   uint8  `msgpack:"kind"`
	Record []byte `msgpack:"record"`
	Sum    []byte `msgpack:"sum,omitempty"`
}

// HugeLength reports whether data may announce a string, bytes, ext,
// array or map of more than 1 Mi: reflection, and msgpack's Skip, allocate
// what a header announces, which a fuzzer's memory cannot hold, so a fuzz target leaves
// such input out of its comparisons with reflection.
func HugeLength(data []byte) bool {
	for i := 0; i+4 < len(data); i++ {
		switch data[i] {
		case 0xc6, 0xc9, 0xdb, 0xdd, 0xdf: // bin32, ext32, str32, array32, map32
			if binary.BigEndian.Uint32(data[i+1:]) > 1<<20 {
				return true
			}
		}
	}
	return false
}

// Marshal is msgpack.Marshal, failing tb on an error.
func Marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Allocated is how many bytes of memory fn allocated.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
