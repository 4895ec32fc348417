package main

import (
	"fmt"
	"sync"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Handle kinds. A handle is kind<<56 | serial; kinds stay below 0x80 so that every
// handle is a positive JVM long. Kinds are only appended.
const (
	kindDB           uint64 = 1
	kindCollection   uint64 = 2
	kindDocument     uint64 = 3
	kindBatch        uint64 = 4
	kindSubscription uint64 = 5
	kindListener     uint64 = 6
	kindReplicator   uint64 = 7
	kindTLSIdentity  uint64 = 8
	kindKeystore     uint64 = 9
	kindBlobWriter   uint64 = 10
	kindBlobReader   uint64 = 11
	kindQuery        uint64 = 12
)

// handlesMu guards every registry and every parent/child link, so that "close the
// parent" and "register a child" can never interleave. Critical sections are map
// operations only; no engine call or callback ever runs under it.
var handlesMu sync.Mutex

// node is embedded in every registered object. It links a child to its parent and
// counts a parent's live children, which is what makes closing a parent with live
// children fail with P2P_ERR_BUSY.
type node struct {
	parent *node
	kids   int
	closed bool
}

func (n *node) base() *node { return n }

type handled interface{ base() *node }

// registry maps handles of one kind to live Go objects. C only ever sees the numbers.
type registry[T handled] struct {
	kind   uint64
	serial uint64 // last issued serial; serials are never reused
	live   map[uint64]T
}

var allRegistries []func() int

func newRegistry[T handled](kind uint64) *registry[T] {
	r := &registry[T]{kind: kind, live: make(map[uint64]T)}
	allRegistries = append(allRegistries, func() int { return len(r.live) })
	return r
}

// add registers v (a child of v.base().parent, if set) and returns its new handle.
// It fails if the parent was closed meanwhile.
func (r *registry[T]) add(v T) (uint64, error) {
	handlesMu.Lock()
	defer handlesMu.Unlock()
	if p := v.base().parent; p != nil {
		if p.closed {
			return 0, fmt.Errorf("%w: parent object was closed", errInvalidHandle)
		}
		p.kids++
	}
	r.serial++
	h := r.kind<<56 | r.serial
	r.live[h] = v
	return h, nil
}

// lookup returns errInvalidHandle for 0, stale, unknown and wrong-kind handles alike.
func (r *registry[T]) lookup(h uint64) (T, error) {
	handlesMu.Lock()
	defer handlesMu.Unlock()
	v, ok := r.live[h]
	if !ok {
		return v, r.invalid(h)
	}
	return v, nil
}

// remove unregisters h for a close. found is false (with a nil error) for 0 and for a
// right-kind handle that was already closed, which callers treat as a no-op. A handle
// with live children stays registered and gives errBusy.
func (r *registry[T]) remove(h uint64) (v T, found bool, err error) {
	if h == 0 {
		return v, false, nil
	}
	handlesMu.Lock()
	defer handlesMu.Unlock()
	v, ok := r.live[h]
	if !ok {
		if h>>56 == r.kind && h&(1<<56-1) <= r.serial && h&(1<<56-1) != 0 {
			return v, false, nil // already closed
		}
		return v, false, r.invalid(h)
	}
	n := v.base()
	if n.kids > 0 {
		return v, false, fmt.Errorf("%w: %d dependent object(s) still open; close them first", errBusy, n.kids)
	}
	n.closed = true
	if n.parent != nil {
		n.parent.kids--
	}
	delete(r.live, h)
	return v, true, nil
}

func (r *registry[T]) invalid(h uint64) error {
	if h == 0 {
		return fmt.Errorf("%w: handle is 0", errInvalidHandle)
	}
	if h>>56 != r.kind {
		return fmt.Errorf("%w: handle %#x is of kind %d, expected kind %d", errInvalidHandle, h, h>>56, r.kind)
	}
	return fmt.Errorf("%w: handle %#x is closed or unknown", errInvalidHandle, h)
}

// liveHandles counts live handles of every kind.
func liveHandles() uint64 {
	handlesMu.Lock()
	defer handlesMu.Unlock()
	var n uint64
	for _, count := range allRegistries {
		n += uint64(count())
	}
	return n
}

// Registered objects, one registry per handle kind. Children point at their parent's
// node; the parent cannot be closed while they are registered.
type dbObj struct {
	node
	db *store.Database
}

type collObj struct {
	node
	coll  *store.Collection
	owner *dbObj
}

type docObj struct {
	node
	doc *store.Document
}

type batchObj struct {
	node
	batch *store.Batch
	owner *dbObj
}

// identityObj and keystoreObj have no parent: identities are immutable values that
// listeners and replicators keep their own reference to.
type identityObj struct {
	node
	id *tlsid.Identity
}

type keystoreObj struct {
	node
	ks *tlsid.Keystore
}

// listenerObj and replicatorObj are children of their database. gate guards the
// application's callbacks (authenticators, filters, resolvers): close shuts it so that
// none runs after close returns, whatever the engine still has in flight.
type listenerObj struct {
	node
	l     *listener.Listener
	gate  *callbackGate
	owner *dbObj
}

type replicatorObj struct {
	node
	r     *replicator.Replicator
	gate  *callbackGate
	owner *dbObj
}

var (
	dbs         = newRegistry[*dbObj](kindDB)
	colls       = newRegistry[*collObj](kindCollection)
	docs        = newRegistry[*docObj](kindDocument)
	batches     = newRegistry[*batchObj](kindBatch)
	subs        = newRegistry[*subObj](kindSubscription)
	listeners   = newRegistry[*listenerObj](kindListener)
	replicators = newRegistry[*replicatorObj](kindReplicator)
	identities  = newRegistry[*identityObj](kindTLSIdentity)
	keystores   = newRegistry[*keystoreObj](kindKeystore)
	blobWriters = newRegistry[*blobWriterObj](kindBlobWriter)
	blobReaders = newRegistry[*blobReaderObj](kindBlobReader)
	queries     = newRegistry[*queryObj](kindQuery)
)
