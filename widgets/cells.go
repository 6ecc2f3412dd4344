package widgets

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hillsdb/hills/db"
)

// parseRecord parses a record's JSON text into its members, keeping each
// value's JSON text.
func parseRecord(text string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// cellText renders one member's JSON value for a table cell: strings
// unquoted, times shortened, nested values as compact JSON, at most about
// 120 characters.
func cellText(raw json.RawMessage, t *db.Type) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	switch {
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			s = string(raw)
		}
		if t != nil && t.Kind == db.KindTime {
			if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
				s = tm.Local().Format("2006-01-02 15:04:05")
			}
		}
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			s = b.String()
		} else {
			s = string(raw)
		}
	default:
		s = string(raw)
	}
	if len(s) > 120 {
		s = s[:117] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// sortKey is a cell's value for ordering: numbers compare as numbers,
// everything else as text.
type sortKey struct {
	num   float64
	isNum bool
	text  string
}

func makeSortKey(s string) sortKey {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return sortKey{num: f, isNum: true}
	}
	return sortKey{text: strings.ToLower(s)}
}

func (a sortKey) compare(b sortKey) int {
	switch {
	case a.isNum && b.isNum:
		switch {
		case a.num < b.num:
			return -1
		case a.num > b.num:
			return 1
		}
		return 0
	case a.isNum:
		return -1
	case b.isNum:
		return 1
	}
	return strings.Compare(a.text, b.text)
}

type jsonRaw = json.RawMessage

// waitBriefly yields for a moment while polling background work.
func waitBriefly() { time.Sleep(time.Millisecond) }
