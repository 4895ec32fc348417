package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

//export p2pgo_replication_collection_init
func p2pgo_replication_collection_init(c *C.p2p_replication_collection, size C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := initOptions(unsafe.Pointer(c), size, "coll"); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_options_init
func p2pgo_replicator_options_init(opts *C.p2p_replicator_options, size C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := initOptions(unsafe.Pointer(opts), size, "opts"); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// replicationCollections reads the caller's array of per-collection settings. Elements
// are struct_size bytes apart, so callers built against another header version work.
func replicationCollections(db *dbObj, base *C.p2p_replication_collection, n C.uint32_t, gate *callbackGate) ([]replicator.CollectionConfig, error) {
	if n == 0 {
		return nil, nil
	}
	if base == nil {
		return nil, fmt.Errorf("%w: collections is NULL with a count of %d", errInvalidArgument, n)
	}
	size := base.struct_size
	if err := checkOptionsSize(uintptr(size), "p2p_replication_collection"); err != nil {
		return nil, fmt.Errorf("collections[0]: %w", err)
	}
	var out []replicator.CollectionConfig
	for i := 0; i < int(n); i++ {
		e := (*C.p2p_replication_collection)(unsafe.Add(unsafe.Pointer(base), uintptr(i)*uintptr(size)))
		if e.struct_size != size {
			return nil, fmt.Errorf("%w: collections[%d]: struct_size %d differs from the first element's %d", errInvalidArgument, i, e.struct_size, size)
		}
		cc, err := replicationCollection(db, e, gate)
		if err != nil {
			return nil, fmt.Errorf("collections[%d]: %w", i, err)
		}
		out = append(out, cc)
	}
	return out, nil
}

func replicationCollection(db *dbObj, p *C.p2p_replication_collection, gate *callbackGate) (replicator.CollectionConfig, error) {
	var cc replicator.CollectionConfig
	e, err := readOptions[C.p2p_replication_collection](unsafe.Pointer(p), "p2p_replication_collection")
	if err != nil {
		return cc, err
	}
	if err := checkReserved(unsafe.Pointer(&e.reserved1), unsafe.Sizeof(e.reserved1), "p2p_replication_collection.reserved1"); err != nil {
		return cc, err
	}
	if cc.Collection, err = ownedCollection(db, e.collection); err != nil {
		return cc, err
	}
	if err := goOptJSONInto(e.doc_ids_json, "doc_ids_json", &cc.DocumentIDs); err != nil {
		return cc, err
	}
	if err := goOptJSONInto(e.channels_json, "channels_json", &cc.Channels); err != nil {
		return cc, err
	}
	cc.PushFilter = newCCallback(unsafe.Pointer(e.push_filter), e.push_filter_user_data, gate).filter()
	cc.PullFilter = newCCallback(unsafe.Pointer(e.pull_filter), e.pull_filter_user_data, gate).filter()
	cc.ConflictResolver = newCCallback(unsafe.Pointer(e.conflict_resolver), e.conflict_resolver_user_data, gate).resolver()
	return cc, nil
}

// replicatorConfig reads the caller's options.
func replicatorConfig(db *dbObj, p *C.p2p_replicator_options, gate *callbackGate) (replicator.Config, error) {
	cfg := replicator.Config{Database: db.db}
	opts, err := readOptions[C.p2p_replicator_options](unsafe.Pointer(p), "p2p_replicator_options")
	if err != nil {
		return cfg, err
	}
	if err := checkReserved(unsafe.Pointer(&opts.reserved1), unsafe.Sizeof(opts.reserved1), "p2p_replicator_options.reserved1"); err != nil {
		return cfg, err
	}
	if opts._type > C.P2P_REPLICATOR_PULL || opts.trust_mode > C.P2P_TRUST_PINNED {
		return cfg, fmt.Errorf("%w: unknown type %d or trust_mode %d", errInvalidArgument, opts._type, opts.trust_mode)
	}
	if cfg.URL, err = goText(opts.url, "url"); err != nil {
		return cfg, err
	}
	if err := goOptJSONInto(opts.headers_json, "headers_json", &cfg.Headers); err != nil {
		return cfg, err
	}
	user, err := goOptText(opts.username, "username")
	if err != nil {
		return cfg, err
	}
	password, err := goOptText(opts.password, "password")
	if err != nil {
		return cfg, err
	}
	if opts.username != nil {
		cfg.Authenticator = replicator.BasicAuthenticator{Username: user, Password: password}
	}
	if cfg.ClientIdentity, err = optIdentity(opts.client_identity); err != nil {
		return cfg, err
	}
	if cfg.TrustedRoots, err = optCertificates(opts.trusted_roots_pem, "trusted_roots_pem"); err != nil {
		return cfg, err
	}
	if cfg.PinnedCertificate, err = pinnedDER(opts.pinned_certificate_pem); err != nil {
		return cfg, err
	}
	if cfg.PinnedFingerprint, err = goOptText(opts.pinned_fingerprint, "pinned_fingerprint"); err != nil {
		return cfg, err
	}
	if cfg.ServerName, err = goOptText(opts.server_name, "server_name"); err != nil {
		return cfg, err
	}
	if cfg.Collections, err = replicationCollections(db, opts.collections, opts.collection_count, gate); err != nil {
		return cfg, err
	}
	if cfg.Limits.MaxMessageSize, err = optSize(opts.max_message_size, "max_message_size"); err != nil {
		return cfg, err
	}
	if cfg.Limits.MaxBufferedBytes, err = optSize(opts.max_connection_buffer, "max_connection_buffer"); err != nil {
		return cfg, err
	}
	cfg.Type, cfg.Continuous, cfg.TrustMode = replicator.Type(opts._type), opts.continuous != 0, tlsid.TrustMode(opts.trust_mode)
	cfg.Heartbeat, cfg.MaxAttempts = millis(opts.heartbeat_ms), int(opts.max_attempts)
	cfg.MaxAttemptWait, cfg.RetryBase = millis(opts.max_attempt_wait_ms), millis(opts.retry_base_ms)
	cfg.DisableAutoPurge, cfg.EnableDeltaSync = opts.disable_auto_purge != 0, opts.enable_delta_sync != 0
	cfg.DisableCBMobile4 = opts.disable_version_vectors != 0
	return cfg, nil
}

//export p2pgo_replicator_create
func p2pgo_replicator_create(db C.p2p_db, opts *C.p2p_replicator_options, out *C.p2p_replicator, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(opts != nil && out != nil, "options or out_replicator"); err != nil {
		return fail(cerr, err)
	}
	gate := new(callbackGate)
	cfg, err := replicatorConfig(o, opts, gate)
	if err != nil {
		return fail(cerr, err)
	}
	r, err := replicator.New(cfg)
	if err != nil {
		return fail(cerr, err)
	}
	h, err := replicators.add(&replicatorObj{node: node{parent: &o.node}, r: r, gate: gate, owner: o})
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_replicator(h)
	return C.P2P_OK
}

// withReplicator runs step on a live replicator.
func withReplicator(h C.p2p_replicator, cerr *C.p2p_error, step func(*replicator.Replicator) error) C.int32_t {
	o, err := replicators.lookup(uint64(h))
	if err != nil {
		return fail(cerr, err)
	}
	if err := step(o.r); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_start
func p2pgo_replicator_start(h C.p2p_replicator, reset C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *replicator.Replicator) error { return r.Start(reset != 0) })
}

//export p2pgo_replicator_stop
func p2pgo_replicator_stop(h C.p2p_replicator, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *replicator.Replicator) error { r.Stop(); return nil })
}

// Replicator JSON shapes (see the header): status, stats, status event, document event.
type progressJSON struct {
	Completed uint64 `json:"completed"`
	Total     uint64 `json:"total"`
}

type replicatorStatusJSON struct {
	Event    string       `json:"event,omitempty"`
	Activity string       `json:"activity"`
	Progress progressJSON `json:"progress"`
	Error    *errorJSON   `json:"error"`
}

type replicatedDocJSON struct {
	Collection    string     `json:"collection"`
	ID            string     `json:"id"`
	RevID         string     `json:"rev_id"`
	Deleted       bool       `json:"deleted"`
	AccessRemoved bool       `json:"access_removed"`
	Error         *errorJSON `json:"error"`
}

type documentEventJSON struct {
	Event     string              `json:"event"`
	Direction string              `json:"direction"`
	Documents []replicatedDocJSON `json:"documents"`
}

func statusJSON(event string, st replicator.Status) replicatorStatusJSON {
	return replicatorStatusJSON{Event: event, Activity: st.Activity.String(),
		Progress: progressJSON{st.Progress.Completed, st.Progress.Total}, Error: errorObject(st.Error)}
}

type replicatorStatsJSON struct {
	RevsSent          uint64 `json:"revs_sent"`
	DeltasSent        uint64 `json:"deltas_sent"`
	BytesSent         uint64 `json:"bytes_sent"`
	FullBytesSent     uint64 `json:"full_bytes_sent"`
	DeltaFallbacks    uint64 `json:"delta_fallbacks"`
	RevsReceived      uint64 `json:"revs_received"`
	DeltasReceived    uint64 `json:"deltas_received"`
	BytesReceived     uint64 `json:"bytes_received"`
	FullBytesReceived uint64 `json:"full_bytes_received"`
	DeltasRefused     uint64 `json:"deltas_refused"`
	// appended in 1.1
	DeltaBytesSavedSent     uint64     `json:"delta_bytes_saved_sent"`
	DeltaBytesSavedReceived uint64     `json:"delta_bytes_saved_received"`
	WireBytesSent           uint64     `json:"wire_bytes_sent"`
	WireBytesReceived       uint64     `json:"wire_bytes_received"`
	ConflictsResolved       uint64     `json:"conflicts_resolved"`
	Retries                 uint64     `json:"retries"`
	LastError               *errorJSON `json:"last_error"`
}

func saved(full, sent uint64) uint64 {
	if full > sent {
		return full - sent
	}
	return 0
}

func statsJSON(r *replicator.Replicator) replicatorStatsJSON {
	st, wire, c := r.Stats(), r.TransferStats(), r.Counters()
	return replicatorStatsJSON{st.RevsSent, st.DeltasSent, st.BytesSent, st.FullBytesSent, st.DeltaFallbacks,
		st.RevsReceived, st.DeltasReceived, st.BytesReceived, st.FullBytesReceived, st.DeltasRefused,
		saved(st.FullBytesSent, st.BytesSent), saved(st.FullBytesReceived, st.BytesReceived),
		wire.BytesSent, wire.BytesReceived, c.ConflictsResolved, c.Retries, errorObject(c.LastError)}
}

func documentEvent(dr replicator.DocumentReplication) documentEventJSON {
	ev := documentEventJSON{Event: "document", Direction: dr.Direction.String(), Documents: []replicatedDocJSON{}}
	for _, d := range dr.Documents {
		ev.Documents = append(ev.Documents, replicatedDocJSON{Collection: d.Collection, ID: d.ID, RevID: d.RevID,
			Deleted: d.Deleted, AccessRemoved: d.AccessRemoved, Error: errorObject(d.Error)})
	}
	return ev
}

// mustJSON encodes the event shapes above, which cannot fail to encode.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode replicator event: %v", err))
	}
	return string(b)
}

//export p2pgo_replicator_status
func p2pgo_replicator_status(h C.p2p_replicator, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *replicator.Replicator) error {
		if err := needOut(out != nil, "out_json"); err != nil {
			return err
		}
		return setJSON(out, statusJSON("", r.Status()))
	})
}

//export p2pgo_replicator_stats
func p2pgo_replicator_stats(h C.p2p_replicator, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *replicator.Replicator) error {
		if err := needOut(out != nil, "out_json"); err != nil {
			return err
		}
		return setJSON(out, statsJSON(r))
	})
}

// replicatorTokens removes several engine registrations as one (an event queue hears both
// status and document events).
type replicatorTokens []*replicator.ListenerToken

func (t replicatorTokens) Remove() {
	for _, tok := range t {
		tok.Remove()
	}
}

// subscribeReplicator registers s under the replicator, then attaches it with attach.
func subscribeReplicator(h C.p2p_replicator, s *subObj, out *C.p2p_subscription, attach func(*replicator.Replicator) replicatorTokens) error {
	o, err := replicators.lookup(uint64(h))
	if err != nil {
		return err
	}
	if err := needOut(out != nil, "out_token"); err != nil {
		return err
	}
	s.node.parent = &o.node
	if s.handle, err = subs.add(s); err != nil {
		return err
	}
	s.token = attach(o.r) // the handle is set before the first event can arrive
	*out = C.p2p_subscription(s.handle)
	return nil
}

func onStatus(s *subObj) func(replicator.Status) {
	return func(st replicator.Status) { s.deliverJSON(mustJSON(statusJSON("status", st)), "") }
}

func onDocuments(s *subObj) func(replicator.DocumentReplication) {
	return func(dr replicator.DocumentReplication) { s.deliverJSON(mustJSON(documentEvent(dr)), "") }
}

//export p2pgo_replicator_add_status_listener
func p2pgo_replicator_add_status_listener(h C.p2p_replicator, fn C.p2p_replicator_event_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(fn != nil, "fn"); err != nil {
		return fail(cerr, err)
	}
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	err := subscribeReplicator(h, s, out, func(r *replicator.Replicator) replicatorTokens {
		return replicatorTokens{r.AddChangeListener(onStatus(s))}
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_add_document_listener
func p2pgo_replicator_add_document_listener(h C.p2p_replicator, fn C.p2p_replicator_event_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(fn != nil, "fn"); err != nil {
		return fail(cerr, err)
	}
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	err := subscribeReplicator(h, s, out, func(r *replicator.Replicator) replicatorTokens {
		return replicatorTokens{r.AddDocumentListener(onDocuments(s))}
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// replicatorOverflow is the overflow event of a replicator event queue.
func replicatorOverflow(_ string, dropped int) string {
	return mustJSON(struct {
		Event   string `json:"event"`
		Dropped int    `json:"dropped"`
	}{"overflow", dropped})
}

//export p2pgo_replicator_add_event_queue
func p2pgo_replicator_add_event_queue(h C.p2p_replicator, capacity C.uint32_t, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s := &subObj{queue: newEventQueue(int(capacity), replicatorOverflow)}
	err := subscribeReplicator(h, s, out, func(r *replicator.Replicator) replicatorTokens {
		return replicatorTokens{r.AddChangeListener(onStatus(s)), r.AddDocumentListener(onDocuments(s))}
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// replicatorCollection resolves a (replicator, collection) pair of the same database.
func replicatorCollection(h C.p2p_replicator, coll C.p2p_collection) (*replicator.Replicator, *store.Collection, error) {
	o, err := replicators.lookup(uint64(h))
	if err != nil {
		return nil, nil, err
	}
	c, err := ownedCollection(o.owner, coll)
	if err != nil {
		return nil, nil, err
	}
	return o.r, c, nil
}

//export p2pgo_replicator_pending_document_ids
func p2pgo_replicator_pending_document_ids(h C.p2p_replicator, coll C.p2p_collection, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	r, c, err := replicatorCollection(h, coll)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	ids, err := r.PendingDocumentIDs(callerContext(), c)
	if err != nil {
		return fail(cerr, err)
	}
	if err := setJSON(out, nonNil(ids)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_is_document_pending
func p2pgo_replicator_is_document_pending(h C.p2p_replicator, coll C.p2p_collection, id *C.char, out *C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	r, c, err := replicatorCollection(h, coll)
	if err != nil {
		return fail(cerr, err)
	}
	docID, err := goDocID(id, "doc_id")
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_pending"); err != nil {
		return fail(cerr, err)
	}
	pending, err := r.IsDocumentPending(callerContext(), c, docID)
	if err != nil {
		return fail(cerr, err)
	}
	*out = cBool(pending)
	return C.P2P_OK
}

//export p2pgo_replicator_server_certificate
func p2pgo_replicator_server_certificate(h C.p2p_replicator, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *replicator.Replicator) error {
		if err := needOut(out != nil, "out_pem"); err != nil {
			return err
		}
		cert := r.ServerCertificate()
		if cert == nil {
			*out = nil // no handshake yet
			return nil
		}
		setText(out, string(tlsid.EncodeCertificatesPEM([]*x509.Certificate{cert})))
		return nil
	})
}

//export p2pgo_replicator_close
func p2pgo_replicator_close(h C.p2p_replicator, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := replicators.remove(uint64(h))
	if err != nil {
		return fail(cerr, err)
	}
	if found {
		o.r.Stop()
		o.gate.Close() // filters and resolvers end with the run; this makes it a promise
	}
	return C.P2P_OK
}
