"""TLS identities and keystores: create, PKCS#12/PEM round trips, wrong passwords, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import p2psync
from p2psync import Identity, Keystore, KeyType, Usage


def test_create_and_inspect() -> None:
    with Identity.create(common_name="peer", organization="tests", subject_alt_names=["localhost", "127.0.0.1"],
                         validity_days=10) as ident:
        assert len(ident.fingerprint) == 64 and all(c in "0123456789abcdef" for c in ident.fingerprint)
        now = datetime.now(timezone.utc)
        assert now + timedelta(days=9) < ident.not_after < now + timedelta(days=11)
        assert ident.chain_pem.startswith("-----BEGIN CERTIFICATE-----")
        assert "PRIVATE KEY" not in ident.chain_pem
    with Identity.create(key_type=KeyType.RSA_2048) as a, Identity.create() as b:
        assert a.fingerprint != b.fingerprint


def test_ca_signs_leaf() -> None:
    with Identity.create(common_name="CA", is_ca=True) as ca, \
            Identity.create(issuer=ca, usage=Usage.CLIENT) as leaf:
        assert leaf.chain_pem.count("BEGIN CERTIFICATE") == 2
        with pytest.raises(p2psync.InvalidArgumentError):
            Identity.create(issuer=leaf)  # not a CA


def test_pkcs12_round_trip() -> None:
    with Identity.create(common_name="p12") as ident:
        data = ident.to_pkcs12("s3cret")
        assert isinstance(data, bytes) and len(data) > 100
        with Identity.from_pkcs12(data, "s3cret") as back:
            assert back.fingerprint == ident.fingerprint
        with pytest.raises(p2psync.WrongPasswordError) as info:
            Identity.from_pkcs12(data, "wrong")
        assert info.value.code == -266
        with pytest.raises(p2psync.InvalidArgumentError):
            Identity.from_pkcs12(data[: len(data) // 2], "s3cret")
        with pytest.raises(p2psync.InvalidArgumentError):
            Identity.from_pkcs12(b"", "x")


def test_pem_round_trip_plain_and_encrypted() -> None:
    with Identity.create(common_name="pem", key_type=KeyType.RSA_2048) as ident:
        cert, key = ident.to_pem()
        assert "BEGIN PRIVATE KEY" in key
        enc_cert, enc_key = ident.to_pem("pw")
        assert "BEGIN ENCRYPTED PRIVATE KEY" in enc_key
        with Identity.from_pem(cert, key) as a, Identity.from_pem(enc_cert, enc_key, "pw") as b, \
                Identity.from_pem(key + cert) as c:
            assert a.fingerprint == b.fingerprint == c.fingerprint == ident.fingerprint
        with pytest.raises(p2psync.WrongPasswordError):
            Identity.from_pem(enc_cert, enc_key, "nope")
        for bad in ("hello", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"):
            with pytest.raises(p2psync.InvalidArgumentError):
                Identity.from_pem(bad, key)
        with pytest.raises(p2psync.InvalidArgumentError):
            Identity.from_pem(cert)  # no key


def test_keystore(tmp_path: Path) -> None:
    path = tmp_path / "ids.keystore"
    with Identity.create(common_name="one") as one, Identity.create(common_name="two") as two:
        with Keystore(path, "store-pw") as ks:
            assert ks.labels() == []
            ks.store("server", one)
            ks.store("client", two)
            assert ks.labels() == ["client", "server"] and "server" in ks
        with pytest.raises(p2psync.WrongPasswordError):
            Keystore(path, "guess")
        with Keystore(path, "store-pw") as ks:
            with ks.get("server") as got:
                assert got.fingerprint == one.fingerprint
            with pytest.raises(p2psync.NotFoundError):
                ks.get("nobody")
            ks.delete("server")
            with pytest.raises(KeyError):
                ks.delete("server")
    with pytest.raises(p2psync.InvalidArgumentError):
        Keystore(tmp_path / "x", "")
    junk = tmp_path / "junk"
    junk.write_text("not a keystore")
    with pytest.raises(p2psync.InvalidArgumentError):
        Keystore(junk, "pw")


def test_closed_identity_is_invalid() -> None:
    ident = Identity.create()
    ident.close()
    ident.close()  # idempotent
    with pytest.raises(p2psync.InvalidHandleError):
        _ = ident.fingerprint
