"""The library log in Python (records reach the standard logging module under
"p2psync.<domain>", filtered by the library's level and domains) and the typed statistics
of listeners and replicators."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from p2psync import _ffi
from p2psync import (AuthError, Database, Listener, ListenerStatus, Replicator, ReplicatorStats, ReplicatorType,
                     log as p2plog)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.records.append(record)

    def find(self, name: str, level: int, *parts: str) -> List[logging.LogRecord]:
        with self.lock_:
            return [r for r in self.records
                    if r.name == name and r.levelno == level and all(p in r.getMessage() for p in parts)]


@pytest.fixture
def captured() -> Iterator[Capture]:
    cap = Capture()
    root = logging.getLogger("p2psync")
    old = root.level
    root.addHandler(cap)
    root.setLevel(logging.DEBUG)
    try:
        yield cap
    finally:
        root.removeHandler(cap)
        root.setLevel(old)
        p2plog.set_level(logging.WARNING)  # the default of an imported p2psync


def wait_for(pred, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_default_routes_warnings(captured: Capture) -> None:
    assert p2plog.settings()["callback"] == {"level": p2plog.WARNING, "domains": p2plog.ALL}


def test_log_lines_reach_python_logging(captured: Capture, tmp_path: Path) -> None:
    p2plog.set_level(logging.INFO, p2plog.LISTENER | p2plog.REPLICATOR)
    assert p2plog.settings()["callback"] == {"level": p2plog.INFO, "domains": p2plog.LISTENER | p2plog.REPLICATOR}
    with Database(tmp_path / "a") as a, Database(tmp_path / "b") as b, a.default_collection() as ca, \
            Listener(a, network_interface="127.0.0.1", disable_tls=True, credentials={"ann": "pw"}) as listener:
        ca.save("d1", {"n": 1})
        listener.start()
        url = f"ws://127.0.0.1:{listener.port}/a"
        with Replicator(b, url, type=ReplicatorType.PULL, username="ann", password="pw") as repl:
            repl.start()
            assert repl.wait(60).error is None
            stats = repl.stats
        assert isinstance(stats, ReplicatorStats)
        assert stats.revs_received == 1 and stats["revs_received"] == 1 and stats.retries == 0
        assert stats.conflicts_resolved == 0 and stats.last_error is None and stats.wire_bytes_received > 0
        wait_for(lambda: bool(captured.find("p2psync.listener", logging.INFO, "connection closed")))
        opened = captured.find("p2psync.listener", logging.INFO, "connection opened", "peer=127.0.0.1:", "user=ann",
                               "subprotocol=BLIP_3+CBMobile_4")  # the default
        assert len(opened) == 1
        assert captured.find("p2psync.listener", logging.INFO, "peer asked for collections",
                             "collections=_default._default")
        assert captured.find("p2psync.listener", logging.INFO, "connection closed", "user=ann", "docs_sent=1")
        assert captured.find("p2psync.replicator", logging.INFO, "replicator state changed", "from=stopped",
                             "to=connecting")
        assert not [r for r in captured.records if r.levelno < logging.INFO]
        assert not [r for r in captured.records if r.name in ("p2psync.database", "p2psync.network")]

        # A peer-caused error: a warning of the listener; the replicator's stop, an error.
        with Replicator(b, url, type=ReplicatorType.PULL, username="ann", password="no") as repl:
            repl.start()
            assert isinstance(repl.wait(60).error, AuthError)
            assert isinstance(repl.stats.last_error, AuthError)
        assert captured.find("p2psync.listener", logging.WARNING, "connection refused: credentials not accepted")
        assert captured.find("p2psync.replicator", logging.ERROR, "replication stopped by a permanent error")

        # Retries: warnings with the reason and the delay, and counted.
        listener.stop()
        with Replicator(b, url, type=ReplicatorType.PULL, max_attempts=3, retry_base=0.01,
                        max_attempt_wait=0.02) as repl:
            repl.start()
            assert repl.wait(60).error is not None
            assert repl.stats.retries == 2
        assert captured.find("p2psync.replicator", logging.WARNING, "replication offline; retrying", "attempt=2",
                             "delay=20ms", "reason=")


def test_listener_checkpoint_limits(captured: Capture, tmp_path: Path) -> None:
    """max_checkpoint_size: a replicator's checkpoint over it is refused (HTTP 413); the
    replication still completes and brings the document, and the replicator warns (at
    the default routing, warnings) that its progress was not checkpointed, so its next
    run starts over. max_peer_checkpoints=1: a second client ID (a push after a pull: the
    client ID depends on the direction) deletes the first one's checkpoint, which the
    listener reports at INFO."""
    with Database(tmp_path / "a") as a, Database(tmp_path / "b") as b, a.default_collection() as ca, \
            b.default_collection() as cb:
        ca.save("d1", {"n": 1})
        with Listener(a, network_interface="127.0.0.1", disable_tls=True, max_checkpoint_size=8) as listener:
            listener.start()
            with Replicator(b, f"ws://127.0.0.1:{listener.port}/a", type=ReplicatorType.PULL) as repl:
                repl.start()
                assert repl.wait(60).error is None
                assert repl.stats.revs_received == 1
        assert cb["d1"].body == {"n": 1}
        refused = captured.find("p2psync.replicator", logging.WARNING, "remote checkpoint refused by the peer",
                                "collection=_default._default", "status=HTTP/413")
        assert len(refused) == 1, [r.getMessage() for r in captured.records]

        p2plog.set_level(logging.INFO, p2plog.LISTENER)
        with Listener(a, network_interface="127.0.0.1", disable_tls=True, max_peer_checkpoints=1) as listener:
            listener.start()
            url = f"ws://127.0.0.1:{listener.port}/a"
            for kind in (ReplicatorType.PULL, ReplicatorType.PUSH):
                with Replicator(b, url, type=kind) as repl:
                    repl.start()
                    assert repl.wait(60).error is None
            wait_for(lambda: bool(captured.find("p2psync.listener", logging.INFO, "peer checkpoint cap reached")))
        assert captured.find("p2psync.listener", logging.INFO, "peer checkpoint cap reached", "deleted=1", "cap=1")


def test_level_none_stops_routing(captured: Capture, tmp_path: Path) -> None:
    p2plog.set_level("none")
    assert p2plog.settings()["callback"]["level"] == p2plog.NONE
    with Database(tmp_path / "a") as a, Listener(a, network_interface="127.0.0.1", disable_tls=True) as listener:
        listener.start()
        listener.stop()
    assert captured.records == []
    with pytest.raises(ValueError):
        p2plog.set_level("loud")


def assert_documented(function: str, text: str) -> None:
    """Every key of the JSON `function` returned (nested ones too) is named in the comment
    above its declaration in include/p2psync.h."""
    import json
    import re
    header = (Path(__file__).resolve().parents[2] / "include" / "p2psync.h").read_text()
    decl = header.index(f"P2P_API int32_t {function}(")
    comment = header[header.rindex("/*", 0, decl):decl]

    def keys(value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from keys(v)
        elif isinstance(value, list):
            for v in value:
                yield from keys(v)
    found = set(keys(json.loads(text)))
    assert len(found) >= 10
    missing = sorted(k for k in found if not re.search(rf"\b{k}\b", comment))
    assert missing == [], f"{function} returns fields its header comment does not document: {missing}"


def test_listener_status_lists_connections(tmp_path: Path) -> None:
    with Database(tmp_path / "a") as a, Database(tmp_path / "b") as b, a.default_collection() as ca, \
            b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", disable_tls=True, credentials={"ann": "pw"}) as listener:
        ca.save("down", {"n": 1})
        cb.save("up", {"n": 2})
        listener.start()
        assert listener.status == ListenerStatus(0, 0, 0, [])
        with Replicator(b, f"ws://127.0.0.1:{listener.port}/a", continuous=True, username="ann",
                        password="pw") as repl:
            repl.start()
            wait_for(lambda: len(listener.status.connections) == 1
                     and listener.status.connections[0].docs_sent == 1
                     and listener.status.connections[0].docs_received == 1)
            st = listener.status
            c = st.connections[0]
            assert st.connection_count == 1 and st.total_connection_count == 1
            assert c.peer.startswith("127.0.0.1:") and c.user == "ann" and c.subprotocol == "BLIP_3+CBMobile_4"
            assert c.collections == ["_default._default"] and c.bytes_sent > 0 and c.bytes_received > 0
            age = datetime.datetime.now(datetime.timezone.utc) - c.started
            assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=1)
            # Every field the C API returns is documented in the header's comment.
            assert_documented("p2p_listener_status", _ffi.out_text("p2p_listener_status", listener.handle))
            assert_documented("p2p_replicator_stats", _ffi.out_text("p2p_replicator_stats", repl.handle))
            repl.stop()
        wait_for(lambda: listener.status.connection_count == 0)
        assert listener.status.total_connection_count == 1 and listener.status.connections == []
        # The total counts since the listener was created, across a stop and a start.
        listener.stop()
        assert listener.status == ListenerStatus(0, 0, 1, [])
        listener.start()
        assert listener.status == ListenerStatus(0, 0, 1, [])
