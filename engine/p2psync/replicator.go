package p2psync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// ReplicatorConfig configures a Replicator: the plain fields of replicator.Config, plus
// its security. The zero value of every optional field is its default: no credentials,
// server certificates checked against the system's roots.
type ReplicatorConfig struct {
	// Database is the local database (required).
	Database *store.Database
	// URL of the listener: wss://host:port/<db> (ws:// for a listener without TLS).
	URL string
	// Collections to replicate; empty = the default collection.
	Collections []replicator.CollectionConfig
	// Type: replicator.PushAndPull (default), Push or Pull.
	Type replicator.Type
	// Continuous keeps replicating until stopped; otherwise stop when caught up.
	Continuous bool
	// Headers are extra HTTP headers for the WebSocket upgrade.
	Headers map[string]string
	// Heartbeat is the WebSocket ping interval (0 = 300 s).
	Heartbeat time.Duration
	// MaxAttempts bounds connection attempts after transient errors (0 = 10 one-shot,
	// unlimited continuous; negative = unlimited). Security failures are never retried.
	MaxAttempts int
	// MaxAttemptWait caps the wait between attempts (0 = 300 s).
	MaxAttemptWait time.Duration
	// RetryBase is the unit of the exponential backoff (0 = 1 s).
	RetryBase time.Duration
	// DisableAutoPurge keeps documents whose access the remote revoked.
	DisableAutoPurge bool
	// EnableDeltaSync lets the replicator use delta sync where the database and the
	// peer permit it too (see replicator.Config.EnableDeltaSync). Default off.
	EnableDeltaSync bool
	// CheckpointInterval is how often progress is saved while running (0 = 2 s).
	CheckpointInterval time.Duration
	// Limits tune batching and pipelining, and the resource limits of the connection
	// (MaxMessageSize, MaxBufferedBytes; see syncproto.Limits). Zero = defaults.
	Limits syncproto.Limits
	// Logger receives diagnostics (nil = the library log, engine/logging, domain Replicator).
	Logger *slog.Logger

	// Authenticator sends credentials on the WebSocket upgrade:
	// replicator.BasicAuthenticator{Username, Password} (pre-emptive HTTP Basic, as
	// Couchbase Lite does) or replicator.SessionAuthenticator (a Sync Gateway session
	// cookie). nil = none. A listener refusing them answers 401: the replicator stops with an
	// error wrapping ErrUnauthorized and does not retry.
	Authenticator replicator.Authenticator
	// ClientIdentity is presented as the client certificate when the listener asks for one
	// (wss:// only).
	ClientIdentity *tlsid.Identity

	// TrustMode decides which listener certificates are accepted (wss:// only):
	// tlsid.TrustSystemRoots (default), TrustRoots (TrustedRoots, an application CA),
	// TrustSelfSignedOnly (Couchbase Lite's acceptOnlySelfSignedServerCertificate) or
	// TrustPinned (exactly the certificate given by PinnedCertificate or by
	// PinnedFingerprint). See the tlsid package for the exact rules.
	TrustMode tlsid.TrustMode
	// TrustedRoots are the roots for tlsid.TrustRoots; they must be empty in other modes.
	TrustedRoots []*x509.Certificate
	// PinnedCertificate is the DER certificate for tlsid.TrustPinned (for instance
	// Replicator.ServerCertificate().Raw saved from an earlier connection).
	PinnedCertificate []byte
	// PinnedFingerprint is the other way to give the pin of tlsid.TrustPinned: the SHA-256
	// fingerprint of the listener's certificate as users exchange it (what the listener
	// shows: Listener.TLSIdentity().Fingerprint(), with or without colons, either case; see
	// tlsid.ParseFingerprint). Set PinnedCertificate or PinnedFingerprint, not both.
	PinnedFingerprint string
	// ServerName is sent as SNI and, in the CA modes, checked against the certificate;
	// "" = the host of URL.
	ServerName string
}

// Replicator is the active peer: it replicates a local database with one listener. Its
// methods are safe for concurrent use.
type Replicator struct {
	eng *replicator.Replicator

	mu         sync.Mutex
	serverCert *x509.Certificate
}

// NewReplicator validates cfg and returns a stopped replicator. Configuration errors wrap
// replicator.ErrInvalidConfig (and, for the TLS settings, a tlsid sentinel) and say what to
// change.
func NewReplicator(cfg ReplicatorConfig) (*Replicator, error) {
	r := &Replicator{}
	ecfg := replicator.Config{
		Database:           cfg.Database,
		URL:                cfg.URL,
		Collections:        cfg.Collections,
		Type:               cfg.Type,
		Continuous:         cfg.Continuous,
		Headers:            cfg.Headers,
		Authenticator:      cfg.Authenticator,
		Heartbeat:          cfg.Heartbeat,
		MaxAttempts:        cfg.MaxAttempts,
		MaxAttemptWait:     cfg.MaxAttemptWait,
		RetryBase:          cfg.RetryBase,
		DisableAutoPurge:   cfg.DisableAutoPurge,
		EnableDeltaSync:    cfg.EnableDeltaSync,
		CheckpointInterval: cfg.CheckpointInterval,
		Limits:             cfg.Limits,
		Logger:             cfg.Logger,
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("new replicator: %w: endpoint URL: %v", replicator.ErrInvalidConfig, err)
	}
	if u.Scheme == "wss" {
		if ecfg.TLSConfig, err = r.clientTLSConfig(cfg); err != nil {
			return nil, fmt.Errorf("new replicator: %w: %w", replicator.ErrInvalidConfig, err)
		}
	} else if what := tlsOnlySetting(cfg); what != "" {
		return nil, fmt.Errorf("new replicator: %w: %s needs a wss:// URL, and %q does not use TLS", replicator.ErrInvalidConfig, what, cfg.URL)
	}
	if r.eng, err = replicator.New(ecfg); err != nil {
		return nil, fmt.Errorf("new replicator: %w", err)
	}
	return r, nil
}

// tlsOnlySetting names the first setting that only makes sense over TLS, or "".
func tlsOnlySetting(cfg ReplicatorConfig) string {
	switch {
	case cfg.ClientIdentity != nil:
		return "a client certificate (ClientIdentity)"
	case cfg.TrustMode != tlsid.TrustSystemRoots:
		return "a trust mode other than system roots"
	case len(cfg.TrustedRoots) > 0:
		return "trusted roots"
	case len(cfg.PinnedCertificate) > 0:
		return "a pinned certificate"
	case cfg.PinnedFingerprint != "":
		return "a pinned fingerprint"
	case cfg.ServerName != "":
		return "a TLS server name"
	}
	return ""
}

// clientTLSConfig builds the trust policy with tlsid and records the server's certificate
// at every handshake, before the policy judges it.
func (r *Replicator) clientTLSConfig(cfg ReplicatorConfig) (*tls.Config, error) {
	tc, err := tlsid.ClientTLSConfig(tlsid.ClientTrust{
		Mode:              cfg.TrustMode,
		Roots:             cfg.TrustedRoots,
		PinnedCertificate: cfg.PinnedCertificate,
		PinnedFingerprint: cfg.PinnedFingerprint,
		ServerName:        cfg.ServerName,
		Identity:          cfg.ClientIdentity,
	})
	if err != nil {
		return nil, err
	}
	policy := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			r.noteServerCertificate(cs.PeerCertificates[0])
		}
		if policy != nil {
			return policy(cs)
		}
		return nil
	}
	return tc, nil
}

func (r *Replicator) noteServerCertificate(c *x509.Certificate) {
	r.mu.Lock()
	r.serverCert = c
	r.mu.Unlock()
}

// ServerCertificate returns the certificate the listener presented at the most recent TLS
// handshake of the current or last run, whether or not it was accepted; nil before any
// handshake reached that point (and right after Start). Treat it as read-only.
//
// Pin on first use: connect once (say in tlsid.TrustSelfSignedOnly mode, after the user
// checked the fingerprint), then save ServerCertificate().Raw and pass it as
// PinnedCertificate with tlsid.TrustPinned from then on. Pin only a certificate from a run
// that succeeded or that the user confirmed: after a trust failure this is the refused
// certificate, shown so the user can decide.
func (r *Replicator) ServerCertificate() *x509.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serverCert
}

// observe classifies the status error and, when crypto/tls refused a certificate before
// our VerifyConnection hook could see it (the CA modes), records that certificate too.
func (r *Replicator) observe(st replicator.Status) replicator.Status {
	if st.Error == nil {
		return st
	}
	var cve *tls.CertificateVerificationError
	if errors.As(st.Error, &cve) && len(cve.UnverifiedCertificates) > 0 {
		r.noteServerCertificate(cve.UnverifiedCertificates[0])
	}
	st.Error = classify(st.Error)
	return st
}

// Start begins replicating in the background; resetCheckpoint starts over from the
// beginning. Errors: replicator.ErrRunning.
func (r *Replicator) Start(resetCheckpoint bool) error {
	r.mu.Lock()
	prev := r.serverCert
	r.serverCert = nil
	r.mu.Unlock()
	if err := r.eng.Start(resetCheckpoint); err != nil {
		r.mu.Lock()
		if r.serverCert == nil {
			r.serverCert = prev
		}
		r.mu.Unlock()
		return fmt.Errorf("start replicator: %w", err)
	}
	return nil
}

// Stop stops replicating, saves the checkpoint and returns once the replicator is stopped
// and every listener call for the work done has returned, collection change listeners
// included (see replicator.Replicator.Stop). Stopping a stopped replicator does nothing.
func (r *Replicator) Stop() { r.eng.Stop() }

// Status returns a snapshot. Status.Error, when set, wraps the sentinel of its cause (see
// Categorize): tlsid.ErrPinMismatch, ErrUnauthorized, and so on.
func (r *Replicator) Status() replicator.Status { return r.observe(r.eng.Status()) }

// Stats returns the revisions sent and received since the replicator was created, with
// how many went as deltas and their body bytes against the full bodies' (see
// replicator.Stats).
func (r *Replicator) Stats() replicator.Stats { return r.eng.Stats() }

// Counters returns the retries, conflicts resolved and the last error since the
// replicator was created (see replicator.Counters); LastError is classified as by Status.
func (r *Replicator) Counters() replicator.Counters {
	c := r.eng.Counters()
	if c.LastError != nil {
		c.LastError = classify(c.LastError)
	}
	return c
}

// TransferStats returns the bytes sent and received on the wire since the replicator was
// created (see replicator.TransferStats).
func (r *Replicator) TransferStats() replicator.TransferStats { return r.eng.TransferStats() }

// Wait blocks until the replicator is stopped (or ctx ends) and returns its status, with
// the error classified as by Status.
func (r *Replicator) Wait(ctx context.Context) (replicator.Status, error) {
	st, err := r.eng.Wait(ctx)
	return r.observe(st), err
}

// AddChangeListener registers fn for status changes, with errors classified as by Status.
// Calls come from one library goroutine, in order; fn should return quickly.
func (r *Replicator) AddChangeListener(fn func(replicator.Status)) *replicator.ListenerToken {
	return r.eng.AddChangeListener(func(st replicator.Status) { fn(r.observe(st)) })
}

// AddDocumentListener registers fn for batches of replicated documents (same threading as
// AddChangeListener).
func (r *Replicator) AddDocumentListener(fn func(replicator.DocumentReplication)) *replicator.ListenerToken {
	return r.eng.AddDocumentListener(fn)
}

// PendingDocumentIDs returns the IDs of documents in c with local changes not yet pushed.
func (r *Replicator) PendingDocumentIDs(ctx context.Context, c *store.Collection) ([]string, error) {
	return r.eng.PendingDocumentIDs(ctx, c)
}

// IsDocumentPending reports whether docID in c has local changes not yet pushed.
func (r *Replicator) IsDocumentPending(ctx context.Context, c *store.Collection, docID string) (bool, error) {
	return r.eng.IsDocumentPending(ctx, c, docID)
}

// URL returns the WebSocket URL the replicator connects to (…/<db>/_blipsync).
func (r *Replicator) URL() string { return r.eng.URL() }
