package main

/*
#include "p2psync.h"
*/
import "C"

import (
	"github.com/p2psync/libp2psync/engine/tlsid"
)

//export p2pgo_keystore_open
func p2pgo_keystore_open(path, password *C.char, out *C.p2p_keystore, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	file, err := then(needOut(out != nil, "out_keystore"), func() (string, error) { return goPath(path) })
	pw, err := then(err, func() (string, error) { return goText(password, "password") })
	ks, err := then(err, func() (*tlsid.Keystore, error) { return tlsid.OpenKeystore(file, pw, tlsid.KeystoreConfig{}) })
	h, err := then(err, func() (uint64, error) { return keystores.add(&keystoreObj{ks: ks}) })
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_keystore(h)
	return C.P2P_OK
}

// keystoreLabel resolves a (keystore, label) pair.
func keystoreLabel(h C.p2p_keystore, label *C.char) (*tlsid.Keystore, string, error) {
	o, err := keystores.lookup(uint64(h))
	l, err := then(err, func() (string, error) { return goText(label, "label") })
	if err != nil {
		return nil, "", err
	}
	return o.ks, l, nil
}

//export p2pgo_keystore_store
func p2pgo_keystore_store(h C.p2p_keystore, label *C.char, identity C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	ks, l, err := keystoreLabel(h, label)
	id, err := then(err, func() (*tlsid.Identity, error) { return lookupIdentity(identity) })
	if err = then1(err, func() error { return ks.Store(l, id) }); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_get
func p2pgo_keystore_get(h C.p2p_keystore, label *C.char, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	ks, l, err := keystoreLabel(h, label)
	err = then1(err, func() error { return needOut(out != nil, "out_identity") })
	id, err := then(err, func() (*tlsid.Identity, error) { return ks.Get(l) })
	if err = then1(err, func() error { return putIdentity(out, id) }); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_list
func p2pgo_keystore_list(h C.p2p_keystore, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := keystores.lookup(uint64(h))
	err = then1(err, func() error { return needOut(out != nil, "out_json") })
	labels, err := then(err, func() ([]string, error) { return o.ks.List() })
	if err = then1(err, func() error { return setJSON(out, nonNil(labels)) }); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_delete
func p2pgo_keystore_delete(h C.p2p_keystore, label *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	ks, l, err := keystoreLabel(h, label)
	if err = then1(err, func() error { return ks.Delete(l) }); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_close
func p2pgo_keystore_close(h C.p2p_keystore, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, found, err := keystores.remove(uint64(h))
	if err == nil && found {
		err = o.ks.Close()
	}
	if err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}
