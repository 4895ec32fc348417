package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

//export p2pgo_listener_options_init
func p2pgo_listener_options_init(opts *C.p2p_listener_options, size C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := initOptions(unsafe.Pointer(opts), size, "opts"); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// collectionsOf resolves an array of collection handles, which must belong to db.
func collectionsOf(db *dbObj, handles *C.p2p_collection, n C.uint32_t) ([]*store.Collection, error) {
	if n > 0 && handles == nil {
		return nil, fmt.Errorf("%w: collections is NULL with a count of %d", errInvalidArgument, n)
	}
	var out []*store.Collection
	for i, h := range unsafe.Slice(handles, int(n)) {
		c, err := ownedCollection(db, h)
		if err != nil {
			return nil, fmt.Errorf("collection %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ownedCollection resolves a collection handle that must belong to db.
func ownedCollection(db *dbObj, h C.p2p_collection) (*store.Collection, error) {
	c, err := colls.lookup(uint64(h))
	if err != nil {
		return nil, err
	}
	if c.owner != db {
		return nil, fmt.Errorf("%w: the collection belongs to another database", errInvalidArgument)
	}
	return c.coll, nil
}

// optIdentity resolves an optional identity handle (0 = none).
func optIdentity(h C.p2p_tls_identity) (*tlsid.Identity, error) {
	if h == 0 {
		return nil, nil
	}
	return lookupIdentity(h)
}

// listenerConfig reads the caller's options (NULL = defaults).
func listenerConfig(db *dbObj, p *C.p2p_listener_options, gate *callbackGate) (listener.Config, error) {
	cfg := listener.Config{Database: db.db}
	if p == nil {
		return cfg, nil
	}
	opts, err := readOptions[C.p2p_listener_options](unsafe.Pointer(p), "p2p_listener_options")
	if err != nil {
		return cfg, err
	}
	if err := checkReserved(unsafe.Pointer(&opts.reserved1), unsafe.Sizeof(opts.reserved1), "p2p_listener_options.reserved1"); err != nil {
		return cfg, err
	}
	if err := checkReserved(unsafe.Pointer(&opts.reserved2), unsafe.Sizeof(opts.reserved2), "p2p_listener_options.reserved2"); err != nil {
		return cfg, err
	}
	if cfg.Collections, err = collectionsOf(db, opts.collections, opts.collection_count); err != nil {
		return cfg, err
	}
	if cfg.NetworkInterface, err = goOptText(opts.network_interface, "network_interface"); err != nil {
		return cfg, err
	}
	if cfg.Identity, err = optIdentity(opts.identity); err != nil {
		return cfg, err
	}
	var creds map[string]string
	if err := goOptJSONInto(opts.credentials_json, "credentials_json", &creds); err != nil {
		return cfg, err
	}
	roots, err := optCertificates(opts.client_cert_roots_pem, "client_cert_roots_pem")
	if err != nil {
		return cfg, err
	}
	if cfg.Limits.MaxMessageSize, err = optSize(opts.max_message_size, "max_message_size"); err != nil {
		return cfg, err
	}
	if cfg.Limits.MaxBufferedBytes, err = optSize(opts.max_connection_buffer, "max_connection_buffer"); err != nil {
		return cfg, err
	}
	if opts.max_connections > math.MaxInt32 {
		return cfg, fmt.Errorf("%w: max_connections %d is too large", errInvalidArgument, opts.max_connections)
	}
	cfg.MaxConnections = int(opts.max_connections)
	cfg.Limits.MaxCheckpointSize = int(opts.max_checkpoint_size)
	cfg.Limits.MaxPeerCheckpoints = int(opts.max_peer_checkpoints)
	cfg.Port, cfg.ReadOnly, cfg.DisableTLS = int(opts.port), opts.read_only != 0, opts.disable_tls != 0
	cfg.EnableDeltaSync = opts.enable_delta_sync != 0
	cfg.DisableCBMobile4 = opts.disable_version_vectors != 0
	cfg.Password = listener.PasswordsOrCallback(creds, newCCallback(unsafe.Pointer(opts.password_auth), opts.password_auth_user_data, gate).passwordAuth())
	if verify := newCCallback(unsafe.Pointer(opts.client_cert_auth), opts.client_cert_auth_user_data, gate).clientCertAuth(); verify != nil || len(roots) > 0 {
		cfg.ClientCertificate = &listener.CertificateAuthenticator{Roots: roots, Verify: verify}
	}
	return cfg, nil
}

//export p2pgo_listener_create
func p2pgo_listener_create(db C.p2p_db, opts *C.p2p_listener_options, out *C.p2p_listener, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_listener"); err != nil {
		return fail(cerr, err)
	}
	gate := new(callbackGate)
	cfg, err := listenerConfig(o, opts, gate)
	if err != nil {
		return fail(cerr, err)
	}
	l, err := listener.New(cfg)
	if err != nil {
		return fail(cerr, err)
	}
	h, err := listeners.add(&listenerObj{node: node{parent: &o.node}, l: l, gate: gate, owner: o})
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_listener(h)
	return C.P2P_OK
}

// withListener runs step on a live listener.
func withListener(h C.p2p_listener, cerr *C.p2p_error, step func(*listener.Listener) error) C.int32_t {
	o, err := listeners.lookup(uint64(h))
	if err != nil {
		return fail(cerr, err)
	}
	if err := step(o.l); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_listener_start
func p2pgo_listener_start(h C.p2p_listener, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, (*listener.Listener).Start)
}

//export p2pgo_listener_stop
func p2pgo_listener_stop(h C.p2p_listener, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error { l.Stop(); return nil })
}

//export p2pgo_listener_port
func p2pgo_listener_port(h C.p2p_listener, out *C.uint16_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error {
		if err := needOut(out != nil, "out_port"); err != nil {
			return err
		}
		*out = C.uint16_t(l.Port())
		return nil
	})
}

//export p2pgo_listener_urls
func p2pgo_listener_urls(h C.p2p_listener, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error {
		if err := needOut(out != nil, "out_json"); err != nil {
			return err
		}
		return setJSON(out, nonNil(l.URLs()))
	})
}

// listenerStatusJSON is the one JSON shape of a listener's status (see the header).
type listenerStatusJSON struct {
	ConnectionCount       int              `json:"connection_count"`
	ActiveConnectionCount int              `json:"active_connection_count"`
	TotalConnectionCount  uint64           `json:"total_connection_count"`
	Connections           []connectionJSON `json:"connections"`
}

type connectionJSON struct {
	Peer          string   `json:"peer"`
	User          string   `json:"user"`
	Subprotocol   string   `json:"subprotocol"`
	Collections   []string `json:"collections"`
	Started       string   `json:"started"`
	Active        bool     `json:"active"`
	BytesSent     uint64   `json:"bytes_sent"`
	BytesReceived uint64   `json:"bytes_received"`
	DocsSent      uint64   `json:"docs_sent"`
	DocsReceived  uint64   `json:"docs_received"`
}

func listenerStatus(st listener.Status) listenerStatusJSON {
	out := listenerStatusJSON{ConnectionCount: st.ConnectionCount, ActiveConnectionCount: st.ActiveConnectionCount,
		TotalConnectionCount: st.TotalConnections, Connections: []connectionJSON{}}
	for _, c := range st.Connections {
		out.Connections = append(out.Connections, connectionJSON{Peer: c.Peer, User: c.User, Subprotocol: c.Subprotocol,
			Collections: nonNil(c.Collections), Started: c.Started.UTC().Format(time.RFC3339Nano), Active: c.Active,
			BytesSent: c.BytesSent, BytesReceived: c.BytesReceived, DocsSent: c.DocsSent, DocsReceived: c.DocsReceived})
	}
	return out
}

//export p2pgo_listener_status
func p2pgo_listener_status(h C.p2p_listener, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error {
		if err := needOut(out != nil, "out_json"); err != nil {
			return err
		}
		return setJSON(out, listenerStatus(l.Status()))
	})
}

//export p2pgo_listener_tls_identity
func p2pgo_listener_tls_identity(h C.p2p_listener, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error {
		if err := needOut(out != nil, "out_identity"); err != nil {
			return err
		}
		id := l.TLSIdentity()
		if id == nil {
			*out = 0 // stopped, or TLS disabled
			return nil
		}
		return putIdentity(out, id)
	})
}

//export p2pgo_listener_close
func p2pgo_listener_close(h C.p2p_listener, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := listeners.remove(uint64(h))
	if err != nil {
		return fail(cerr, err)
	}
	if found {
		o.l.Stop()
		o.gate.Close() // a handshake that began before Stop may still be in a callback
	}
	return C.P2P_OK
}
