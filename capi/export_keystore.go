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
	if err := needOut(out != nil, "out_keystore"); err != nil {
		return fail(cerr, err)
	}
	file, err := goPath(path)
	if err != nil {
		return fail(cerr, err)
	}
	pw, err := goText(password, "password")
	if err != nil {
		return fail(cerr, err)
	}
	ks, err := tlsid.OpenKeystore(file, pw, tlsid.KeystoreConfig{})
	if err != nil {
		return fail(cerr, err)
	}
	h, err := keystores.add(&keystoreObj{ks: ks})
	if err != nil {
		return fail(cerr, err)
	}
	*out = C.p2p_keystore(h)
	return C.P2P_OK
}

// keystoreLabel resolves a (keystore, label) pair.
func keystoreLabel(h C.p2p_keystore, label *C.char) (*tlsid.Keystore, string, error) {
	o, err := keystores.lookup(uint64(h))
	if err != nil {
		return nil, "", err
	}
	l, err := goText(label, "label")
	if err != nil {
		return nil, "", err
	}
	return o.ks, l, nil
}

//export p2pgo_keystore_store
func p2pgo_keystore_store(h C.p2p_keystore, label *C.char, identity C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	ks, l, err := keystoreLabel(h, label)
	if err != nil {
		return fail(cerr, err)
	}
	id, err := lookupIdentity(identity)
	if err != nil {
		return fail(cerr, err)
	}
	if err := ks.Store(l, id); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_get
func p2pgo_keystore_get(h C.p2p_keystore, label *C.char, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	ks, l, err := keystoreLabel(h, label)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_identity"); err != nil {
		return fail(cerr, err)
	}
	id, err := ks.Get(l)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putIdentity(out, id); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_list
func p2pgo_keystore_list(h C.p2p_keystore, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	o, err := keystores.lookup(uint64(h))
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_json"); err != nil {
		return fail(cerr, err)
	}
	labels, err := o.ks.List()
	if err != nil {
		return fail(cerr, err)
	}
	if err := setJSON(out, nonNil(labels)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_keystore_delete
func p2pgo_keystore_delete(h C.p2p_keystore, label *C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	ks, l, err := keystoreLabel(h, label)
	if err != nil {
		return fail(cerr, err)
	}
	if err := ks.Delete(l); err != nil {
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
