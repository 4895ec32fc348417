package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"crypto/x509"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

//export p2pgo_listener_options_init
func p2pgo_listener_options_init(opts *C.p2p_listener_options, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(opts != nil, "opts"); err != nil {
		return fail(cerr, err)
	}
	*opts = C.p2p_listener_options{struct_size: C.uint32_t(unsafe.Sizeof(*opts))}
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
	if err == nil && c.owner != db {
		err = fmt.Errorf("%w: the collection belongs to another database", errInvalidArgument)
	}
	if err != nil {
		return nil, err
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

// optCertificates parses optional PEM certificates (NULL = none).
func optCertificates(p *C.char, what string) ([]*x509.Certificate, error) {
	pem, err := goOptText(p, what)
	if err != nil || p == nil {
		return nil, err
	}
	certs, err := tlsid.ParseCertificates([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return certs, nil
}

// listenerConfig reads the caller's options (NULL = defaults) honouring struct_size.
func listenerConfig(db *dbObj, opts *C.p2p_listener_options, gate *callbackGate) (listener.Config, error) {
	cfg := listener.Config{Database: db.db}
	if opts == nil {
		return cfg, nil
	}
	known := unsafe.Sizeof(*opts)
	// 1.0 callers end at enable_delta_sync; fields after it are read only when present.
	first := unsafe.Offsetof(opts.enable_delta_sync) + unsafe.Sizeof(opts.enable_delta_sync)
	err := checkStructSize(unsafe.Pointer(opts), opts.struct_size, first, known)
	cfg.Collections, err = then(err, func() ([]*store.Collection, error) { return collectionsOf(db, opts.collections, opts.collection_count) })
	cfg.NetworkInterface, err = then(err, func() (string, error) { return goOptText(opts.network_interface, "network_interface") })
	cfg.Identity, err = then(err, func() (*tlsid.Identity, error) { return optIdentity(opts.identity) })
	var creds map[string]string
	err = then1(err, func() error { return goOptJSONInto(opts.credentials_json, "credentials_json", &creds) })
	roots, err := then(err, func() ([]*x509.Certificate, error) {
		return optCertificates(opts.client_cert_roots_pem, "client_cert_roots_pem")
	})
	cfg.Port, cfg.ReadOnly, cfg.DisableTLS = int(opts.port), opts.read_only != 0, opts.disable_tls != 0
	cfg.EnableDeltaSync = opts.enable_delta_sync != 0
	if has(opts.struct_size, unsafe.Offsetof(opts.max_message_size), unsafe.Sizeof(opts.max_message_size)) {
		cfg.Limits.MaxMessageSize, err = then(err, func() (int64, error) { return optSize(opts.max_message_size, "max_message_size") })
	}
	if has(opts.struct_size, unsafe.Offsetof(opts.max_connection_buffer), unsafe.Sizeof(opts.max_connection_buffer)) {
		cfg.Limits.MaxBufferedBytes, err = then(err, func() (int64, error) {
			return optSize(opts.max_connection_buffer, "max_connection_buffer")
		})
	}
	if has(opts.struct_size, unsafe.Offsetof(opts.max_connections), unsafe.Sizeof(opts.max_connections)) {
		if opts.max_connections > math.MaxInt32 {
			err = then1(err, func() error {
				return fmt.Errorf("%w: max_connections %d is too large", errInvalidArgument, opts.max_connections)
			})
		}
		cfg.MaxConnections = int(opts.max_connections)
	}
	cfg.Password = listener.PasswordsOrCallback(creds, newCCallback(unsafe.Pointer(opts.password_auth), opts.password_auth_user_data, gate).passwordAuth())
	if verify := newCCallback(unsafe.Pointer(opts.client_cert_auth), opts.client_cert_auth_user_data, gate).clientCertAuth(); verify != nil || len(roots) > 0 {
		cfg.ClientCertificate = &listener.CertificateAuthenticator{Roots: roots, Verify: verify}
	}
	return cfg, err
}

//export p2pgo_listener_create
func p2pgo_listener_create(db C.p2p_db, opts *C.p2p_listener_options, out *C.p2p_listener, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := dbs.lookup(uint64(db))
	err = then1(err, func() error { return needOut(out != nil, "out_listener") })
	gate := new(callbackGate)
	cfg, err := then(err, func() (listener.Config, error) { return listenerConfig(o, opts, gate) })
	l, err := then(err, func() (*listener.Listener, error) { return listener.New(cfg) })
	h, err := then(err, func() (uint64, error) {
		return listeners.add(&listenerObj{node: node{parent: &o.node}, l: l, gate: gate, owner: o})
	})
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_listener(h)
	return C.P2P_OK
}

// withListener runs step on a live listener.
func withListener(h C.p2p_listener, cerr *C.p2p_error, step func(*listener.Listener) error) C.int32_t {
	o, err := listeners.lookup(uint64(h))
	if err = then1(err, func() error { return step(o.l) }); err != nil {
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
		err := needOut(out != nil, "out_port")
		if err == nil {
			*out = C.uint16_t(l.Port())
		}
		return err
	})
}

//export p2pgo_listener_urls
func p2pgo_listener_urls(h C.p2p_listener, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error {
		return then1(needOut(out != nil, "out_json"), func() error { return setJSON(out, nonNil(l.URLs())) })
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
		st := l.Status()
		return then1(needOut(out != nil, "out_json"), func() error {
			return setJSON(out, listenerStatus(st))
		})
	})
}

//export p2pgo_listener_tls_identity
func p2pgo_listener_tls_identity(h C.p2p_listener, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return withListener(h, cerr, func(l *listener.Listener) error {
		err := needOut(out != nil, "out_identity")
		if id := l.TLSIdentity(); err == nil && id == nil {
			*out = 0 // stopped, or TLS disabled
		} else if err == nil {
			err = putIdentity(out, id)
		}
		return err
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
