package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrText is wrapped by the errors of FromText: the text does not fit the
// schema.
var ErrText = errors.New("invalid text")

// Text renders the msgpack value data of type t as JSON indented by two
// spaces: struct members in schema order under their msgpack names, then
// members the schema does not know in stored order; times in RFC 3339 with
// nanoseconds (UTC), bytes in standard base64, keys as "ID.Rev", map
// members sorted by key, and floats that JSON cannot hold as "NaN", "+Inf",
// "-Inf".
func Text(data []byte, t *Type) (string, error) {
	compact, err := CompactText(data, t)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(compact), "", "  "); err != nil {
		return "", fmt.Errorf("rendering: %v", err)
	}
	return out.String(), nil
}

// CompactText is Text without the indentation: the JSON on one line, as
// compact as encoding/json.Compact makes it.
func CompactText(data []byte, t *Type) (string, error) {
	if err := Check(data); err != nil {
		return "", err
	}
	var w bytes.Buffer
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	if err := render(&w, dec, t, ""); err != nil {
		return "", err
	}
	return w.String(), nil
}

func writeString(w *bytes.Buffer, s string) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	w.Truncate(w.Len() - 1) // the newline Encode adds
}

func fieldIndex(t *Type, name string) int {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// big is an integer key of a map: a sign and a magnitude.
type big struct {
	neg bool
	mag uint64
}

func (b *big) String() string {
	if b.neg {
		return "-" + strconv.FormatUint(b.mag, 10)
	}
	return strconv.FormatUint(b.mag, 10)
}

func (b *big) cmp(o *big) int {
	switch {
	case b.neg && !o.neg:
		return -1
	case !b.neg && o.neg:
		return 1
	case b.neg:
		return -cmpU(b.mag, o.mag)
	}
	return cmpU(b.mag, o.mag)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toBig(v any) (*big, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		n := rv.Int()
		if n < 0 {
			return &big{neg: true, mag: uint64(-(n + 1)) + 1}, nil
		}
		return &big{mag: uint64(n)}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return &big{mag: rv.Uint()}, nil
	}
	return nil, fmt.Errorf("%T is not an integer", v)
}

// FromText encodes JSON text as a msgpack value of type t, checking it
// against t: a member t does not know, a value of the wrong kind or a
// number out of range is an error naming the field. old, when not nil, is
// the value the text replaces: its members t does not know are kept byte
// for byte, and the text may repeat them only unchanged (as Text rendered
// them).
func FromText(text string, t *Type, old []byte) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrText, err)
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return nil, fmt.Errorf("%w: more than one JSON value", ErrText)
	case err != io.EOF:
		return nil, fmt.Errorf("%w: after the JSON value: %w", ErrText, err)
	}
	if old != nil {
		if err := Check(old); err != nil {
			old = nil
		}
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := encodeText(enc, v, t, old, "", 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sameAsStored reports whether the JSON value x is how Text renders the
// schemaless msgpack value raw.
func sameAsStored(x any, raw []byte) (bool, error) {
	v, err := msgpack.NewDecoder(bytes.NewReader(raw)).DecodeInterface()
	if err != nil {
		return false, err
	}
	var w bytes.Buffer
	if err := renderAny(&w, v); err != nil {
		return false, err
	}
	dec := json.NewDecoder(&w)
	dec.UseNumber()
	var y any
	if err := dec.Decode(&y); err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}
