// Package netsync keeps replica databases (package db) in sync with a
// headless server over QUIC. There are three parts, and each file's name
// says which it belongs to:
//
//   - Client (client*.go): attaches to a replica database with Connect,
//     sends its outbox, applies what the server sends, checks records out
//     and in, and reconnects in the background. It authenticates with the
//     replica's own key pair, kept in the database; an enrollment token
//     (ClientOptions.Token) is needed on first contact only. It pins the
//     server's identity and refuses any other server.
//   - Server (server*.go): the authority. Every change a client sends is
//     checked against the client's grants and the server's limits, and
//     every record and schema is validated, before it is stored, given
//     the next sequence of the server's log and delivered to the other
//     clients. Who made a change and when is stamped by the server. One
//     bad or hostile client never stops, slows or corrupts the others.
//   - Administration (admin*.go): an HTTP endpoint on a Unix socket for
//     hills-server's commands (info, borrows, clients, checkpoints), and
//     AdminClient to call it.
//   - Observability (server_metrics.go): Prometheus metrics through
//     ServerOptions.Metrics (nil: none) and Server.Readiness for a
//     readiness probe; hills-server serves both over HTTP (--metrics).
//
// errors.go and keys.go serve both sides. The protocol is described in
// PROTOCOL.md.
//
// Guarantees: a change acknowledged to a client is durable on the server;
// a client sees only what its grants let it read; deliveries reach each
// connection in the server's commit order; a replica never drops a change
// without a trace (refused edits go to DB.Recovered, changes it cannot
// apply to DB.Unapplied) and reports the server's refusals in
// Client.Status and from WaitSynced.
//
// Server and Client are safe for concurrent use. Values they return are
// the caller's.
package netsync
