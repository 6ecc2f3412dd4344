package layout

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout/layouttest"
	"github.com/hillsdb/hills/internal/testkit/benchcmp"
)

// benchChanges are n changes of 100-byte records, as a catch-up carries.
func benchChanges(n int) []Change {
	out := make([]Change, n)
	for i := range out {
		out[i] = Change{Seq: uint64(i + 1), Tree: "parts", Key: uint64(i) << 20, Kind: 2, Record: bytes.Repeat([]byte{byte(i)}, 100)}
	}
	return out
}

// BenchmarkChangeUnmarshal decodes 10k changes one by one with
// UnmarshalChange, as a replica reads its outbox, against reflection
// (base/fn is the speedup).
func BenchmarkChangeUnmarshal(b *testing.B) {
	encs := benchEncoded(b)
	var r Reader
	out := make([]Change, len(encs))
	rout := make([]layouttest.Change, len(encs))
	benchcmp.Ratio(b, func() {
		for i, enc := range encs {
			out[i] = Change{}
			if err := UnmarshalChange(&r, enc, &out[i]); err != nil {
				b.Fatal(err)
			}
		}
	}, func() {
		for i, enc := range encs {
			rout[i] = layouttest.Change{}
			if err := msgpack.Unmarshal(enc, &rout[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchEncoded(b *testing.B) [][]byte {
	var encs [][]byte
	for _, c := range benchChanges(10000) {
		enc, err := msgpack.Marshal(&c)
		if err != nil {
			b.Fatal(err)
		}
		encs = append(encs, enc)
	}
	return encs
}

// BenchmarkChangeDecode decodes 10k changes one by one with
// msgpack.Unmarshal, which calls Change.DecodeMsgpack, against reflection.
func BenchmarkChangeDecode(b *testing.B) {
	encs := benchEncoded(b)
	benchcmp.Ratio(b, func() {
		for _, enc := range encs {
			var c Change
			if err := msgpack.Unmarshal(enc, &c); err != nil {
				b.Fatal(err)
			}
		}
	}, func() {
		for _, enc := range encs {
			var c layouttest.Change
			if err := msgpack.Unmarshal(enc, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChangeEncode encodes 10k changes one by one, as a replica
// writes its outbox: the codec against reflection.
func BenchmarkChangeEncode(b *testing.B) {
	cs := benchChanges(10000)
	rcs := make([]layouttest.Change, len(cs))
	for i, c := range cs {
		rcs[i] = layouttest.Change(c)
	}
	benchcmp.Ratio(b, func() {
		for i := range cs {
			if _, err := msgpack.Marshal(&cs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}, func() {
		for i := range rcs {
			if _, err := msgpack.Marshal(&rcs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
