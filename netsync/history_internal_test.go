package netsync

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// A row written by appendTo reads back with msgpack as the same row, at
// every size class of its numbers, strings and bytes.
func TestHistoryRowEncoding(t *testing.T) {
	nums := []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	strs := []string{"", "a", strings.Repeat("n", 31), strings.Repeat("n", 32), strings.Repeat("n", 255),
		strings.Repeat("n", 256), strings.Repeat("n", 65536)}
	olds := [][]byte{nil, {}, bytes.Repeat([]byte{1}, 255), bytes.Repeat([]byte{2}, 256), bytes.Repeat([]byte{3}, 65536)}
	n := 0
	for i, seq := range nums {
		for j, s := range strs {
			old := olds[(i+j)%len(olds)]
			row := historyRow{Seq: seq, At: -int64(seq) + int64(j), By: s, Kind: uint8(i), Borrow: uint8(j),
				Holder: strs[(j+1)%len(strs)], Reason: strs[(i+j)%len(strs)], Old: old}
			var got historyRow
			if err := msgpack.Unmarshal(row.appendTo(nil), &got); err != nil {
				t.Fatalf("row %+v: %v", row, err)
			}
			if got.Seq != row.Seq || got.At != row.At || got.By != row.By || got.Kind != row.Kind || got.Borrow != row.Borrow ||
				got.Holder != row.Holder || got.Reason != row.Reason || !bytes.Equal(got.Old, row.Old) || (got.Old == nil) != (row.Old == nil) {
				t.Fatalf("row %d read back as %+v, want %+v", n, got, row)
			}
			// What msgpack itself writes reads the same.
			enc, err := msgpack.Marshal(&row)
			if err != nil {
				t.Fatal(err)
			}
			var viaLib historyRow
			if err := msgpack.Unmarshal(enc, &viaLib); err != nil || viaLib.Seq != row.Seq || viaLib.By != row.By {
				t.Fatalf("msgpack's own encoding: %+v, %v", viaLib, err)
			}
			n++
		}
	}
}
