"""Replication: a Listener serves a database to peers, a Replicator syncs with one.

    with Database("/data/a") as a, Listener(a, credentials={"alice": "pw"}) as listener:
        listener.start()
        fingerprint = listener.tls_identity().fingerprint  # show it to users; they pin it
        with Database("/data/b") as b, Replicator(
                b, listener.urls[0], username="alice", password="pw",
                trust_mode=TrustMode.PINNED, pinned_fingerprint=fingerprint) as repl:
            repl.start()
            status = repl.wait(30)                    # one-shot: until stopped
            if status.error:
                raise status.error                    # e.g. TLSPinMismatchError, AuthError

Listeners and replicators are children of their database (close them first). Their
callbacks (authenticators, filters, resolvers, listeners) run on library threads; they
are kept alive on the owning object until it is closed, and an exception raised by one
is logged and counts as a refusal (or, for a resolver, a failure).
"""

from __future__ import annotations

import datetime
import enum
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _ffi
from .database import ChangeQueue, Collection, Database, Subscription, _Handle
from .errors import P2PSyncError, error_for
from .security import Identity


# ------------------------------------------------------------------ listener

@dataclass(frozen=True)
class ListenerConnection:
    """One connected replicator, as p2p_listener_status describes it: peer ("host:port"),
    user (HTTP Basic user name, else client certificate common name, else ""), the
    negotiated subprotocol, the "scope.name" collections it replicates (empty until it
    asked), started (UTC datetime), active (transferring now), BLIP bytes each way and the
    revisions it acknowledged (docs_sent) or that were saved from it (docs_received)."""

    peer: str
    user: str
    subprotocol: str
    collections: List[str]
    started: datetime.datetime
    active: bool
    bytes_sent: int
    bytes_received: int
    docs_sent: int
    docs_received: int

    @classmethod
    def _from(cls, obj: Dict[str, Any]) -> "ListenerConnection":
        started = datetime.datetime.fromisoformat(obj["started"].replace("Z", "+00:00"))
        return cls(obj["peer"], obj["user"], obj["subprotocol"], list(obj["collections"]), started, obj["active"],
                   obj["bytes_sent"], obj["bytes_received"], obj["docs_sent"], obj["docs_received"])


@dataclass(frozen=True)
class ListenerStatus:
    """Connections now (and how many transfer documents), connections served since the
    listener was created, and each connected replicator, oldest first."""

    connection_count: int
    active_connection_count: int
    total_connection_count: int = 0
    connections: List[ListenerConnection] = field(default_factory=list)


class Listener(_Handle):
    """Serves `database` over wss:// (ws:// with disable_tls) once started.

    identity None (with TLS) serves the database's anonymous identity, whose fingerprint
    stays the same across restarts. credentials (a dict user -> password) and/or
    password_auth(user, password) -> bool require HTTP Basic credentials;
    client_cert_roots (PEM) and/or client_cert_auth(chain_pem) -> bool require a client
    certificate. The auth callbacks may block; they run on library threads.
    disable_version_vectors accepts CBMobile_3/2 only (revision trees); by default
    BLIP_3+CBMobile_4 (version vectors, Couchbase Lite 4) is accepted too.
    max_message_size, max_connection_buffer and max_connections bound each connection
    (0 = the defaults: 20 MiB, 8 MiB, 256). max_checkpoint_size bounds the checkpoint a
    connected replicator stores here, in bytes (0 = 16 KiB, negative = only
    max_message_size): a larger one is refused with HTTP error 413 and not stored, so
    that replicator's next run starts from its last stored checkpoint (a replicator of
    this library logs a Warning saying so). max_peer_checkpoints bounds how many such
    checkpoints the database keeps (0 = 10,000, negative = no cap): one stored under a new
    client ID past it deletes the least recently written other. README "Resource limits".
    """

    _closer = "p2p_listener_close"

    def __init__(self, database: Database, *, collections: Optional[Sequence[Collection]] = None, port: int = 0,
                 network_interface: Optional[str] = None, read_only: bool = False, disable_tls: bool = False,
                 identity: Optional[Identity] = None, credentials: Optional[Dict[str, str]] = None,
                 password_auth: Optional[Callable[[str, str], bool]] = None, client_cert_roots: Optional[str] = None,
                 client_cert_auth: Optional[Callable[[str], bool]] = None, enable_delta_sync: bool = False,
                 max_message_size: int = 0, max_connection_buffer: int = 0, max_connections: int = 0,
                 disable_version_vectors: bool = False, max_checkpoint_size: int = 0,
                 max_peer_checkpoints: int = 0) -> None:
        opts = _ffi.init_struct("p2p_listener_options_init", _ffi.ListenerOptions)
        handles = _ffi.handle_array([c.handle for c in collections or []])
        opts.collections, opts.collection_count = handles, len(collections or [])
        opts.port, opts.network_interface = port, _ffi.text(network_interface)
        opts.read_only, opts.disable_tls = int(read_only), int(disable_tls)
        opts.identity = 0 if identity is None else identity.handle
        opts.credentials_json = None if credentials is None else _ffi.text(json.dumps(credentials))
        opts.client_cert_roots_pem = _ffi.text(client_cert_roots)
        opts.enable_delta_sync = int(enable_delta_sync)
        opts.disable_version_vectors = int(disable_version_vectors)
        opts.max_message_size, opts.max_connection_buffer = max_message_size, max_connection_buffer
        opts.max_connections = max_connections
        opts.max_checkpoint_size, opts.max_peer_checkpoints = max_checkpoint_size, max_peer_checkpoints
        keep: List[Any] = []
        if password_auth is not None:
            opts.password_auth = _ffi.password_auth_callback(password_auth)
            keep.append(opts.password_auth)
        if client_cert_auth is not None:
            opts.client_cert_auth = _ffi.client_cert_auth_callback(client_cert_auth)
            keep.append(opts.client_cert_auth)
        super().__init__(_ffi.out_handle("p2p_listener_create", database.handle, _ffi.byref(opts)), keep)
        self.database = database  # strong reference: the parent outlives the child
        self.collections = list(collections or [])
        self._tls = not disable_tls

    def _describe(self) -> str:
        port = self.port
        return f"port={port}" if port else "stopped"

    def start(self) -> None:
        """Starts listening (BusyError if running)."""
        _ffi.call("p2p_listener_start", self._handle)

    def stop(self) -> None:
        """Stops listening; connected replicators are told to come back later."""
        _ffi.call("p2p_listener_stop", self._handle)

    @property
    def port(self) -> int:
        """TCP port while running, 0 when stopped."""
        return _ffi.out_port("p2p_listener_port", self._handle)

    @property
    def urls(self) -> List[str]:
        """wss://address:port/db for every address ([] when stopped)."""
        return json.loads(_ffi.out_text("p2p_listener_urls", self._handle) or "[]")

    @property
    def status(self) -> ListenerStatus:
        """Connection counts and per-connection details (a ListenerStatus snapshot)."""
        obj = json.loads(_ffi.out_text("p2p_listener_status", self._handle) or "{}")
        return ListenerStatus(obj["connection_count"], obj["active_connection_count"], obj["total_connection_count"],
                              [ListenerConnection._from(c) for c in obj["connections"]])

    def tls_identity(self) -> Optional[Identity]:
        """The served identity (close it when done); None for a listener without TLS.

        Raises RuntimeError while the listener is stopped: the identity (the anonymous one
        included) is only settled by start()."""
        handle = _ffi.out_handle("p2p_listener_tls_identity", self._handle)
        if handle:
            return Identity(handle)
        if self._tls and self.port == 0:
            raise RuntimeError("Listener.tls_identity(): the listener is not running; call start() first")
        return None

    def __enter__(self) -> "Listener":
        return self


# ------------------------------------------------------------------ replicator

class ReplicatorType(enum.IntEnum):
    PUSH_AND_PULL = 0
    PUSH = 1
    PULL = 2


class TrustMode(enum.IntEnum):
    """How a replicator decides to trust the listener's certificate (P2P_TRUST_*)."""

    SYSTEM_ROOTS = 0  # the system's roots, host name checked
    ROOTS = 1  # only trusted_roots (an application CA), host name checked
    SELF_SIGNED_ONLY = 2  # a lone valid self-signed certificate, any host name
    PINNED = 3  # exactly the certificate given by pinned_certificate or pinned_fingerprint


class Resolution(enum.IntEnum):
    """What a conflict resolver may return (or a dict: the merged body)."""

    REMOTE = 0
    LOCAL = 1
    DELETE = 3


@dataclass(frozen=True)
class ReplicationDocument:
    """What a push or pull filter sees: one revision of one document.

    access_removed (pull filters only): the remote revoked access to the document (Sync
    Gateway channel removal or access revocation) and it is about to be purged here
    (auto-purge on); json is "{}". Returning False keeps the local copy.
    """

    collection: str
    id: str
    rev_id: str
    deleted: bool
    json: str = field(repr=False)
    access_removed: bool = False

    @property
    def body(self) -> Dict[str, Any]:
        """The body as a dict ({} for a deletion)."""
        return json.loads(self.json)


@dataclass(frozen=True)
class Conflict:
    """What a conflict resolver sees; a side is None when it is a deletion."""

    collection: str
    doc_id: str
    local: Optional[Dict[str, Any]]
    remote: Optional[Dict[str, Any]]

    @property
    def id(self) -> str:
        """The document ID (doc_id), named as in Document, ReplicationDocument and Kotlin."""
        return self.doc_id


@dataclass
class ReplicationCollection:
    """Per-collection settings of a replicator. document_ids (as Replicator's
    pending_document_ids and Kotlin's documentIds) and doc_ids (its former name) are one
    setting: give either."""

    collection: Collection
    doc_ids: Optional[Sequence[str]] = None
    channels: Optional[Sequence[str]] = None
    push_filter: Optional[Callable[[ReplicationDocument], bool]] = None
    pull_filter: Optional[Callable[[ReplicationDocument], bool]] = None
    conflict_resolver: Optional[Callable[[Conflict], Union[Resolution, Dict[str, Any]]]] = None
    document_ids: Optional[Sequence[str]] = None

    def _ids(self) -> Optional[Sequence[str]]:
        if self.doc_ids is not None and self.document_ids is not None and \
                list(self.doc_ids) != list(self.document_ids):
            raise ValueError("ReplicationCollection: give document_ids or doc_ids (the same setting), not both")
        return self.document_ids if self.document_ids is not None else self.doc_ids

    def __post_init__(self) -> None:
        self._ids()


def _error(obj: Optional[Dict[str, Any]]) -> Optional[P2PSyncError]:
    if obj is None:
        return None
    return error_for(obj["status"], obj["domain"], obj["code"], obj["message"])


@dataclass(frozen=True)
class ReplicatorStats:
    """What a replicator did since it was created (p2p_replicator_stats): revisions sent
    (acknowledged) and received (saved), how many as deltas, their body bytes as sent and
    as full bodies, and what deltas saved; delta fallbacks and refusals; every BLIP byte
    each way (wire_bytes_*); conflicts resolved; retries after transient errors; the last
    error met (None if none). Also readable as a mapping: stats["revs_sent"]."""

    revs_sent: int
    deltas_sent: int
    bytes_sent: int
    full_bytes_sent: int
    delta_fallbacks: int
    revs_received: int
    deltas_received: int
    bytes_received: int
    full_bytes_received: int
    deltas_refused: int
    delta_bytes_saved_sent: int
    delta_bytes_saved_received: int
    wire_bytes_sent: int
    wire_bytes_received: int
    conflicts_resolved: int
    retries: int
    last_error: Optional[P2PSyncError]

    @classmethod
    def _from(cls, obj: Dict[str, Any]) -> "ReplicatorStats":
        names = [f for f in cls.__dataclass_fields__ if f != "last_error"]
        return cls(**{n: obj[n] for n in names}, last_error=_error(obj["last_error"]))

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class ReplicatorStatus:
    """activity: "stopped", "offline", "connecting", "idle" or "busy"; error: the
    exception the replicator stopped with (or is retrying after), not raised."""

    activity: str
    completed: int
    total: int
    error: Optional[P2PSyncError]

    @classmethod
    def _from(cls, obj: Dict[str, Any]) -> "ReplicatorStatus":
        return cls(obj["activity"], obj["progress"]["completed"], obj["progress"]["total"], _error(obj["error"]))

    @property
    def stopped(self) -> bool:
        """True once the replicator has stopped (activity `stopped`)."""
        return self.activity == "stopped"


@dataclass(frozen=True)
class ReplicatedDocument:
    collection: str
    id: str
    rev_id: str
    deleted: bool
    access_removed: bool
    error: Optional[P2PSyncError]


@dataclass(frozen=True)
class DocumentEvent:
    """A batch of documents replicated in one direction ("push" or "pull")."""

    direction: str
    documents: Tuple[ReplicatedDocument, ...]

    @classmethod
    def _from(cls, obj: Dict[str, Any]) -> "DocumentEvent":
        return cls(obj["direction"], tuple(
            ReplicatedDocument(d["collection"], d["id"], d["rev_id"], d["deleted"], d["access_removed"],
                               _error(d["error"])) for d in obj["documents"]))


@dataclass(frozen=True)
class OverflowEvent:
    """An event queue was full: this many events were dropped here."""

    dropped: int


ReplicatorEvent = Union[ReplicatorStatus, DocumentEvent, OverflowEvent]


def parse_replicator_event(text: str) -> ReplicatorEvent:
    """The event of a replicator listener or event queue from the library's JSON text: a
    ReplicatorStatus, a DocumentEvent or an OverflowEvent."""
    obj = json.loads(text)
    kind = obj["event"]
    if kind == "status":
        return ReplicatorStatus._from(obj)
    if kind == "document":
        return DocumentEvent._from(obj)
    return OverflowEvent(obj.get("dropped", 0))


class ReplicatorEventQueue(ChangeQueue):
    """Status and document events of a replicator, read with next_event() or by iterating."""

    _parse = staticmethod(parse_replicator_event)


def _filter(fn: Callable[[ReplicationDocument], bool]) -> Any:
    return _ffi.filter_callback(lambda coll, doc_id, rev_id, deleted, body, access_removed:
                                bool(fn(ReplicationDocument(coll, doc_id, rev_id, deleted, body, access_removed))))


def _resolver(fn: Callable[[Conflict], Union[Resolution, Dict[str, Any]]]) -> Any:
    def decide(coll: str, doc_id: str, local: Optional[str], remote: Optional[str]) -> Tuple[int, Optional[str]]:
        result = fn(Conflict(coll, doc_id, None if local is None else json.loads(local),
                             None if remote is None else json.loads(remote)))
        if isinstance(result, Resolution):
            return int(result), None
        return 2, json.dumps(result, separators=(",", ":"), ensure_ascii=False)  # P2P_RESOLVE_MERGED

    return _ffi.resolver_callback(decide)


def _collection_struct(rc: Union[Collection, ReplicationCollection], keep: List[Any]) -> Any:
    if isinstance(rc, Collection):
        rc = ReplicationCollection(rc)
    c = _ffi.init_struct("p2p_replication_collection_init", _ffi.ReplicationCollection)
    c.collection = rc.collection.handle
    ids = rc._ids()
    c.doc_ids_json = None if ids is None else _ffi.text(json.dumps(list(ids)))
    c.channels_json = None if rc.channels is None else _ffi.text(json.dumps(list(rc.channels)))
    if rc.push_filter is not None:
        c.push_filter = _filter(rc.push_filter)
        keep.append(c.push_filter)
    if rc.pull_filter is not None:
        c.pull_filter = _filter(rc.pull_filter)
        keep.append(c.pull_filter)
    if rc.conflict_resolver is not None:
        c.conflict_resolver = _resolver(rc.conflict_resolver)
        keep.append(c.conflict_resolver)
    return c


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


class Replicator(_Handle):
    """Syncs `database` with the listener at `url` (wss://host:port/db).

    Times are in seconds (0 = the library's default). pinned_certificate and trusted_roots
    are PEM text (e.g. a previous run's server_certificate). With TrustMode.PINNED, give
    either pinned_certificate or pinned_fingerprint (not both): the SHA-256 fingerprint of
    the listener's certificate as users exchange it (Identity.fingerprint on the listener),
    in any form normalize_fingerprint reads (64 hex digits in either case, with or
    without colons, optionally after "sha256:"); a different certificate stops the
    replicator with TLSPinMismatchError, whose message names both as lowercase hex. collections is a list of Collection or
    ReplicationCollection (None = the default collection). The replicator offers
    BLIP_3+CBMobile_4 (version vectors) first, then CBMobile_3; disable_version_vectors
    offers CBMobile_3/2 only. Delta sync works over either.

    Pulling from a listener of the same process on loopback, its certificate pinned:

    >>> import os, tempfile
    >>> from p2psync import Database, Listener, ReplicatorType, TrustMode
    >>> base = tempfile.mkdtemp()
    >>> with Database(os.path.join(base, "a")) as a, Database(os.path.join(base, "b")) as b:
    ...     with a.default_collection() as coll:
    ...         _ = coll.save("hello", {"from": "a"})
    ...     with Listener(a, network_interface="127.0.0.1") as listener:
    ...         listener.start()
    ...         with listener.tls_identity() as identity:
    ...             pin = identity.fingerprint
    ...         with Replicator(b, listener.urls[0], type=ReplicatorType.PULL, trust_mode=TrustMode.PINNED,
    ...                         pinned_fingerprint=pin) as repl:
    ...             repl.start()
    ...             status, received = repl.wait(timeout=30), repl.stats.revs_received
    ...     with b.default_collection() as coll:
    ...         print(status.error, received, coll.get("hello").body)
    None 1 {'from': 'a'}
    """

    _closer = "p2p_replicator_close"

    def __init__(self, database: Database, url: str, *, type: ReplicatorType = ReplicatorType.PUSH_AND_PULL,
                 continuous: bool = False, headers: Optional[Dict[str, str]] = None, heartbeat: float = 0,
                 max_attempts: int = 0, max_attempt_wait: float = 0, retry_base: float = 0,
                 auto_purge: bool = True, enable_delta_sync: bool = False, username: Optional[str] = None,
                 password: Optional[str] = None, client_identity: Optional[Identity] = None,
                 trust_mode: TrustMode = TrustMode.SYSTEM_ROOTS, trusted_roots: Optional[str] = None,
                 pinned_certificate: Optional[str] = None, pinned_fingerprint: Optional[str] = None,
                 server_name: Optional[str] = None, collections: Optional[Iterable[Union[Collection, ReplicationCollection]]] = None,
                 max_message_size: int = 0, max_connection_buffer: int = 0,
                 disable_version_vectors: bool = False) -> None:
        opts = _ffi.init_struct("p2p_replicator_options_init", _ffi.ReplicatorOptions)
        opts.url, opts.type, opts.continuous = _ffi.text(url), int(type), int(continuous)
        opts.headers_json = None if headers is None else _ffi.text(json.dumps(headers))
        opts.heartbeat_ms, opts.max_attempts = _ms(heartbeat), max_attempts
        opts.max_attempt_wait_ms, opts.retry_base_ms = _ms(max_attempt_wait), _ms(retry_base)
        opts.disable_auto_purge, opts.enable_delta_sync = int(not auto_purge), int(enable_delta_sync)
        opts.disable_version_vectors = int(disable_version_vectors)
        opts.username, opts.password = _ffi.text(username), _ffi.text(password)
        opts.client_identity = 0 if client_identity is None else client_identity.handle
        opts.trust_mode = int(trust_mode)
        opts.trusted_roots_pem, opts.pinned_certificate_pem = _ffi.text(trusted_roots), _ffi.text(pinned_certificate)
        opts.server_name, opts.pinned_fingerprint = _ffi.text(server_name), _ffi.text(pinned_fingerprint)
        opts.max_message_size, opts.max_connection_buffer = max_message_size, max_connection_buffer
        keep: List[Any] = []
        structs = [_collection_struct(c, keep) for c in collections or []]
        array = _ffi.struct_array(_ffi.ReplicationCollection, structs)
        opts.collections, opts.collection_count = array, len(structs)
        super().__init__(_ffi.out_handle("p2p_replicator_create", database.handle, _ffi.byref(opts)), keep)
        self.database = database  # strong reference: the parent outlives the child
        self.url = url
        self._callbacks: Dict[int, Any] = {}  # token -> CFUNCTYPE object, kept until removed
        self._retired: List[Any] = []  # callbacks removed from inside themselves
        self._keep = keep

    def _describe(self) -> str:
        return f"{self.url!r} {self.status.activity}"

    def start(self, reset_checkpoint: bool = False) -> None:
        """Starts replicating in the background (BusyError if running)."""
        _ffi.call("p2p_replicator_start", self._handle, int(reset_checkpoint))

    def stop(self) -> None:
        """Stops and returns once every listener call for the work done has returned
        (status and document listeners, and change listeners of the replicated
        collections); none is made afterwards."""
        _ffi.call("p2p_replicator_stop", self._handle)

    @property
    def status(self) -> ReplicatorStatus:
        """The current activity, progress and last error (a ReplicatorStatus snapshot)."""
        return ReplicatorStatus._from(json.loads(_ffi.out_text("p2p_replicator_status", self._handle) or "{}"))

    @property
    def stats(self) -> ReplicatorStats:
        """Statistics since creation (see ReplicatorStats): revisions and bytes each way,
        deltas and the bytes they saved, conflicts resolved, retries, the last error."""
        return ReplicatorStats._from(json.loads(_ffi.out_text("p2p_replicator_stats", self._handle) or "{}"))

    def wait(self, timeout: float = 60.0, poll: float = 0.02) -> ReplicatorStatus:
        """Waits until the replicator is stopped and returns its status (the error, if any,
        is in status.error). The status reads "stopped" only once every listener call for
        the run has returned, so the listeners have seen everything when this returns.
        Raises TimeoutError if it is still running after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status
            if status.stopped:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"replicator still {status.activity} after {timeout} s")
            time.sleep(poll)

    def _subscribe(self, name: str, listener: Callable[[Any], None]) -> Subscription:
        callback = _ffi.change_callback(lambda _token, text: listener(parse_replicator_event(text)))
        token = _ffi.out_handle(name, self._handle, callback, None)
        self._callbacks[token] = callback
        return Subscription(self, token)

    def add_status_listener(self, listener: Callable[[ReplicatorStatus], None]) -> Subscription:
        """Calls listener(status) on a library thread at every change of status."""
        return self._subscribe("p2p_replicator_add_status_listener", listener)

    def add_document_listener(self, listener: Callable[[DocumentEvent], None]) -> Subscription:
        """Calls listener(event) on a library thread for every batch of replicated documents."""
        return self._subscribe("p2p_replicator_add_document_listener", listener)

    def event_queue(self, capacity: int = 0) -> ReplicatorEventQueue:
        """A pull-style alternative to both listeners (bounded; reports overflow)."""
        return ReplicatorEventQueue(self, _ffi.out_handle("p2p_replicator_add_event_queue", self._handle, capacity))

    def _forget(self, token: int) -> None:
        callback = self._callbacks.pop(token, None)
        if callback is not None:
            self._retired.append(callback)

    def pending_document_ids(self, collection: Collection) -> List[str]:
        """IDs of documents with local changes not yet pushed."""
        return json.loads(_ffi.out_text("p2p_replicator_pending_document_ids", self._handle,
                                        collection.handle) or "[]")

    def is_document_pending(self, collection: Collection, doc_id: str) -> bool:
        """True if a local change to `doc_id` in `collection` is not pushed yet."""
        return _ffi.out_flag("p2p_replicator_is_document_pending", self._handle, collection.handle,
                             _ffi.text(doc_id))

    @property
    def server_certificate(self) -> Optional[str]:
        """PEM of the certificate the listener presented last (trusted or not), or None."""
        return _ffi.out_text("p2p_replicator_server_certificate", self._handle)

    def close(self) -> None:
        """Stops and releases the replicator (BusyError while subscriptions are open)."""
        super().close()
        self._retired.clear()

    def __enter__(self) -> "Replicator":
        return self
