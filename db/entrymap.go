package db

import "sync/atomic"

// entryMap maps record keys to published entries. Readers take no lock:
// View is a few loads. Writers hold core.mu.
//
// It is an open-addressing table with linear probing whose slots are
// atomic pointers. A writer changes one slot at a time, so a reader sees
// each key either before or after a change; a table that grows is copied
// and swapped in whole, and the old one is never written again.
type entryMap struct {
	t    atomic.Pointer[entryTable]
	live int // entries
	used int // entries and deleted slots
}

type entryTable struct {
	slots []atomic.Pointer[entry]
	mask  uint64
	shift uint
}

// deletedSlot marks a slot whose entry was deleted; probing goes past it.
var deletedSlot = &entry{}

func newEntryTable(n int) *entryTable {
	size := 8
	for size*3/4 < n {
		size *= 2
	}
	shift := uint(64)
	for s := size; s > 1; s >>= 1 {
		shift--
	}
	return &entryTable{slots: make([]atomic.Pointer[entry], size), mask: uint64(size - 1), shift: shift}
}

func (t *entryTable) home(key uint64) uint64 {
	return (key * 0x9E3779B97F4A7C15) >> t.shift
}

// get returns the entry of key, or nil. Safe without any lock.
func (m *entryMap) get(key uint64) *entry {
	t := m.t.Load()
	if t == nil {
		return nil
	}
	for i := t.home(key); ; i = (i + 1) & t.mask {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e.key == key && e != deletedSlot {
			return e
		}
	}
}

// len returns the number of entries. Called with core.mu held.
func (m *entryMap) len() int { return m.live }

// reset empties the map, sized for n entries. Called with core.mu held.
func (m *entryMap) reset(n int) {
	m.t.Store(newEntryTable(n))
	m.live, m.used = 0, 0
}

// grow makes room for n more entries. Called with core.mu held.
func (m *entryMap) grow(n int) {
	t := m.t.Load()
	if t != nil && (m.used+n)*4 <= len(t.slots)*3 {
		return
	}
	nt := newEntryTable(m.live + n)
	if t != nil {
		for i := range t.slots {
			if e := t.slots[i].Load(); e != nil && e != deletedSlot {
				nt.insert(e)
			}
		}
	}
	m.t.Store(nt)
	m.used = m.live
}

// insert puts e in a table no reader sees yet.
func (t *entryTable) insert(e *entry) {
	i := t.home(e.key)
	for t.slots[i].Load() != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i].Store(e)
}

// set publishes e under its key and returns the entry it replaces, or
// nil. Called with core.mu held.
func (m *entryMap) set(e *entry) *entry {
	m.grow(1)
	t := m.t.Load()
	free := -1
	for i := t.home(e.key); ; i = (i + 1) & t.mask {
		old := t.slots[i].Load()
		switch {
		case old == nil:
			if free >= 0 {
				t.slots[free].Store(e)
			} else {
				t.slots[i].Store(e)
				m.used++
			}
			m.live++
			return nil
		case old == deletedSlot:
			if free < 0 {
				free = int(i)
			}
		case old.key == e.key:
			t.slots[i].Store(e)
			return old
		}
	}
}

// del removes the entry of key and returns it, or nil. Called with core.mu
// held.
func (m *entryMap) del(key uint64) *entry {
	t := m.t.Load()
	if t == nil {
		return nil
	}
	for i := t.home(key); ; i = (i + 1) & t.mask {
		old := t.slots[i].Load()
		if old == nil {
			return nil
		}
		if old != deletedSlot && old.key == key {
			t.slots[i].Store(deletedSlot)
			m.live--
			return old
		}
	}
}
