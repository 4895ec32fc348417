// Package listener is the passive side of peer-to-peer replication: an HTTP/WebSocket
// server that accepts Couchbase Lite replicators (and libp2psync replicators) at
// ws[s]://<address>:<port>/<dbname>/_blipsync and serves them a database, like Couchbase
// Lite's URLEndpointListener.
//
// # Use
//
//  1. l, err := listener.New(listener.Config{Database: db}) — optionally Collections,
//     Port (0 = chosen by the OS), NetworkInterface (name or IP; "" = all), ReadOnly,
//     TLSConfig (nil = ws://), Authenticate (nil = open).
//  2. l.Start(); read l.Port() and l.URLs() to advertise it.
//  3. l.Status() reports connected and active replicators, the connections served since
//     New, and per connection its peer address, user, subprotocol, collections, start
//     time, bytes and documents each way.
//  4. l.Stop() closes the socket and every connection with close code 4001 (transient),
//     so clients retry with backoff and resume when a listener is back; a listener can be
//     restarted at once on the same port.
//
// Example:
//
//	l, err := listener.New(listener.Config{Database: db, Port: 4984, ReadOnly: true})
//	if err != nil { … }
//	if err := l.Start(); err != nil { … }
//	defer l.Stop()
//	fmt.Println(l.URLs())
//
// Each connection is a syncproto.Session in passive mode, made by syncproto.Accept (the
// listener does not import engine/blip): serveHTTP admits the request (path, database,
// method, authentication, MaxConnections), accept upgrades it and installs the passive
// handlers, and serve waits for the connection's end. The client's offer decides the
// subprotocol: CBMobile_4 (version vectors; not accepted with Config.DisableCBMobile4),
// CBMobile_3 or CBMobile_2. The session serves getCollections (CBMobile_3 and 4) or
// legacy default-collection mode (CBMobile_2), peer checkpoints stored as local documents
// per client ID, subChanges served one-shot or continuously, proposeChanges and changes
// answered, revisions saved in batches. An unknown database answers 404, a failed
// Authenticate 401 with `WWW-Authenticate: Basic charset="UTF-8"`, no common subprotocol
// 500 (as Sync Gateway does), a push to a read-only listener HTTP/403.
//
// # Logging
//
// Without Config.Logger, records go to the library log (engine/logging), domain Listener:
// Info for every connection opened (peer, user, subprotocol) and closed (reason, duration,
// collections, documents and bytes), Warning for every error a peer caused (too many
// connections, a failed upgrade, a connection closed by a protocol error, a failed TLS
// handshake, which goes to domain TLS).
//
// # Resource limits
//
// Config.Limits.MaxMessageSize (default 20 MiB, measured inflated) and MaxBufferedBytes
// (default 8 MiB of incoming data held per connection) bound what one connection costs;
// Config.MaxConnections (default 256) bounds how many are served, further upgrade requests
// being answered 503. A message over the size limit is refused with HTTP/413 (the pushed
// document fails, the connection goes on); each refusal is logged at Warn. When the last
// connection ends after one held megabytes, the freed memory is returned to the system
// (debug.FreeOSMemory). TestHostileInputMemory measures the bound against compression bombs.
//
// # Thread safety
//
// All methods are safe for concurrent use. Any number of listeners may serve one
// database, which may also run its own replicators. Authenticate runs on the request's
// goroutine and may block.
package listener
