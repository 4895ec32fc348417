package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/p2psync"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

//export p2pgo_replication_collection_init
func p2pgo_replication_collection_init(c *C.p2p_replication_collection, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(c != nil, "coll"); err != nil {
		return fail(cerr, err)
	}
	*c = C.p2p_replication_collection{struct_size: C.uint32_t(unsafe.Sizeof(*c))}
	return C.P2P_OK
}

//export p2pgo_replicator_options_init
func p2pgo_replicator_options_init(opts *C.p2p_replicator_options, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(opts != nil, "opts"); err != nil {
		return fail(cerr, err)
	}
	*opts = C.p2p_replicator_options{struct_size: C.uint32_t(unsafe.Sizeof(*opts))}
	return C.P2P_OK
}

// replicationCollections reads the caller's array of per-collection settings. Elements
// are struct_size bytes apart, so callers built against another header version work.
func replicationCollections(db *dbObj, base *C.p2p_replication_collection, n C.uint32_t, gate *p2psync.CallbackGate) ([]replicator.CollectionConfig, error) {
	if n > 0 && base == nil {
		return nil, fmt.Errorf("%w: collections is NULL with a count of %d", errInvalidArgument, n)
	}
	var out []replicator.CollectionConfig
	for i := 0; i < int(n); i++ {
		e := (*C.p2p_replication_collection)(unsafe.Add(unsafe.Pointer(base), uintptr(i)*uintptr(base.struct_size)))
		cc, err := replicationCollection(db, e, base.struct_size, gate)
		if err != nil {
			return nil, fmt.Errorf("collections[%d]: %w", i, err)
		}
		out = append(out, cc)
	}
	return out, nil
}

func replicationCollection(db *dbObj, e *C.p2p_replication_collection, size C.uint32_t, gate *p2psync.CallbackGate) (replicator.CollectionConfig, error) {
	var cc replicator.CollectionConfig
	known := unsafe.Sizeof(*e)
	err := checkStructSize(unsafe.Pointer(e), e.struct_size, known, known)
	if err == nil && e.struct_size != size {
		err = fmt.Errorf("%w: struct_size %d differs from the first element's %d", errInvalidArgument, e.struct_size, size)
	}
	cc.Collection, err = then(err, func() (*store.Collection, error) { return ownedCollection(db, e.collection) })
	err = then1(err, func() error { return goOptJSONInto(e.doc_ids_json, "doc_ids_json", &cc.DocumentIDs) })
	err = then1(err, func() error { return goOptJSONInto(e.channels_json, "channels_json", &cc.Channels) })
	cc.PushFilter = newCCallback(unsafe.Pointer(e.push_filter), e.push_filter_user_data, gate).filter()
	cc.PullFilter = newCCallback(unsafe.Pointer(e.pull_filter), e.pull_filter_user_data, gate).filter()
	cc.ConflictResolver = newCCallback(unsafe.Pointer(e.conflict_resolver), e.conflict_resolver_user_data, gate).resolver()
	return cc, err
}

// pinnedDER turns the optional pinned certificate PEM into the DER the engine compares.
func pinnedDER(p *C.char) ([]byte, error) {
	certs, err := optCertificates(p, "pinned_certificate_pem")
	if err != nil || len(certs) == 0 {
		return nil, err
	}
	if len(certs) > 1 {
		return nil, fmt.Errorf("%w: pinned_certificate_pem holds %d certificates; pin exactly one", errInvalidArgument, len(certs))
	}
	return certs[0].Raw, nil
}

func millis(ms C.uint32_t) time.Duration { return time.Duration(ms) * time.Millisecond }

// replicatorConfig reads the caller's options honouring struct_size.
func replicatorConfig(db *dbObj, opts *C.p2p_replicator_options, gate *p2psync.CallbackGate) (p2psync.ReplicatorConfig, error) {
	cfg := p2psync.ReplicatorConfig{Database: db.db}
	known := unsafe.Sizeof(*opts)
	// 1.0 callers end at collection_count; fields after it are read only when present.
	first := unsafe.Offsetof(opts.collection_count) + unsafe.Sizeof(opts.collection_count)
	err := checkStructSize(unsafe.Pointer(opts), opts.struct_size, first, known)
	if err == nil && (opts._type > C.P2P_REPLICATOR_PULL || opts.trust_mode > C.P2P_TRUST_PINNED) {
		err = fmt.Errorf("%w: unknown type %d or trust_mode %d", errInvalidArgument, opts._type, opts.trust_mode)
	}
	cfg.URL, err = then(err, func() (string, error) { return goText(opts.url, "url") })
	err = then1(err, func() error { return goOptJSONInto(opts.headers_json, "headers_json", &cfg.Headers) })
	user, err := then(err, func() (string, error) { return goOptText(opts.username, "username") })
	password, err := then(err, func() (string, error) { return goOptText(opts.password, "password") })
	cfg.ClientIdentity, err = then(err, func() (*tlsid.Identity, error) { return optIdentity(opts.client_identity) })
	cfg.TrustedRoots, err = then(err, func() ([]*x509.Certificate, error) {
		return optCertificates(opts.trusted_roots_pem, "trusted_roots_pem")
	})
	cfg.PinnedCertificate, err = then(err, func() ([]byte, error) { return pinnedDER(opts.pinned_certificate_pem) })
	cfg.ServerName, err = then(err, func() (string, error) { return goOptText(opts.server_name, "server_name") })
	if uintptr(opts.struct_size) > unsafe.Offsetof(opts.pinned_fingerprint) {
		cfg.PinnedFingerprint, err = then(err, func() (string, error) { return goOptText(opts.pinned_fingerprint, "pinned_fingerprint") })
	}
	cfg.Collections, err = then(err, func() ([]replicator.CollectionConfig, error) {
		return replicationCollections(db, opts.collections, opts.collection_count, gate)
	})
	if opts.username != nil {
		cfg.Authenticator = replicator.BasicAuthenticator{Username: user, Password: password}
	}
	cfg.Type, cfg.Continuous, cfg.TrustMode = replicator.Type(opts._type), opts.continuous != 0, tlsid.TrustMode(opts.trust_mode)
	cfg.Heartbeat, cfg.MaxAttempts = millis(opts.heartbeat_ms), int(opts.max_attempts)
	cfg.MaxAttemptWait, cfg.RetryBase = millis(opts.max_attempt_wait_ms), millis(opts.retry_base_ms)
	cfg.DisableAutoPurge, cfg.EnableDeltaSync = opts.disable_auto_purge != 0, opts.enable_delta_sync != 0
	if has(opts.struct_size, unsafe.Offsetof(opts.max_message_size), unsafe.Sizeof(opts.max_message_size)) {
		cfg.Limits.MaxMessageSize, err = then(err, func() (int64, error) { return optSize(opts.max_message_size, "max_message_size") })
	}
	if has(opts.struct_size, unsafe.Offsetof(opts.max_connection_buffer), unsafe.Sizeof(opts.max_connection_buffer)) {
		cfg.Limits.MaxBufferedBytes, err = then(err, func() (int64, error) {
			return optSize(opts.max_connection_buffer, "max_connection_buffer")
		})
	}
	return cfg, err
}

//export p2pgo_replicator_create
func p2pgo_replicator_create(db C.p2p_db, opts *C.p2p_replicator_options, out *C.p2p_replicator, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	err = then1(err, func() error { return needOut(opts != nil && out != nil, "options or out_replicator") })
	gate := new(p2psync.CallbackGate)
	cfg, err := then(err, func() (p2psync.ReplicatorConfig, error) { return replicatorConfig(o, opts, gate) })
	r, err := then(err, func() (*p2psync.Replicator, error) { return p2psync.NewReplicator(cfg) })
	h, err := then(err, func() (uint64, error) {
		return replicators.add(&replicatorObj{node: node{parent: &o.node}, r: r, gate: gate, owner: o})
	})
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_replicator(h)
	return C.P2P_OK
}

// withReplicator runs step on a live replicator.
func withReplicator(h C.p2p_replicator, cerr *C.p2p_error, step func(*p2psync.Replicator) error) C.int32_t {
	o, err := replicators.lookup(uint64(h))
	if err = then1(err, func() error { return step(o.r) }); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_start
func p2pgo_replicator_start(h C.p2p_replicator, reset C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *p2psync.Replicator) error { return r.Start(reset != 0) })
}

//export p2pgo_replicator_stop
func p2pgo_replicator_stop(h C.p2p_replicator, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *p2psync.Replicator) error { r.Stop(); return nil })
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

func statsJSON(r *p2psync.Replicator) replicatorStatsJSON {
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
	return withReplicator(h, cerr, func(r *p2psync.Replicator) error {
		return then1(needOut(out != nil, "out_json"), func() error { return setJSON(out, statusJSON("", r.Status())) })
	})
}

//export p2pgo_replicator_stats
func p2pgo_replicator_stats(h C.p2p_replicator, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *p2psync.Replicator) error {
		return then1(needOut(out != nil, "out_json"), func() error { return setJSON(out, statsJSON(r)) })
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
func subscribeReplicator(h C.p2p_replicator, s *subObj, out *C.p2p_subscription, attach func(*p2psync.Replicator) replicatorTokens) error {
	o, err := replicators.lookup(uint64(h))
	err = then1(err, func() error { return needOut(out != nil, "out_token") })
	if err != nil {
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
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	err := then1(needOut(fn != nil, "fn"), func() error {
		return subscribeReplicator(h, s, out, func(r *p2psync.Replicator) replicatorTokens {
			return replicatorTokens{r.AddChangeListener(onStatus(s))}
		})
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_add_document_listener
func p2pgo_replicator_add_document_listener(h C.p2p_replicator, fn C.p2p_replicator_event_fn, userData unsafe.Pointer, out *C.p2p_subscription, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	s := newCallbackSub(unsafe.Pointer(fn), userData)
	err := then1(needOut(fn != nil, "fn"), func() error {
		return subscribeReplicator(h, s, out, func(r *p2psync.Replicator) replicatorTokens {
			return replicatorTokens{r.AddDocumentListener(onDocuments(s))}
		})
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
	err := subscribeReplicator(h, s, out, func(r *p2psync.Replicator) replicatorTokens {
		return replicatorTokens{r.AddChangeListener(onStatus(s)), r.AddDocumentListener(onDocuments(s))}
	})
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// replicatorCollection resolves a (replicator, collection) pair of the same database.
func replicatorCollection(h C.p2p_replicator, coll C.p2p_collection) (*p2psync.Replicator, *store.Collection, error) {
	o, err := replicators.lookup(uint64(h))
	c, err := then(err, func() (*store.Collection, error) { return ownedCollection(o.owner, coll) })
	if err != nil {
		return nil, nil, err
	}
	return o.r, c, nil
}

//export p2pgo_replicator_pending_document_ids
func p2pgo_replicator_pending_document_ids(h C.p2p_replicator, coll C.p2p_collection, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	r, c, err := replicatorCollection(h, coll)
	err = then1(err, func() error { return needOut(out != nil, "out_json") })
	ids, err := then(err, func() ([]string, error) { return r.PendingDocumentIDs(callerContext(), c) })
	if err = then1(err, func() error { return setJSON(out, nonNil(ids)) }); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_replicator_is_document_pending
func p2pgo_replicator_is_document_pending(h C.p2p_replicator, coll C.p2p_collection, id *C.char, out *C.uint8_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	r, c, err := replicatorCollection(h, coll)
	docID, err := then(err, func() (string, error) { return goDocID(id, "doc_id") })
	err = then1(err, func() error { return needOut(out != nil, "out_pending") })
	pending, err := then(err, func() (bool, error) { return r.IsDocumentPending(callerContext(), c, docID) })
	if err != nil {
		return fail(cerr, err)
	}
	*out = cBool(pending)
	return C.P2P_OK
}

//export p2pgo_replicator_server_certificate
func p2pgo_replicator_server_certificate(h C.p2p_replicator, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withReplicator(h, cerr, func(r *p2psync.Replicator) error {
		err := needOut(out != nil, "out_pem")
		if cert := r.ServerCertificate(); err == nil && cert == nil {
			*out = nil // no handshake yet
		} else if err == nil {
			setText(out, string(p2psync.CertificatesPEM([]*x509.Certificate{cert})))
		}
		return err
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
