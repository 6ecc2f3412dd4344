package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The text rules of scalar values, one parser and one formatter per kind.
// Text writes values with the formatters, FromText reads them with the
// parsers, and editors that show one value at a time (the form) use the
// same rules through ParseScalar, FormatScalar and ScalarJSON.

// RefKey is the value of a Ref: the key of a record, written "ID.Rev".
type RefKey struct{ ID, Rev uint32 }

func (k RefKey) String() string { return formatKey(k.ID, k.Rev) }

// ParseScalar parses text, a value of the scalar type t written as Text
// writes it without the JSON quotes: "true" or "false", a JSON number
// (floats also "NaN", "+Inf", "-Inf"), any string, standard base64 with
// padding for bytes, an RFC 3339 time, a key "ID.Rev". It returns a bool,
// an int64 (Int, signed Enum), a uint64 (Uint, Enum), a float64, a string,
// a []byte, a time.Time or a RefKey. It accepts exactly the texts whose
// JSON value FromText accepts for t. Pointers are parsed as what they
// point to; other kinds are an error.
func ParseScalar(t *Type, text string) (any, error) {
	t = deref(t)
	switch t.Kind {
	case Bool:
		return parseBool(text)
	case Int, Uint, Enum:
		if !jsonNumber(text) {
			return nil, fmt.Errorf("%s is not a %s", text, t)
		}
		if signed(t) {
			return parseInt(t, text)
		}
		return parseUint(t, text)
	case Float:
		return parseFloat(t, text)
	case String:
		return text, nil
	case Bytes:
		return parseBytes(t, text)
	case Time:
		return parseTime(t, text)
	case Ref:
		return parseRef(t, text)
	}
	return nil, fmt.Errorf("%s is not a scalar kind", t.Kind)
}

// FormatScalar returns the text of v, a value of the scalar type t as
// ParseScalar returns it, as Text writes it without the JSON quotes.
func FormatScalar(t *Type, v any) (string, error) {
	t = deref(t)
	var s string
	ok := false
	switch t.Kind {
	case Bool:
		s, ok = formatAs(v, strconv.FormatBool)
	case Int, Uint, Enum:
		if s, ok = formatAs(v, formatInt); !ok {
			s, ok = formatAs(v, formatUint)
		}
	case Float:
		s, ok = formatAs(v, func(f float64) string { return floatText(f, int(t.Bits)) })
	case String:
		s, ok = v.(string)
	case Bytes:
		s, ok = formatAs(v, base64.StdEncoding.EncodeToString)
	case Time:
		s, ok = formatAs(v, formatTime)
	case Ref:
		s, ok = formatAs(v, RefKey.String)
	}
	if !ok {
		return "", fmt.Errorf("a %T is not a value of %s", v, t)
	}
	return s, nil
}

// formatAs formats v with format when v is a T.
func formatAs[T any](v any, format func(T) string) (string, bool) {
	x, ok := v.(T)
	if !ok {
		return "", false
	}
	return format(x), true
}

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }

func formatUint(u uint64) string { return strconv.FormatUint(u, 10) }

// ScalarJSON returns v, a value of the scalar type t as ParseScalar
// returns it, as the JSON value Text writes for it.
func ScalarJSON(t *Type, v any) ([]byte, error) {
	s, err := FormatScalar(t, v)
	if err != nil {
		return nil, err
	}
	var w bytes.Buffer
	if f, ok := v.(float64); ok && !isFinite(f) || !bareJSON(deref(t).Kind) {
		writeString(&w, s)
	} else {
		w.WriteString(s)
	}
	return w.Bytes(), nil
}

// bareJSON reports whether Text writes values of kind k as JSON literals
// or numbers rather than strings (floats: when they are finite).
func bareJSON(k Kind) bool {
	switch k {
	case Bool, Int, Uint, Enum, Float:
		return true
	}
	return false
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// jsonNumber reports whether s is one JSON number, without spaces.
func jsonNumber(s string) bool {
	if s == "" || !(s[0] == '-' || isDigit(s[0])) || !isDigit(s[len(s)-1]) {
		return false
	}
	return json.Valid([]byte(s))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func parseBool(s string) (bool, error) {
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// parseInt parses the decimal integer s as a value of the signed type t.
func parseInt(t *Type, s string) (int64, error) {
	i, err := strconv.ParseInt(s, 10, int(t.Bits))
	if err != nil {
		return 0, numberErr(t, s, err)
	}
	return i, nil
}

// parseUint parses the decimal integer s as a value of the unsigned type t.
func parseUint(t *Type, s string) (uint64, error) {
	u, err := strconv.ParseUint(s, 10, int(t.Bits))
	if err != nil {
		return 0, numberErr(t, s, err)
	}
	return u, nil
}

// parseFloatNumber parses s, a JSON number, as a float of t's bits.
func parseFloatNumber(t *Type, s string) (float64, error) {
	f, err := strconv.ParseFloat(s, int(t.Bits))
	if err != nil {
		return 0, numberErr(t, s, err)
	}
	return f, nil
}

// floatWord returns the float that Text writes as the string s: NaN and
// the infinities.
func floatWord(s string) (float64, bool) {
	switch s {
	case "NaN":
		return math.NaN(), true
	case "+Inf":
		return math.Inf(1), true
	case "-Inf":
		return math.Inf(-1), true
	}
	return 0, false
}

func parseFloat(t *Type, s string) (float64, error) {
	if f, ok := floatWord(s); ok {
		return f, nil
	}
	if !jsonNumber(s) {
		return 0, fmt.Errorf("%s is not a %s", s, t)
	}
	return parseFloatNumber(t, s)
}

// floatText is the text of f: a JSON number, or "NaN", "+Inf", "-Inf".
func floatText(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func numberErr(t *Type, s string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%s is out of range for %s", s, t)
	}
	return fmt.Errorf("%s is not a %s", s, t)
}

// parseBase64 decodes standard base64 with padding, nothing else.
func parseBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64: %v", err)
	}
	return b, nil
}

// parseBytes decodes s as bytes of t, of t.Len bytes when t.Len > 0.
func parseBytes(t *Type, s string) ([]byte, error) {
	b, err := parseBase64(s)
	if err != nil {
		return nil, err
	}
	if t.Len > 0 && len(b) != t.Len {
		return nil, fmt.Errorf("want %d bytes, got %d", t.Len, len(b))
	}
	return b, nil
}

// parseRaw decodes s as the msgpack encoding of a Raw value.
func parseRaw(_ *Type, s string) ([]byte, error) {
	b, err := parseBase64(s)
	if err != nil {
		return nil, err
	}
	if err := Check(b); err != nil {
		return nil, fmt.Errorf("not a msgpack value: %v", err)
	}
	return b, nil
}

func parseTime(_ *Type, s string) (time.Time, error) {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
	}
	return tm, nil
}

func formatTime(tm time.Time) string { return tm.UTC().Format(time.RFC3339Nano) }

func parseRef(_ *Type, s string) (RefKey, error) {
	id, rev, err := ParseKey(s)
	return RefKey{id, rev}, err
}

func formatKey(id, rev uint32) string {
	return strconv.FormatUint(uint64(id), 10) + "." + strconv.FormatUint(uint64(rev), 10)
}

// ParseKey parses the text form "ID.Rev" of a record key: two decimal
// numbers without sign that fit in 32 bits.
func ParseKey(s string) (id, rev uint32, err error) {
	a, b, ok := strings.Cut(s, ".")
	if !ok || !digits(a) || !digits(b) {
		return 0, 0, fmt.Errorf("%q is not a key ID.Rev", s)
	}
	i, err1 := strconv.ParseUint(a, 10, 32)
	r, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("key %q out of range", s)
	}
	return uint32(i), uint32(r), nil
}

func digits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
