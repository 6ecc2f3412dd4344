package netsync

import (
	"testing"
	"time"
)

// SetCompactEvery makes servers that start listening during the test run
// their compaction policy every d instead of every minute.
func SetCompactEvery(t testing.TB, d time.Duration) {
	t.Helper()
	old := compactEvery.Swap(int64(d))
	t.Cleanup(func() { compactEvery.Store(old) })
}
