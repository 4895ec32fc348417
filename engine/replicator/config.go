package replicator

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Sentinel errors.
var (
	// ErrInvalidConfig: the configuration cannot work (bad URL, no database, …).
	ErrInvalidConfig = errors.New("replicator: invalid configuration")
	// ErrUnsupported: an option that this version does not provide.
	ErrUnsupported = errors.New("replicator: unsupported option")
	// ErrRunning: Start on a replicator that is already running.
	ErrRunning = errors.New("replicator: already running")
	// ErrNotPushing: pending-document queries on a replicator that does not push.
	ErrNotPushing = errors.New("replicator: not a push replicator")
	// ErrUnknownCollection: a collection that is not part of the configuration.
	ErrUnknownCollection = errors.New("replicator: collection not replicated")
	// ErrPeerClosed: the passive peer ended the connection cleanly without being asked to.
	ErrPeerClosed = errors.New("replicator: connection closed by peer")
	// ErrTLS: the TLS handshake failed (untrusted or invalid certificate, or a peer that
	// does not speak TLS): permanent. Where tlsid names the cause, its sentinel is in the
	// chain too (tlsid.ErrPinMismatch, ErrUntrustedCertificate, …).
	ErrTLS = errors.New("replicator: TLS handshake failed")
	// ErrUnauthorized: the listener refused the credentials (HTTP 401 on the WebSocket
	// upgrade: wrong or missing password). Permanent. The *syncproto.HTTPError with the status
	// and the WWW-Authenticate challenge stays in the chain.
	ErrUnauthorized = errors.New("replicator: credentials refused by the listener (HTTP 401)")
)

// Type is the direction of replication.
type Type int

const (
	// PushAndPull sends and receives (the zero value).
	PushAndPull Type = iota
	// Push only sends local changes.
	Push
	// Pull only receives remote changes.
	Pull
)

func (t Type) String() string {
	switch t {
	case PushAndPull:
		return "push-and-pull"
	case Push:
		return "push"
	case Pull:
		return "pull"
	}
	return "unknown"
}

func (t Type) pushes() bool { return t == PushAndPull || t == Push }
func (t Type) pulls() bool  { return t == PushAndPull || t == Pull }

// Document is what push/pull filters see: one revision of one document. Body is the
// JSON object ("{}" for a deletion); the filter must not keep it after returning.
type Document struct {
	Collection string // "scope.name"
	ID         string
	RevID      string
	Deleted    bool
	Body       []byte
	// AccessRemoved (pull filters only): the remote revoked access to the document and
	// it is about to be purged here (auto-purge on); Body is "{}". Returning false keeps
	// the local copy. See Config.DisableAutoPurge.
	AccessRemoved bool
}

// Filter decides whether a document revision is replicated. It is called on a library
// goroutine and may block briefly; it must not call back into the same replicator.
type Filter func(doc Document) bool

// CollectionConfig configures one replicated collection.
type CollectionConfig struct {
	Collection  *store.Collection
	DocumentIDs []string // only these documents (nil = all; at most wire.MaxDocIDs, 100,000)
	PushFilter  Filter   // nil = everything
	PullFilter  Filter   // nil = everything
	// ConflictResolver resolves conflicts created by pulled revisions. nil uses
	// DefaultConflictResolver (a deletion wins, else the higher generation, else the
	// larger revision ID).
	ConflictResolver ConflictResolver
	// Channels are passed to Sync Gateway (filter sync_gateway/bychannel). A Couchbase Lite
	// or libp2psync listener refuses channel filtering.
	Channels []string
}

// Authenticator adds credentials to the WebSocket upgrade request.
type Authenticator interface {
	Authorize(h http.Header)
}

// BasicAuthenticator sends HTTP Basic credentials pre-emptively (as Couchbase Lite does).
type BasicAuthenticator struct{ Username, Password string }

// Authorize implements Authenticator.
func (a BasicAuthenticator) Authorize(h http.Header) {
	r := http.Request{Header: h}
	r.SetBasicAuth(a.Username, a.Password)
}

// SessionAuthenticator sends a Sync Gateway session cookie.
type SessionAuthenticator struct {
	SessionID  string
	CookieName string // "" = SyncGatewaySession
}

// Authorize implements Authenticator.
func (a SessionAuthenticator) Authorize(h http.Header) {
	name := a.CookieName
	if name == "" {
		name = "SyncGatewaySession"
	}
	c := http.Cookie{Name: name, Value: a.SessionID}
	if prev := h.Get("Cookie"); prev != "" {
		h.Set("Cookie", prev+"; "+c.String())
		return
	}
	h.Set("Cookie", c.String())
}

// Config configures a Replicator. The zero value of every optional field is its default.
type Config struct {
	// Database is the local database (required).
	Database *store.Database
	// URL is the remote endpoint: ws[s]://host:port/<db> (the "/_blipsync" suffix is added
	// as Couchbase Lite does; a URL already ending in /_blipsync is used as is).
	URL string
	// Collections to replicate; empty = the default collection with no options.
	Collections []CollectionConfig
	// Type: PushAndPull (default), Push or Pull.
	Type Type
	// Continuous keeps replicating until stopped; otherwise stop when caught up.
	Continuous bool
	// Headers are extra HTTP headers for the upgrade request.
	Headers map[string]string
	// Authenticator sends credentials on the WebSocket upgrade: BasicAuthenticator
	// (pre-emptive HTTP Basic, as Couchbase Lite does) or SessionAuthenticator (a Sync
	// Gateway session cookie). nil = none. A listener refusing them answers 401: the
	// replicator stops with an error wrapping ErrUnauthorized and does not retry.
	Authenticator Authenticator
	// Heartbeat is the WebSocket ping interval (0 = 300 s).
	Heartbeat time.Duration
	// MaxAttempts bounds connection attempts (0 = 10 for one-shot, unlimited for
	// continuous; negative = unlimited). The count resets after a successful connection.
	MaxAttempts int
	// MaxAttemptWait caps the wait between attempts (0 = 300 s).
	MaxAttemptWait time.Duration
	// RetryBase is the unit of the exponential backoff: the wait before retry k is
	// RetryBase·2^k, capped at MaxAttemptWait (0 = 1 s, i.e. 2, 4, 8 … s as in CBL).
	RetryBase time.Duration
	// DisableAutoPurge keeps documents whose access was revoked by the remote (default:
	// they are purged). As in Couchbase Lite, the replicator asks the remote for
	// revocations (subChanges "revocations") when auto-purge is on or a document
	// listener is registered when the pull starts; each revoked document present here
	// is reported with ReplicatedDocument.AccessRemoved, purged or (disabled, or kept by
	// the pull filter) not. A purge is local: no tombstone is made or pushed.
	DisableAutoPurge bool
	// EnableDeltaSync lets the replicator send and accept delta-encoded revisions
	// (PROTOCOL §6). Deltas are used only where both ends permit them: this flag, the
	// database's setting (store.Config.DisableDeltaSync) and, for each direction, the
	// peer's advertisement (a listener's EnableDeltaSync). Default off.
	EnableDeltaSync bool
	// DisableCBMobile4 offers only CBMobile_3 (revision trees) and CBMobile_2, as
	// before version vectors; by default CBMobile_4 is offered first and the peer's
	// choice decides (a listener without it picks CBMobile_3). For tests and interop.
	// Delta sync works under either (under CBMobile_4 a delta's base is named by version).
	DisableCBMobile4 bool
	// CheckpointInterval is how often progress is saved while running (0 = 2 s).
	// Checkpoints are also saved when a one-shot replication completes and on Stop.
	CheckpointInterval time.Duration
	// Limits tune batching, pipelining and the compression level (zero = defaults).
	Limits syncproto.Limits
	// Logger receives diagnostics (nil = the library log, engine/logging, domain Replicator).
	Logger *slog.Logger

	// The settings below are for wss:// only (New refuses them with ws://); see tls.go.

	// ClientIdentity is presented as the client certificate when the listener asks for one.
	ClientIdentity *tlsid.Identity
	// TrustMode decides which listener certificates are accepted: tlsid.TrustSystemRoots
	// (default), TrustRoots (TrustedRoots, an application CA), TrustSelfSignedOnly
	// (Couchbase Lite's acceptOnlySelfSignedServerCertificate) or TrustPinned (exactly the
	// certificate given by PinnedCertificate or PinnedFingerprint). See tlsid.ClientTrust.
	// A certificate refused is a permanent error.
	TrustMode tlsid.TrustMode
	// TrustedRoots are the roots for tlsid.TrustRoots; they must be empty in other modes.
	TrustedRoots []*x509.Certificate
	// PinnedCertificate is the DER certificate for tlsid.TrustPinned (for instance
	// ServerCertificate().Raw saved from an earlier connection).
	PinnedCertificate []byte
	// PinnedFingerprint is the other way to give the pin of tlsid.TrustPinned: the SHA-256
	// fingerprint of the listener's certificate as users exchange it (with or without
	// colons, either case; see tlsid.ParseFingerprint). Set PinnedCertificate or
	// PinnedFingerprint, not both.
	PinnedFingerprint string
	// ServerName is sent as SNI and, in the CA modes, checked against the certificate;
	// "" = the host of URL.
	ServerName string
}

const (
	defaultHeartbeat          = 300 * time.Second
	defaultMaxAttemptWait     = 300 * time.Second
	defaultOneShotAttempts    = 10
	defaultRetryBase          = time.Second
	defaultCheckpointInterval = 2 * time.Second
)
