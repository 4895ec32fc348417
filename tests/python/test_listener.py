"""Listener: lifecycle, identity, URLs and status, parent rule, options and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

import p2psync
from p2psync import Database, Identity, Listener


def test_lifecycle(db: Database) -> None:
    with Listener(db, network_interface="127.0.0.1") as listener:
        assert listener.port == 0 and listener.urls == []
        listener.start()
        with pytest.raises(p2psync.BusyError):
            listener.start()
        port = listener.port
        assert port > 0
        assert listener.urls == [f"wss://127.0.0.1:{port}/db"]
        assert listener.status == p2psync.ListenerStatus(0, 0)
        with listener.tls_identity() as ident:
            first = ident.fingerprint
        with pytest.raises(p2psync.BusyError):
            db.close()  # a listener is a child of its database
        listener.stop()
        listener.stop()
        assert listener.port == 0
        listener.start()  # same anonymous identity after a restart
        with listener.tls_identity() as ident:
            assert ident.fingerprint == first
    assert listener.closed
    with pytest.raises(p2psync.InvalidHandleError):
        listener.start()


def test_explicit_identity_and_plain_ws(db: Database) -> None:
    with Identity.create(common_name="me") as me:
        listener = Listener(db, identity=me, network_interface="127.0.0.1")
        expected = me.fingerprint
    with listener:  # the listener keeps its own reference to the closed identity
        listener.start()
        served = listener.tls_identity()
        assert served is not None
        with served:
            assert served.fingerprint == expected
    with Listener(db, disable_tls=True, network_interface="127.0.0.1") as plain:
        plain.start()
        assert plain.urls[0].startswith("ws://127.0.0.1:")
        assert plain.tls_identity() is None


def test_refused_options(db: Database, tmp_path: Path) -> None:
    with Identity.create() as me:
        with pytest.raises(p2psync.InvalidArgumentError):
            Listener(db, disable_tls=True, identity=me)
        with pytest.raises(p2psync.InvalidArgumentError):
            Listener(db, disable_tls=True, client_cert_roots=me.chain_pem)
    with pytest.raises(p2psync.InvalidArgumentError):
        Listener(db, client_cert_roots="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with Database(tmp_path / "other") as other, other.default_collection() as foreign:
        with pytest.raises(p2psync.InvalidArgumentError):
            Listener(db, collections=[foreign])


def test_port_in_use(db: Database) -> None:
    with Listener(db, network_interface="127.0.0.1") as a:
        a.start()
        with Listener(db, network_interface="127.0.0.1", port=a.port) as b:
            with pytest.raises(p2psync.IoError):
                b.start()
