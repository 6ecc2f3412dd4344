package sqlmap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// WriteCSV writes tree t of src as CSV: a header row of the column names
// (Layout order), then one line per record. NULL is an empty cell, blobs
// are standard base64, nested values JSON text.
func WriteCSV(w io.Writer, src *Source, t Tree) (int, error) {
	l, err := NewLayout(t)
	if err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	cells := make([]string, len(l.Columns))
	for i, c := range l.Columns {
		cells[i] = c.Name
	}
	if err := cw.Write(cells); err != nil {
		return 0, err
	}
	n := 0
	err = src.Scan(t.Name, func(key uint64, rec []byte) error {
		row, err := l.Row(key, rec)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, t.Name, keyText(key), err)
		}
		for i, v := range row {
			cells[i] = cellText(v)
		}
		n++
		return cw.Write(cells)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return n, err
}

func cellText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return v
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	}
	return fmt.Sprint(v)
}

// WriteJSONLines writes tree t of src as JSON lines: per record one
// object of the meta columns (_id, _rev, _version, ... as in the table)
// followed by the record's members as its opaque text has them.
func WriteJSONLines(w io.Writer, src *Source, t Tree) (int, error) {
	l, err := NewLayout(t)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	var line bytes.Buffer
	n := 0
	err = src.Scan(t.Name, func(key uint64, rec []byte) error {
		row, err := l.Row(key, rec)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, t.Name, keyText(key), err)
		}
		_, data, err := record.Decode(rec, nil)
		if err != nil {
			return err
		}
		text, err := schema.Text(data, &t.Schema.Type)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, t.Name, keyText(key), err)
		}
		line.Reset()
		line.WriteByte('{')
		for i := range nMeta {
			if i > 0 {
				line.WriteByte(',')
			}
			name, _ := json.Marshal(l.Columns[i].Name)
			val, _ := json.Marshal(row[i])
			line.Write(name)
			line.WriteByte(':')
			line.Write(val)
		}
		var body bytes.Buffer
		if err := json.Compact(&body, []byte(text)); err != nil {
			return err
		}
		if b := body.Bytes(); len(b) > 2 {
			line.WriteByte(',')
			line.Write(b[1:])
		} else {
			line.WriteByte('}')
		}
		line.WriteByte('\n')
		n++
		_, err = bw.Write(line.Bytes())
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return n, err
}

// ReadCSV reads the records of tree t from CSV with a header row naming
// columns: fields of the schema and, optionally, meta columns. A row
// without _id (or with it empty) is a new record (id 0, see
// Defaults.NewIDs). An empty cell is a field the record does not hold,
// except in a column of a string field: there it is the empty string. A
// cell that does not fit is an error naming the line and the column.
func ReadCSV(r io.Reader, t Tree, def Defaults) ([]KeyRecord, error) {
	l, err := NewLayout(t)
	if err != nil {
		return nil, err
	}
	def.NewIDs = true
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: the header row: %w", err)
	}
	head = slices.Clone(head) // the reader reuses its slice
	at := make([]int, len(head))
	seen := map[int]bool{}
	for i, name := range head {
		at[i] = l.Index(name)
		if at[i] < 0 {
			return nil, fmt.Errorf("line 1, column %d (%s): not a field of tree %s nor a meta column", i+1, name, t.Name)
		}
		if seen[at[i]] {
			return nil, fmt.Errorf("line 1, column %d (%s): named twice", i+1, name)
		}
		seen[at[i]] = true
	}
	var out []KeyRecord
	for {
		cells, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, err // csv.ParseError names the line and column
		}
		row := make(Row, len(l.Columns))
		for i, cell := range cells {
			c := &l.Columns[at[i]]
			v, err := cellValue(c, cell)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d, column %d (%s): %v", ErrRow, line, i+1, c.Name, err)
			}
			row[at[i]] = v
		}
		key, rec, err := l.Record(row, def)
		if err != nil {
			var ce *ColumnError
			if errors.As(err, &ce) {
				return nil, fmt.Errorf("%w: line %d, column %d (%s): %v", ErrRow, line, columnNumber(head, ce.Column), ce.Column, ce.Err)
			}
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, KeyRecord{Key: key, Record: rec})
	}
}

func columnNumber(head []string, name string) int {
	for i, h := range head {
		if h == name {
			return i + 1
		}
	}
	return 0
}

// cellValue is the Row value of a CSV cell of column c.
func cellValue(c *Column, cell string) (any, error) {
	if cell == "" {
		if c.Type != nil && Deref(c.Type).Kind == schema.String {
			return "", nil
		}
		return nil, nil
	}
	if c.Name == ColUnknown {
		b, err := base64.StdEncoding.DecodeString(cell)
		if err != nil {
			return nil, fmt.Errorf("not base64: %v", err)
		}
		return b, nil
	}
	return cell, nil
}
