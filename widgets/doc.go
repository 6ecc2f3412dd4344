// Package widgets holds the Gio building blocks of hills applications:
// they read records straight from memory in every frame and redraw when
// anything changes.
//
// The few core types:
//
//   - Watcher turns tree, borrow and connection events into one coalesced
//     Invalidate per frame. Its callbacks never block the event source.
//   - List is a virtualized list over a Tree[T] or an index: only the
//     visible rows are laid out, and each row reads its record zero-copy
//     through Tree.View.
//   - Table shows any tree through its OpaqueTree, with columns from the
//     schema, sortable and resizable, virtualized for millions of rows.
//   - Form is a record editor generated from a schema; it is read-only
//     until the record is checked out.
//   - CheckOut is the check-out / check-in button of one record.
//   - SyncBar shows the sync status and a catch-up progress bar.
//   - SearchBox binds a text field to an index search.
//
// Like Gio's own widgets, each type keeps its state in struct fields and
// builds its style in every frame from a Theme. A widget's Layout must be
// called from the goroutine that runs the window's event loop; only
// Watcher's notify side and the methods documented so are safe for
// concurrent use. Slow work (sorting a million rows, filtering, check-out
// requests that wait in a queue) runs in goroutines and reports back
// through the Watcher, so no frame ever waits on disk or network.
package widgets
