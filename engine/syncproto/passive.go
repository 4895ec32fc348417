package syncproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// PassiveConfig configures the passive side of a session (a listener connection).
type PassiveConfig struct {
	// Collections served. A collection-aware client may ask for any of them; a legacy
	// client (no getCollections) gets the default collection, if it is served.
	Collections []*store.Collection
	AllowPush   bool // accept documents from the client
	AllowPull   bool // serve the changes feed to the client
	// Reads, when set, is shared by the sessions of one listener: their pushers reuse
	// what another has just read of the same documents at the same sequences (see
	// SharedReads). nil = each session reads for itself.
	Reads *SharedReads
}

type passiveState struct {
	cfg PassiveConfig
}

// Local document ID prefix for checkpoints stored on behalf of peers.
const peerCheckpointPrefix = "peer-checkpoint/"

// maxClientIDLen bounds checkpoint IDs accepted from peers.
const maxClientIDLen = 1024

// ServePassive installs the passive handlers (getCollections, getCheckpoint,
// setCheckpoint, subChanges) on s. Call before conn.Start.
func (s *Session) ServePassive(cfg PassiveConfig) {
	s.mu.Lock()
	s.passive = &passiveState{cfg: cfg}
	s.mu.Unlock()
	s.conn.Handle(wire.ProfileGetCollections, s.handleGetCollections)
	s.conn.Handle(wire.ProfileGetCheckpoint, s.handleGetCheckpoint)
	s.conn.Handle(wire.ProfileSetCheckpoint, s.handleSetCheckpoint)
	s.conn.Handle(wire.ProfileSubChanges, s.handleSubChanges)
}

// enterLegacyLocked switches a passive session to legacy mode (CBMobile_2 style): the
// default collection only, at index 0. s.mu is held.
func (ps *passiveState) enterLegacyLocked(s *Session) {
	s.modeSet, s.aware = true, false
	var def *store.Collection
	for _, c := range ps.cfg.Collections {
		if c.Scope() == "_default" && c.Name() == "_default" {
			def = c
		}
	}
	if def == nil {
		s.colls = nil
		return
	}
	sc := &sessionCollection{coll: def}
	s.colls = []*sessionCollection{sc}
	if ps.cfg.AllowPush {
		sc.puller = &Puller{s: s, idx: 0, coll: def, opts: PullOptions{MaxHistory: 20}, wanted: map[string]trackKey{}}
	}
}

func (s *Session) handleGetCollections(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	s.mu.Lock()
	ps := s.passive
	already := s.modeSet
	s.mu.Unlock()
	if already || req.Number != 1 {
		return nil, &blip.Error{Domain: "BLIP", Code: 400, Message: "getCollections must be the first request"}
	}
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	gc, err := wire.DecodeGetCollectionsRequest(body)
	if err != nil {
		return nil, refusedRequest("HTTP", err)
	}
	colls := make([]*sessionCollection, len(gc.Collections))
	entries := make([]wire.RemoteCheckpoint, len(gc.Collections))
	for i, path := range gc.Collections {
		scope, name, _ := wire.SplitCollectionPath(path)
		var found *store.Collection
		for _, c := range ps.cfg.Collections {
			if c.Scope() == scope && c.Name() == name {
				found = c
			}
		}
		if found == nil {
			entries[i].Missing = true
			continue
		}
		sc := &sessionCollection{coll: found}
		if ps.cfg.AllowPush {
			sc.puller = &Puller{s: s, idx: i, coll: found, opts: PullOptions{MaxHistory: 20}, wanted: map[string]trackKey{}}
		}
		colls[i] = sc
		cpBody, rev, err := s.cfg.Database.GetLocal(ctx, peerCheckpointPrefix+gc.CheckpointIDs[i])
		switch {
		case err == nil:
			entries[i] = wire.RemoteCheckpoint{Body: cpBody, Rev: rev}
		case errors.Is(err, store.ErrNotFound):
		default:
			return nil, &blip.Error{Domain: "HTTP", Code: 503, Message: "reading checkpoint: " + err.Error()}
		}
	}
	resp, err := wire.EncodeGetCollectionsResponse(entries)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.colls, s.aware, s.modeSet = colls, true, true
	s.mu.Unlock()
	var found, missing []string
	for i, sc := range colls {
		if sc != nil {
			found = append(found, sc.coll.FullName())
		} else {
			missing = append(missing, gc.Collections[i])
		}
	}
	if len(missing) > 0 {
		// The peer chose how many to name: the log line names at most maxLoggedMissing.
		named := missing[:min(len(missing), maxLoggedMissing)]
		s.log.Info("peer asked for collections", "collections", strings.Join(found, ","), "missing", strings.Join(named, ","),
			"missingCount", len(missing))
	} else {
		s.log.Info("peer asked for collections", "collections", strings.Join(found, ","))
	}
	return &blip.Message{Type: blip.TypeResponse, Body: resp}, nil
}

// maxLoggedMissing is how many of the collections a peer asked for and this side does
// not have one log line names.
const maxLoggedMissing = 10

func clientID(req *blip.Message) (string, error) {
	id := req.Properties.Get("client")
	if id == "" || len(id) > maxClientIDLen {
		return "", &blip.Error{Domain: "BLIP", Code: 400, Message: "missing or oversized client property"}
	}
	return id, nil
}

func (s *Session) handleGetCheckpoint(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	if _, _, err := s.collection(req); err != nil {
		return nil, err
	}
	id, err := clientID(req)
	if err != nil {
		return nil, err
	}
	body, rev, err := s.cfg.Database.GetLocal(ctx, peerCheckpointPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &blip.Error{Domain: "HTTP", Code: 404, Message: "missing"}
	}
	if err != nil {
		return nil, &blip.Error{Domain: "HTTP", Code: 503, Message: "reading checkpoint: " + err.Error()}
	}
	resp := &blip.Message{Type: blip.TypeResponse, Body: body}
	resp.Properties.Set("rev", rev)
	return resp, nil
}

func (s *Session) handleSetCheckpoint(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	if _, _, err := s.collection(req); err != nil {
		return nil, err
	}
	id, err := clientID(req)
	if err != nil {
		return nil, err
	}
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	if max := s.limits.MaxCheckpointSize; max > 0 && len(body) > max {
		// Refused before it is parsed or stored. The peer loses nothing: its checkpoint
		// is not advanced, so its next replication re-compares from the last one stored.
		return nil, &blip.Error{Domain: "HTTP", Code: 413,
			Message: "checkpoint of " + strconv.Itoa(len(body)) + " bytes is over the limit of " + strconv.Itoa(max)}
	}
	// Validated without being decoded (json.Valid allocates nothing), whatever its size:
	// the store keeps it as sent.
	if !json.Valid(body) {
		return nil, &blip.Error{Domain: "HTTP", Code: 400, Message: "checkpoint body is not valid JSON"}
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' {
		// An empty or null body means no checkpoint; there is nothing to store (the
		// store takes objects only), and the mistake is the client's.
		return nil, &blip.Error{Domain: "HTTP", Code: 400, Message: "checkpoint body is not a JSON object"}
	}
	newRev, evicted, err := s.cfg.Database.PutLocalCapped(ctx, peerCheckpointPrefix+id, body, req.Properties.Get("rev"),
		peerCheckpointPrefix, s.limits.MaxPeerCheckpoints)
	if evicted > 0 {
		s.log.Info("peer checkpoint cap reached: least recently written checkpoints deleted", "deleted", evicted,
			"cap", s.limits.MaxPeerCheckpoints)
	}
	if errors.Is(err, store.ErrConflict) {
		return nil, &blip.Error{Domain: "HTTP", Code: 409, Message: "checkpoint revision mismatch"}
	}
	if err != nil {
		return nil, &blip.Error{Domain: "HTTP", Code: 503, Message: "saving checkpoint: " + err.Error()}
	}
	resp := &blip.Message{Type: blip.TypeResponse}
	resp.Properties.Set("rev", newRev)
	return resp, nil
}

// MaxPeerChangesBatch is the most rows per changes message a peer's subChanges "batch"
// obtains (unless Limits.ChangesBatch is higher): each list is read from the store and
// held in memory whole, so a peer asking for the whole feed in one message is served in
// lists of this size instead. Couchbase Lite and Sync Gateway ask for 200. (Sync Gateway
// raises a batch below 10 and takes any larger one; below, every positive batch is
// honoured: small lists cost the peer round trips, not this side memory.)
const MaxPeerChangesBatch = 1000

// peerBatch is the batch size served for a subChanges "batch" of n (0: the session's own).
func (s *Session) peerBatch(n int) int {
	max := MaxPeerChangesBatch
	if s.limits.ChangesBatch > max {
		max = s.limits.ChangesBatch
	}
	if n > max {
		s.log.Debug("subChanges batch capped", "asked", n, "served", max)
		return max
	}
	return n
}

func (s *Session) handleSubChanges(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	idx, sc, err := s.collection(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	allowPull, reads := s.passive.cfg.AllowPull, s.passive.cfg.Reads
	s.mu.Unlock()
	if !allowPull {
		return nil, &blip.Error{Domain: "HTTP", Code: 403, Message: "Attempting to pull from a push-only replicator"}
	}
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	sub, err := wire.DecodeSubChanges(req.Properties, body)
	if err != nil {
		return nil, refusedRequest("BLIP", err)
	}
	if sub.Filter != "" {
		return nil, &blip.Error{Domain: "LiteCore", Code: 18, Message: "Filtering not supported"}
	}
	if sub.Versioning != "" && sub.Versioning != wire.VersioningRevTrees {
		return nil, &blip.Error{Domain: "LiteCore", Code: 501, Message: "Incompatible document versioning."}
	}
	var since uint64
	if n, ok := sub.Since.Uint(); ok {
		since = n
	}
	if sub.Future {
		if last, err := sc.coll.LastSequence(ctx); err == nil {
			since = last
		}
	}
	_, err = s.StartPusher(idx, PushOptions{
		Since: since, Continuous: sub.Continuous, BatchSize: s.peerBatch(sub.Batch), ActiveOnly: sub.ActiveOnly, DocIDs: sub.DocIDs,
		reads: reads,
	})
	if err != nil {
		return nil, &blip.Error{Domain: "LiteCore", Code: 501, Message: "already sending changes for collection " + strconv.Itoa(idx)}
	}
	return nil, nil
}
