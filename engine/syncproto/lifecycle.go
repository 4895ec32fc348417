package syncproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The connection lifecycle of a session: Dial (active) or Accept (passive) opens the BLIP
// connection and wraps it in a session, not started; Start begins reading; Handshake
// (active) exchanges collections and checkpoints; Done/Failed tell when it ends;
// Disconnect closes the connection with a WebSocket close code; Close stops the session.
// engine/replicator and engine/listener use only these, never engine/blip directly.

// The BLIP subprotocols a session speaks: CBMobile_4 (version vectors, collections) is
// preferred, then CBMobile_3 (revision trees, collections); CBMobile_2 serves the default
// collection only (legacy mode).
const (
	SubprotocolCBMobile4 = blip.SubprotocolCBMobile4
	SubprotocolCBMobile3 = blip.SubprotocolCBMobile3
	SubprotocolCBMobile2 = blip.SubprotocolCBMobile2
)

// subprotocols returns the subprotocols a session offers (active) or accepts (passive),
// most preferred first.
func (cfg SessionConfig) subprotocols() []string {
	if cfg.DisableCBMobile4 {
		return []string{SubprotocolCBMobile3, SubprotocolCBMobile2}
	}
	return []string{SubprotocolCBMobile4, SubprotocolCBMobile3, SubprotocolCBMobile2}
}

// WebSocket close codes a session sends or receives (the same values as engine/blip's).
const (
	CloseNormal       = blip.CloseNormal
	CloseGoingAway    = blip.CloseGoingAway
	CloseAbnormal     = blip.CloseAbnormal // never sent: the TCP connection dropped or the peer went silent
	CloseInternal     = blip.CloseInternal
	CloseAppTransient = blip.CloseAppTransient // asks the peer to come back later
	CloseAppPermanent = blip.CloseAppPermanent // asks the peer not to retry
)

// Connection errors of the BLIP layer, re-exported as the same values and types, so that
// errors.Is and errors.As match them through syncproto (a caller needs no engine/blip
// import to classify them). See engine/blip for what each means.
var (
	ErrProtocol      = blip.ErrProtocol      // the peer broke BLIP framing; connection closed 1002
	ErrConnClosed    = blip.ErrClosed        // the connection is closed or closing
	ErrTimeout       = blip.ErrTimeout       // dial/handshake timeout or a missed heartbeat
	ErrTooLarge      = blip.ErrTooLarge      // a size cap was exceeded
	ErrNoSubprotocol = blip.ErrNoSubprotocol // no common subprotocol
	ErrHandshakeCut  = blip.ErrHandshakeCut  // the connection ended during the WebSocket handshake
)

// HTTPError: the server refused the WebSocket upgrade with a non-101 status (Status,
// Body, Header). The same type as blip.HTTPError.
type HTTPError = blip.HTTPError

// CloseError describes how a connection ended (Code, Reason, Remote, Err); Session.Err
// wraps one when the connection ended the session, and ConnErr returns it. The same type
// as blip.CloseError.
type CloseError = blip.CloseError

// ErrorReply is a BLIP error reply (Domain, Code, Message) the peer answered a request
// with. The same type as blip.Error.
type ErrorReply = blip.Error

// DialOptions configure the connection of an active session.
type DialOptions struct {
	// Header holds extra request headers (Authorization, Cookie, User-Agent, …).
	Header http.Header
	// TLSConfig is used for wss:// URLs.
	TLSConfig *tls.Config
	// Heartbeat is the interval of WebSocket pings; 0 => engine/blip's default, negative => none.
	Heartbeat time.Duration
}

// Dial connects to the passive peer at url (ws:// or wss://, ending in /_blipsync),
// offering CBMobile_4, CBMobile_3 then CBMobile_2 (without CBMobile_4 when
// cfg.DisableCBMobile4): a listener that does not speak CBMobile_4 picks CBMobile_3 from
// the same offer, so no second connection is needed; and returns an active session over the new
// connection, not started: set its collections and pullers, then call Start. The
// connection's limits (compression level, message and buffer caps) come from
// cfg.Limits (see Limits.BlipConfig). A refused upgrade returns an error wrapping
// *HTTPError.
func Dial(ctx context.Context, url string, opts DialOptions, cfg SessionConfig) (*Session, error) {
	conn, _, err := blip.Dial(ctx, url, blip.DialOptions{
		Config:       cfg.Limits.BlipConfig(blip.Config{HeartbeatInterval: opts.Heartbeat, Logger: cfg.Logger}),
		Subprotocols: cfg.subprotocols(),
		Header:       opts.Header,
		TLSConfig:    opts.TLSConfig,
	})
	if err != nil {
		return nil, err
	}
	cfg.Role = RoleActive
	return NewSession(conn, cfg), nil
}

// Accept answers an HTTP request with a WebSocket upgrade to CBMobile_4, CBMobile_3 or
// CBMobile_2 (the first of the client's list this side speaks; CBMobile_4 is not accepted
// when cfg.DisableCBMobile4) and returns a passive session over
// the connection, not started: call ServePassive, then Start. On error the response has
// been written (HTTP 500 when no subprotocol is in common, as Sync Gateway does).
func Accept(w http.ResponseWriter, r *http.Request, cfg SessionConfig) (*Session, error) {
	conn, err := blip.Upgrade(w, r, blip.UpgradeOptions{
		Subprotocols: cfg.subprotocols(),
		Config:       cfg.Limits.BlipConfig(blip.Config{Logger: cfg.Logger}),
	})
	if err != nil {
		return nil, err
	}
	cfg.Role = RolePassive
	return NewSession(conn, cfg), nil
}

// Start begins reading from the connection: messages are dispatched to the session's
// handlers from now on. Call it once, after registering collections and pullers.
func (s *Session) Start() { s.conn.Start() }

// Subprotocol is the BLIP subprotocol agreed on the connection.
func (s *Session) Subprotocol() string { return s.conn.Subprotocol() }

// Legacy reports a CBMobile_2 connection: one default collection, no getCollections.
func (s *Session) Legacy() bool { return s.conn.Subprotocol() == SubprotocolCBMobile2 }

// VersionVectors reports a CBMobile_4 connection: revisions travel as versions and
// version vectors (see package hlv), except those that have none, which keep their
// rev-tree form.
func (s *Session) VersionVectors() bool { return s.v4 }

// Disconnect closes the connection with a WebSocket close code (CloseNormal,
// CloseInternal, CloseAppTransient, …) and reason. Requests still waiting fail, and the
// session fails with an error wrapping ErrSessionClosed. It does not wait for the
// session's goroutines (Close does). Closing a closed connection does nothing.
//
// A CloseNormal first lets the request handlers already running answer (for at most
// disconnectGrace): a one-shot pull is complete as soon as its last revision is saved,
// which is before that rev's handler has replied, and the peer should get the answer.
func (s *Session) Disconnect(code int, reason string) error {
	if code == CloseNormal {
		s.conn.WaitHandlers(disconnectGrace)
	}
	return s.conn.Close(code, reason)
}

// disconnectGrace bounds how long a normal Disconnect waits for running handlers.
const disconnectGrace = time.Second

// Done is closed when the connection has ended (closed by either side or lost).
func (s *Session) Done() <-chan struct{} { return s.conn.Done() }

// ConnErr returns how the connection ended (a *CloseError) once Done is closed, else nil.
func (s *Session) ConnErr() error { return s.conn.Err() }

// ConnStats counts the traffic of a session's connection.
type ConnStats struct {
	BytesSent, BytesReceived uint64 // BLIP frame bytes, as sent and received (compressed)
	// PeakBufferedBytes is the most incoming bytes the connection held at once (what
	// Limits.MaxBufferedBytes caps).
	PeakBufferedBytes int64
}

// ConnStats returns the connection's traffic so far; safe at any time, also after it ended.
func (s *Session) ConnStats() ConnStats {
	st := s.conn.Stats()
	return ConnStats{BytesSent: st.BytesSent, BytesReceived: st.BytesReceived, PeakBufferedBytes: st.PeakBufferedBytes}
}

// RemoteClose returns the close error of a connection the peer ended with code 1000
// (normal) or 1001 (going away), if err carries one: a peer that hung up on purpose.
func RemoteClose(err error) (*CloseError, bool) {
	var ce *CloseError
	if errors.As(err, &ce) && ce.Remote && (ce.Code == CloseNormal || ce.Code == CloseGoingAway) {
		return ce, true
	}
	return nil, false
}

// PeerCheckpoint is what the peer stores for one collection of an active session.
type PeerCheckpoint struct {
	Checkpoint wire.Checkpoint // the peer's copy, when Found
	Found      bool            // the peer has a readable checkpoint for this client ID
	Rev        string          // its revision, to quote when replacing it ("" if none)
}

// Handshake runs an active session's opening exchange after Start: with collections
// (CBMobile_3) one getCollections naming each collection set by SetCollections and its
// checkpoint ID (clientIDs, in the same order); in legacy mode one getCheckpoint of the
// default collection. It returns the peer's checkpoint of each collection. A peer without
// getCollections fails with ErrPeerIncompatible, one lacking a collection with
// ErrRemoteCollectionMissing naming it. A stored checkpoint that does not decode counts
// as not found (its revision is still returned, so it can be replaced).
func (s *Session) Handshake(ctx context.Context, clientIDs []string) ([]PeerCheckpoint, error) {
	s.mu.Lock()
	colls := make([]*sessionCollection, len(s.colls))
	copy(colls, s.colls)
	aware := s.aware
	s.mu.Unlock()
	if len(clientIDs) != len(colls) {
		return nil, fmt.Errorf("handshake: %d checkpoint IDs for %d collections", len(clientIDs), len(colls))
	}
	out := make([]PeerCheckpoint, len(colls))
	if !aware {
		if len(colls) != 1 {
			return nil, fmt.Errorf("handshake: legacy mode replicates one collection, not %d", len(colls))
		}
		cp, rev, err := s.GetCheckpoint(ctx, 0, clientIDs[0])
		switch {
		case err == nil:
			out[0] = PeerCheckpoint{Checkpoint: cp, Found: true, Rev: rev}
		case errors.Is(err, ErrNoCheckpoint):
		default:
			return nil, err
		}
		return out, nil
	}
	req := wire.GetCollectionsRequest{CheckpointIDs: clientIDs}
	for _, c := range colls {
		req.Collections = append(req.Collections, wire.CollectionPath(c.coll.Scope(), c.coll.Name()))
	}
	uuid := ""
	if s.cfg.Database != nil {
		uuid = s.cfg.Database.UUID()
	}
	entries, err := s.GetCollections(ctx, req, uuid)
	if err != nil {
		if IsNoHandler(err) {
			return nil, fmt.Errorf("%w: the peer does not know getCollections", ErrPeerIncompatible)
		}
		return nil, err
	}
	for i, e := range entries {
		if e.Missing {
			return nil, fmt.Errorf("%w: %s", ErrRemoteCollectionMissing, colls[i].coll.FullName())
		}
		if e.Body != nil {
			if cp, err := wire.DecodeCheckpoint(e.Body); err == nil {
				out[i].Checkpoint, out[i].Found = cp, true
			}
			out[i].Rev = e.Rev
		}
	}
	return out, nil
}
