package netsync

// What lets a replica tell that its server is not the one whose log it
// applied: the store's lineage id, which a restore changes, and a digest
// chained through the log, kept for every sequence (also after the log's
// entries are compacted away), which tells a log that does not continue
// what the replica applied, whatever the sequences and however the store
// was put back.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/wire"
)

// sumLen is the length of a log digest: 128 bits of SHA-256.
const sumLen = 16

// sumPrefix keys the digest of each log sequence: 'd' seq → sum. It is not
// compacted with the log.
var sumPrefix = []byte{layout.PrefixServer, 'd'}

func sumKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(slices.Clone(sumPrefix), seq) }

// chainSum is the digest of the log up to e: the digest before it and the
// entry's sequence, tree, key, kind, record and time.
func chainSum(prev []byte, e *logEntry) []byte {
	h := sha256.New()
	var n [8]byte
	h.Write(prev)
	binary.BigEndian.PutUint64(n[:], e.Seq)
	h.Write(n[:])
	h.Write([]byte(e.Tree))
	h.Write([]byte{0, e.Kind})
	binary.BigEndian.PutUint64(n[:], e.Key)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(e.Record)))
	h.Write(n[:])
	h.Write(e.Record)
	binary.BigEndian.PutUint64(n[:], uint64(e.At))
	h.Write(n[:])
	return h.Sum(nil)[:sumLen]
}

// appendLog gives e the next log sequence and the log's digest up to it,
// and writes both to b. Called with a.mu held, in a commit's step (a
// failed step gives the sequence and the digest back).
func (a *authority) appendLog(b *pebble.Batch, e *logEntry) error {
	a.seq++
	e.Seq = a.seq
	e.Sum = chainSum(a.sum, e)
	a.sum = e.Sum
	if err := putMsgpack(b, logKey(e.Seq), e); err != nil {
		return err
	}
	return b.Set(sumKey(e.Seq), e.Sum, nil)
}

// sumAt returns the log's digest at seq; nil when the store has none
// (seq 0, beyond the log, or written before digests were kept).
func (a *authority) sumAt(seq uint64) ([]byte, error) {
	if seq == 0 {
		return nil, nil
	}
	v, err := a.get(sumKey(seq))
	if err != nil || len(v) != sumLen {
		return nil, err
	}
	return v, nil
}

// loadSum reads the digest of the last log entry, for the next one.
func (a *authority) loadSum() error {
	it, err := a.pdb.NewIter(&pebble.IterOptions{LowerBound: sumPrefix, UpperBound: layout.PrefixEnd(sumPrefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() && binary.BigEndian.Uint64(it.Key()[len(sumPrefix):]) == a.seq && len(it.Value()) == sumLen {
		a.sum = slices.Clone(it.Value())
	}
	// Otherwise the log's last entries predate digests: the chain starts
	// with the next entry.
	return it.Error()
}

// ensureLineage gives a store made before lineages were kept one.
func (a *authority) ensureLineage() error {
	if a.id.Lineage != "" {
		return nil
	}
	a.id.Lineage = uuid.NewString()
	return a.setMsgpack(identityKey, a.id)
}

// diverged reports why the log a client applied (Hello) is not this
// server's, or "" when it is, as far as the server can tell: another
// lineage, a sequence beyond the log, or a digest that differs.
func (a *authority) diverged(h *wire.Hello) (string, error) {
	a.mu.Lock()
	seq, lineage := a.seq, a.id.Lineage
	a.mu.Unlock()
	switch {
	case h.Resync:
		return "the client is still taking in a restored server's state", nil
	case h.Lineage != "" && h.Lineage != lineage:
		return "the server's store was restored (lineage " + lineage + ", the client knew " + h.Lineage + ")", nil
	case h.LastSeq > seq:
		return "the server's log ends before the client's: restored from an older backup", nil
	case len(h.LastSum) == 0:
		return "", nil
	}
	sum, err := a.sumAt(h.LastSeq)
	if err != nil {
		return "", err
	}
	if sum != nil && !slices.Equal(sum, h.LastSum) {
		return "the server's log differs from the one the client applied: restored from a backup", nil
	}
	return "", nil
}

// rangesOf returns the id ranges the server granted a client, per tree.
func (a *authority) rangesOf(clientID string) map[string][]layout.Range {
	a.mu.Lock()
	defer a.mu.Unlock()
	cl := a.clients[clientID]
	if cl == nil || len(cl.Ranges) == 0 {
		return nil
	}
	out := make(map[string][]layout.Range, len(cl.Ranges))
	for t, rs := range cl.Ranges {
		out[t] = slices.Clone(rs)
	}
	return out
}

// errRestoring: a restore of the directory did not finish.
var errRestoring = errors.New("netsync: a restore of this directory did not finish")
