package sqlmap

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// ErrRow is wrapped by every error about a row that does not fit its
// tree's schema.
var ErrRow = errors.New("row does not fit the schema")

// ColumnError is a value of one column that does not fit the schema.
type ColumnError struct {
	Column string
	Err    error
}

func (e *ColumnError) Error() string   { return fmt.Sprintf("column %s: %v", e.Column, e.Err) }
func (e *ColumnError) Unwrap() []error { return []error{ErrRow, e.Err} }

func colErr(col string, format string, args ...any) error {
	return &ColumnError{Column: col, Err: fmt.Errorf(format, args...)}
}

// Defaults are the meta values a row without them gets (a row made by
// hand: a spreadsheet's).
type Defaults struct {
	Now int64  // created and modified, Unix ns
	By  string // created by and modified by
	// NewIDs lets _id be NULL (or empty): the record gets id 0, which the
	// server's import replaces with the tree's next id.
	NewIDs bool
}

// Record returns the key and stored form of the record row holds. A
// value of the wrong class, a field value that does not fit the schema or
// a malformed meta value is a *ColumnError naming the column. _id is
// required; the other meta columns may be NULL (then: revision 0, draft or
// non-versioned, state 0, the schema's version, def's time and name).
func (l *Layout) Record(row Row, def Defaults) (key uint64, rec []byte, err error) {
	if len(row) != len(l.Columns) {
		return 0, nil, fmt.Errorf("%w: %d values for %d columns", ErrRow, len(row), len(l.Columns))
	}
	m, key, err := l.meta(row, def)
	if err != nil {
		return 0, nil, err
	}
	data, err := l.data(row)
	if err != nil {
		return 0, nil, err
	}
	return key, record.Encode(nil, &m, data), nil
}

// meta reads the meta columns of row.
func (l *Layout) meta(row Row, def Defaults) (m record.Meta, key uint64, err error) {
	id, err := metaUint32(row[0], ColID, def.NewIDs)
	if err != nil {
		return m, 0, err
	}
	rev, err := metaUint32(row[1], ColRev, true)
	if err != nil {
		return m, 0, err
	}
	if id == 0 && (!def.NewIDs || row[0] != nil && row[0] != "") {
		return m, 0, colErr(ColID, "ids start at 1")
	}
	if id == 0 && rev != 0 {
		return m, 0, colErr(ColRev, "a new record (no _id) has revision 0")
	}
	m.Version = record.NonVersioned
	if l.Tree.Versioned {
		m.Version = record.Draft
	}
	if s, ok, err := metaText(row[2], ColVersion); err != nil {
		return m, 0, err
	} else if ok {
		if m.Version, err = parseVersion(s); err != nil {
			return m, 0, colErr(ColVersion, "%v", err)
		}
		if (m.Version == record.NonVersioned) == l.Tree.Versioned {
			return m, 0, colErr(ColVersion, "%s in a tree that is %s", s, map[bool]string{true: "versioned", false: "not versioned"}[l.Tree.Versioned])
		}
	}
	if m.State, err = metaUint32(row[3], ColState, true); err != nil {
		return m, 0, err
	}
	m.Major, m.Minor = l.Tree.Schema.Major, l.Tree.Schema.Minor
	if s, ok, err := metaText(row[4], ColSchema); err != nil {
		return m, 0, err
	} else if ok {
		if m.Major, m.Minor, err = parseEvolution(s); err != nil {
			return m, 0, colErr(ColSchema, "%v", err)
		}
		if m.Major != l.Tree.Schema.Major {
			return m, 0, colErr(ColSchema, "%s: the tree's schema is %d.%d", s, l.Tree.Schema.Major, l.Tree.Schema.Minor)
		}
	}
	m.Created, m.Modified = def.Now, def.Now
	m.CreatedBy, m.ModifiedBy = def.By, def.By
	for _, t := range []struct {
		i  int
		ns *int64
		by *string
	}{{5, &m.Created, nil}, {6, nil, &m.CreatedBy}, {7, &m.Modified, nil}, {8, nil, &m.ModifiedBy}} {
		s, ok, err := metaText(row[t.i], l.Columns[t.i].Name)
		if err != nil || !ok {
			if err != nil {
				return m, 0, err
			}
			continue
		}
		if t.by != nil {
			*t.by = s
			continue
		}
		if *t.ns, err = parseTime(s); err != nil {
			return m, 0, colErr(l.Columns[t.i].Name, "%q is not an RFC 3339 time", s)
		}
	}
	m.Changes = 1
	return m, layout.Pack(id, rev), nil
}

func metaUint32(v any, col string, nullOK bool) (uint32, error) {
	switch v := v.(type) {
	case nil:
		if nullOK {
			return 0, nil
		}
		return 0, colErr(col, "missing")
	case int64:
		if v < 0 || v > math.MaxUint32 {
			return 0, colErr(col, "%d out of range", v)
		}
		return uint32(v), nil
	case string:
		if v == "" && nullOK {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, colErr(col, "%q is not a number from 0 to %d", v, uint32(math.MaxUint32))
		}
		return uint32(n), nil
	case float64:
		if v == math.Trunc(v) && v >= 0 && v <= math.MaxUint32 {
			return uint32(v), nil
		}
	}
	return 0, colErr(col, "%v is not a number from 0 to %d", v, uint32(math.MaxUint32))
}

func metaText(v any, col string) (string, bool, error) {
	switch v := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return v, v != "", nil
	case []byte:
		return string(v), len(v) > 0, nil
	}
	return "", false, colErr(col, "%v is not text", v)
}

func parseEvolution(s string) (major, minor uint16, err error) {
	a, b, ok := strings.Cut(s, ".")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || x == 0 {
		return 0, 0, fmt.Errorf("%q is not a schema version major.minor", s)
	}
	return uint16(x), uint16(y), nil
}

// data encodes the field columns of row, with _nulls and _unknown, as the
// record's msgpack value, checked by the schema's text rules.
func (l *Layout) data(row Row) ([]byte, error) {
	nulls := map[string]bool{}
	if s, ok, err := metaText(row[len(row)-2], ColNulls); err != nil {
		return nil, err
	} else if ok {
		var names []string
		if err := json.Unmarshal([]byte(s), &names); err != nil {
			return nil, colErr(ColNulls, "not a JSON array of field names: %v", err)
		}
		for _, n := range names {
			if _, ok := l.fields[n]; !ok {
				return nil, colErr(ColNulls, "%q is not a field of the schema", n)
			}
			nulls[n] = true
		}
	}
	var old []byte
	switch v := row[len(row)-1].(type) {
	case nil:
	case []byte:
		if len(v) > 0 {
			if err := schema.Check(v); err != nil || v[0]&0xf0 != 0x80 && v[0] != 0xde && v[0] != 0xdf {
				return nil, colErr(ColUnknown, "not a msgpack map as the export writes it")
			}
			old = v
		}
	default:
		return nil, colErr(ColUnknown, "not a blob")
	}
	var w bytes.Buffer
	w.WriteByte('{')
	n := 0
	for ci := nMeta; ci < len(row)-2; ci++ {
		c := &l.Columns[ci]
		v := row[ci]
		if v == nil && !nulls[c.Name] {
			continue
		}
		if v != nil && nulls[c.Name] {
			return nil, colErr(c.Name, "has a value but _nulls lists it")
		}
		if n > 0 {
			w.WriteByte(',')
		}
		n++
		name, _ := json.Marshal(c.Name)
		w.Write(name)
		w.WriteByte(':')
		if v == nil {
			w.WriteString("null")
			continue
		}
		if err := writeJSON(&w, c, v); err != nil {
			return nil, err
		}
	}
	w.WriteByte('}')
	data, err := schema.FromText(w.String(), &l.Tree.Schema.Type, old)
	if err != nil {
		return nil, textColumnError(err)
	}
	return data, nil
}

// textColumnError turns an error of schema.FromText, which names a field
// path, into a ColumnError naming the top-level field's column.
func textColumnError(err error) error {
	msg := strings.TrimPrefix(err.Error(), schema.ErrText.Error()+": ")
	rest, ok := strings.CutPrefix(msg, "field ")
	if !ok {
		return &ColumnError{Column: "(record)", Err: errors.New(msg)}
	}
	end := strings.IndexAny(rest, ".[:")
	if end < 0 {
		end = len(rest)
	}
	return &ColumnError{Column: rest[:end], Err: errors.New(msg)}
}

// writeJSON writes the column value v as the JSON value the schema's text
// form has for it. A SQLite value comes typed; a CSV value is text.
func writeJSON(w *bytes.Buffer, c *Column, v any) error {
	t := Deref(c.Type)
	if b, ok := v.([]byte); ok && c.Class != Blob {
		v = string(b)
	}
	switch c.Class {
	case Integer:
		return writeInteger(w, c, t, v)
	case Real:
		return writeReal(w, c, t, v)
	case Text:
		s, ok := v.(string)
		if !ok {
			return colErr(c.Name, "want text for %s, got %v", t, v)
		}
		return writeString(w, s)
	case Blob:
		switch v := v.(type) {
		case []byte:
			return writeString(w, base64.StdEncoding.EncodeToString(v))
		case string: // CSV, JSON lines: base64 already
			return writeString(w, v)
		}
		return colErr(c.Name, "want a blob for %s, got %v", t, v)
	}
	s, ok := v.(string)
	if !ok || !json.Valid([]byte(s)) {
		return colErr(c.Name, "want JSON text for %s, got %v", t, v)
	}
	w.WriteString(s)
	return nil
}

func writeString(w *bytes.Buffer, s string) error {
	b, err := json.Marshal(s)
	w.Write(b)
	return err
}

func writeInteger(w *bytes.Buffer, c *Column, t *schema.Type, v any) error {
	if t.Kind == schema.Bool {
		switch v {
		case int64(0), "0", "false":
			w.WriteString("false")
			return nil
		case int64(1), "1", "true":
			w.WriteString("true")
			return nil
		}
		return colErr(c.Name, "want 0 or 1 (false or true), got %v", v)
	}
	switch v := v.(type) {
	case int64:
		if v < 0 && t.Kind != schema.Int && !t.Signed && t.Bits == 64 {
			w.WriteString(strconv.FormatUint(uint64(v), 10)) // see Row
			return nil
		}
		w.WriteString(strconv.FormatInt(v, 10))
		return nil
	case uint64:
		w.WriteString(strconv.FormatUint(v, 10))
		return nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			w.WriteString(strconv.FormatInt(int64(v), 10))
			return nil
		}
	case string:
		s := strings.TrimPrefix(v, "-")
		if s != "" && strings.Trim(s, "0123456789") == "" {
			w.WriteString(v)
			return nil
		}
	}
	return colErr(c.Name, "want an integer for %s, got %v", t, v)
}

func writeReal(w *bytes.Buffer, c *Column, t *schema.Type, v any) error {
	bits := 64
	if t.Bits == 32 {
		bits = 32
	}
	switch v := v.(type) {
	case float64:
		w.WriteString(strconv.FormatFloat(v, 'g', -1, bits))
		return nil
	case int64:
		w.WriteString(strconv.FormatInt(v, 10))
		return nil
	case string:
		switch v {
		case "NaN", "+Inf", "-Inf":
			return writeString(w, v)
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			w.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
			return nil
		}
	}
	return colErr(c.Name, "want a number for %s, got %v", t, v)
}
