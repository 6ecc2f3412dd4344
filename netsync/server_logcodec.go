package netsync

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
)

// logEntry has a hand-written msgpack codec, like the Change it embeds
// (internal/layout/codec.go): catch-up decodes every stored entry. Its
// stored form is the one reflection wrote, a single flat map: the
// Change's keys (inlined, as msgpack inlines an embedded struct) then
// origin, origin_seq and at. A codec on Change alone would end that
// inlining, so logEntry must keep its own.

// Keys of a log entry's own fields, after the Change's.
const (
	keyOrigin    = "origin"
	keyOriginSeq = "origin_seq"
	keyAt        = "at"
)

// logEntryKeys are a log entry's fields in declaration order (the array
// form of the struct).
var logEntryKeys = append(append([][]byte(nil), layout.ChangeKeys()...),
	[]byte(keyOrigin), []byte(keyOriginSeq), []byte(keyAt))

// EncodeMsgpack implements msgpack.CustomEncoder.
func (e logEntry) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeMapLen(e.Change.FieldCount() + 3); err != nil {
		return err
	}
	if err := e.Change.EncodeFields(enc); err != nil {
		return err
	}
	if err := enc.EncodeString(keyOrigin); err != nil {
		return err
	}
	if err := enc.EncodeString(e.Origin); err != nil {
		return err
	}
	if err := enc.EncodeString(keyOriginSeq); err != nil {
		return err
	}
	if err := enc.EncodeUint64(e.OriginSeq); err != nil {
		return err
	}
	if err := enc.EncodeString(keyAt); err != nil {
		return err
	}
	return enc.EncodeInt64(e.At)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (e *logEntry) DecodeMsgpack(d *msgpack.Decoder) error {
	zero, err := layout.DecodeStruct(d, logEntryKeys, e)
	if zero {
		*e = logEntry{}
	}
	return err
}

// DecodeField decodes field i of logEntryKeys; see layout.DecodeStruct.
func (e *logEntry) DecodeField(d *msgpack.Decoder, i int) error {
	var err error
	switch i - len(layout.ChangeKeys()) {
	case 0:
		e.Origin, err = d.DecodeString()
	case 1:
		e.OriginSeq, err = d.DecodeUint64()
	case 2:
		e.At, err = d.DecodeInt64()
	default:
		return e.Change.DecodeField(d, i)
	}
	return err
}

// ReadField reads field i of logEntryKeys (layout.FieldReader).
func (e *logEntry) ReadField(r *layout.Reader, i int) {
	switch i - len(layout.ChangeKeys()) {
	case 0:
		e.Origin = r.String()
	case 1:
		e.OriginSeq = r.Uint()
	case 2:
		e.At = r.Int()
	default:
		e.Change.ReadField(r, i)
	}
}

// unmarshalLogEntry decodes a stored log entry as msgpack.Unmarshal would,
// straight from its bytes, with r (reused across entries: they share the
// memory of equal strings). Record and Sum are copies, or with alias set
// parts of b.
func unmarshalLogEntry(r *layout.Reader, b []byte, e *logEntry, alias bool) error {
	if alias {
		r.ResetAlias(b)
	} else {
		r.Reset(b)
	}
	if r.Struct(logEntryKeys, e) {
		*e = logEntry{}
	}
	return r.Err()
}
