package mirror

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/sqlmap"
)

// pgType is the PostgreSQL type of column c.
func pgType(c *sqlmap.Column) string {
	switch c.Name {
	case sqlmap.ColID, sqlmap.ColRev, sqlmap.ColState:
		return "bigint"
	case sqlmap.ColCreated, sqlmap.ColModified:
		return "timestamptz"
	case sqlmap.ColNulls, sqlmap.ColUnknown:
		return "jsonb"
	}
	if c.Type == nil {
		return "text"
	}
	t := sqlmap.Deref(c.Type)
	switch t.Kind {
	case schema.Bool:
		return "boolean"
	case schema.Int:
		return "bigint"
	case schema.Uint, schema.Enum:
		if t.Bits == 64 && !t.Signed {
			return "numeric(20)"
		}
		return "bigint"
	case schema.Float:
		return "double precision"
	case schema.Time:
		return "timestamptz"
	case schema.String, schema.Ref:
		return "text"
	case schema.Bytes, schema.Raw:
		return "bytea"
	}
	return "jsonb"
}

// pgRow is the row of record k in l's table, from its meta and opaque
// text: the values to bind, in column order. Times are PostgreSQL's
// (microseconds); the fields the schema does not know are a jsonb object
// in _unknown; a NUL in text, which PostgreSQL cannot hold, is U+FFFD.
func pgRow(l *sqlmap.Layout, k db.OpaqueKey, m db.Meta, text string) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	var members map[string]json.RawMessage
	if err := dec.Decode(&members); err != nil {
		return nil, err
	}
	vals := make([]any, len(l.Columns))
	vals[0], vals[1] = int64(k.ID), int64(k.Rev)
	vals[2], vals[3] = m.Version.String(), int64(m.State)
	vals[4] = fmt.Sprintf("%d.%d", m.Evolution.Major, m.Evolution.Minor)
	vals[5], vals[6], vals[7], vals[8] = m.Created, m.CreatedBy, m.Modified, m.ModifiedBy
	var nulls []string
	for i := range l.Columns {
		c := &l.Columns[i]
		if c.Field < 0 {
			continue
		}
		raw, ok := members[c.Name]
		if !ok {
			continue
		}
		delete(members, c.Name)
		if string(raw) == "null" {
			nulls = append(nulls, c.Name)
			continue
		}
		v, err := pgValue(c, raw)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", c.Name, err)
		}
		vals[i] = v
	}
	if len(nulls) > 0 {
		b, _ := json.Marshal(nulls)
		vals[len(vals)-2] = string(b)
	}
	if len(members) > 0 {
		b, _ := json.Marshal(members)
		vals[len(vals)-1] = jsonText(b)
	}
	return vals, nil
}

// pgValue converts a field's JSON text to the value bound for its column.
func pgValue(c *sqlmap.Column, raw json.RawMessage) (any, error) {
	t := sqlmap.Deref(c.Type)
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
	}
	switch t.Kind {
	case schema.Bool:
		return string(raw) == "true", nil
	case schema.Int, schema.Uint, schema.Enum:
		if t.Bits == 64 && !t.Signed && t.Kind != schema.Int {
			return string(raw), nil // numeric, from its text
		}
		return strconv.ParseInt(string(raw), 10, 64)
	case schema.Float:
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(string(raw), 64)
	case schema.Time:
		return time.Parse(time.RFC3339Nano, s)
	case schema.String, schema.Ref:
		return strings.ReplaceAll(s, "\x00", "\uFFFD"), nil
	case schema.Bytes, schema.Raw:
		return base64.StdEncoding.DecodeString(s)
	}
	return jsonText(raw), nil
}

// jsonText is JSON for a jsonb column: PostgreSQL's text holds no NUL, so
// an escaped one (\u0000) becomes U+FFFD.
func jsonText(raw []byte) string {
	const nul = `\u0000`
	s := string(raw)
	if !strings.Contains(s, nul) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], nul) {
			// An escape only when an even number of backslashes precede.
			n := 0
			for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				b.WriteString(`\ufffd`)
				i += len(nul) - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
