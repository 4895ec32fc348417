package replicator

import (
	"sync"

	"github.com/p2psync/libp2psync/engine/syncproto"
)

// ActivityLevel is the replicator's state.
type ActivityLevel int

const (
	// Stopped: not running (never started, finished, stopped, or failed permanently).
	Stopped ActivityLevel = iota
	// Offline: waiting to retry after a transient error.
	Offline
	// Connecting: opening the connection and exchanging checkpoints.
	Connecting
	// Idle: connected and caught up (continuous mode).
	Idle
	// Busy: transferring documents.
	Busy
)

func (a ActivityLevel) String() string {
	switch a {
	case Stopped:
		return "stopped"
	case Offline:
		return "offline"
	case Connecting:
		return "connecting"
	case Idle:
		return "idle"
	case Busy:
		return "busy"
	}
	return "unknown"
}

// Progress counts documents. Total grows as changes are discovered; Completed <= Total.
type Progress struct {
	Completed uint64
	Total     uint64
}

// Status is a snapshot of the replicator.
type Status struct {
	Activity ActivityLevel
	Progress Progress
	// Error is the last error: the permanent error that stopped the replicator, or the
	// transient error being retried while Offline. nil after a clean run.
	Error error
}

// Direction of a replicated document.
type Direction = syncproto.Direction

// Directions.
const (
	DirectionPush = syncproto.DirectionPush
	DirectionPull = syncproto.DirectionPull
)

// ReplicatedDocument reports one document pushed or pulled, or failed.
type ReplicatedDocument struct {
	Collection    string // "scope.name"
	ID            string
	RevID         string
	Deleted       bool
	AccessRemoved bool  // access revoked by the remote: purged here unless auto-purge is off or the pull filter kept it
	Error         error // nil on success; *syncproto.DocError for a per-document failure
}

// DocumentReplication is a batch of documents replicated in one direction.
type DocumentReplication struct {
	Direction Direction
	Documents []ReplicatedDocument
}

// ListenerToken unregisters a listener.
type ListenerToken struct {
	r  *Replicator
	id uint64
}

// Remove unregisters the listener. It waits for an in-flight call to return unless called
// from inside the callback itself.
func (t *ListenerToken) Remove() {
	if t == nil || t.r == nil {
		return
	}
	t.r.removeListener(t.id)
}

type listeners struct {
	mu     sync.Mutex
	next   uint64
	status map[uint64]func(Status)
	docs   map[uint64]func(DocumentReplication)
	callMu sync.Mutex // held while a callback runs
	inCall bool
}
