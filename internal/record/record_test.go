package record

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var sample = Meta{
	Version: Released, State: 3, Major: 2, Minor: 1,
	Created: 1700000000000000000, Modified: -5, Changes: 9,
	CreatedBy: "bench-1", CreatedByID: "3f2a", ModifiedBy: "", ModifiedByID: "ü",
}

func TestEncodeDecode(t *testing.T) {
	data := []byte{0x81, 0xa1, 'a', 0x01}
	b := Encode([]byte("prefix"), &sample, data)
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatal("Encode did not append to dst")
	}
	m, got, err := Decode(b[len("prefix"):], nil)
	if err != nil {
		t.Fatal(err)
	}
	if m != sample || !bytes.Equal(got, data) {
		t.Fatalf("Decode = %+v %x, want %+v %x", m, got, sample, data)
	}
	interned := 0
	m, _, err = Decode(b[len("prefix"):], func(b []byte) string { interned++; return strings.ToUpper(string(b)) })
	if err != nil || interned != 4 || m.CreatedBy != "BENCH-1" {
		t.Fatalf("Decode with intern: %+v %v, %d calls", m, err, interned)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := Encode(nil, &sample, []byte{0x80})
	for name, b := range map[string][]byte{
		"nil":             nil,
		"short":           good[:fixedLen-1],
		"header only":     good[:fixedLen],
		"format":          append([]byte{2}, good[1:]...),
		"version":         append([]byte{Format, 3}, good[2:]...),
		"no data":         Encode(nil, &sample, nil),
		"cut name":        good[:fixedLen+3],
		"long varint":     append(good[:fixedLen:fixedLen], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"too long name":   append(good[:fixedLen:fixedLen], 0x81, 0x20),                               // 4097
		"padded varint":   append(append(good[:fixedLen:fixedLen], 0x87, 0x00), good[fixedLen+1:]...), // 7 in two bytes
		"length past end": append(good[:fixedLen:fixedLen], 0x7f, 'a'),
	} {
		if _, _, err := Decode(b, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode(%x) = %v, want ErrMalformed", name, b, err)
		}
	}
}

func TestEncodeTruncatesLongNames(t *testing.T) {
	m := sample
	m.CreatedBy = strings.Repeat("n", maxString+10)
	got, _, err := Decode(Encode(nil, &m, []byte{0x80}), nil)
	if err != nil || got.CreatedBy != m.CreatedBy[:maxString] {
		t.Fatalf("Decode of a long name: %d bytes, %v", len(got.CreatedBy), err)
	}
}

// FuzzDecode checks that Decode never panics and that what it accepts is
// exactly what Encode writes: one stored form per record.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, &sample, []byte{0x80}))
	f.Add(Encode(nil, &Meta{}, []byte{0x81, 0xa1, 'n', 0x2a}))
	f.Add([]byte{})
	f.Add([]byte{Format})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, data, err := Decode(b, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v is not ErrMalformed", err)
			}
			return
		}
		if len(data) == 0 {
			t.Fatal("Decode accepted a record with no data")
		}
		if again := Encode(nil, &m, data); !bytes.Equal(again, b) {
			t.Fatalf("Decode(%x) = %+v %x, which encodes as %x", b, m, data, again)
		}
	})
}
