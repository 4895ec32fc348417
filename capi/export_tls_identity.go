package main

/*
#include <stdlib.h>
#include <string.h>
#include "p2psync.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/p2psync/libp2psync/engine/tlsid"
)

//export p2pgo_tls_identity_options_init
func p2pgo_tls_identity_options_init(opts *C.p2p_tls_identity_options, size C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := initOptions(unsafe.Pointer(opts), size, "opts"); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

// identityOptions reads the caller's options (NULL = defaults).
func identityOptions(p *C.p2p_tls_identity_options) (tlsid.CreateOptions, error) {
	var o tlsid.CreateOptions
	if p == nil {
		return o, nil
	}
	opts, err := readOptions[C.p2p_tls_identity_options](unsafe.Pointer(p), "p2p_tls_identity_options")
	if err != nil {
		return o, err
	}
	if err := checkReserved(unsafe.Pointer(&opts.reserved), unsafe.Sizeof(opts.reserved), "p2p_tls_identity_options.reserved"); err != nil {
		return o, err
	}
	if opts.key_type > C.P2P_KEY_RSA_3072 || opts.usage > C.P2P_TLS_USAGE_SERVER_AND_CLIENT {
		return o, fmt.Errorf("%w: unknown key_type %d or usage %d", errInvalidArgument, opts.key_type, opts.usage)
	}
	o.Key, o.Usage, o.IsCA = tlsid.KeyType(opts.key_type), tlsid.Usage(opts.usage), opts.is_ca != 0
	o.Validity = time.Duration(opts.validity_days) * 24 * time.Hour
	subject := []struct {
		p    *C.char
		name string
		dst  *string
	}{
		{opts.common_name, "common_name", &o.Subject.CommonName},
		{opts.organization, "organization", &o.Subject.Organization},
		{opts.organizational_unit, "organizational_unit", &o.Subject.OrganizationalUnit},
		{opts.country, "country", &o.Subject.Country},
		{opts.locality, "locality", &o.Subject.Locality},
		{opts.province, "province", &o.Subject.Province},
	}
	for _, f := range subject {
		if *f.dst, err = goOptText(f.p, f.name); err != nil {
			return o, err
		}
	}
	var sans []string
	if err := goOptJSONInto(opts.subject_alt_names_json, "subject_alt_names_json", &sans); err != nil {
		return o, err
	}
	o.DNSNames, o.IPAddresses = tlsid.SplitSubjectAltNames(sans)
	if opts.issuer != 0 {
		if o.Issuer, err = lookupIdentity(opts.issuer); err != nil {
			return o, err
		}
	}
	return o, nil
}

func lookupIdentity(h C.p2p_tls_identity) (*tlsid.Identity, error) {
	o, err := identities.lookup(uint64(h))
	if err != nil {
		return nil, err
	}
	return o.id, nil
}

// putIdentity registers id and hands its new handle out.
func putIdentity(out *C.p2p_tls_identity, id *tlsid.Identity) error {
	h, err := identities.add(&identityObj{id: id})
	if err == nil {
		*out = C.p2p_tls_identity(h)
	}
	return err
}

//export p2pgo_tls_identity_create
func p2pgo_tls_identity_create(opts *C.p2p_tls_identity_options, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(out != nil, "out_identity"); err != nil {
		return fail(cerr, err)
	}
	o, err := identityOptions(opts)
	if err != nil {
		return fail(cerr, err)
	}
	id, err := tlsid.CreateIdentity(o)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putIdentity(out, id); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_tls_identity_import_pkcs12
func p2pgo_tls_identity_import_pkcs12(data *C.uint8_t, n C.size_t, password *C.char, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(data != nil && out != nil, "data or out_identity"); err != nil {
		return fail(cerr, err)
	}
	pw, err := goOptText(password, "password")
	if err != nil {
		return fail(cerr, err)
	}
	id, err := tlsid.ImportPKCS12(goBytes(data, n), pw)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putIdentity(out, id); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_tls_identity_export_pkcs12
func p2pgo_tls_identity_export_pkcs12(h C.p2p_tls_identity, password *C.char, outData **C.uint8_t, outLen *C.size_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	id, err := lookupIdentity(h)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(outData != nil && outLen != nil, "out_data or out_len"); err != nil {
		return fail(cerr, err)
	}
	pw, err := goOptText(password, "password")
	if err != nil {
		return fail(cerr, err)
	}
	data, err := id.ExportPKCS12(pw)
	if err != nil {
		return fail(cerr, err)
	}
	*outData, *outLen = (*C.uint8_t)(C.CBytes(data)), C.size_t(len(data))
	return C.P2P_OK
}

//export p2pgo_tls_identity_import_pem
func p2pgo_tls_identity_import_pem(certPEM, keyPEM, password *C.char, out *C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if err := needOut(out != nil, "out_identity"); err != nil {
		return fail(cerr, err)
	}
	cert, err := goText(certPEM, "cert_pem")
	if err != nil {
		return fail(cerr, err)
	}
	key, err := goOptText(keyPEM, "key_pem")
	if err != nil {
		return fail(cerr, err)
	}
	pw, err := goOptText(password, "password")
	if err != nil {
		return fail(cerr, err)
	}
	var keyBytes []byte // nil: the key is in cert_pem
	if keyPEM != nil {
		keyBytes = []byte(key)
	}
	id, err := tlsid.ImportPEM([]byte(cert), keyBytes, pw)
	if err != nil {
		return fail(cerr, err)
	}
	if err := putIdentity(out, id); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_tls_identity_export_pem
func p2pgo_tls_identity_export_pem(h C.p2p_tls_identity, password *C.char, outCert, outKey **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	id, err := lookupIdentity(h)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(outCert != nil && outKey != nil, "out_cert_pem or out_key_pem"); err != nil {
		return fail(cerr, err)
	}
	pw, err := goOptText(password, "password")
	if err != nil {
		return fail(cerr, err)
	}
	cert, key, err := id.ExportPEM(pw)
	if err != nil {
		return fail(cerr, err)
	}
	setText(outCert, string(cert))
	setText(outKey, string(key))
	return C.P2P_OK
}

// identityText serves the text getters of an identity.
func identityText(h C.p2p_tls_identity, out **C.char, cerr *C.p2p_error, get func(*tlsid.Identity) string) C.int32_t {
	id, err := lookupIdentity(h)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out parameter"); err != nil {
		return fail(cerr, err)
	}
	setText(out, get(id))
	return C.P2P_OK
}

//export p2pgo_tls_identity_fingerprint
func p2pgo_tls_identity_fingerprint(h C.p2p_tls_identity, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return identityText(h, out, cerr, (*tlsid.Identity).Fingerprint)
}

//export p2pgo_tls_identity_chain_pem
func p2pgo_tls_identity_chain_pem(h C.p2p_tls_identity, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return identityText(h, out, cerr, func(id *tlsid.Identity) string { return string(tlsid.EncodeCertificatesPEM(id.Chain())) })
}

//export p2pgo_tls_identity_not_after
func p2pgo_tls_identity_not_after(h C.p2p_tls_identity, out *C.int64_t, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	id, err := lookupIdentity(h)
	if err != nil {
		return fail(cerr, err)
	}
	if err := needOut(out != nil, "out_unix_ms"); err != nil {
		return fail(cerr, err)
	}
	*out = C.int64_t(id.NotAfter().UnixMilli())
	return C.P2P_OK
}

//export p2pgo_tls_identity_close
func p2pgo_tls_identity_close(h C.p2p_tls_identity, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	if _, _, err := identities.remove(uint64(h)); err != nil {
		return fail(cerr, err)
	}
	return C.P2P_OK
}

//export p2pgo_tls_certificate_fingerprint
func p2pgo_tls_certificate_fingerprint(certPEM *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return textToHex(certPEM, "cert_pem", out, cerr, func(s string) (string, error) { return tlsid.PEMFingerprint([]byte(s)) })
}

//export p2pgo_tls_fingerprint_normalize
func p2pgo_tls_fingerprint_normalize(text *C.char, out **C.char, cerr *C.p2p_error) (rc C.int32_t) {
	defer guard(&rc, cerr)
	return textToHex(text, "fingerprint", out, cerr, tlsid.NormalizeFingerprint)
}

// textToHex answers out_hex with fn of the required text in (named what in errors).
func textToHex(in *C.char, what string, out **C.char, cerr *C.p2p_error, fn func(string) (string, error)) C.int32_t {
	if err := needOut(out != nil, "out_hex"); err != nil {
		return fail(cerr, err)
	}
	s, err := goText(in, what)
	if err != nil {
		return fail(cerr, err)
	}
	hex, err := fn(s)
	if err != nil {
		return fail(cerr, err)
	}
	setText(out, hex)
	return C.P2P_OK
}
