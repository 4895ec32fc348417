package syncproto

import (
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Sentinel errors of the replication protocol layer.
var (
	// ErrBadMessage: a peer message is malformed (bad JSON, missing property, wrong
	// shape). The same value as wire.ErrBadMessage, which the codec returns.
	ErrBadMessage = wire.ErrBadMessage
	// ErrUnknownCollection: a collection index or path the session does not serve. The
	// same value as wire.ErrUnknownCollection.
	ErrUnknownCollection = wire.ErrUnknownCollection
	// ErrNoCheckpoint: the peer has no checkpoint stored for this client ID.
	ErrNoCheckpoint = errors.New("syncproto: no checkpoint")
	// ErrCheckpointConflict: setCheckpoint carried a stale revision.
	ErrCheckpointConflict = errors.New("syncproto: checkpoint revision conflict")
	// ErrRemoteCollectionMissing: the passive peer does not have a collection the active side asked for.
	ErrRemoteCollectionMissing = errors.New("syncproto: collection missing on remote")
	// ErrPeerIncompatible: the peer asked for something this implementation does not speak
	// (version vectors, an unknown filter) or answered in a way that makes replication impossible.
	ErrPeerIncompatible = errors.New("syncproto: peer incompatible")
	// ErrForbidden: the passive side refused the direction (read-only listener) or the request.
	ErrForbidden = errors.New("syncproto: forbidden by peer")
	// ErrSessionClosed: the session ended while work was in progress.
	ErrSessionClosed = errors.New("syncproto: session closed")
	// ErrRetryLater: the peer refused a request with a transient status (HTTP 408, 429,
	// 502, 503, 504: overloaded, shutting down). The session ends with it, nothing it
	// refused counts as done, and a replicator retries with backoff (PROTOCOL §8.1).
	ErrRetryLater = errors.New("syncproto: the peer asked to retry later")
)

// askedToRetryLater reports an error reply with one of the transient HTTP statuses of
// PROTOCOL §8.1.
func askedToRetryLater(err error) bool {
	var be *blip.Error
	if !errors.As(err, &be) || (be.Domain != "HTTP" && be.Domain != "WebSocket") {
		return false
	}
	return RetryLaterStatus(be.Code)
}

// RetryLaterStatus reports an HTTP status meaning "not now" rather than "no" (PROTOCOL
// §8.1: 408, 429, 502, 503, 504), whether it answered the WebSocket upgrade or a request.
// It is the one list of them: the pusher turns such an answer into ErrRetryLater, the
// replicator's IsTransient retries an upgrade refused with one.
func RetryLaterStatus(code int) bool {
	switch code {
	case 408, 429, 502, 503, 504:
		return true
	}
	return false
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadMessage}, args...)...)
}

// refusedRequest is the answer to a request whose message did not decode: HTTP/413 when
// it holds a list over one of the codec's bounds (wire.ErrTooLong: wire.MaxDocIDs,
// wire.MaxCollections, wire.MaxRevHistory, wire.MaxRevTree), otherwise status 400 in
// domain (what each handler answered before the bounds).
func refusedRequest(domain string, err error) *blip.Error {
	if errors.Is(err, wire.ErrTooLong) {
		return &blip.Error{Domain: "HTTP", Code: 413, Message: err.Error()}
	}
	return &blip.Error{Domain: domain, Code: 400, Message: err.Error()}
}
