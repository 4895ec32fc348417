"""Replication over BLIP_3+CBMobile_4 (version vectors, issue 16) between two databases of
this process, through the TLS listener of test_replicator's `peers` fixture: push, pull
and push-pull, one-shot and continuous; afterwards every document has one non-empty
version and one body on both sides. A conflict (both sides edit, then sync both ways)
ends with the same current version and body on both sides, with the default resolver
(Couchbase Lite 4's rule: the later version wins) and with a custom resolver."""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Iterator, List

import pytest

import p2psync
from p2psync import Collection, ReplicationCollection, ReplicatorType, log as p2plog

from test_replicator import Peers, wait_for

from pathlib import Path


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    """Two databases of this process; a's TLS listener, and the replicators, with their
    default options: CBMobile_4 (disable_version_vectors left False)."""
    with p2psync.Database(tmp_path / "a") as a, p2psync.Database(tmp_path / "b") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            p2psync.Listener(a, network_interface="127.0.0.1", credentials={"alice": "pw"}) as listener:
        listener.start()
        with listener.tls_identity() as ident:
            pin = ident.chain_pem
        yield Peers(a, b, ca, cb, listener, f"wss://127.0.0.1:{listener.port}/a", pin)

CBMOBILE4 = "BLIP_3+CBMobile_4"


def doc_ids(coll: Collection) -> List[str]:
    return sorted(c.id for c in coll.changes())


def assert_same_versions(a: Collection, b: Collection) -> None:
    """Both collections hold the same documents, each under the same non-empty version
    (which it has only if it travelled over CBMobile_4), vector and body."""
    ids = doc_ids(a)
    assert ids == doc_ids(b)
    for doc_id in ids:
        da, db = a.get(doc_id, include_deleted=True), b.get(doc_id, include_deleted=True)
        assert da.version != "" and da.timestamp > 0, f"{doc_id} has no version"
        assert (da.version, da.deleted) == (db.version, db.deleted), doc_id
        assert da.version_vector == db.version_vector, doc_id
        if not da.deleted:
            assert da.body == db.body, doc_id


def versions_same(a: Collection, b: Collection) -> bool:
    try:
        assert_same_versions(a, b)
    except (AssertionError, p2psync.P2PSyncError):
        return False
    return True


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def listener_log() -> Iterator[Capture]:
    cap = Capture()
    logger = logging.getLogger("p2psync.listener")
    old = logger.level
    logger.addHandler(cap)
    logger.setLevel(logging.INFO)
    p2plog.set_level(logging.INFO, p2plog.LISTENER)
    try:
        yield cap
    finally:
        logger.removeHandler(cap)
        logger.setLevel(old)
        p2plog.set_level(logging.WARNING)  # the default of an imported p2psync


@pytest.mark.parametrize("kind", [ReplicatorType.PUSH, ReplicatorType.PULL, ReplicatorType.PUSH_AND_PULL])
def test_one_shot_over_tls(peers: Peers, listener_log: Capture, kind: ReplicatorType) -> None:
    for i in range(20):
        peers.ca.save(f"a-{i}", {"side": "a", "i": i})
        peers.cb.save(f"b-{i}", {"side": "b", "i": i})
    peers.ca.delete("a-0")
    status = peers.run(type=kind)
    assert status.error is None and status.activity == "stopped"
    if kind == ReplicatorType.PUSH_AND_PULL:
        assert_same_versions(peers.ca, peers.cb)
    else:
        # One direction: the receiving side holds what the sending side has, version and all.
        src, dst = (peers.cb, peers.ca) if kind == ReplicatorType.PUSH else (peers.ca, peers.cb)
        prefix = "b-" if kind == ReplicatorType.PUSH else "a-"
        mine = [d for d in doc_ids(dst) if d.startswith(prefix)]
        assert mine == doc_ids(src)
        for doc_id in mine:
            s, d = src.get(doc_id, include_deleted=True), dst.get(doc_id, include_deleted=True)
            assert s.version != "" and (s.version, s.version_vector, s.deleted) == (d.version, d.version_vector,
                                                                                    d.deleted)
            assert s.deleted or s.body == d.body
    wait_for(lambda: any("connection closed" in m for m in listener_log.messages))
    opened = [m for m in listener_log.messages if "connection opened" in m]
    assert len(opened) == 1 and f"subprotocol={CBMOBILE4}" in opened[0], opened


def test_continuous_over_tls(peers: Peers) -> None:
    peers.ca.save("before-a", {"n": 0})
    with peers.replicator(continuous=True) as repl:
        repl.start()
        wait_for(lambda: repl.status.activity == "idle" and "before-a" in peers.cb)
        conns = peers.listener.status.connections
        assert len(conns) == 1 and conns[0].subprotocol == CBMOBILE4
        for i in range(10):
            peers.ca.save(f"live-a-{i}", {"i": i})
            peers.cb.save(f"live-b-{i}", {"i": i})
        peers.ca.save("before-a", {"n": 1})
        peers.cb.delete("live-b-9")
        wait_for(lambda: versions_same(peers.ca, peers.cb) and peers.cb["before-a"].body == {"n": 1}
                 and "live-b-9" not in peers.ca)
        repl.stop()
        assert repl.status.error is None
    assert_same_versions(peers.ca, peers.cb)
    assert len(doc_ids(peers.ca)) == 21


def conflict(peers: Peers, first: Collection, second: Collection) -> Dict[str, Any]:
    """Syncs one document, then edits it on `first` and later on `second`; returns the
    two edited documents' versions."""
    peers.ca.save("clash", {"side": "origin"})
    assert peers.run().error is None
    assert_same_versions(peers.ca, peers.cb)
    first.save("clash", {"side": "first", "only-first": True})
    time.sleep(0.002)
    second.save("clash", {"side": "second"})
    return {"first": first["clash"].version, "second": second["clash"].version}


def check_settled(peers: Peers) -> str:
    """A further replication finds nothing to do: the version stays where it is."""
    version = peers.ca["clash"].version
    status = peers.run()
    assert status.error is None
    assert peers.ca["clash"].version == peers.cb["clash"].version == version
    return version


@pytest.mark.parametrize("later", ["listener side", "replicator side"])
def test_conflict_default_resolver_later_version_wins(peers: Peers, later: str) -> None:
    first, second = (peers.cb, peers.ca) if later == "listener side" else (peers.ca, peers.cb)
    edited = conflict(peers, first, second)
    assert peers.run().error is None  # push and pull: the replicator side resolves
    assert_same_versions(peers.ca, peers.cb)
    assert peers.ca["clash"].body == {"side": "second"}
    vector = peers.ca["clash"].version_vector
    if later == "listener side":
        # the remote (listener's) version won unchanged
        assert peers.ca["clash"].version == edited["second"]
    else:
        # the local winner gets a new version recording both sides as merge versions
        assert edited["first"] in vector and edited["second"] in vector
    assert check_settled(peers) == peers.cb["clash"].version


def test_conflict_custom_resolver(peers: Peers) -> None:
    edited = conflict(peers, peers.ca, peers.cb)
    seen: List[p2psync.Conflict] = []

    def merge(c: p2psync.Conflict) -> Dict[str, Any]:
        seen.append(c)
        return {**(c.remote or {}), **(c.local or {}), "side": "merged"}

    coll = ReplicationCollection(peers.cb, conflict_resolver=merge)
    assert peers.run(collections=[coll]).error is None
    assert [(c.doc_id, c.local, c.remote) for c in seen] == \
        [("clash", {"side": "second"}, {"side": "first", "only-first": True})]
    assert_same_versions(peers.ca, peers.cb)
    assert peers.ca["clash"].body == {"side": "merged", "only-first": True}
    outcome = peers.ca["clash"]
    assert outcome.version not in edited.values()
    assert edited["first"] in outcome.version_vector and edited["second"] in outcome.version_vector
    assert check_settled(peers) == outcome.version
    assert len(seen) == 1  # neither side sees the conflict again


@pytest.mark.parametrize("side", ["replicator", "listener"])
def test_disable_version_vectors(tmp_path: Path, side: str) -> None:
    """disable_version_vectors on either side: the two speak CBMobile_3, so a received
    revision carries no version; by default (the other peers here) they speak CBMobile_4."""
    with p2psync.Database(tmp_path / "a") as a, p2psync.Database(tmp_path / "b") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            p2psync.Listener(a, network_interface="127.0.0.1", disable_tls=True,
                             disable_version_vectors=side == "listener") as listener:
        listener.start()
        ca.save("from-a", {"n": 1})
        with p2psync.Replicator(b, f"ws://127.0.0.1:{listener.port}/a", continuous=True, max_attempts=2,
                                retry_base=0.05, disable_version_vectors=side == "replicator") as repl:
            repl.start()
            wait_for(lambda: "from-a" in cb and repl.status.activity == "idle")
            conns = listener.status.connections
            assert len(conns) == 1 and conns[0].subprotocol == "BLIP_3+CBMobile_3", conns
            repl.stop()
        assert ca.get("from-a").version != "" and cb.get("from-a").version == ""
