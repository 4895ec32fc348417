// Package replicator is the active side of peer-to-peer replication: it connects to a
// Couchbase Lite URLEndpointListener, a libp2psync listener or Sync Gateway and pushes,
// pulls, or both, one-shot or continuously.
//
// # Use
//
//  1. r, err := replicator.New(replicator.Config{Database: db, URL: "ws://host:4984/travel"});
//     the URL names the remote database; "/_blipsync" is appended as Couchbase Lite does.
//  2. Optionally register listeners: r.AddChangeListener(func(replicator.Status)) and
//     r.AddDocumentListener(func(replicator.DocumentReplication)).
//  3. r.Start(false) (true = reset checkpoints and start from the beginning).
//  4. One-shot: r.Wait(ctx) returns when caught up in both directions. Continuous: the
//     replicator runs until r.Stop(). Stop saves the checkpoint, closes with 1000 and
//     returns once everything has been delivered to listeners: status and document
//     listeners, and the database's collection change listeners for what it saved.
//     Wait, and Status reading Stopped, come after the same deliveries, also when a
//     one-shot run ends on its own; no listener is called for the run afterwards.
//
// Example:
//
//	r, err := replicator.New(replicator.Config{
//		Database: db, URL: "wss://10.0.0.5:4984/travel", Continuous: true,
//		Authenticator: replicator.BasicAuthenticator{Username: "u", Password: "p"},
//		TrustMode: tlsid.TrustPinned, PinnedFingerprint: "AB:01:…", // what the listener showed
//	})
//	if err != nil { … }
//	r.AddChangeListener(func(s replicator.Status) { log.Println(s.Activity, s.Progress, s.Error) })
//	_ = r.Start(false)
//	defer r.Stop()
//
// # Security
//
// Server trust (wss:// only; New refuses every TLS setting with a ws:// URL), chosen by
// Config.TrustMode and built once by New with tlsid.ClientTLSConfig:
//
//	tlsid.TrustSystemRoots     the system's roots, host name checked (default)
//	tlsid.TrustRoots           only TrustedRoots (an application CA), host name checked
//	tlsid.TrustSelfSignedOnly  a lone valid self-signed certificate, any host name;
//	                           CA-issued certificates are refused (Couchbase Lite's
//	                           acceptOnlySelfSignedServerCertificate)
//	tlsid.TrustPinned          exactly the pinned certificate, chain and host name not
//	                           checked; the pin is PinnedCertificate (DER) or
//	                           PinnedFingerprint (the SHA-256 fingerprint users compare)
//
// Client authentication: Authenticator (BasicAuthenticator, sent pre-emptively as Couchbase
// Lite does; SessionAuthenticator for Sync Gateway) and ClientIdentity, a client
// certificate presented when the listener asks for one.
//
// The pin is checked in the TLS handshake, before any credentials are sent; a different
// certificate stops the replicator with tlsid.ErrPinMismatch, whose message names the
// expected and the presented fingerprints. ServerCertificate returns the certificate the
// listener presented at the last handshake, also when it was refused, so that an
// application can show it. Pin on first use: connect once in TrustSelfSignedOnly mode (after
// the user compared the fingerprint with the one the listener shows), save
// ServerCertificate().Raw, and use TrustPinned with it from then on.
//
// Configuration errors wrap ErrInvalidConfig and say what to change: a ClientIdentity,
// trust mode, roots, pin or server name with a ws:// URL, both a pinned certificate and a
// pinned fingerprint, a malformed fingerprint, or a trust setting tlsid refuses (which also
// wraps tlsid.ErrInvalidArgument or ErrCorruptInput).
//
// # Behaviour
//
// The replicator offers BLIP_3+CBMobile_4 (version vectors) first, then CBMobile_3 and
// CBMobile_2, in one handshake; the peer's choice decides (Config.DisableCBMobile4 offers
// only 3 and 2). Delta sync (Config.EnableDeltaSync) works under both; under CBMobile_4
// a delta's base is named by version (engine/syncproto's versions_delta.go). Under
// CBMobile_4 a pulled version that conflicts with the local one is resolved as it
// arrives, before it is acknowledged (see versions.go): without a
// custom resolver by Couchbase Lite 4's rule (syncproto.DefaultVersionResolution: a
// deletion wins, else the later version), else by the collection's ConflictResolver,
// called with the two current versions as revision IDs; the store records both sides in
// the outcome's vector, which is pushed as a child of the remote version. Everything
// below about revision trees applies to CBMobile_3, and to documents without a version.
//
// Checkpoints are stored both locally (local documents) and on the peer (setCheckpoint)
// under a stable client ID per (local database, remote, collection, direction, filters);
// at start the older of the two copies is used. Pushing uses proposeChanges; pulling uses
// subChanges. Conflicts created by pulled revisions are resolved by the collection's
// ConflictResolver (default: Couchbase Lite's rule); the result is saved as a new
// revision on top of the remote one (or is the remote one) and pushed. A live result
// closes the losing local branch with a tombstone. A result that is a deletion removes
// the losing local branch instead (as Couchbase Lite's resolution does), so that the
// current revision is the remote's tombstone or the one made on top of the remote
// revision, the same on both sides; a closing tombstone of a longer local branch would
// outrank it. No resolution runs, and nothing is removed, when the remote has taken
// the live local revision since it sent its deletion (the latest revision recorded
// for the remote is that local one): the document is live on both sides. When both
// sides deleted a document concurrently, the remote (which, like Sync Gateway,
// refuses our tombstone) keeps its own and the pulled tombstone becomes the current
// one here (store.RemoteRevision.AdoptDeletion); more generally a deletion that
// leaves a document without a live leaf, pulled, pushed or made locally, is its
// current revision on both sides, whatever older closed branches the trees hold. A
// third peer that had pulled the removed branch meets the deletion as a conflict when
// it next syncs and resolves it the same way. A resolver that fails or panics leaves
// the document conflicted and reports a document error. A document with more than two
// live leaves is resolved pair by pair until one is left. If the pulled revision's
// branch was closed here by a tombstone the remote does not have (the application
// deleted the pulled revision while it was the current one, the conflict still
// pending), the live local leaf, which the document then reads as, is carried onto the
// remote's branch as a child of that tombstone and pushed; a tombstone the remote has,
// or one made by another peer's resolution, leaves the live leaf as the outcome. Each
// time it connects, the replicator looks for documents still in conflict with its
// remote (a failed resolver, or a connection that ended before the resolution was made):
// the revision last known to be on the remote is a leaf beside another live leaf, or
// was extended here (edited or deleted) beside a live leaf that does not descend from
// it. It resolves them again, as Couchbase Lite does when its replicator starts; a
// one-shot run completes only once they are resolved and pushed. A local change that
// cannot be pushed because it does not descend from the remote's revision is reported
// to the resolution side too, so that a conflict nothing else handles is resolved in
// the same connection.
//
// # Errors
//
// Every error a run meets is classified before it reaches Status, Wait, Counters or a
// listener: it keeps its chain and gains the sentinel of its cause, for errors.Is:
//
//	tlsid.ErrUntrustedCertificate  the listener's certificate is not trusted in this mode
//	tlsid.ErrHostnameMismatch      trusted, but not issued for the host dialled
//	tlsid.ErrCertificateExpired    outside its validity period
//	tlsid.ErrPinMismatch           not the pinned certificate
//	tlsid.ErrClientCertRequired    the listener wants a client certificate; none configured
//	tlsid.ErrClientCertUntrusted   the listener refused our client certificate
//	tlsid.ErrTLSVersion            the peer speaks only TLS versions below 1.2
//	ErrUnauthorized                the listener refused the credentials (HTTP 401)
//	syncproto.ErrForbidden         the listener refused the request (HTTP or BLIP 403)
//
// IsTransient is the library's one transient/permanent rule (errors.go), decided on the
// typed errors of blip, syncproto and tlsid: connection failures, 408/429/5xx upgrades
// (syncproto.RetryLaterStatus), close codes 1006 and 4001, timeouts, a peer asking to
// retry later and a local database too busy to save a pulled revision (store.ErrBusy)
// are retried after RetryBase·2^k (capped at MaxAttemptWait) up to
// MaxAttempts; everything else (security failures above, other HTTP statuses, protocol
// errors, an incompatible peer) stops the replicator with Status.Error set, also a
// continuous one: retrying cannot make a certificate trusted or a password right. Going
// offline never loses a local change: the push checkpoint only covers acknowledged
// revisions.
//
// # Connections
//
// Each connection is one syncproto.Session; the replicator never touches BLIP itself
// (it does not import engine/blip). runOnce (connection.go) goes through the session's
// lifecycle: connect (syncproto.Dial with the configured headers, authenticator and TLS
// settings; SetCollections; AddPuller per pulled collection), Start, handshake
// (Session.Handshake reads the peer's checkpoints, merged with the local copies; then
// subscribe sends subChanges and startPusher starts a proposeChanges pusher per
// collection), run (evaluate progress, save checkpoints on a ticker, until complete,
// stopped or failed), then Disconnect with a close code and finish (Session.Close, the
// connection's traffic added to TransferStats). A stop, and a failure the peer caused by
// asking to retry later over a working connection, first quiesce the session (at most 5
// s): nothing new is sent and the replies to what is in flight land, so that the
// revisions the peer took are counted and checkpointed rather than found on the peer by
// the next connection (proposeChanges: already have) and counted nowhere. Connection errors arrive as syncproto's
// re-exported BLIP types and sentinels (syncproto.HTTPError, CloseError, ErrProtocol,
// ErrNoSubprotocol, …, the same values as engine/blip's), so errors.Is and errors.As
// classify them here without the BLIP layer.
//
// # Logging and statistics
//
// Without Config.Logger, records go to the library log (engine/logging), domain
// Replicator: Info for every change of activity and every conflict resolved, Warning for
// every retry (attempt, delay, reason), every conflict left unresolved and every
// checkpoint the peer refused to store (progress then is not checkpointed), Error for the
// error that stops a run. Stats counts revisions and body bytes, TransferStats the bytes
// on the wire, Counters the retries, conflicts resolved and the last error. All of them,
// the document events and Status.Progress are final once a run is over: when Wait or Stop
// returns, when Status reads Stopped and in the final status event (each connection's
// counts are added when its session has ended, before the run's last events go out).
// RevsSent counts revisions the peer acknowledged: one whose reply was lost with its
// connection (the connection dropped) and that the next connection finds on the peer is
// not counted, its bytes are in TransferStats.
//
// # Thread safety
//
// All methods are safe for concurrent use. Listener callbacks and filters run on library
// goroutines; status and document listeners are called serially, in order, and should
// return quickly; filters and resolvers may block briefly but must not call Stop. A
// listener that calls Stop ends the run without waiting (it would wait for itself).
package replicator
