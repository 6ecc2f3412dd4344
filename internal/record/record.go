// Package record is the stored form of one hills record: a fixed header
// holding the record's meta, followed by the record's value as a msgpack map.
// The client database and the server share it, so a record's bytes are the
// same on every replica.
//
// Layout (format 1), all integers big-endian:
//
//	format   uint8   (1)
//	version  uint8   (0 non-versioned, 1 draft, 2 released)
//	state    uint32  lifecycle number
//	evolution uint16 major, uint16 minor
//	created  int64   unix nanoseconds
//	modified int64   unix nanoseconds
//	changes  uint32  how many times the record was written
//	4 strings, each uvarint length + bytes: created by (name, id),
//	          modified by (name, id)
//	data     the rest: the value as a msgpack map
//
// Decode never panics and never trusts a length it has not checked.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Format is the version of the layout Encode writes.
const Format = 1

// Version states of a record.
const (
	NonVersioned uint8 = iota
	Draft
	Released
)

// maxString bounds each name stored in a header.
const maxString = 1 << 12

// ErrMalformed is wrapped by every Decode error.
var ErrMalformed = errors.New("record: malformed")

// Meta is the header of a stored record.
type Meta struct {
	Version      uint8
	State        uint32
	Major, Minor uint16
	Created      int64
	Modified     int64
	Changes      uint32
	CreatedBy    string
	CreatedByID  string
	ModifiedBy   string
	ModifiedByID string
}

const fixedLen = 1 + 1 + 4 + 2 + 2 + 8 + 8 + 4

// Encode appends the stored form of m and data to dst.
func Encode(dst []byte, m *Meta, data []byte) []byte {
	dst = append(dst, Format, m.Version)
	dst = binary.BigEndian.AppendUint32(dst, m.State)
	dst = binary.BigEndian.AppendUint16(dst, m.Major)
	dst = binary.BigEndian.AppendUint16(dst, m.Minor)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Created))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Modified))
	dst = binary.BigEndian.AppendUint32(dst, m.Changes)
	for _, s := range [...]string{m.CreatedBy, m.CreatedByID, m.ModifiedBy, m.ModifiedByID} {
		if len(s) > maxString {
			s = s[:maxString]
		}
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return append(dst, data...)
}

// Decode splits a stored record into its meta and its data. The returned
// data aliases b. Strings are passed through intern when it is not nil, so
// a caller loading many records can share the few names they hold.
func Decode(b []byte, intern func([]byte) string) (Meta, []byte, error) {
	var m Meta
	if len(b) < fixedLen {
		return m, nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(b), fixedLen)
	}
	if b[0] != Format {
		return m, nil, fmt.Errorf("%w: unknown format %d", ErrMalformed, b[0])
	}
	m.Version = b[1]
	if m.Version > Released {
		return m, nil, fmt.Errorf("%w: unknown version state %d", ErrMalformed, m.Version)
	}
	m.State = binary.BigEndian.Uint32(b[2:])
	m.Major = binary.BigEndian.Uint16(b[6:])
	m.Minor = binary.BigEndian.Uint16(b[8:])
	m.Created = int64(binary.BigEndian.Uint64(b[10:]))
	m.Modified = int64(binary.BigEndian.Uint64(b[18:]))
	m.Changes = binary.BigEndian.Uint32(b[26:])
	rest := b[fixedLen:]
	for _, dst := range [...]*string{&m.CreatedBy, &m.CreatedByID, &m.ModifiedBy, &m.ModifiedByID} {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > maxString || n > uint64(len(rest)-w) {
			return m, nil, fmt.Errorf("%w: bad name length", ErrMalformed)
		}
		if w > 1 && rest[w-1] == 0 {
			// A padded varint: Encode writes each length in the fewest
			// bytes, so a record has one stored form.
			return m, nil, fmt.Errorf("%w: padded name length", ErrMalformed)
		}
		s := rest[w : w+int(n)]
		if intern != nil {
			*dst = intern(s)
		} else {
			*dst = string(s)
		}
		rest = rest[w+int(n):]
	}
	if len(rest) == 0 {
		return m, nil, fmt.Errorf("%w: no data", ErrMalformed)
	}
	return m, rest, nil
}
