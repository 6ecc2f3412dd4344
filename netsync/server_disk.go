package netsync

import (
	"fmt"
	"sync"
	"time"
)

// diskRoom watches the free space of the server's store. Pebble stalls
// writes without an error when its disk fills up (its flushes fail in the
// background); the server refuses to store anything while the room is
// below its limit instead, so clients are told at once, keep their
// changes and send them again when there is room.
type diskRoom struct {
	dir  string
	min  int64
	free func(dir string) (int64, error)

	mu      sync.Mutex
	checked time.Time
	err     error
}

// check returns ErrServerUnavailable, with how much room is left, when the
// store's file system has less than the limit free. It asks the file
// system at most every 250 ms.
func (r *diskRoom) check() error {
	if r.min <= 0 || r.free == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < 250*time.Millisecond {
		return r.err
	}
	r.checked = time.Now()
	n, err := r.free(r.dir)
	switch {
	case err != nil:
		r.err = nil // cannot tell: let the store say
	case n < r.min:
		r.err = fmt.Errorf("%w: the disk of %s is full: %d KiB free, the server needs %d KiB", ErrServerUnavailable, r.dir, n>>10, r.min>>10)
	default:
		r.err = nil
	}
	return r.err
}
