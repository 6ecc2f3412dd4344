package netsync

import (
	"bytes"
	"encoding/json"
	"slices"
)

// FieldChange is a field a change of a record moved: its value as compact
// JSON before and after, "" where the record did not have it.
type FieldChange struct {
	Field    string
	Old, New string
}

// Fields returns the top-level fields whose values differ between Old
// and New, in name order: empty when none does, nil when either is not a
// JSON object (a create, a delete, a borrow event).
func (c Change) Fields() []FieldChange {
	var oldF, newF map[string]json.RawMessage
	if json.Unmarshal([]byte(c.Old), &oldF) != nil || json.Unmarshal([]byte(c.New), &newF) != nil || oldF == nil || newF == nil {
		return nil
	}
	var names []string
	for n := range newF {
		names = append(names, n)
	}
	for n := range oldF {
		if _, ok := newF[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := []FieldChange{}
	for _, n := range names {
		o, nw := CompactJSON(string(oldF[n])), CompactJSON(string(newF[n]))
		if o != nw {
			out = append(out, FieldChange{Field: n, Old: o, New: nw})
		}
	}
	return out
}

// CompactJSON is JSON text without its insignificant spaces; text that
// is not JSON is returned as it is.
func CompactJSON(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}
