package netsync

import (
	"context"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// SetHistoryEvery makes servers that start listening during the test run
// their history retention every d instead of every 10 minutes.
func SetHistoryEvery(t testing.TB, d time.Duration) {
	t.Helper()
	old := historyEvery.Swap(int64(d))
	t.Cleanup(func() { historyEvery.Store(old) })
}

// HistoryBytes counts the history's rows and their bytes in the store
// (keys and values, before Pebble compresses them), and the bytes of the
// stored records the rows hold.
func (s *Server) HistoryBytes() (rows int, size, records int64, err error) {
	err = s.scanHistory(func(k, v []byte) error {
		var row historyRow
		if err := msgpack.Unmarshal(v, &row); err != nil {
			return err
		}
		rows++
		size += int64(len(k) + len(v))
		records += int64(len(row.Old))
		return nil
	})
	return rows, size, records, err
}

// DiskSize flushes and compacts the server's store and returns the bytes
// its tables take (compressed; no log files).
func (s *Server) DiskSize() (uint64, error) {
	db := s.a.pdb.DB
	if err := db.Flush(); err != nil {
		return 0, err
	}
	if err := db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff}, true); err != nil {
		return 0, err
	}
	m := db.Metrics()
	var n int64
	for _, l := range m.Levels {
		n += l.TablesSize
	}
	return uint64(n), nil
}
