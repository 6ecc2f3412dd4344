package db

import "sync"

// EventKind says what happened to a record.
type EventKind uint8

// Kinds of events.
const (
	Created        EventKind = iota + 1 // a record (or a new revision) was created
	Updated                             // a record's data changed
	Deleted                             // a record was deleted
	MetaChanged                         // a record was released or its state changed
	BorrowChanged                       // a record's check-out changed hands or its queue changed
	EditsRecovered                      // a replica set aside edits the server did not accept (DB.Recovered)
	Unapplied                           // a replica could not apply a change from the server and kept it aside (DB.Unapplied)
)

func (k EventKind) String() string {
	switch k {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	case MetaChanged:
		return "meta changed"
	case BorrowChanged:
		return "borrow changed"
	case EditsRecovered:
		return "edits recovered"
	case Unapplied:
		return "change from the server set aside"
	}
	return "unknown event"
}

// Event tells a subscriber of a change to a record of a tree of T.
type Event[T any] struct {
	Kind   EventKind
	Key    Key[T]
	Remote bool // the change came from the server
}

type rawEvent struct {
	tree   string
	kind   EventKind
	key    uint64
	remote bool
}

// hub delivers events to subscribers. Each subscriber has its own queue and
// goroutine: events reach it in the order they happened, and a slow
// callback delays only its own later events.
type hub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	wg     sync.WaitGroup
}

type subscriber struct {
	tree  string // "" for every tree
	fn    func(rawEvent)
	mu    sync.Mutex
	queue []rawEvent
	wake  chan struct{}
	quit  chan struct{} // closed by cancel: stop at once
	drain chan struct{} // closed by the hub's close: deliver what is queued, then stop
	once  sync.Once
}

func (h *hub) init() { h.subs = map[*subscriber]struct{}{} }

// subscribe registers fn for the events of tree ("" for all). The returned
// cancel stops deliveries; it may be called from fn and more than once.
func (h *hub) subscribe(tree string, fn func(rawEvent)) (cancel func()) {
	s := &subscriber{tree: tree, fn: fn, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), drain: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return func() {}
	}
	h.subs[s] = struct{}{}
	h.wg.Add(1)
	go h.run(s)
	return func() {
		s.once.Do(func() { close(s.quit) })
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}

func (h *hub) run(s *subscriber) {
	defer h.wg.Done()
	var batch []rawEvent
	for {
		draining := false
		select {
		case <-s.quit:
			return
		case <-s.wake:
		case <-s.drain:
			draining = true
		}
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		for _, ev := range batch {
			select {
			case <-s.quit:
				return
			default:
			}
			s.fn(ev)
		}
		if draining {
			s.mu.Lock()
			empty := len(s.queue) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// emit queues ev for every matching subscriber. It never blocks on them.
func (h *hub) emit(ev rawEvent) { h.emitAll([]rawEvent{ev}) }

// emitAll queues evs, in order, for every subscriber of their trees.
func (h *hub) emitAll(evs []rawEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		n := 0
		s.mu.Lock()
		for _, ev := range evs {
			if s.tree == "" || s.tree == ev.tree {
				s.queue = append(s.queue, ev)
				n++
			}
		}
		s.mu.Unlock()
		if n == 0 {
			continue
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// close delivers the events already queued and stops every subscriber.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for s := range h.subs {
		close(s.drain)
	}
	h.subs = nil
	h.mu.Unlock()
	h.wg.Wait()
}
