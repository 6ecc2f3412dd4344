package wire

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/layout/layouttest"
	"github.com/hillsdb/hills/internal/testkit/benchcmp"
)

// reflectEntries is Entries decoded by reflection, as before the codec.
type reflectEntries struct {
	Changes []layouttest.Change `msgpack:"changes"`
}

// entriesFrame is the body of an Entries frame of about 1 MiB of
// 100-byte records, as catch-up sends.
func entriesFrame(tb testing.TB) []byte {
	var m Entries
	for i := 0; i < 1<<20/150; i++ {
		m.Changes = append(m.Changes, layout.Change{Seq: uint64(i + 1), Tree: "parts", Key: uint64(i) << 20, Kind: 2,
			Record: bytes.Repeat([]byte{byte(i)}, 100), Sum: bytes.Repeat([]byte{1}, 32)})
	}
	body, err := msgpack.Marshal(&m)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// BenchmarkEntriesDecode decodes a 1 MiB Entries frame with the Change
// codec against reflection (base/fn is the speedup).
func BenchmarkEntriesDecode(b *testing.B) {
	body := entriesFrame(b)
	b.SetBytes(int64(len(body)))
	fn, base := entriesDecoders(b, body)
	benchcmp.Ratio(b, fn, base)
}

// BenchmarkEntriesDecodeApart is BenchmarkEntriesDecode with the codec
// and reflection in sub-benchmarks of their own.
func BenchmarkEntriesDecodeApart(b *testing.B) {
	fn, base := entriesDecoders(b, entriesFrame(b))
	benchcmp.Apart(b, fn, base)
}

func entriesDecoders(b *testing.B, body []byte) (fn, base func()) {
	return func() {
			var m Entries
			if err := Decode(body, &m); err != nil {
				b.Fatal(err)
			}
		}, func() {
			var m reflectEntries
			if err := Decode(body, &m); err != nil {
				b.Fatal(err)
			}
		}
}

// BenchmarkEntriesEncode encodes a 1 MiB Entries frame with the Change
// codec against reflection.
func BenchmarkEntriesEncode(b *testing.B) {
	var m Entries
	if err := Decode(entriesFrame(b), &m); err != nil {
		b.Fatal(err)
	}
	var rm reflectEntries
	for _, c := range m.Changes {
		rm.Changes = append(rm.Changes, layouttest.Change(c))
	}
	benchcmp.Ratio(b, func() {
		if _, err := msgpack.Marshal(&m); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if _, err := msgpack.Marshal(&rm); err != nil {
			b.Fatal(err)
		}
	})
}
