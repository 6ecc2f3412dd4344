package netsync

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/layout/layouttest"
	"github.com/hillsdb/hills/internal/testkit/benchcmp"
)

// reflectLogEntry is logEntry without codecs: msgpack inlines the
// embedded twin of Change, as it did Change before its codec.
type reflectLogEntry struct {
	layouttest.Change
	Origin    string `msgpack:"origin"`
	OriginSeq uint64 `msgpack:"origin_seq"`
	At        int64  `msgpack:"at"`
}

func reflected(e logEntry) reflectLogEntry {
	return reflectLogEntry{Change: layouttest.Change(e.Change), Origin: e.Origin, OriginSeq: e.OriginSeq, At: e.At}
}

// TestLogEntryFields: the codec knows every field of logEntry; a field
// added to it must be added to the codec.
func TestLogEntryFields(t *testing.T) {
	typ := reflect.TypeFor[logEntry]()
	own := logEntryKeys[len(layout.ChangeKeys()):]
	if typ.NumField() != 1+len(own) || !typ.Field(0).Anonymous {
		t.Fatalf("logEntry has %d fields, the codec reads the Change and %d", typ.NumField(), len(own))
	}
	for i, k := range own {
		if tag := typ.Field(1 + i).Tag.Get("msgpack"); tag != string(k) {
			t.Fatalf("field %d is %q, the codec reads %q", 1+i, tag, k)
		}
	}
}

func logEntries() []logEntry {
	return []logEntry{
		{},
		{Change: layout.Change{Record: []byte{}}},
		{Change: layout.Change{Seq: 1, Tree: "parts", Key: 2, Kind: 1, Record: []byte("rec"), Sum: bytes.Repeat([]byte{1}, 32)}, Origin: "c1", OriginSeq: 7, At: 1 << 60},
		{Change: layout.Change{Seq: math.MaxUint64, Key: math.MaxUint64, Kind: math.MaxUint8, Tree: strings.Repeat("t", 300), Record: bytes.Repeat([]byte{2}, 70000)},
			Origin: strings.Repeat("o", 40), OriginSeq: math.MaxUint64, At: math.MinInt64},
		{At: -1, Origin: "ü"},
	}
}

// TestLogEntryCodecLikeReflection: the stored form is the flat map
// reflection wrote, byte for byte, and both decoders read each other's.
func TestLogEntryCodecLikeReflection(t *testing.T) {
	for _, e := range logEntries() {
		checkLogEntry(t, e)
	}
}

func checkLogEntry(t *testing.T, e logEntry) {
	t.Helper()
	got, err := msgpack.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	re := reflected(e)
	want, err := msgpack.Marshal(&re)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("custom encoding differs from reflection:\n got %x\nwant %x", got[:min(len(got), 80)], want[:min(len(want), 80)])
	}
	checkLogDecode(t, want)
}

// checkLogDecode decodes data with both of the codec's decoders and with
// reflection and fails if they differ, in outcome or value.
func checkLogDecode(t *testing.T, data []byte) {
	t.Helper()
	var re reflectLogEntry
	rerr := msgpack.Unmarshal(data, &re)
	var e, be, ae logEntry
	err := msgpack.Unmarshal(data, &e)
	berr := unmarshalLogEntry(new(layout.Reader), data, &be, false)
	aerr := unmarshalLogEntry(new(layout.Reader), data, &ae, true) // Record and Sum in data
	if (err == nil) != (rerr == nil) || (berr == nil) != (rerr == nil) || (aerr == nil) != (rerr == nil) {
		t.Fatalf("%x: errors %v, %v and %v (aliasing), reflection %v", data, err, berr, aerr, rerr)
	}
	if rerr != nil {
		return
	}
	if !reflect.DeepEqual(reflected(e), re) || !reflect.DeepEqual(reflected(be), re) || !reflect.DeepEqual(reflected(ae), re) {
		t.Fatalf("%x: decoded %+v, %+v and %+v (aliasing), reflection %+v", data, e, be, ae, re)
	}
}

// TestLogEntryDecodeForms: forms only reflection writes decode alike.
func TestLogEntryDecodeForms(t *testing.T) {
	for _, data := range logForms(t) {
		checkLogDecode(t, data)
	}
}

func logForms(t testing.TB) [][]byte {
	enc := func(v any) []byte { return layouttest.Marshal(t, v) }
	return [][]byte{
		enc(map[string]any{"at": int8(-3), "origin": []byte("c"), "origin_seq": uint16(9), "seq": 1, "digest": []byte{1}, "record": nil}),
		enc([]any{1, "t", 2, 3, []byte{4}, []byte{5}, "c", 6, -7}),
		enc([]any{1, "t", 2, 3, []byte{4}, []byte{5}}),
		enc([]any{}),
		enc(nil),
		enc(map[string]any{"at": "x"}),
		enc(map[string]any{"origin": 1}),
		{0xd4, 0x01, 0x02},
		{0x82, 0xa2, 'a', 't'},
	}
}

// FuzzLogEntryCodec: for any log entry the codec writes reflection's
// bytes, and for any bytes its decoders read what reflection reads.
func FuzzLogEntryCodec(f *testing.F) {
	for _, e := range logEntries()[:3] {
		f.Add(e.Seq, e.Tree, e.Record, e.Sum, e.Origin, e.OriginSeq, e.At, []byte(nil))
	}
	for _, data := range logForms(f) {
		f.Add(uint64(0), "", []byte(nil), []byte(nil), "", uint64(0), int64(0), data)
	}
	f.Fuzz(func(t *testing.T, seq uint64, tree string, record, sum []byte, origin string, originSeq uint64, at int64, data []byte) {
		checkLogEntry(t, logEntry{Change: layout.Change{Seq: seq, Tree: tree, Key: seq ^ originSeq, Kind: uint8(at), Record: record, Sum: sum},
			Origin: origin, OriginSeq: originSeq, At: at})
		if layouttest.HugeLength(data) {
			var e logEntry
			_ = unmarshalLogEntry(new(layout.Reader), data, &e, false) // must not panic; reflection would allocate what it announces
			return
		}
		checkLogDecode(t, data)
	})
}

// BenchmarkLogEntryDecode decodes 10k stored log entries of 100-byte
// records, as logFrom does for catch-up: the codec against reflection
// (base/fn is the speedup).
func BenchmarkLogEntryDecode(b *testing.B) {
	var encs [][]byte
	for i := range 10000 {
		e := logEntry{Change: layout.Change{Seq: uint64(i + 1), Tree: "parts", Key: uint64(i) << 20, Kind: 2,
			Record: bytes.Repeat([]byte{byte(i)}, 100), Sum: bytes.Repeat([]byte{1}, 32)}, Origin: "client-1", OriginSeq: uint64(i), At: int64(i) << 30}
		enc, err := msgpack.Marshal(&e)
		if err != nil {
			b.Fatal(err)
		}
		encs = append(encs, enc)
	}
	out := make([]logEntry, len(encs))
	rout := make([]reflectLogEntry, len(encs))
	var r layout.Reader
	benchcmp.Ratio(b, func() {
		for i, enc := range encs {
			out[i] = logEntry{}
			if err := unmarshalLogEntry(&r, enc, &out[i], false); err != nil {
				b.Fatal(err)
			}
		}
	}, func() {
		for i, enc := range encs {
			rout[i] = reflectLogEntry{}
			if err := msgpack.Unmarshal(enc, &rout[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
