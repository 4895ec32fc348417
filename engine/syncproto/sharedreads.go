package syncproto

import (
	"bytes"
	"sync"

	"github.com/p2psync/libp2psync/engine/store"
)

// SharedReads lets the passive sessions of one listener share what their pushers read of
// the documents they list and send. When many continuous replicators follow one
// database, every commit wakes every session's pusher for the same rows: without sharing,
// each one reads the same current revisions and the same bodies from the store.
//
// An entry is a document as it stood at one sequence (a sequence is never reused for
// another state of the document), so a hit is exactly what the store would have
// returned for a row at that sequence, and an entry is never stale: a later change
// has another sequence. The cache keeps the most recent entries, at most maxEntries and
// maxBytes of bodies; bodies are copied on the way out, so a session may change what it
// gets. The zero value is not usable: call NewSharedReads. Safe for concurrent use.
type SharedReads struct {
	mu      sync.Mutex
	entries map[sharedKey]*sharedEntry
	fifo    []sharedKey // insertion order, for eviction
	bytes   int
	// hits and misses count lookups (tests, diagnostics).
	hits, misses uint64
}

type sharedKey struct {
	coll *store.Collection
	id   string
	seq  uint64
}

type sharedEntry struct {
	cur store.CurrentRevision
	doc *store.Document // nil when only the current revision was read
}

const (
	sharedMaxEntries = 1024
	sharedMaxBytes   = 8 << 20
)

// NewSharedReads returns an empty cache, to give every PassiveConfig of one listener.
func NewSharedReads() *SharedReads {
	return &SharedReads{entries: make(map[sharedKey]*sharedEntry)}
}

// current returns the current revision of id at seq, if cached.
func (r *SharedReads) current(coll *store.Collection, id string, seq uint64) (store.CurrentRevision, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[sharedKey{coll, id, seq}]
	if e == nil {
		r.misses++
		return store.CurrentRevision{}, false
	}
	r.hits++
	return e.cur, true
}

// document returns a copy of document id at seq, if cached with its body.
func (r *SharedReads) document(coll *store.Collection, id string, seq uint64) *store.Document {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[sharedKey{coll, id, seq}]
	if e == nil || e.doc == nil {
		r.misses++
		return nil
	}
	r.hits++
	d := *e.doc
	d.Body = bytes.Clone(e.doc.Body)
	return &d
}

// putCurrent records cur, read for a row at cur.Sequence.
func (r *SharedReads) putCurrent(coll *store.Collection, id string, cur store.CurrentRevision) {
	if cur.RevID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := sharedKey{coll, id, cur.Sequence}
	if r.entries[k] == nil {
		r.insertLocked(k, &sharedEntry{cur: cur})
	}
}

// putDocument records a copy of doc (its current revision, read at doc.Sequence).
func (r *SharedReads) putDocument(coll *store.Collection, doc *store.Document) {
	if doc == nil || len(doc.Body) > sharedMaxBytes/64 {
		return
	}
	c := *doc
	c.Body = bytes.Clone(doc.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	k := sharedKey{coll, doc.ID, doc.Sequence}
	if e := r.entries[k]; e != nil {
		if e.doc == nil {
			e.doc = &c
			r.bytes += len(c.Body)
			r.evictLocked()
		}
		return
	}
	r.insertLocked(k, &sharedEntry{cur: currentOf(&c), doc: &c})
}

func (r *SharedReads) insertLocked(k sharedKey, e *sharedEntry) {
	r.entries[k] = e
	r.fifo = append(r.fifo, k)
	if e.doc != nil {
		r.bytes += len(e.doc.Body)
	}
	r.evictLocked()
}

func (r *SharedReads) evictLocked() {
	for len(r.fifo) > 0 && (len(r.entries) > sharedMaxEntries || r.bytes > sharedMaxBytes) {
		k := r.fifo[0]
		r.fifo[0] = sharedKey{}
		r.fifo = r.fifo[1:]
		if e := r.entries[k]; e != nil {
			if e.doc != nil {
				r.bytes -= len(e.doc.Body)
			}
			delete(r.entries, k)
		}
	}
	if cap(r.fifo) > 4*sharedMaxEntries && len(r.fifo) < sharedMaxEntries {
		r.fifo = append([]sharedKey(nil), r.fifo...) // let the slid-off prefix go
	}
}
