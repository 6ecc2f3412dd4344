// Package wire is the hills sync protocol's framing and messages, shared by
// the server, the client and tests that speak the protocol raw. See
// netsync/PROTOCOL.md.
//
// A frame is a 4-byte big-endian length n, then n bytes: one byte of
// message type and the message as msgpack. n is at least 1 and at most the
// reader's limit; anything else is a protocol error and ends the
// connection.
package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/replica"
)

// ALPN names the protocol version in the TLS handshake. Version 2 added
// client certificates, enrollment tokens, grants and refusal notices.
const ALPN = "hills/2"

// MaxFrame is the default largest frame accepted.
const MaxFrame = 16 << 20

// ErrProtocol is wrapped by every framing and decoding error. It is also
// netsync.ErrProtocol: wire is netsync's framing, and its errors reach
// users only through netsync, so the text names netsync and one value
// keeps errors.Is true for errors made on either side.
var ErrProtocol = errors.New("netsync: protocol error")

// Message types. New types are added at the end only.
const (
	THello     uint8 = iota + 1 // client → server, first
	TWelcome                    // server → client, answer to Hello
	TRefuse                     // server → client: the connection is refused; then close
	TEntries                    // server → client: log entries (catch-up and live)
	TCaughtUp                   // server → client: catch-up reached Seq; live from here
	TPush                       // client → server: outbox changes
	TAck                        // server → client: the outcome of one pushed change
	TIDRequest                  // client → server: ask for ids of a tree
	TIDGrant                    // server → client: ids granted
	TTree                       // client → server: declare a tree
	TPing                       // client → server: asks the current sequence
	TPong                       // server → client: answer to Ping
)

// Codes of errors that cross the network. New codes are added at the end
// only; a code's meaning never changes.
const (
	CodeOK            uint16 = iota
	CodeNotCheckedOut        // the client does not hold the record
	CodeNotFound             // the record does not exist
	CodeOutOfRange           // a create outside the client's id ranges
	CodeExists               // the record exists, or existed and was deleted
	CodeReleased             // the record is released
	CodeBadRecord            // the record bytes do not decode
	CodeAppID                // the application id differs
	CodeProtocol             // a malformed or unexpected message
	CodeInternal             // the server failed
	CodeBadTree              // an invalid tree name or declaration
	CodeServerBehind         // the server's log is behind the client's: restored from an older backup
	CodeUnauthorized         // unknown, used, expired or revoked credential
	CodePermission           // the client's grants do not allow it
	CodeLimit                // the client went over one of the server's limits
	CodeBadSchema            // a tree declaration whose schema is invalid or incompatible
	CodeUnavailable          // the server cannot store anything now (its disk failed or is full)
	CodeBelowFloor           // a counter delta would take the value below the counter's minimum
)

// KindTree marks a log entry that declares a tree: Record holds a
// msgpack TreeDecl. Other kinds are db.EventKind values.
const KindTree uint8 = 100

// Hello opens a session. Who the client is comes from its TLS
// certificate, not from this message: ClientID and Name are what the
// client calls itself, used by an open server only.
type Hello struct {
	AppID    string `msgpack:"app"`
	ClientID string `msgpack:"client"`
	Name     string `msgpack:"name"`
	LastSeq  uint64 `msgpack:"last_seq"`        // last log sequence the client applied
	Token    string `msgpack:"token,omitempty"` // the enrollment token, on first contact only
	// LastSum is the digest of the log up to LastSeq as the client applied
	// it (the Sum of that entry); Lineage the server's lineage the client
	// knows. Either differing from the server's means the server was
	// restored from a backup. Resync asks for a snapshot: the client has
	// not finished taking in a restored server's state.
	LastSum []byte `msgpack:"last_sum,omitempty"`
	Lineage string `msgpack:"lineage,omitempty"`
	Resync  bool   `msgpack:"resync,omitempty"`
}

// Welcome accepts a session and tells the client who the server knows it
// as and what it may do.
type Welcome struct {
	ServerID string  `msgpack:"server"`
	AppID    string  `msgpack:"app"`
	Seq      uint64  `msgpack:"seq"`    // the log's sequence now
	ClientID string  `msgpack:"client"` // the client's id on the server
	Name     string  `msgpack:"name"`   // the client's name on the server (enrolled, or its own in open mode)
	Grants   []Grant `msgpack:"grants"`
	// Lineage is the server store's lineage id: a restore changes it.
	// Restored: the log the client applied up to Hello.LastSeq is not this
	// server's (restored from a backup); a snapshot follows.
	Lineage  string `msgpack:"lineage,omitempty"`
	Restored bool   `msgpack:"restored,omitempty"`
	// Ranges are the id ranges the server knows it granted this client,
	// per tree: the client drops any other it holds.
	Ranges map[string][]layout.Range `msgpack:"ranges,omitempty"`
}

// Grant is one entry of a client's permissions: a tree name or "*", and
// a set of access bits (netsync.Access).
type Grant struct {
	Tree   string `msgpack:"tree"`
	Access uint8  `msgpack:"access"`
}

// Refuse ends a session with a reason.
type Refuse struct {
	Code uint16 `msgpack:"code"`
	Msg  string `msgpack:"msg"`
}

// Entries carries log entries in sequence order; Change.Seq is the log
// sequence.
type Entries struct {
	Changes []layout.Change `msgpack:"changes"`
}

// CaughtUp says catch-up is complete up to Seq.
type CaughtUp struct {
	Seq uint64 `msgpack:"seq"`
}

// Push carries outbox changes in outbox order; Change.Seq is the
// client's outbox sequence.
type Push struct {
	Changes []layout.Change `msgpack:"changes"`
}

// Ack is the outcome of one pushed change. Seq is the log sequence it got
// (0 when rejected). A rejection carries the server's current stored
// record (nil: none), for the client to put back; an acceptance carries
// the change itself (Kind, Record), for a client that lost it in a crash.
type Ack struct {
	Outbox uint64 `msgpack:"outbox"`
	Seq    uint64 `msgpack:"seq"`
	Code   uint16 `msgpack:"code"`
	Msg    string `msgpack:"msg,omitempty"`
	Tree   string `msgpack:"tree,omitempty"`
	Key    uint64 `msgpack:"key,omitempty"`
	Record []byte `msgpack:"record,omitempty"`
	Kind   uint8  `msgpack:"kind,omitempty"` // of an accepted change: db.EventKind
	Sum    []byte `msgpack:"sum,omitempty"`  // of an accepted change: the log's digest at Seq
}

// IDRequest asks for N ids of Tree.
type IDRequest struct {
	Tree string `msgpack:"tree"`
	N    uint32 `msgpack:"n"`
}

// IDGrant grants the ids [Lo, Hi) of Tree.
type IDGrant struct {
	Tree string `msgpack:"tree"`
	Lo   uint32 `msgpack:"lo"`
	Hi   uint32 `msgpack:"hi"`
}

// Tree declares a tree.
type Tree struct {
	Decl replica.TreeDecl `msgpack:"decl"`
}

// Ping asks the server's current sequence; Pong answers with the same
// Nonce. The answer follows every entry up to Seq on the same stream.
type Ping struct {
	Nonce uint64 `msgpack:"nonce"`
}

// Pong answers Ping.
type Pong struct {
	Nonce uint64 `msgpack:"nonce"`
	Seq   uint64 `msgpack:"seq"`
}

// AppendFrame appends the whole frame holding v as message type t to dst:
// the bytes Write writes.
func AppendFrame(dst []byte, t uint8, v any) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.enc.Encode(v); err != nil {
		return dst, err
	}
	hdr := header(e.buf.Len(), t)
	return append(append(dst, hdr[:]...), e.buf.Bytes()...), nil
}

// header is the start of a frame of type t with a body of n bytes: its
// length, type included, and the type.
func header(n int, t uint8) [5]byte {
	var h [5]byte
	binary.BigEndian.PutUint32(h[:4], uint32(n+1))
	h[4] = t
	return h
}

// Write writes one frame holding v as message type t. It does not flush.
func Write(w *bufio.Writer, t uint8, v any) error {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	hdr := header(e.buf.Len(), t)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(e.buf.Bytes())
	return err
}

// frameEncoder encodes frame bodies into a buffer reused from frame to
// frame: catch-up and fan-out send many, and the garbage of a new body
// each time costs the collector more than the encoding.
type frameEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var frameEncoders = sync.Pool{New: func() any {
	e := new(frameEncoder)
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}}

func getEncoder() *frameEncoder {
	e := frameEncoders.Get().(*frameEncoder)
	e.buf.Reset()
	return e
}

// putEncoder keeps e for the next frame, unless its buffer grew past what
// frames usually need.
func putEncoder(e *frameEncoder) {
	if e.buf.Cap() <= 4<<20 {
		frameEncoders.Put(e)
	}
}

// Read reads one frame of at most max bytes and returns its type and body.
// buf is reused when large enough. Memory for a large frame is allocated
// as its bytes arrive, not when its header announces them, so a peer that
// announces a large frame and sends nothing costs little.
func Read(r *bufio.Reader, limit int, buf []byte) (t uint8, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(limit) {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes (limit %d)", ErrProtocol, n, limit)
	}
	buf = buf[:0]
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			// Grow by at most what has arrived so far (and 64 KiB to start).
			grow := min(int(n)-len(buf), max(len(buf), growStart))
			buf = slices.Grow(buf, grow)
		}
		chunk := buf[len(buf):min(cap(buf), int(n))]
		m, err := io.ReadFull(r, chunk)
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
	return buf[0], buf[1:], nil
}

// growStart is how much of a frame's body is allocated before any of it
// arrived.
const growStart = 64 << 10

// Decode decodes a message body into v.
func Decode(body []byte, v any) error {
	if err := unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %T: %w", ErrProtocol, v, err)
	}
	return nil
}

// Check-out messages. New types continue the list above.
const (
	TCheckOut   uint8 = iota + 13 // client → server: join a record's queue
	TCheckIn                      // client → server: give a record back
	TCancel                       // client → server: leave a record's queue
	TBorrow                       // server → every client: a record's check-out changed
	TReply                        // server → client: the outcome of CheckOut or CheckIn
	TForced                       // server → the former holder: an administrator took the record back
	TBorrows                      // server → client after catch-up: every record's check-out
	TForcedSeen                   // client → server: the client kept what Forced concerns; forget the notice
	TSnapshot                     // server → client: a snapshot replaces catch-up from a compacted log
	TNotice                       // server → client: something the client sent was refused; the session goes on
)

// Notice tells a client that a message it sent, other than a pushed
// change (those get an Ack), was refused: a tree declaration, an id
// request, or a message over a limit. Tree and Key name what it concerns
// when they apply.
type Notice struct {
	Code uint16 `msgpack:"code"`
	Msg  string `msgpack:"msg"`
	Tree string `msgpack:"tree,omitempty"`
	Key  uint64 `msgpack:"key,omitempty"`
	// Of names the message type refused (TTree, TIDRequest, ...).
	Of uint8 `msgpack:"of"`
}

// Borrows lists every record's check-out; records not listed are free.
// It reflects every change before version Ver: a Borrow of a lower Ver
// that arrives after it is older news and is ignored.
type Borrows struct {
	List []Borrow `msgpack:"list"`
	Ver  uint64   `msgpack:"ver,omitempty"`
}

// CheckOut asks to borrow a record; the server replies when granted.
type CheckOut struct {
	Req  uint64 `msgpack:"req"`
	Tree string `msgpack:"tree"`
	Key  uint64 `msgpack:"key"`
}

// CheckIn gives a record back; Cancel leaves its queue.
type CheckIn = CheckOut

// Borrow is the state of a record's check-out: Queue[0] holds it.
type Borrow struct {
	Tree  string   `msgpack:"tree"`
	Key   uint64   `msgpack:"key"`
	Queue []Holder `msgpack:"queue"`
	Ver   uint64   `msgpack:"ver,omitempty"` // the change's version on the server, in this connection's order
}

// Holder is a client in a record's queue.
type Holder struct {
	ID   string `msgpack:"id"`
	Name string `msgpack:"name"`
}

// Reply answers CheckOut and CheckIn.
type Reply struct {
	Req  uint64 `msgpack:"req"`
	Code uint16 `msgpack:"code"`
	Msg  string `msgpack:"msg,omitempty"`
}

// Forced tells a client an administrator returned its borrow. The server
// keeps the notice until the client answers with ForcedSeen (the same
// message), and sends it again first thing on each connection till then.
type Forced struct {
	Tree   string `msgpack:"tree"`
	Key    uint64 `msgpack:"key"`
	Reason string `msgpack:"reason"`
	By     string `msgpack:"by"`
	At     int64  `msgpack:"at,omitempty"` // when, Unix ns
}

// Snapshot opens (Done false) and closes (Done true) a snapshot catch-up:
// the log before the client's last sequence was compacted, so the server
// sends every tree declaration and record as it is (Entries with Seq 0),
// and the client drops the records the snapshot did not hold, except its
// own unsent ones. Seq is the log sequence the snapshot stands for.
type Snapshot struct {
	Seq  uint64 `msgpack:"seq"`
	Done bool   `msgpack:"done"`
	Sum  []byte `msgpack:"sum,omitempty"` // the log's digest at Seq
}

// History messages. New types continue the list above.
const (
	THistoryRequest uint8 = iota + 23 // client → server: a record's history, a page at a time
	THistory                          // server → client: one page of a record's history
)

// HistoryRequest asks for the history of the record Tree/Key: the rows
// after position After (0: from the oldest kept), oldest first.
type HistoryRequest struct {
	Req   uint64 `msgpack:"req"`
	Tree  string `msgpack:"tree"`
	Key   uint64 `msgpack:"key"`
	After uint64 `msgpack:"after,omitempty"`
}

// History answers HistoryRequest with one page of rows, oldest first. A
// refusal (Code not CodeOK) carries nothing but Msg. More says rows are
// left after the last one: ask again with After its Pos.
type History struct {
	Req     uint64          `msgpack:"req"`
	Code    uint16          `msgpack:"code,omitempty"`
	Msg     string          `msgpack:"msg,omitempty"`
	Changes []HistoryChange `msgpack:"changes,omitempty"`
	More    bool            `msgpack:"more,omitempty"`
}

// HistoryChange is one row of a record's history: an accepted change
// (Kind a db.EventKind of a record change) or a check-out event (Kind
// db.BorrowChanged, Borrow saying which). Old and New are the record's
// value as JSON text before and after ("" when none).
type HistoryChange struct {
	Pos    uint64 `msgpack:"pos"` // the row's position in the server's history
	Seq    uint64 `msgpack:"seq"` // the change's log sequence; of a borrow event, the last one before it
	At     int64  `msgpack:"at"`  // server time, Unix ns
	By     string `msgpack:"by"`
	Kind   uint8  `msgpack:"kind"`
	Borrow uint8  `msgpack:"borrow,omitempty"`
	Holder string `msgpack:"holder,omitempty"`
	Reason string `msgpack:"reason,omitempty"`
	Old    string `msgpack:"old,omitempty"`
	New    string `msgpack:"new,omitempty"`
}

// EntriesFrame builds an Entries frame change by change, for a sender
// that has the changes one at a time (the server reading its log): the
// bytes Write writes for Entries{Changes: the changes added}. Make one with
// NewEntriesFrame and give it back with Free.
type EntriesFrame struct {
	e *frameEncoder
	n int
}

func NewEntriesFrame() *EntriesFrame { return &EntriesFrame{e: getEncoder()} }

// Free gives the frame's buffer back; f is not used after.
func (f *EntriesFrame) Free() {
	putEncoder(f.e)
	f.e = nil
}

// Add encodes ch at the end of the frame.
func (f *EntriesFrame) Add(ch *layout.Change) error {
	f.n++
	return ch.EncodeMsgpack(f.e.enc)
}

// Size is the bytes of the changes added since the last Flush.
func (f *EntriesFrame) Size() int { return f.e.buf.Len() }

// Flush writes the frame of the changes added, if any, and starts anew.
func (f *EntriesFrame) Flush(w *bufio.Writer) error {
	if f.n == 0 {
		return nil
	}
	// Entries is a map of one key, "changes", to the array of changes.
	var head [16]byte
	h := append(head[:0], 0x81, 0xa7)
	h = append(h, "changes"...)
	switch {
	case f.n < 16:
		h = append(h, 0x90|byte(f.n))
	case f.n < 1<<16:
		h = append(h, 0xdc, byte(f.n>>8), byte(f.n))
	default:
		h = append(h, 0xdd, byte(f.n>>24), byte(f.n>>16), byte(f.n>>8), byte(f.n))
	}
	frame := header(len(h)+f.e.buf.Len(), TEntries)
	if _, err := w.Write(frame[:]); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	if _, err := w.Write(f.e.buf.Bytes()); err != nil {
		return err
	}
	f.e.buf.Reset()
	f.n = 0
	return nil
}
