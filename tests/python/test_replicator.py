"""Replication between two databases of this process through a TLS listener with password
authentication: push/pull, trust modes and their errors, listeners, the event queue,
conflict resolution, filters, continuous propagation, bad input."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

import p2psync
from p2psync import (Collection, Database, DocumentEvent, Identity, Listener, ReplicationCollection, Replicator,
                     ReplicatorStatus, ReplicatorType, Resolution, TrustMode)


@dataclass
class Peers:
    a: Database
    b: Database
    ca: Collection
    cb: Collection
    listener: Listener
    url: str
    pin: str
    auth_calls: List[str] = field(default_factory=list)

    def replicator(self, **kwargs: Any) -> Replicator:
        options: Dict[str, Any] = dict(username="alice", password="pw", trust_mode=TrustMode.PINNED,
                                       pinned_certificate=self.pin, max_attempts=2, retry_base=0.05)
        options.update(kwargs)
        return Replicator(self.b, options.pop("url", self.url), **options)

    def run(self, **kwargs: Any) -> ReplicatorStatus:
        with self.replicator(**kwargs) as repl:
            repl.start()
            return repl.wait(60)


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    calls: List[str] = []

    def check(user: str, password: str) -> bool:
        calls.append(user)
        if user == "boom":
            raise RuntimeError("an authenticator bug")
        return (user, password) == ("bob", "cb")

    with Database(tmp_path / "a") as a, Database(tmp_path / "b") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", credentials={"alice": "pw"}, password_auth=check) as listener:
        listener.start()
        with listener.tls_identity() as ident:
            pin = ident.chain_pem
        yield Peers(a, b, ca, cb, listener, f"wss://127.0.0.1:{listener.port}/a", pin, calls)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_push_pull_pin_on_first_use(peers: Peers) -> None:
    peers.ca.save("from-a", {"side": "a"})
    peers.cb.save("from-b", {"side": "b"})
    with Replicator(peers.b, peers.url, username="alice", password="pw",
                    trust_mode=TrustMode.SELF_SIGNED_ONLY) as first:
        assert first.server_certificate is None
        first.start()
        status = first.wait(60)
        assert status.error is None and status.activity == "stopped"
        pin = first.server_certificate
    assert pin is not None and peers.pin.startswith(pin)
    assert peers.ca["from-b"].body == {"side": "b"} and peers.cb["from-a"].body == {"side": "a"}

    peers.ca.save("a2", {"n": 2})
    peers.cb.save("b2", {"n": 2})
    assert peers.run(pinned_certificate=pin).error is None
    assert "a2" in peers.cb and "b2" in peers.ca


def test_password_callback_admits_other_users(peers: Peers) -> None:
    assert peers.run(username="bob", password="cb", type=ReplicatorType.PULL).error is None
    assert peers.auth_calls == ["bob"]


def test_wrong_password_is_auth_error_without_retry(peers: Peers) -> None:
    status = peers.run(password="wrong", max_attempts=5)
    assert isinstance(status.error, p2psync.AuthError)
    assert status.error.domain == p2psync.errors.DOMAIN_WEBSOCKET and status.error.domain_code == 401
    assert peers.auth_calls == ["alice"]  # asked once: no retry
    # an authenticator that raises refuses, and the exception stays in Python
    assert isinstance(peers.run(username="boom").error, p2psync.AuthError)


def test_trust_failures_have_their_own_errors(peers: Peers) -> None:
    # CA modes check the host name first: the anonymous certificate names no IP address
    status = peers.run(trust_mode=TrustMode.SYSTEM_ROOTS, pinned_certificate=None)
    assert isinstance(status.error, p2psync.TLSHostnameError) and isinstance(status.error, p2psync.TLSError)
    with Identity.create() as other:
        with peers.replicator(pinned_certificate=other.chain_pem) as repl:
            repl.start()
            status = repl.wait(60)
            assert isinstance(status.error, p2psync.TLSPinMismatchError)
            assert repl.server_certificate is not None and peers.pin.startswith(repl.server_certificate)


def colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2)).upper()


def test_pinned_fingerprint(peers: Peers) -> None:
    with peers.listener.tls_identity() as ident:
        fingerprint = ident.fingerprint
    for i, form in enumerate((fingerprint, colons(fingerprint), fingerprint.upper(), "SHA256:" + colons(fingerprint))):
        peers.ca.save(f"fp-{i}", {"n": i})
        status = peers.run(pinned_certificate=None, pinned_fingerprint=form, type=ReplicatorType.PULL)
        assert status.error is None and f"fp-{i}" in peers.cb

    with Identity.create() as other:
        wrong = other.fingerprint
    with peers.replicator(pinned_certificate=None, pinned_fingerprint=wrong, max_attempts=5) as repl:
        repl.start()
        status = repl.wait(60)
        assert isinstance(status.error, p2psync.TLSPinMismatchError)
        # one fingerprint form everywhere: the message names both as Identity.fingerprint gives them
        assert f"expected {wrong}, the server presented {fingerprint}" in status.error.message, status.error.message
        assert repl.server_certificate is not None and peers.pin.startswith(repl.server_certificate)
        assert p2psync.certificate_fingerprint(repl.server_certificate) == fingerprint
    assert peers.auth_calls == []  # refused in the handshake: the credentials were never sent

    for bad in ("abc", fingerprint[:-1], "sha1:" + fingerprint, colons(fingerprint)[3:]):
        with pytest.raises(p2psync.InvalidArgumentError):
            peers.replicator(pinned_certificate=None, pinned_fingerprint=bad)
    with pytest.raises(p2psync.InvalidArgumentError, match="not both"):
        peers.replicator(pinned_fingerprint=fingerprint)  # and the certificate
    with pytest.raises(p2psync.InvalidArgumentError):
        peers.replicator(pinned_certificate=None, pinned_fingerprint=fingerprint, trust_mode=TrustMode.SELF_SIGNED_ONLY)


def test_fingerprint_functions() -> None:
    with Identity.create() as ident:
        fingerprint, chain = ident.fingerprint, ident.chain_pem
    assert p2psync.certificate_fingerprint(chain) == fingerprint
    for form in (fingerprint, fingerprint.upper(), colons(fingerprint), "sha256:" + fingerprint,
                 "SHA256:" + colons(fingerprint), colons(fingerprint).replace(":", " ")):
        assert p2psync.normalize_fingerprint(form) == fingerprint, form
    for bad in ("", "abc", fingerprint[:-1], "md5:" + fingerprint, " " + fingerprint):
        with pytest.raises(p2psync.InvalidArgumentError):
            p2psync.normalize_fingerprint(bad)
    with pytest.raises(p2psync.InvalidArgumentError):
        p2psync.certificate_fingerprint("no certificate")


def test_ca_roots_and_client_certificates(peers: Peers) -> None:
    with Identity.create(is_ca=True, common_name="app CA") as ca, Identity.create(is_ca=True) as stranger, \
            Identity.create(issuer=ca, subject_alt_names=["127.0.0.1"]) as server, \
            Identity.create(issuer=ca, usage=p2psync.Usage.CLIENT) as client:
        seen: List[str] = []
        with Listener(peers.a, identity=server, network_interface="127.0.0.1", client_cert_roots=ca.chain_pem,
                      client_cert_auth=lambda chain: seen.append(chain) is None) as listener:
            listener.start()
            url = f"wss://127.0.0.1:{listener.port}/a"
            base = dict(url=url, username=None, password=None, pinned_certificate=None, max_attempts=1,
                        type=ReplicatorType.PULL)
            status = peers.run(**base, trust_mode=TrustMode.SYSTEM_ROOTS)
            assert isinstance(status.error, p2psync.TLSUntrustedError)
            status = peers.run(**base, trust_mode=TrustMode.ROOTS, trusted_roots=stranger.chain_pem)
            assert isinstance(status.error, p2psync.TLSUntrustedError)
            status = peers.run(**base, trust_mode=TrustMode.ROOTS, trusted_roots=ca.chain_pem)
            assert isinstance(status.error, p2psync.TLSClientCertError)  # no client certificate
            status = peers.run(**base, trust_mode=TrustMode.ROOTS, trusted_roots=ca.chain_pem,
                               client_identity=client)
            assert status.error is None
            assert len(seen) == 1 and seen[0].startswith("-----BEGIN CERTIFICATE-----")


def test_listeners_and_event_queue(peers: Peers) -> None:
    peers.cb.save("evt-push", {"e": 1})
    peers.ca.save("evt-pull", {"e": 2})
    statuses: List[ReplicatorStatus] = []
    documents: List[DocumentEvent] = []
    with peers.replicator() as repl:
        assert repl.pending_document_ids(peers.cb) == ["evt-push"]
        assert repl.is_document_pending(peers.cb, "evt-push")
        with repl.add_status_listener(statuses.append), repl.add_document_listener(documents.append), \
                repl.event_queue() as queue:
            with pytest.raises(p2psync.BusyError):
                repl.close()  # subscriptions are children of the replicator
            repl.start()
            assert repl.wait(60).error is None
            repl.stop()  # every listener call has been made
            queued = list(queue.events(timeout=0.2))
        assert not repl.is_document_pending(peers.cb, "evt-push")
    assert statuses[0].activity == "connecting" and statuses[-1].stopped
    replicated = {(e.direction, d.id) for e in documents for d in e.documents}
    assert {("push", "evt-push"), ("pull", "evt-pull")} <= replicated
    assert all(d.collection == "_default._default" and not d.access_removed and d.error is None
               for e in documents for d in e.documents)
    assert [e for e in queued if isinstance(e, ReplicatorStatus)] == statuses
    assert [e for e in queued if isinstance(e, DocumentEvent)] == documents


def test_event_queue_overflow(peers: Peers) -> None:
    for i in range(30):
        peers.cb.save(f"ovf-{i}", {})
    with peers.replicator(type=ReplicatorType.PUSH) as repl:
        with repl.event_queue(capacity=1) as queue:
            repl.start()
            repl.wait(60)
            repl.stop()
            events = list(queue.events(timeout=0.2))
    assert isinstance(events[0], ReplicatorStatus)
    assert isinstance(events[1], p2psync.OverflowEvent) and events[1].dropped > 0
    assert len(events) == 2


def test_conflict_resolver_merges(peers: Peers) -> None:
    peers.ca.save("clash", {"v": "remote", "a": 1})
    peers.cb.save("clash", {"v": "local", "b": 2})
    conflicts: List[p2psync.Conflict] = []

    def merge(conflict: p2psync.Conflict) -> Dict[str, Any]:
        conflicts.append(conflict)
        return {**(conflict.remote or {}), **(conflict.local or {}), "v": "merged"}

    coll = ReplicationCollection(peers.cb, conflict_resolver=merge)
    assert peers.run(type=ReplicatorType.PULL, collections=[coll]).error is None
    assert peers.cb["clash"].body == {"v": "merged", "a": 1, "b": 2}
    assert conflicts[0].doc_id == "clash" and conflicts[0].local == {"v": "local", "b": 2}
    assert conflicts[0].remote == {"v": "remote", "a": 1}


def test_conflict_resolver_choices_and_failure(peers: Peers) -> None:
    for doc_id in ("keep-local", "keep-remote", "boom"):
        peers.ca.save(doc_id, {"side": "remote"})
        peers.cb.save(doc_id, {"side": "local"})

    def decide(conflict: p2psync.Conflict) -> Any:
        if conflict.doc_id == "boom":
            raise ValueError("resolver bug")
        return Resolution.LOCAL if conflict.doc_id == "keep-local" else Resolution.REMOTE

    errors: List[Any] = []
    with peers.replicator(type=ReplicatorType.PULL, collections=[ReplicationCollection(peers.cb,
                                                                                       conflict_resolver=decide)]) as r:
        with r.add_document_listener(lambda e: errors.extend(d for d in e.documents if d.error)):
            r.start()
            r.wait(60)
            r.stop()
    assert peers.cb["keep-local"].body == {"side": "local"}
    assert peers.cb["keep-remote"].body == {"side": "remote"}
    assert any(d.id == "boom" and isinstance(d.error, p2psync.ConflictError) for d in errors)


def test_filters_and_doc_ids(peers: Peers) -> None:
    peers.ca.save("secret-1", {})
    peers.ca.save("public-1", {})
    seen: List[str] = []

    def no_secrets(doc: p2psync.ReplicationDocument) -> bool:
        seen.append(doc.id)
        return not doc.id.startswith("secret")

    assert peers.run(type=ReplicatorType.PULL,
                     collections=[ReplicationCollection(peers.cb, pull_filter=no_secrets)]).error is None
    assert "public-1" in peers.cb and "secret-1" not in peers.cb and "secret-1" in seen

    peers.cb.save("only-this", {})
    peers.cb.save("not-this", {})
    assert peers.run(type=ReplicatorType.PUSH,
                     collections=[ReplicationCollection(peers.cb, doc_ids=["only-this"])]).error is None
    assert "only-this" in peers.ca and "not-this" not in peers.ca


def test_continuous_replication_propagates(peers: Peers) -> None:
    statuses: List[str] = []
    with peers.replicator(continuous=True) as repl, repl.add_status_listener(lambda s: statuses.append(s.activity)):
        repl.start()
        wait_for(lambda: repl.status.activity == "idle")
        for i in range(5):
            peers.ca.save(f"live-a-{i}", {"i": i})
            peers.cb.save(f"live-b-{i}", {"i": i})
        wait_for(lambda: all(f"live-a-{i}" in peers.cb and f"live-b-{i}" in peers.ca for i in range(5)))
        peers.ca.save("live-a-0", {"i": "updated"})
        wait_for(lambda: peers.cb["live-a-0"].body == {"i": "updated"})
        assert peers.listener.status.connection_count == 1
        repl.stop()
        final = repl.status
    assert final.stopped and final.error is None
    assert "idle" in statuses and statuses[-1] == "stopped"


def test_delta_sync_stats(tmp_path: Path) -> None:
    with Database(tmp_path / "da") as a, Database(tmp_path / "db") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", disable_tls=True, enable_delta_sync=True) as listener:
        listener.start()
        url = f"ws://127.0.0.1:{listener.port}/da"

        def push(deltas: bool) -> Dict[str, int]:
            with Replicator(b, url, type=ReplicatorType.PUSH, enable_delta_sync=deltas) as repl:
                repl.start()
                assert repl.wait(60).error is None
                return repl.stats

        pad = "x" * 2000
        cb.save("big", {"kind": "bench", "pad": pad})
        first = push(True)
        assert first["revs_sent"] == 1 and first["deltas_sent"] == 0  # no base yet
        cb.save("big", {"kind": "edit1", "pad": pad})
        with_deltas = push(True)
        assert with_deltas["revs_sent"] == 1 and with_deltas["deltas_sent"] == 1
        assert 0 < with_deltas["bytes_sent"] < 100 < 2000 < with_deltas["full_bytes_sent"]
        assert with_deltas["revs_received"] == 0 and with_deltas["delta_fallbacks"] == 0
        assert ca["big"].body == {"kind": "edit1", "pad": pad}
        cb.save("big", {"kind": "edit2", "pad": pad})
        without = push(False)
        assert without["deltas_sent"] == 0 and without["bytes_sent"] == without["full_bytes_sent"] > 2000
        assert ca["big"].body == {"kind": "edit2", "pad": pad}


def test_counts_final_after_retry_later(tmp_path: Path) -> None:
    """After wait, stats, progress and document events count every document, also when the
    peer made the run reconnect: the listener holds at most 512 KiB of incoming messages,
    so some of the ~100 KB revisions are refused with "retry later" (HTTP 503) midway."""
    n = 40
    with Database(tmp_path / "src") as src, Database(tmp_path / "dst") as dst, \
            src.default_collection() as cs, dst.default_collection() as cd, \
            Listener(dst, network_interface="127.0.0.1", disable_tls=True, max_connection_buffer=512 << 10) as listener:
        listener.start()
        for i in range(n):
            cs.save(f"doc-{i:03d}", {"i": i, "pad": chr(ord("a") + i % 26) * (100 << 10)})
        with Replicator(src, f"ws://127.0.0.1:{listener.port}/dst", type=ReplicatorType.PUSH, max_attempts=50,
                        retry_base=0.02, max_attempt_wait=0.2) as repl:
            pushed: List[str] = []
            statuses: List[ReplicatorStatus] = []
            subs = [repl.add_document_listener(lambda ev: pushed.extend(d.id for d in ev.documents if d.error is None)),
                    repl.add_status_listener(statuses.append)]
            try:
                repl.start()
                status = repl.wait(60)
                stats = repl.stats
            finally:
                for sub in subs:
                    sub.remove()
            assert status.error is None
            assert stats["retries"] > 0, "the listener's buffer cap did not make the push retry"
            assert (stats["revs_sent"], len(set(pushed)), len(pushed), status.completed) == (n, n, n, n)
            assert statuses[-1] == status
        assert cd.count() == n


def test_bad_input(peers: Peers) -> None:
    for url in ("not a url", "http://127.0.0.1:1/a"):
        with pytest.raises(p2psync.InvalidArgumentError):
            Replicator(peers.b, url)
    with pytest.raises(p2psync.InvalidArgumentError):  # TLS settings with ws://
        Replicator(peers.b, "ws://127.0.0.1:1/a", trust_mode=TrustMode.SELF_SIGNED_ONLY)
    with pytest.raises(p2psync.InvalidArgumentError):
        peers.replicator(pinned_certificate="garbage")
    with pytest.raises(p2psync.InvalidArgumentError):
        peers.replicator(pinned_certificate=None)  # pinned mode without a pin
    with pytest.raises(p2psync.InvalidArgumentError):
        peers.replicator(collections=[peers.ca])  # of the other database
    with pytest.raises(p2psync.BusyError):
        with peers.replicator():
            peers.b.close()
    status = peers.run(url="wss://127.0.0.1:1/a", max_attempts=1)
    assert isinstance(status.error, p2psync.NetworkError)
    repl = peers.replicator()
    repl.close()
    with pytest.raises(p2psync.InvalidHandleError):
        repl.start()


def test_callbacks_run_on_library_threads(peers: Peers) -> None:
    threads = set()
    with peers.replicator() as repl, repl.add_status_listener(lambda s: threads.add(threading.get_ident())):
        repl.start()
        repl.wait(60)
        repl.stop()
    assert threads and threading.get_ident() not in threads


def test_database_can_forbid_delta_sync(tmp_path: Path) -> None:
    # Both the listener and the replicator ask for deltas, but the pushing database forbids
    # them: revisions travel whole.
    with Database(tmp_path / "fa") as a, Database(tmp_path / "fb", delta_sync=False) as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", disable_tls=True, enable_delta_sync=True) as listener:
        listener.start()
        url = f"ws://127.0.0.1:{listener.port}/fa"
        pad = "y" * 2000
        for kind in ("bench", "edit1"):
            cb.save("big", {"kind": kind, "pad": pad})
            with Replicator(b, url, type=ReplicatorType.PUSH, enable_delta_sync=True) as repl:
                repl.start()
                assert repl.wait(60).error is None
                stats = repl.stats
            assert stats["revs_sent"] == 1 and stats["deltas_sent"] == 0
            assert stats["bytes_sent"] == stats["full_bytes_sent"] > 2000
        assert ca["big"].body == {"kind": "edit1", "pad": pad}


def test_delta_sync_over_version_vectors(tmp_path: Path) -> None:
    # With both ends offering CBMobile_4 and delta sync, the replication runs over
    # CBMobile_4 (delta sync used to keep it on CBMobile_3) and an edit goes as a delta
    # whose base is named by version, in both directions (CBMobile_4 is the default).
    with Database(tmp_path / "va") as a, Database(tmp_path / "vb") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", disable_tls=True, enable_delta_sync=True) as listener:
        listener.start()
        url = f"ws://127.0.0.1:{listener.port}/va"

        def sync() -> Dict[str, int]:
            with Replicator(b, url, enable_delta_sync=True) as repl:
                repl.start()
                assert repl.wait(60).error is None
                return repl.stats

        pad = "v" * 2000
        cb.save("pushed", {"kind": "bench", "pad": pad})
        ca.save("pulled", {"kind": "bench", "pad": pad})
        first = sync()
        assert first["deltas_sent"] == 0 and first["deltas_received"] == 0  # no base yet
        cb.save("pushed", {"kind": "edit1", "pad": pad})
        ca.save("pulled", {"kind": "edit1", "pad": pad})
        second = sync()
        assert second["revs_sent"] == 1 and second["deltas_sent"] == 1
        assert second["revs_received"] == 1 and second["deltas_received"] == 1
        assert 0 < second["bytes_sent"] < 100 < 2000 < second["full_bytes_sent"]
        assert 0 < second["bytes_received"] < 100 < 2000 < second["full_bytes_received"]
        assert second["delta_fallbacks"] == 0 and second["deltas_refused"] == 0
        for doc_id in ("pushed", "pulled"):
            # The sender's version arrived with the body: only CBMobile_4 carries it.
            assert ca[doc_id].body == cb[doc_id].body == {"kind": "edit1", "pad": pad}
            assert ca[doc_id].version == cb[doc_id].version != ""


class SlowRecorder:
    """Slow document, status and change listeners (a backlog builds up) that count the
    documents they were told about and any call made after `finished` was set."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.pulled: set = set()
        self.changed: set = set()
        self.last_status = ""
        self.finished = False
        self.late = 0

    def _enter(self) -> None:
        with self.lock:
            self.late += self.finished

    def on_documents(self, event: DocumentEvent) -> None:
        self._enter()
        for d in event.documents:
            time.sleep(0.0002)
            if event.direction == "pull" and d.error is None and d.id.startswith(self.prefix):
                with self.lock:
                    self.pulled.add(d.id)

    def on_status(self, status: ReplicatorStatus) -> None:
        self._enter()
        time.sleep(0.0002)
        with self.lock:
            self.last_status = status.activity

    def on_changes(self, event: p2psync.ChangeEvent) -> None:
        self._enter()
        for c in event.changes:
            time.sleep(0.0002)
            if c.id.startswith(self.prefix):
                with self.lock:
                    self.changed.add(c.id)

    def finish(self) -> tuple:
        with self.lock:
            self.finished = True
            return len(self.pulled), len(self.changed), self.last_status


@pytest.mark.parametrize("continuous", [False, True], ids=["one-shot", "stopped midway"])
def test_stop_means_stopped(peers: Peers, continuous: bool) -> None:
    """When wait() or stop() returns, every document, status and change callback for what
    was pulled has run, and none runs afterwards."""
    docs = 300
    for run in range(3):
        prefix = f"stop{int(continuous)}{run}-"
        with peers.a.batch() as batch:
            for i in range(docs):
                batch.save(peers.ca, f"{prefix}{i:03d}", {"n": i})
        rec = SlowRecorder(prefix)
        with peers.replicator(type=ReplicatorType.PULL, continuous=continuous) as repl, \
                repl.add_document_listener(rec.on_documents), repl.add_status_listener(rec.on_status), \
                peers.cb.add_change_listener(rec.on_changes):
            repl.start()
            if continuous:
                wait_for(lambda: all(f"{prefix}{i:03d}" in peers.cb for i in range(40)))
            else:
                assert repl.wait(60).error is None
                with rec.lock:
                    seen = (len(rec.pulled), len(rec.changed), rec.last_status)
                assert seen == (docs, docs, "stopped"), f"run {run}: wait() returned with {seen}"
            repl.stop()
            pulled, changed, last = rec.finish()
            stored = sum(1 for i in range(docs) if f"{prefix}{i:03d}" in peers.cb)
            assert (pulled, changed, last) == (stored, stored, "stopped"), f"run {run}: stop() returned early"
            assert continuous or stored == docs
            time.sleep(0.05)
        assert rec.late == 0, f"run {run}: {rec.late} callbacks after stop() returned"


def test_resource_limits(tmp_path: Path) -> None:
    """A listener with a small max_message_size refuses a larger document (BLIP 413, the
    document event carries the error) and keeps the smaller ones; max_connections=1
    answers a second replicator 503 while the first one is connected."""
    with Database(tmp_path / "la") as a, Database(tmp_path / "lb") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", disable_tls=True, max_message_size=64 * 1024,
                     max_connection_buffer=1 << 20, max_connections=1) as listener:
        listener.start()
        url = f"ws://127.0.0.1:{listener.port}/la"
        cb.save("small", {"pad": "x" * 1000})
        cb.save("huge", {"pad": "y" * 200_000})
        documents: List[DocumentEvent] = []
        with Replicator(b, url, type=ReplicatorType.PUSH, max_message_size=1 << 20) as repl, \
                repl.add_document_listener(documents.append):
            repl.start()
            repl.wait(60)
        errors = {d.id: d.error for e in documents for d in e.documents}
        assert errors["small"] is None
        huge = errors["huge"]
        assert huge is not None and huge.domain_code == 413 and "larger than the limit" in str(huge), errors
        assert ca["small"].body == {"pad": "x" * 1000}
        with pytest.raises(KeyError):
            ca["huge"]
        with Replicator(b, url, type=ReplicatorType.PULL, continuous=True) as first:
            first.start()
            wait_for(lambda: listener.status.connection_count == 1)
            with Replicator(b, url, type=ReplicatorType.PULL, max_attempts=1) as second:
                second.start()
                status = second.wait(60)
                assert status.error is not None and status.error.domain_code == 503, status.error
            first.stop()
