"""TLS identities and keystores.

An :class:`Identity` is a private key with its certificate chain (immutable). Listeners
and replicators keep their own reference to the identity they were given, so an
``Identity`` may be closed right after creating them. Certificates and keys travel as
PEM text; PKCS#12 files as ``bytes``.

    with Identity.create(common_name="peer", subject_alt_names=["localhost"]) as me:
        print(me.fingerprint)                # what peers pin
        p12 = me.to_pkcs12("secret")
    with Keystore("/data/ids.keystore", "keystore password") as ks:
        ks.store("server", me)
"""

from __future__ import annotations

import enum
import json
import os
from datetime import datetime, timezone
from typing import Iterable, List, Optional, Tuple

from . import _ffi
from .database import PathLike, _Handle


class KeyType(enum.IntEnum):
    """Key algorithm of a new identity (P2P_KEY_*)."""

    EC_P256 = 0
    RSA_2048 = 1
    RSA_3072 = 2  # generation takes seconds


class Usage(enum.IntEnum):
    """Extended key usage of a new leaf certificate (P2P_TLS_USAGE_*)."""

    SERVER = 0
    CLIENT = 1
    SERVER_AND_CLIENT = 2


class Identity(_Handle):
    """A private key with its certificate chain (leaf first)."""

    _closer = "p2p_tls_identity_close"

    @classmethod
    def create(cls, *, common_name: Optional[str] = None, organization: Optional[str] = None,
               organizational_unit: Optional[str] = None, country: Optional[str] = None,
               locality: Optional[str] = None, province: Optional[str] = None,
               subject_alt_names: Iterable[str] = (), key_type: KeyType = KeyType.EC_P256,
               usage: Usage = Usage.SERVER, validity_days: int = 0, is_ca: bool = False,
               issuer: Optional["Identity"] = None) -> "Identity":
        """Generates a key and a certificate: self-signed, or signed by `issuer` (a CA).
        subject_alt_names mixes host names and IP addresses; validity_days 0 = 365."""
        opts = _ffi.init_struct("p2p_tls_identity_options_init", _ffi.TlsIdentityOptions)
        opts.key_type, opts.usage, opts.is_ca, opts.validity_days = int(key_type), int(usage), int(is_ca), validity_days
        opts.common_name, opts.organization = _ffi.text(common_name), _ffi.text(organization)
        opts.organizational_unit, opts.country = _ffi.text(organizational_unit), _ffi.text(country)
        opts.locality, opts.province = _ffi.text(locality), _ffi.text(province)
        names = list(subject_alt_names)
        opts.subject_alt_names_json = _ffi.text(json.dumps(names)) if names else None
        opts.issuer = 0 if issuer is None else issuer.handle
        return cls(_ffi.out_handle("p2p_tls_identity_create", _ffi.byref(opts)))

    @classmethod
    def from_pkcs12(cls, data: bytes, password: str = "") -> "Identity":
        """Reads a PKCS#12 (.p12/.pfx) file's bytes (WrongPasswordError on a bad password)."""
        return cls(_ffi.out_handle("p2p_tls_identity_import_pkcs12", bytes(data), len(data), _ffi.text(password)))

    @classmethod
    def from_pem(cls, cert_pem: str, key_pem: Optional[str] = None, password: Optional[str] = None) -> "Identity":
        """Builds an identity from a PEM chain and key (key_pem None: cert_pem holds it too);
        password opens an ENCRYPTED PRIVATE KEY."""
        return cls(_ffi.out_handle("p2p_tls_identity_import_pem", _ffi.text(cert_pem), _ffi.text(key_pem),
                                   _ffi.text(password)))

    def _describe(self) -> str:
        return f"fingerprint={self.fingerprint!r}"

    def to_pkcs12(self, password: str = "") -> bytes:
        """The identity as a PKCS#12 file (AES-256, HMAC-SHA-256)."""
        return _ffi.out_bytes("p2p_tls_identity_export_pkcs12", self._handle, _ffi.text(password))

    def to_pem(self, password: Optional[str] = None) -> Tuple[str, str]:
        """(chain PEM, PKCS#8 key PEM); with a password the key is encrypted."""
        cert, key = _ffi.out_texts("p2p_tls_identity_export_pem", self._handle, _ffi.text(password))
        return cert or "", key or ""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the leaf certificate, 64 lowercase hex digits."""
        return _ffi.out_text("p2p_tls_identity_fingerprint", self._handle) or ""

    @property
    def not_after(self) -> datetime:
        """End of the leaf certificate's validity (UTC)."""
        ms = _ffi.out_int("p2p_tls_identity_not_after", self._handle)
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)

    @property
    def chain_pem(self) -> str:
        """The certificate chain as PEM, leaf first (no key)."""
        return _ffi.out_text("p2p_tls_identity_chain_pem", self._handle) or ""


def certificate_fingerprint(cert_pem: str) -> str:
    """SHA-256 fingerprint of the first certificate in `cert_pem` (PEM, e.g.
    :attr:`Replicator.server_certificate` or :attr:`Identity.chain_pem`), as 64 lowercase
    hex digits: the form :attr:`Identity.fingerprint` and every message use.
    InvalidArgumentError if it holds no readable certificate."""
    return _ffi.out_text("p2p_tls_certificate_fingerprint", _ffi.text(cert_pem)) or ""


def normalize_fingerprint(fingerprint: str) -> str:
    """Reads a fingerprint in any form users exchange (64 hex digits in either case, run
    together or as colon- or space-separated pairs such as openssl's "AB:01:...",
    optionally after "sha256:") and returns it as 64 lowercase hex digits.
    InvalidArgumentError for anything else."""
    return _ffi.out_text("p2p_tls_fingerprint_normalize", _ffi.text(fingerprint)) or ""


class Keystore(_Handle):
    """A password-protected file of identities under labels (created if missing)."""

    _closer = "p2p_keystore_close"

    def __init__(self, path: PathLike, password: str) -> None:
        super().__init__(_ffi.out_handle("p2p_keystore_open", _ffi.text(os.fspath(path)), _ffi.text(password)))

    def store(self, label: str, identity: Identity) -> None:
        """Saves identity under label, replacing any identity there."""
        _ffi.call("p2p_keystore_store", self._handle, _ffi.text(label), identity.handle)

    def get(self, label: str) -> Identity:
        """The identity under label (NotFoundError if none); close it when done."""
        return Identity(_ffi.out_handle("p2p_keystore_get", self._handle, _ffi.text(label)))

    def labels(self) -> List[str]:
        """The labels, sorted."""
        return json.loads(_ffi.out_text("p2p_keystore_list", self._handle) or "[]")

    def delete(self, label: str) -> None:
        """Removes the identity stored under `label` (NotFoundError if none)."""
        _ffi.call("p2p_keystore_delete", self._handle, _ffi.text(label))

    def __contains__(self, label: str) -> bool:
        return label in self.labels()
