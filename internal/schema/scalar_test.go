package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var scalarTypes = []*Type{
	{Kind: Bool}, {Kind: Int, Bits: 8}, {Kind: Int, Bits: 64}, {Kind: Uint, Bits: 8}, {Kind: Uint, Bits: 64},
	{Kind: Enum, Bits: 16, Signed: true, Name: "e"}, {Kind: Enum, Bits: 8, Name: "u"},
	{Kind: Float, Bits: 32}, {Kind: Float, Bits: 64}, {Kind: String}, {Kind: Bytes}, {Kind: Bytes, Len: 2},
	{Kind: Time}, {Kind: Ref}, {Kind: Pointer, Elem: &Type{Kind: Int, Bits: 16}},
}

var scalarTexts = []string{"", "x", "true", "false", "0", "-0", "-1", "7", "255", "256", "-129", "32768",
	"18446744073709551615", "18446744073709551616", "+1", "007", "1.5", "1e3", "-2.5e-3", "3.5e38", "1e400",
	"NaN", "+Inf", "-Inf", "inf", "nan", "0x10", "1 2", ".5", "AQI=", "AQI", "AQ==", "AQJ=", "AQI=\n", "AAAA",
	"2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000000006+02:00", "2026-01-02", "1.0", "42.7", "4294967296.0", "01.1"}

// jsonOf writes text as the JSON value it stands for under t: bare for
// numbers and booleans, quoted for everything else.
func jsonOf(t *Type, text string) string {
	if _, word := floatWord(text); bareJSON(deref(t).Kind) && !(deref(t).Kind == Float && word) {
		return text
	}
	q, _ := json.Marshal(text)
	return string(q)
}

// TestScalarRulesAreFromText checks that ParseScalar accepts exactly the
// texts whose JSON value FromText accepts, and that ScalarJSON writes
// what Text writes for the value.
func TestScalarRulesAreFromText(t *testing.T) {
	accepted := 0
	for _, typ := range scalarTypes {
		for _, text := range scalarTexts {
			v, perr := ParseScalar(typ, text)
			data, ferr := FromText(jsonOf(typ, text), typ, nil)
			if (perr == nil) != (ferr == nil) {
				t.Errorf("%s %q: ParseScalar %v, FromText %v", typ, text, perr, ferr)
				continue
			}
			if perr != nil {
				continue
			}
			accepted++
			want, err := Text(data, typ)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ScalarJSON(typ, v)
			if err != nil || string(got) != want {
				t.Errorf("%s %q: ScalarJSON %s %v, Text %s", typ, text, got, err, want)
			}
			s, err := FormatScalar(typ, v)
			if again, err2 := ParseScalar(typ, s); err != nil || err2 != nil || !equalScalar(again, v) {
				t.Errorf("%s %q: formatted %q %v, parsed back %v %v", typ, text, s, err, again, err2)
			}
		}
	}
	if accepted < 40 {
		t.Fatalf("only %d texts accepted", accepted)
	}
}

func equalScalar(a, b any) bool {
	switch a := a.(type) {
	case []byte:
		return string(a) == string(b.([]byte))
	case time.Time:
		return a.Equal(b.(time.Time))
	case float64:
		return a == b.(float64) || a != a && b.(float64) != b.(float64)
	}
	return a == b
}

// TestFromTextTrailing checks that nothing but spaces may follow the JSON
// value: the decoder reads "0" of "0x10", and what follows used to be
// dropped.
func TestFromTextTrailing(t *testing.T) {
	n := &Type{Kind: Int, Bits: 64}
	st := &Type{Kind: Struct, Fields: []Field{{Name: "n", Type: *n}}}
	for _, c := range []struct {
		typ  *Type
		text string
	}{{n, "0x10"}, {n, "1 2"}, {n, "1}"}, {st, `{"n": 1} x`}, {st, `{"n": 1}{}`}} {
		if _, err := FromText(c.text, c.typ, nil); !errors.Is(err, ErrText) {
			t.Errorf("FromText(%q) = %v, want ErrText", c.text, err)
		}
	}
	if _, err := FromText("{\"n\": 1}\n  ", st, nil); err != nil {
		t.Errorf("trailing spaces: %v", err)
	}
}

func TestParseScalarRefuses(t *testing.T) {
	for _, c := range []struct {
		typ  *Type
		text string
		msg  string
	}{
		{&Type{Kind: Bytes}, "AQI", "not standard base64"},  // no padding
		{&Type{Kind: Bytes}, "AQJ=", "not standard base64"}, // bits after the end
		{&Type{Kind: Bytes, Len: 2}, "AQID", "want 2 bytes, got 3"},
		{&Type{Kind: Int, Bits: 8}, "128", "128 is out of range for int8"},
		{&Type{Kind: Int, Bits: 8}, "+1", "+1 is not a int8"},
		{&Type{Kind: Float, Bits: 64}, "inf", "inf is not a float64"},
		{&Type{Kind: Time}, "2026-01-02", "not an RFC 3339 time"},
		{&Type{Kind: Ref}, "1.x", "is not a key ID.Rev"},
		{&Type{Kind: Struct}, "{}", "struct is not a scalar kind"},
	} {
		if _, err := ParseScalar(c.typ, c.text); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %q: %v, want %q", c.typ, c.text, err, c.msg)
		}
	}
	if _, err := FormatScalar(&Type{Kind: Int, Bits: 8}, "1"); err == nil {
		t.Error("FormatScalar of a string as an int8: no error")
	}
}
