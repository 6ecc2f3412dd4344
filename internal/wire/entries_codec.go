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

// ReadField reads Changes as msgpack reads a slice: nil for nil, a new
// slice of the decoded Changes otherwise.
func (m *entriesReader) ReadField(r *layout.Reader, _ int) {
	n := r.ArrayLen()
	if r.Err() != nil {
		return
	}
	if n == -1 {
		m.Changes = nil
		return
	}
	// Every Change takes at least a byte: a length beyond the body's is
	// cut short later, after no more than the body's worth of them.
	chs := make([]layout.Change, 0, min(n, r.Len()))
	for range n {
		chs = append(chs, layout.Change{})
		layout.ReadChange(r, &chs[len(chs)-1])
		if r.Err() != nil {
			return
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
