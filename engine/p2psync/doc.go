/*
Package p2psync is the Go API of libp2psync that the C API wraps: a Listener that serves a
database to peers and a Replicator that syncs a database with a listener, both secure by
default. It composes the engine packages (store, listener, replicator, tlsid) and adds no
protocol of its own: what it adds is the security configuration of each side, in one place,
with errors that say exactly what was refused.

Couchbase Lite peers are first-class: a Couchbase Lite replicator can sync with a Listener,
and a Replicator with a Couchbase Lite URLEndpointListener, with the same trust modes and
authenticators on both sides.

# Listener: the passive peer

	db, err := store.Open(ctx, "/data/notes", store.Config{})
	l, err := p2psync.NewListener(p2psync.ListenerConfig{
		Database: db,
		Password: p2psync.StaticPasswords(map[string]string{"alice": "correct horse"}),
	})
	err = l.Start()
	defer l.Stop()
	fmt.Println("listening on", l.URLs())
	fmt.Println("certificate fingerprint", l.TLSIdentity().Fingerprint())

The caller's duties, in order:

 1. Open the database (store.Open) and keep it open until the listener is stopped.
 2. NewListener with a ListenerConfig. It checks the configuration (see Errors) and opens
    nothing.
 3. Start. TLS is on unless DisableTLS is set. Without an Identity the listener serves the
    database's anonymous identity: a self-signed certificate created at the first Start in
    the database directory (tlsid.AnonymousIdentityFile, mode 0600) and served unchanged by
    every later Start, of this Listener or of a new one after a restart, so the fingerprint
    that users compare and that replicators pin stays the same (it is renewed only within 30
    days of expiry; see tlsid.LoadOrCreateAnonymous). Only TLS 1.2 and 1.3 are accepted; a
    client offering anything older fails the handshake.
 4. Show TLSIdentity().Fingerprint() to users who will pin it, and URLs() to peers.
 5. Stop when done. Connected replicators are told to come back later. Start may be called
    again.

Authentication of replicators (both may be set; a replicator must then pass both):

	Password           HTTP Basic credentials on the WebSocket upgrade, checked by a
	                   PasswordAuthenticator callback (username, password) or by
	                   StaticPasswords (a fixed list compared in constant time). Missing,
	                   malformed or refused credentials get 401 with a Basic challenge.
	ClientCertificate  a client certificate required in the TLS handshake, checked against
	                   trusted Roots, by a Verify callback given the client's chain, or
	                   both. Needs TLS.

Callbacks run on the connection's goroutine, may block, and are called once per connection
attempt; a panic counts as a refusal and is logged. Every refusal is logged at Info level
with the peer's address (never the password).

# Replicator: the active peer

	r, err := p2psync.NewReplicator(p2psync.ReplicatorConfig{
		Database:      db,
		URL:           "wss://192.0.2.7:4984/notes",
		Authenticator: replicator.BasicAuthenticator{Username: "alice", Password: "correct horse"},
		TrustMode:     tlsid.TrustPinned,
		PinnedFingerprint: "AB:01:...",  // what the listener showed; or PinnedCertificate: savedDER
	})
	r.AddChangeListener(func(st replicator.Status) { ... })
	err = r.Start(false)
	st, err := r.Wait(ctx)            // one-shot: returns when done or failed
	if errors.Is(st.Error, tlsid.ErrPinMismatch) { ... }

Server trust (wss:// only), chosen by TrustMode and built by tlsid.ClientTLSConfig:

	tlsid.TrustSystemRoots     the system's roots, host name checked (default)
	tlsid.TrustRoots           only TrustedRoots (an application CA), host name checked
	tlsid.TrustSelfSignedOnly  a lone valid self-signed certificate, any host name; CA-issued
	                           certificates are refused (Couchbase Lite's
	                           acceptOnlySelfSignedServerCertificate)
	tlsid.TrustPinned          exactly the pinned certificate, chain and host name not checked;
	                           the pin is PinnedCertificate (DER) or PinnedFingerprint (the
	                           SHA-256 fingerprint users compare), one of the two

Client authentication: Authenticator (replicator.BasicAuthenticator, sent pre-emptively as
Couchbase Lite does; replicator.SessionAuthenticator for Sync Gateway) and ClientIdentity, a
client certificate presented when the listener asks for one.

Pin by fingerprint: users read the fingerprint the listener shows
(l.TLSIdentity().Fingerprint(), lowercase hex) and the replicator pins it, in that or any
form tlsid.ParseFingerprint reads, as
PinnedFingerprint; the check happens in the TLS handshake, before any credentials are sent,
and a different certificate stops the replicator with tlsid.ErrPinMismatch, whose message
names the expected and the presented fingerprints.

Pin on first use: connect once in TrustSelfSignedOnly mode (after the user compared the
fingerprint with the one the listener shows), save ServerCertificate().Raw, and use
TrustPinned with it from then on:

	first, _ := p2psync.NewReplicator(p2psync.ReplicatorConfig{Database: db, URL: u,
		TrustMode: tlsid.TrustSelfSignedOnly})
	... run it; on success:
	savedDER := first.ServerCertificate().Raw

ServerCertificate is also set when the certificate was refused, so that an application can
show the user what the listener presented ("the certificate changed: fingerprint ...").

# Errors

Configuration errors come from NewListener and NewReplicator, wrap listener.ErrInvalidConfig
or replicator.ErrInvalidConfig, and say what to change: for instance a client-certificate
authenticator with DisableTLS ("client-certificate authentication requires TLS"), an
Identity with DisableTLS, a ClientIdentity, trust mode or pin with a ws:// URL, both a
pinned certificate and a pinned fingerprint, a malformed fingerprint, or a trust setting
tlsid refuses (which also wraps tlsid.ErrInvalidArgument or ErrCorruptInput).

A replicator stopped by a security failure reports it in Status().Error (and in Wait and the
change listeners), wrapped around the original error, and does not retry: retrying cannot
make a certificate trusted or a password right. Test with errors.Is:

	tlsid.ErrUntrustedCertificate  the listener's certificate is not trusted in this mode
	tlsid.ErrHostnameMismatch      trusted, but not issued for the host dialled
	tlsid.ErrCertificateExpired    outside its validity period
	tlsid.ErrPinMismatch           not the pinned certificate
	tlsid.ErrClientCertRequired    the listener wants a client certificate; none configured
	tlsid.ErrClientCertUntrusted   the listener refused our client certificate
	tlsid.ErrTLSVersion            the peer speaks only TLS versions below 1.2
	ErrUnauthorized                the listener refused the credentials (HTTP 401)
	syncproto.ErrForbidden         the listener refused the request (HTTP or BLIP 403)

Other errors keep the replicator's rules (replicator.IsTransient): network failures are
retried with backoff, everything else stops it. Categorize maps any error of the library to
a stable ErrorCategory, for callers that cannot use errors.Is (the C API, event JSON).

# Thread safety

Listener and Replicator methods are safe for concurrent use. Start and Stop of a Listener
are serialised. Callbacks (authenticators, replicator listeners) run on library goroutines
and never while a lock of this package is held; replicator listener calls are serial and in
order. Stop (of either) returns only after its goroutines have ended.
*/
package p2psync
