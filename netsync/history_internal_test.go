package netsync

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
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

// A row's record that no longer fits the tree's schema (written before a
// major version) is shown as stored, not refused as damage.
func TestHistoryTextOfAnOlderSchema(t *testing.T) {
	data, err := msgpack.Marshal(map[string]any{"quantity": "twelve"})
	if err != nil {
		t.Fatal(err)
	}
	rec := record.Encode(nil, &record.Meta{Major: 1, Changes: 7}, data)
	now := &schema.Type{Kind: schema.Struct, Fields: []schema.Field{{Name: "quantity", Type: schema.Type{Kind: schema.Int, Bits: 64, Signed: true}}}}
	if _, err := schema.Text(data, now); err == nil {
		t.Fatal("the old record fits the new schema: the test shows nothing")
	}
	text, changes, err := recordText(rec, now)
	if err != nil || changes != 7 || !strings.Contains(text, `"quantity": "twelve"`) {
		t.Fatalf("recordText: %q, %d, %v", text, changes, err)
	}
	if _, _, err := recordText([]byte{1, 2, 3}, now); err == nil {
		t.Fatal("a damaged record rendered")
	}
}

// FuzzHistoryRow: a damaged history row is an error when read, never a
// panic: the row, its time for retention and its record's text.
func FuzzHistoryRow(f *testing.F) {
	data, _ := msgpack.Marshal(map[string]any{"number": "R1", "quantity": 3})
	rec := record.Encode(nil, &record.Meta{Major: 1, Changes: 2}, data)
	for _, row := range []historyRow{{Seq: 1, At: 5, By: "alice", Kind: 1}, {Seq: 9, At: -1, By: "bob", Kind: 2, Old: rec},
		{Seq: 3, Kind: 5, Borrow: 3, Holder: "bob", Reason: "on leave"}} {
		f.Add(row.appendTo(nil))
	}
	t := &schema.Type{Kind: schema.Struct, Fields: []schema.Field{{Name: "quantity", Type: schema.Type{Kind: schema.Int, Bits: 64, Signed: true}}}}
	f.Fuzz(func(_ *testing.T, b []byte) {
		rowTime(b)
		var row historyRow
		if msgpack.Unmarshal(b, &row) == nil {
			recordText(row.Old, t)
		}
	})
}
