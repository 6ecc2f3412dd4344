package netsync

// Log compaction: by request (Server.Compact, the admin endpoint
// POST /v1/compact) and by policy (ServerOptions.LogKeep and LogMaxAge,
// applied in the background while the server listens).

import (
	"context"
	"encoding/binary"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// CompactResult says what a compaction did: the floor (the last log
// sequence compacted away; 0 when none was) before and after, and how many
// log entries it removed.
type CompactResult struct {
	Before  uint64 `json:"before"`
	After   uint64 `json:"after"`
	Removed uint64 `json:"removed"`
}

// compactRequest is the body of POST /v1/compact.
type compactRequest struct {
	Keep uint64 `json:"keep"`
}

// defaultCompactEvery is how often the compaction policy runs.
const defaultCompactEvery = time.Minute

// compactEvery, in nanoseconds, overrides defaultCompactEvery when
// positive; tests shorten it. It is read when a server starts listening.
var compactEvery atomic.Int64

// Compact deletes the log's entries but the last keep, as CompactLog does,
// and says what it removed. Replicas whose last applied sequence is below
// the new floor catch up from a snapshot. Safe for concurrent use.
func (s *Server) Compact(keep uint64) (CompactResult, error) {
	seq := s.Seq()
	if seq <= keep {
		f := s.a.compacted()
		return CompactResult{Before: f, After: f}, nil
	}
	return s.compactTo(seq-keep, "request", "keep", keep)
}

// compactTo compacts the log up to upTo and logs what it removed, with why
// (the policy or a request) and the attributes given.
func (s *Server) compactTo(upTo uint64, why string, attrs ...any) (CompactResult, error) {
	var res CompactResult
	err := s.a.commit(func(b *pebble.Batch, d *delivery) error {
		res.Before = s.a.floor
		upTo = min(upTo, s.a.seq)
		if upTo <= s.a.floor {
			res.After = s.a.floor
			return nil
		}
		b.DeleteRange(logKey(s.a.floor+1), logKey(upTo+1), nil)
		b.Set(floorKey, binary.BigEndian.AppendUint64(nil, upTo), nil)
		s.a.floor, res.After = upTo, upTo
		return nil
	})
	if err != nil {
		return CompactResult{}, err
	}
	res.Removed = res.After - res.Before
	if res.Removed > 0 {
		s.log.Info("log compacted", append([]any{"by", why, "floor", res.After, "removed", res.Removed}, attrs...)...)
	}
	return res, nil
}

// compactPolicy applies LogKeep and LogMaxAge once, at now. Without
// LogMaxAge it keeps the last LogKeep entries; with it, it removes the
// entries accepted before now-LogMaxAge, but never one of the last LogKeep.
func (s *Server) compactPolicy(now time.Time) (CompactResult, error) {
	keep, age := s.opts.LogKeep, s.opts.LogMaxAge
	seq := s.Seq()
	if seq <= keep {
		f := s.a.compacted()
		return CompactResult{Before: f, After: f}, nil
	}
	upTo := seq - keep
	if age > 0 {
		old, err := s.acceptedBefore(now.Add(-age).UnixNano(), upTo)
		if err != nil {
			return CompactResult{}, err
		}
		upTo = old
	}
	return s.compactTo(upTo, "policy", "keep", keep, "max_age", age)
}

// acceptedBefore returns the last sequence, at most limit, of the run of
// log entries from the floor on accepted before cutoff (Unix nanoseconds):
// the floor when the first entry is younger.
func (s *Server) acceptedBefore(cutoff int64, limit uint64) (uint64, error) {
	s.storeMu.RLock()
	defer s.storeMu.RUnlock()
	if s.storeClosed {
		return 0, ErrStoreClosed
	}
	last := s.a.compacted()
	if limit <= last {
		return last, nil
	}
	it, err := s.a.pdb.NewIter(&pebble.IterOptions{LowerBound: logKey(last + 1), UpperBound: logKey(limit + 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		// Only the accept time is decoded, not the record.
		var e struct {
			At int64 `msgpack:"at"`
		}
		if err := msgpack.Unmarshal(it.Value(), &e); err != nil {
			return 0, err
		}
		if e.At >= cutoff {
			break
		}
		last = binary.BigEndian.Uint64(it.Key()[len(logPrefix):])
	}
	return last, it.Error()
}

// periodic is a background run of a policy: the compaction's, the
// history retention's.
type periodic struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startPeriodic runs fn in the background into *slot: at once, then
// every every, until stopPeriodic. Nothing starts once the server closes.
func (s *Server) startPeriodic(slot **periodic, every time.Duration, fn func()) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &periodic{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.closing || *slot != nil {
		s.mu.Unlock()
		cancel()
		return
	}
	*slot = p
	s.mu.Unlock()
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			fn()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// stopPeriodic stops the run in *slot and waits for fn in progress.
func (s *Server) stopPeriodic(slot **periodic) {
	s.mu.Lock()
	p := *slot
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// startCompactor starts applying the compaction policy, when there is
// one: at once, then every minute (compactEvery in tests).
func (s *Server) startCompactor() {
	if s.opts.LogKeep == 0 && s.opts.LogMaxAge <= 0 {
		return
	}
	every := defaultCompactEvery
	if d := time.Duration(compactEvery.Load()); d > 0 {
		every = d
	}
	s.startPeriodic(&s.compactor, every, func() {
		if _, err := s.compactPolicy(time.Now()); err != nil {
			s.log.Warn("log compaction failed; trying again later", "err", err)
		}
	})
}

// stopCompactor stops the compaction policy and waits for a compaction in
// progress.
func (s *Server) stopCompactor() { s.stopPeriodic(&s.compactor) }

// compactHandlers serves POST /v1/compact: the call of AdminClient.Compact.
func (s *Server) compactHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/compact", func(w http.ResponseWriter, r *http.Request) {
		var req compactRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		s.log.Info("admin compaction requested", "keep", req.Keep, "peer_uid", peerOf(r))
		res, err := s.Compact(req.Keep)
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, res)
	})
}

// Compact asks the server to delete its log but the last keep entries (see
// Server.Compact) and returns what it removed.
func (c *AdminClient) Compact(ctx context.Context, keep uint64) (CompactResult, error) {
	var res CompactResult
	err := c.do(ctx, http.MethodPost, "/v1/compact", &compactRequest{Keep: keep}, &res)
	return res, err
}

// Floor returns the last log sequence compacted away, 0 when none was.
func (s *Server) Floor() uint64 { return s.a.compacted() }
