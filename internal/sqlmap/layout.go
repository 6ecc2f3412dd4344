package sqlmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// Tree is one tree as the layout needs it.
type Tree struct {
	Name      string
	Versioned bool
	Schema    *schema.Schema // its Type is a struct
}

// Class is the SQL storage class of a column.
type Class uint8

// Storage classes.
const (
	Integer Class = iota + 1
	Real
	Text
	Blob
	JSON // nested values: text in SQLite, jsonb in PostgreSQL
)

// SQLite is the class's column type in SQLite.
func (c Class) SQLite() string {
	switch c {
	case Integer:
		return "INTEGER"
	case Real:
		return "REAL"
	case Blob:
		return "BLOB"
	}
	return "TEXT"
}

// Meta columns, in table order.
const (
	ColID         = "_id"
	ColRev        = "_rev"
	ColVersion    = "_version"
	ColState      = "_state"
	ColSchema     = "_schema"
	ColCreated    = "_created"
	ColCreatedBy  = "_created_by"
	ColModified   = "_modified"
	ColModifiedBy = "_modified_by"
	ColNulls      = "_nulls"
	ColUnknown    = "_unknown"
)

var metaCols = []Column{
	{Name: ColID, Class: Integer, Field: -1},
	{Name: ColRev, Class: Integer, Field: -1},
	{Name: ColVersion, Class: Text, Field: -1},
	{Name: ColState, Class: Integer, Field: -1},
	{Name: ColSchema, Class: Text, Field: -1},
	{Name: ColCreated, Class: Text, Field: -1},
	{Name: ColCreatedBy, Class: Text, Field: -1},
	{Name: ColModified, Class: Text, Field: -1},
	{Name: ColModifiedBy, Class: Text, Field: -1},
}

// nMeta is the number of meta columns before the fields.
var nMeta = len(metaCols)

// Column is one column of a tree's table.
type Column struct {
	Name  string
	Class Class
	// Field is the index of the schema field the column holds, -1 for a
	// meta column.
	Field int
	// Type is the field's type (nil for a meta column).
	Type *schema.Type
}

// Layout is the table of one tree. Build it with NewLayout.
type Layout struct {
	Tree    Tree
	Columns []Column       // meta columns, fields in schema order, _nulls, _unknown
	index   map[string]int // column name → index in Columns
	fields  map[string]int // field name → index in Columns
}

// ErrLayout is wrapped by the errors of NewLayout.
var ErrLayout = errors.New("sqlmap: tree has no table layout")

// NewLayout returns the table layout of t.
func NewLayout(t Tree) (*Layout, error) {
	st := &t.Schema.Type
	if st.Kind != schema.Struct {
		return nil, fmt.Errorf("%w: tree %s: its records are %s, not structs", ErrLayout, t.Name, st)
	}
	l := &Layout{Tree: t, index: map[string]int{}, fields: map[string]int{}}
	l.Columns = append(l.Columns, metaCols...)
	for i := range st.Fields {
		f := &st.Fields[i]
		if strings.HasPrefix(f.Name, "_") {
			return nil, fmt.Errorf("%w: tree %s: field %q: names starting with _ are the meta columns'", ErrLayout, t.Name, f.Name)
		}
		l.fields[f.Name] = len(l.Columns)
		l.Columns = append(l.Columns, Column{Name: f.Name, Class: ClassOf(&f.Type), Field: i, Type: &f.Type})
	}
	l.Columns = append(l.Columns, Column{Name: ColNulls, Class: Text, Field: -1}, Column{Name: ColUnknown, Class: Blob, Field: -1})
	for i, c := range l.Columns {
		if _, dup := l.index[c.Name]; dup {
			return nil, fmt.Errorf("%w: tree %s: two columns named %q", ErrLayout, t.Name, c.Name)
		}
		l.index[c.Name] = i
	}
	return l, nil
}

// Index returns the index of the column named name, or -1.
func (l *Layout) Index(name string) int {
	if i, ok := l.index[name]; ok {
		return i
	}
	return -1
}

// ClassOf returns the storage class of a field of type t.
func ClassOf(t *schema.Type) Class {
	for t.Kind == schema.Pointer && t.Elem != nil {
		t = t.Elem
	}
	switch t.Kind {
	case schema.Bool, schema.Int, schema.Uint, schema.Enum:
		return Integer
	case schema.Float:
		return Real
	case schema.String, schema.Time, schema.Ref:
		return Text
	case schema.Bytes, schema.Raw:
		return Blob
	}
	return JSON
}

// Deref returns the type a pointer type points to (through any number of
// pointers), or t itself.
func Deref(t *schema.Type) *schema.Type {
	for t.Kind == schema.Pointer && t.Elem != nil {
		t = t.Elem
	}
	return t
}

// FormatTime is the text form of a time in a table: RFC 3339 with
// nanoseconds, UTC (as the opaque text writes times).
func FormatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (int64, error) {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return tm.UnixNano(), nil
}

func versionText(v uint8) string { return db.VersionState(v).String() }

func parseVersion(s string) (uint8, error) {
	switch s {
	case "non-versioned":
		return record.NonVersioned, nil
	case "draft":
		return record.Draft, nil
	case "released":
		return record.Released, nil
	}
	return 0, fmt.Errorf("%q is not non-versioned, draft or released", s)
}

// Row is one record as the values of its table's columns, in Layout
// order: nil (NULL), int64, uint64 (only for a value above the largest
// int64), float64, string or []byte. SQLite's integers are signed: it
// holds such a uint64 as the int64 of the same 64 bits (SQLValue), which
// the import reads back for a 64-bit unsigned field.
type Row []any

// Row returns the row of the stored record rec of key key.
func (l *Layout) Row(key uint64, rec []byte) (Row, error) { return l.reader().row(key, rec) }

// rowReader turns stored records into rows, reusing its decoder. It is
// not safe for concurrent use.
type rowReader struct {
	l   *Layout
	r   bytes.Reader
	dec *msgpack.Decoder
}

func (l *Layout) reader() *rowReader {
	rr := &rowReader{l: l}
	rr.dec = msgpack.NewDecoder(&rr.r) // a bytes.Reader is read as it is: offsets stay exact
	return rr
}

func (rr *rowReader) row(key uint64, rec []byte) (Row, error) {
	m, data, err := record.Decode(rec, nil)
	if err != nil {
		return nil, err
	}
	row := make(Row, len(rr.l.Columns))
	id, rev := layout.Unpack(key)
	row[0], row[1] = int64(id), int64(rev)
	row[2], row[3] = versionText(m.Version), int64(m.State)
	row[4] = strconv.Itoa(int(m.Major)) + "." + strconv.Itoa(int(m.Minor))
	row[5], row[6] = FormatTime(m.Created), m.CreatedBy
	row[7], row[8] = FormatTime(m.Modified), m.ModifiedBy
	if err := rr.fill(row, data); err != nil {
		return nil, err
	}
	return row, nil
}

// fill sets the field columns, _nulls and _unknown of row from the
// record's value data.
func (rr *rowReader) fill(row Row, data []byte) error {
	if err := schema.Check(data); err != nil {
		return err
	}
	rr.r.Reset(data)
	dec := rr.dec
	pos := func() int { return len(data) - rr.r.Len() }
	n, err := dec.DecodeMapLen()
	if err != nil {
		return fmt.Errorf("the record is not a map: %w", err)
	}
	var nulls []string
	var unknown [][2][]byte // member name (msgpack) and value, raw
	for range n {
		start := pos()
		code, err := dec.PeekCode()
		if err != nil {
			return err
		}
		name := "\x00" // a key that is not a string: unknown to every schema
		if msgpcode.IsString(code) {
			if name, err = dec.DecodeString(); err != nil {
				return err
			}
		} else if err := dec.Skip(); err != nil {
			return err
		}
		kraw := data[start:pos()]
		ci, known := rr.l.fields[name]
		if !known {
			vstart := pos()
			if err := dec.Skip(); err != nil {
				return err
			}
			unknown = append(unknown, [2][]byte{kraw, data[vstart:pos()]})
			continue
		}
		c := &rr.l.Columns[ci]
		if code, err := dec.PeekCode(); err == nil && code == msgpcode.Nil {
			dec.Skip()
			nulls = append(nulls, name)
			row[ci] = nil
			continue
		}
		v, sk, err := rr.value(c, data, pos)
		if err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		row[ci] = v
		if sk != nil {
			unknown = append(unknown, [2][]byte{kraw, sk})
		}
	}
	if len(nulls) > 0 {
		b, _ := json.Marshal(nulls)
		row[len(row)-2] = string(b)
	}
	if len(unknown) > 0 {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.EncodeMapLen(len(unknown))
		for _, u := range unknown {
			buf.Write(u[0])
			buf.Write(u[1])
		}
		row[len(row)-1] = buf.Bytes()
	}
	return nil
}

// value decodes the field value the decoder reads next as the column's
// value. sk is the skeleton of the unknown members a nested struct holds
// (nil when none), for _unknown.
func (rr *rowReader) value(c *Column, data []byte, pos func() int) (v any, sk []byte, err error) {
	dec := rr.dec
	t := Deref(c.Type)
	switch t.Kind {
	case schema.Bool:
		b, err := dec.DecodeBool()
		if b {
			return int64(1), nil, err
		}
		return int64(0), nil, err
	case schema.Int:
		i, err := dec.DecodeInt64()
		return i, nil, err
	case schema.Uint:
		return decodeUint(dec)
	case schema.Enum:
		if t.Signed {
			i, err := dec.DecodeInt64()
			return i, nil, err
		}
		return decodeUint(dec)
	case schema.Float:
		f, err := dec.DecodeFloat64()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case math.IsNaN(f):
			return "NaN", nil, nil
		case math.IsInf(f, 1):
			return "+Inf", nil, nil
		case math.IsInf(f, -1):
			return "-Inf", nil, nil
		case f == 0 && math.Signbit(f):
			return "-0", nil, nil // see SQLValue
		}
		return f, nil, nil
	case schema.String:
		s, err := dec.DecodeString()
		return s, nil, err
	case schema.Bytes:
		b, err := dec.DecodeBytes()
		if b == nil && err == nil {
			b = []byte{}
		}
		return b, nil, err
	case schema.Raw:
		start := pos()
		if err := dec.Skip(); err != nil {
			return nil, nil, err
		}
		return bytes.Clone(data[start:pos()]), nil, nil
	case schema.Time:
		tm, err := dec.DecodeTime()
		if err != nil {
			return nil, nil, err
		}
		return tm.UTC().Format(time.RFC3339Nano), nil, nil
	}
	start := pos()
	if err := dec.Skip(); err != nil {
		return nil, nil, err
	}
	raw := data[start:pos()]
	text, err := schema.CompactText(raw, c.Type)
	if err != nil {
		return nil, nil, err
	}
	if t.Kind == schema.Ref {
		var s string
		err := json.Unmarshal([]byte(text), &s)
		return s, nil, err
	}
	if t.Kind == schema.Struct {
		sk, err = skeleton(raw, t)
	}
	return text, sk, err
}

// SQLValue is the value v of column c as SQLite stores it: a uint64 as
// the int64 of its bits, and a float's "-0" as a blob (SQLite would turn
// the text into the number 0: its REAL columns hold no negative zero).
func SQLValue(c *Column, v any) any {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case string:
		if c.Class == Real && x == "-0" {
			return []byte(x)
		}
	}
	return v
}

func decodeUint(dec *msgpack.Decoder) (any, []byte, error) {
	u, err := dec.DecodeUint64()
	if err != nil {
		return nil, nil, err
	}
	if u > math.MaxInt64 {
		return u, nil, nil // see Row
	}
	return int64(u), nil, nil
}

// skeleton returns the unknown members of the struct value raw of type t:
// a msgpack map of those t does not know, byte for byte, and of its struct
// fields that hold some, their skeletons. nil when there are none.
func skeleton(raw []byte, t *schema.Type) ([]byte, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	n, err := dec.DecodeMapLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	var members [][2][]byte
	for range n {
		kraw, err := dec.DecodeRaw()
		if err != nil {
			return nil, err
		}
		v, err := dec.DecodeRaw()
		if err != nil {
			return nil, err
		}
		var name string
		if msgpack.Unmarshal(kraw, &name) != nil {
			members = append(members, [2][]byte{kraw, v})
			continue
		}
		f, ok := t.Field(name)
		if !ok {
			members = append(members, [2][]byte{kraw, v})
			continue
		}
		if ft := Deref(&f.Type); ft.Kind == schema.Struct && len(v) > 0 && v[0] != msgpcode.Nil {
			sk, err := skeleton(v, ft)
			if err != nil {
				return nil, err
			}
			if sk != nil {
				members = append(members, [2][]byte{kraw, sk})
			}
		}
	}
	if len(members) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	msgpack.NewEncoder(&buf).EncodeMapLen(len(members))
	for _, m := range members {
		buf.Write(m[0])
		buf.Write(m[1])
	}
	return buf.Bytes(), nil
}
