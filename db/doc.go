// Package db is the hills embedded database: strongly typed records kept on
// Pebble and held decoded in memory, so an application reads them as Go
// values with no decoding.
//
// There are only a few types: DB is an open database directory; Tree[T] is
// a named collection of records of the Go type T; Key[T] names one record
// (id and revision); Meta is what the database knows about a record besides
// its value; Event[T] tells a subscriber what changed.
//
// # Reading
//
// Each open tree keeps its records decoded in memory as immutable values.
// View and All hand out those values in place: valid only while the
// callback or loop body runs, and never to be modified. Get returns a deep
// copy the caller owns. A change publishes a new value; it never mutates
// the one readers hold.
//
// # Writing
//
// Every write is one Pebble batch (the record, its tree's id counter, and
// for a replica its outbox entry), durable before the call returns unless
// Options.Durability says otherwise. Concurrent writers share one log sync.
// Changes are published to memory and to subscribers after they are
// durable, in the order they were made.
//
// # Replicas
//
// A database opened with Options.Replica is a replica of a hills server
// (see package netsync): it creates records with ids the server granted,
// and changes a record only while it holds the record's check-out. A
// standalone database allocates its own ids and grants check-outs at once.
// When a replica loses a check-out its edits were not accepted under (an
// administrator returned it), its copy goes back to the server's version
// and the edits are kept aside: DB.Recovered lists them, an
// EditsRecovered event announces them.
//
// # Counters
//
// A top-level integer field tagged `hills:"counter"` (or
// `hills:"counter,min=0"`) changes only by Tree.Add, which needs no
// check-out, works on released records, and on a replica is applied by
// the server to its own value in order (refused below the floor:
// ErrBelowFloor). Update never changes a counter (ErrCounterField).
//
// # Schemas and evolution
//
// A tree's Go type is reflected into a Schema stored with the tree, so
// tools read any record without the type (DB.Opaque, as JSON text).
// Records are msgpack maps keyed by field name and carry the schema
// version they were written with: within a major version fields come and
// go freely, older code keeps the fields it does not know, and a new major
// version converts old records with a registered Migrate. Versioned trees
// freeze released records (Release) and make new revisions (Revise).
//
// # Concurrency
//
// DB, Tree, and every method on them are safe for concurrent use. Event
// callbacks run on a goroutine per subscription; they may call the
// database, except Close.
package db
