// Package listener is the passive side of peer-to-peer replication: an HTTP/WebSocket
// server that accepts Couchbase Lite replicators (and libp2psync replicators) at
// ws[s]://<address>:<port>/<dbname>/_blipsync and serves them a database, like Couchbase
// Lite's URLEndpointListener.
//
// # Use
//
//  1. Open the database (store.Open) and keep it open until the listener is stopped.
//  2. l, err := listener.New(listener.Config{Database: db}) — optionally Collections,
//     Port (0 = chosen by the OS), NetworkInterface (name or IP; "" = all), ReadOnly, and
//     the security settings below. New checks the configuration and opens nothing.
//  3. l.Start(); read l.Port() and l.URLs() to advertise it, and show
//     l.TLSIdentity().Fingerprint() (64 lowercase hex digits) to users who will pin it.
//  4. l.Status() reports connected and active replicators, the connections served since
//     New (across Start and Stop), and per connection its peer address, user, subprotocol,
//     collections, start time, bytes and documents each way.
//  5. l.Stop() closes the socket and every connection with close code 4001 (transient),
//     so clients retry with backoff and resume when a listener is back; a listener can be
//     restarted at once on the same port, and then serves the same identity.
//
// Example:
//
//	l, err := listener.New(listener.Config{
//		Database: db, Port: 4984,
//		Password: listener.StaticPasswords(map[string]string{"alice": "correct horse"}),
//	})
//	if err != nil { … }
//	if err := l.Start(); err != nil { … }
//	defer l.Stop()
//	fmt.Println(l.URLs(), l.TLSIdentity().Fingerprint())
//
// # TLS
//
// TLS is on unless Config.DisableTLS is set. Without Config.Identity the listener serves
// the database's anonymous identity: a self-signed certificate created at the first Start
// in the database directory (tlsid.AnonymousIdentityFile, mode 0600, kept as
// Config.AnonymousIdentity says) and served unchanged by every later Start, of this
// Listener or of a new one after a restart, so the fingerprint that users compare and that
// replicators pin stays the same (it is renewed only within 30 days of expiry; see
// tlsid.LoadOrCreateAnonymous). A damaged identity file, or one written with another
// password, makes Start fail (tlsid.ErrCorruptInput, ErrWrongPassword) and is left alone.
// Only TLS 1.2 and 1.3 are accepted. TLSIdentity returns the identity served, nil when
// stopped or without TLS.
//
// # Authentication
//
// Both may be set; a replicator must then pass both.
//
//	Password           HTTP Basic credentials on the WebSocket upgrade (exactly one
//	                   well-formed Authorization header), checked by a PasswordAuthenticator
//	                   callback, by StaticPasswords (a fixed list compared in constant time)
//	                   or by both (PasswordsOrCallback). Missing, malformed or refused
//	                   credentials get 401 with `WWW-Authenticate: Basic charset="UTF-8"`.
//	ClientCertificate  a client certificate required in the TLS handshake, checked against
//	                   trusted Roots, by a Verify callback given the client's chain, or both.
//	                   Needs TLS.
//
// Callbacks run on the connection's goroutine, may block, and are called once per
// connection attempt; a panic counts as a refusal and is logged. Every refusal is logged
// at Warning with the peer's address (never the password). New refuses (ErrInvalidConfig,
// saying what to change) a client-certificate authenticator or an Identity with
// DisableTLS, an empty Identity, and a certificate authenticator with neither roots nor
// callback.
//
// Each connection is a syncproto.Session in passive mode, made by syncproto.Accept (the
// listener does not import engine/blip): serveHTTP admits the request (path, database,
// method, authentication, MaxConnections), accept upgrades it and installs the passive
// handlers, and serve waits for the connection's end. The client's offer decides the
// subprotocol: CBMobile_4 (version vectors; not accepted with Config.DisableCBMobile4),
// CBMobile_3 or CBMobile_2. The session serves getCollections (CBMobile_3 and 4) or
// legacy default-collection mode (CBMobile_2), peer checkpoints stored as local documents
// per client ID (bounded in size and number, see Resource limits), subChanges served one-shot or continuously, proposeChanges and changes
// answered, revisions saved in batches. An unknown database answers 404, refused
// credentials 401, no common subprotocol 500 (as Sync Gateway does), a push to a
// read-only listener HTTP/403.
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
// A peer's subChanges "batch" is served up to syncproto.MaxPeerChangesBatch rows per
// changes list (1000, or Limits.ChangesBatch if higher), whatever it asks for.
//
// Checkpoints: every peer may store checkpoints, one per client ID it names, on a
// read-only listener too (Couchbase Lite saves one when it only pulls). A body over
// Limits.MaxCheckpointSize (default 16 KiB; a real checkpoint is under 200 bytes) is
// answered HTTP/413 and not stored, and at most Limits.MaxPeerCheckpoints (default
// 10,000) are kept in the database: a checkpoint under a new client ID past that deletes
// the least recently written other one. So peers' checkpoints take at most about 170 MB
// of disk at the defaults, whatever a peer makes up. Neither costs a peer data: a
// replicator whose checkpoint was refused or deleted starts its next replication from
// the beginning and compares every document again (nothing already there is re-sent).
// Couchbase Lite and Sync Gateway bound neither. A changes or proposeChanges list of more
// than syncproto/wire.MaxListRows (10,000) rows is answered HTTP/413 before it is decoded.
//
// Many replicators: an idle connection holds about 100–150 KiB here (no deflate state
// while it has nothing to send, see engine/blip), and the sessions share the work of
// following the database: a caught-up continuous feed takes its next rows from the
// commit notifications rather than a query per commit, and the documents one session
// has read for a commit are reused by the others (syncproto.SharedReads, one per
// Listener). To serve more than 256 replicators raise Config.MaxConnections (and the
// process's open-file limit: one descriptor per connection). Benchmark W7
// (tests/bench/fanout) measures 1,000 continuous replicators on one listener.
//
// # Thread safety
//
// All methods are safe for concurrent use; Start and Stop are serialised. Any number of
// listeners may serve one database, which may also run its own replicators. The
// authenticators run on the connection's goroutine and may block.
package listener
