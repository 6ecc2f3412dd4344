package wire

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
)

// Entries frames carry catch-up, so Decode reads them with layout.Reader
// straight from the frame's bytes rather than through msgpack's reflection
// and reader: the same values, for any body msgpack.Unmarshal accepts.

// entriesKeys are Entries' msgpack keys in declaration order.
var entriesKeys = [][]byte{[]byte("changes")}

// entriesReader reads an Entries' fields (layout.FieldReader).
type entriesReader Entries

// ReadField reads Changes as msgpack reads a slice: nil for nil, and
// otherwise each Change decoded into the element already there (as a
// repeated key leaves it) or a new one.
func (m *entriesReader) ReadField(r *layout.Reader, _ int) {
	n := r.ArrayLen()
	if r.Err() != nil {
		return
	}
	switch {
	case n == -1:
		m.Changes = nil
		return
	case n == 0 && m.Changes == nil:
		m.Changes = []layout.Change{}
		return
	}
	chs := m.Changes
	if chs == nil {
		// Every Change takes at least a byte: a length beyond the body's
		// fails, once the body's worth of them is read.
		chs = make([]layout.Change, 0, min(n, r.Len()))
	}
	chs = chs[:min(n, cap(chs))]
	for i := range n {
		if i == len(chs) {
			chs = append(chs, layout.Change{})
		}
		layout.ReadChange(r, &chs[i])
		if r.Err() != nil {
			break
		}
	}
	m.Changes = chs
}

// decodeEntries decodes an Entries body as msgpack.Unmarshal would.
func decodeEntries(body []byte, m *Entries) error {
	var r layout.Reader
	r.Reset(body)
	if r.Struct(entriesKeys, (*entriesReader)(m)) {
		*m = Entries{}
	}
	return r.Err()
}

// unmarshal is msgpack.Unmarshal, with the fast path for Entries.
func unmarshal(body []byte, v any) error {
	if m, ok := v.(*Entries); ok {
		return decodeEntries(body, m)
	}
	return msgpack.Unmarshal(body, v)
}
