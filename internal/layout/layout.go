// Package layout is the key layout of a hills store on Pebble, shared by the
// client database and the server. Every key starts with one prefix byte
// naming its kind; tree names never contain 0x00, so a 0x00 separates a tree
// name from what follows it.
//
//	0x01 'i'                     database info (DBInfo, msgpack)
//	0x02 tree                    tree info (TreeInfo, msgpack)
//	0x03 tree                    tree schema
//	0x04 tree 0x00 id rev        record (see package record)
//	0x05 tree 0x00 id rev        borrow of a record
//	0x06 seq                     outbox entry of a replica
//	0x07 name                    sync state of a replica
//	0x08 tree 0x00 id rev seq    edits of a replica set aside when it lost
//	                             the record's check-out (Recovered, msgpack)
//	0x09 seq at                  a change from the server the replica could
//	                             not apply, kept aside (Unapplied, msgpack)
//	0x10 ...                     reserved for the server
//
// Ids and revisions are big-endian so records sort by id, then revision.
//
// Change, the outbox entry, log entry and wire change, has a hand-written
// msgpack codec (codec.go) that writes the bytes reflection wrote and reads
// all it read; Reader decodes msgpack straight from a byte slice for the
// hot paths (UnmarshalChange, the server's log, Entries frames). Decoded
// Records and Sums are copies owned by the Change. A Reader is not safe
// for concurrent use.
package layout

import (
	"encoding/binary"
	"errors"
)

// Prefixes of the key kinds.
const (
	PrefixInfo   byte = 0x01
	PrefixTree   byte = 0x02
	PrefixSchema byte = 0x03
	PrefixRecord byte = 0x04
	PrefixBorrow byte = 0x05
	PrefixOutbox byte = 0x06
	PrefixSync   byte = 0x07
	PrefixRecov  byte = 0x08
	PrefixUnappl byte = 0x09
	PrefixServer byte = 0x10
)

// InfoKey is the key of the database info.
var InfoKey = []byte{PrefixInfo, 'i'}

// DBInfo describes a database; it is written when the database is created.
type DBInfo struct {
	Format   int    `msgpack:"format"`
	Replica  bool   `msgpack:"replica"`
	ClientID string `msgpack:"client_id"`
	Created  int64  `msgpack:"created"`
}

// Range is a half-open range of ids [Lo, Hi).
type Range struct {
	Lo uint32 `msgpack:"lo"`
	Hi uint32 `msgpack:"hi"`
}

// TreeInfo is the persistent state of one tree.
type TreeInfo struct {
	NextID    uint32  `msgpack:"next_id"`          // standalone: next id to grant
	Ranges    []Range `msgpack:"ranges,omitempty"` // replica: ids granted by the server, unused
	Versioned bool    `msgpack:"versioned"`
	Major     uint16  `msgpack:"major"`
	Minor     uint16  `msgpack:"minor"`
}

// Change is one change to one record, as a replica's outbox holds it and
// as it travels to the server.
type Change struct {
	Seq    uint64 `msgpack:"seq"` // outbox sequence of the writer
	Tree   string `msgpack:"tree"`
	Key    uint64 `msgpack:"key"`    // packed id and revision
	Kind   uint8  `msgpack:"kind"`   // db.EventKind, or KindDelta
	Record []byte `msgpack:"record"` // stored form (package record); nil for a delete; a Delta for KindDelta
	// Sum is set by the server on a log entry: the digest of the log up to
	// and including it (netsync). Nil elsewhere.
	Sum []byte `msgpack:"sum,omitempty"`
}

// KindDelta is the Change.Kind of a counter delta (Tree.Add): Record
// holds a msgpack Delta, not a record. It travels only from a replica to
// the server; the server logs the record the delta made, as an update.
const KindDelta uint8 = 5

// Delta is a change of a counter field by an amount.
type Delta struct {
	Field string `msgpack:"field"` // the counter's msgpack name
	Delta int64  `msgpack:"delta"`
}

// TreeKey is the key of a tree's info.
func TreeKey(tree string) []byte { return append([]byte{PrefixTree}, tree...) }

// SchemaKey is the key of a tree's schema.
func SchemaKey(tree string) []byte { return append([]byte{PrefixSchema}, tree...) }

// RecordKey is the key of one record.
func RecordKey(tree string, key uint64) []byte { return itemKey(PrefixRecord, tree, key) }

// BorrowKey is the key of one record's borrow.
func BorrowKey(tree string, key uint64) []byte { return itemKey(PrefixBorrow, tree, key) }

// RecordPrefix is the prefix of all records of a tree; RecordPrefixEnd is
// the first key after them.
func RecordPrefix(tree string) []byte { return itemPrefix(PrefixRecord, tree) }

// BorrowPrefix is the prefix of all borrows of a tree.
func BorrowPrefix(tree string) []byte { return itemPrefix(PrefixBorrow, tree) }

// PrefixEnd returns the first key after every key that starts with p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func itemPrefix(prefix byte, tree string) []byte {
	b := make([]byte, 0, len(tree)+2+8)
	b = append(b, prefix)
	b = append(b, tree...)
	return append(b, 0)
}

func itemKey(prefix byte, tree string, key uint64) []byte {
	return binary.BigEndian.AppendUint64(itemPrefix(prefix, tree), key)
}

// ErrBadKey reports a key that is not of the layout.
var ErrBadKey = errors.New("layout: malformed key")

// ParseItemKey splits a record or borrow key into its tree and record key.
func ParseItemKey(k []byte) (tree string, key uint64, err error) {
	if len(k) < 1+1+1+8 {
		return "", 0, ErrBadKey
	}
	sep := len(k) - 9
	if k[sep] != 0 {
		return "", 0, ErrBadKey
	}
	return string(k[1:sep]), binary.BigEndian.Uint64(k[sep+1:]), nil
}

// ItemID returns the record key packed in the last 8 bytes of an item key
// whose prefix is already known.
func ItemID(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

// OutboxKey is the key of outbox entry seq.
func OutboxKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{PrefixOutbox}, seq)
}

// RecoveredKey is the key of edits set aside: those of a record up to
// outbox sequence seq.
func RecoveredKey(tree string, key, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(itemKey(PrefixRecov, tree, key), seq)
}

// RecoveredPrefix is the prefix of the edits of one record set aside.
func RecoveredPrefix(tree string, key uint64) []byte { return itemKey(PrefixRecov, tree, key) }

// Recovered is edits of a record a replica set aside when it lost the
// record's check-out: the record as its last unaccepted change left it.
type Recovered struct {
	Tree   string `msgpack:"tree"`
	Key    uint64 `msgpack:"key"`
	Seq    uint64 `msgpack:"seq"`    // outbox sequence of the last change set aside
	Kind   uint8  `msgpack:"kind"`   // db.EventKind of that change
	Record []byte `msgpack:"record"` // stored form; nil for a delete
	At     int64  `msgpack:"at"`     // when it was set aside, Unix ns
	Reason string `msgpack:"reason"`
	By     string `msgpack:"by"` // who took the check-out back; "" when the server refused the change
}

// UnappliedKey is the key of a change from the server set aside at log
// sequence seq (0 for one without a sequence: a snapshot's or an ack's)
// and time at (Unix ns), which tells apart several of one sequence.
func UnappliedKey(seq uint64, at int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{PrefixUnappl}, seq), uint64(at))
}

// Unapplied is a change from the server a replica could not apply.
type Unapplied struct {
	Change Change `msgpack:"change"`
	At     int64  `msgpack:"at"` // when it was set aside, Unix ns
	Reason string `msgpack:"reason"`
}

// SyncKey is the key of a named piece of a replica's sync state.
func SyncKey(name string) []byte { return append([]byte{PrefixSync}, name...) }

// Pack makes the sortable 64-bit form of an id and revision.
func Pack(id, rev uint32) uint64 { return uint64(id)<<32 | uint64(rev) }

// Unpack splits a packed key.
func Unpack(k uint64) (id, rev uint32) { return uint32(k >> 32), uint32(k) }

// ValidTreeName reports whether name may name a tree: [a-z0-9][a-z0-9_.-]*,
// at most 128 bytes. Names starting with '_' are reserved for hills.
func ValidTreeName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
