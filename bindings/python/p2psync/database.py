"""Pythonic classes over the C API: Database, Collection, Document, Batch, listeners.

Every object is a context manager. ``close()`` raises on failure; a ``weakref.finalize``
is only the safety net. Children hold a strong reference to their parent, so a parent
is never finalized first, and closing a parent with open children raises BusyError.
"""

from __future__ import annotations

import enum
import json
import os
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional,
                    Tuple, Union)

from . import _ffi
from .errors import DOMAIN_LIBRARY, InvalidHandleError, P2PSyncError, error_for

if TYPE_CHECKING:  # pragma: no cover
    from .blob import Blob, BlobRef, BlobWriter

Body = Union[Dict[str, Any], str]
PathLike = Union[str, "os.PathLike[str]"]


class Concurrency(enum.IntEnum):
    """What a save does when the document changed since the caller read it."""

    LAST_WRITE_WINS = 0  # the new revision follows whatever is current
    FAIL_ON_CONFLICT = 1  # ConflictError unless parent_rev_id is the current revision


# One encoder for every body: json.dumps with non-default arguments builds a new one per call.
_BODY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _body_text(body: Body) -> str:
    # A str is passed through untouched so the library validates it (and reports offsets).
    return body if isinstance(body, str) else _BODY_ENCODER.encode(body)


class _Handle:
    """A handle plus its closer; close() is idempotent and raises on failure."""

    _closer = ""

    def __init__(self, handle: int, *keep_alive: Any) -> None:
        self._handle = handle
        # keep_alive (callbacks the library may call) lives until the close has returned,
        # also when only the safety net closes the handle.
        self._finalizer = weakref.finalize(self, _ffi.close_quietly, self._closer, handle, *keep_alive)

    @property
    def handle(self) -> int:
        """The raw C handle (for diagnostics)."""
        return self._handle

    @property
    def closed(self) -> bool:
        """True once close() has succeeded (or the safety net has closed it)."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Releases the library object; idempotent. Raises (e.g. BusyError) if it cannot be closed yet."""
        if self._finalizer.alive:
            _ffi.call(self._closer, self._handle)
            self._finalizer.detach()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def _describe(self) -> str:
        """What __repr__ shows of an open object (empty: nothing beyond the handle)."""
        return ""

    def __repr__(self) -> str:
        if self.closed:
            return f"<{type(self).__name__} closed>"
        try:
            detail = self._describe()
        except Exception:  # noqa: BLE001 - a repr must not raise (e.g. the parent was closed)
            detail = ""
        return f"<{type(self).__name__} {detail + ' ' if detail else ''}handle={self._handle}>"

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except Exception as close_error:  # noqa: BLE001 - reported on the exception in flight
            # The exception in flight says what went wrong; a close failing because of it
            # (BusyError: the error left a child open) must not replace it. The handle
            # stays with its safety net (closed when collected).
            if hasattr(exc, "add_note"):
                exc.add_note(f"while handling it, closing {type(self).__name__} failed too: {close_error}")


class SavedRevision(NamedTuple):
    """What Batch.save_many / Collection.save_many report for each saved document (a
    named tuple: cheap to make by the thousand)."""

    id: str
    rev_id: str
    sequence: int
    #: Current version "<hex time>@<source ID>", as Document.version.
    version: str = ""


@dataclass(frozen=True)
class Document:
    """One revision of a document, read in full when it was returned."""

    id: str
    rev_id: str
    sequence: int
    deleted: bool
    json: str = field(repr=False)
    #: Current version "<hex time>@<source ID>" (Couchbase Lite 4's revision identity);
    #: "" for a revision without one (saved before versions existed, or received from a
    #: CBMobile_3 peer) until it is next saved.
    version: str = ""
    #: Time of `version`: hybrid-logical-clock nanoseconds since the Unix epoch (0 if none).
    timestamp: int = 0
    #: The whole version vector, "cv[,merge versions][;previous versions]" ("" if none).
    version_vector: str = field(default="", repr=False)

    @property
    def body(self) -> Dict[str, Any]:
        """The body as a dict ({} for a deleted document)."""
        return json.loads(self.json)

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    @classmethod
    def _take(cls, handle: int) -> "Document":
        """Reads a p2p_document snapshot and releases it."""
        try:
            return cls(id=_ffi.out_text("p2p_document_id", handle) or "",
                       rev_id=_ffi.out_text("p2p_document_rev_id", handle) or "",
                       sequence=_ffi.out_uint("p2p_document_sequence", handle),
                       deleted=_ffi.out_flag("p2p_document_deleted", handle),
                       json=_ffi.out_text("p2p_document_json", handle) or "{}",
                       version=_ffi.out_text("p2p_document_version", handle) or "",
                       timestamp=_ffi.out_uint("p2p_document_timestamp", handle),
                       version_vector=_ffi.out_text("p2p_document_version_vector", handle) or "")
        finally:
            _ffi.call("p2p_document_close", handle)


@dataclass(frozen=True)
class Change:
    """One entry of the changes feed: a document at its latest sequence."""

    sequence: int
    id: str
    rev_id: str
    deleted: bool

    @classmethod
    def _from(cls, obj: Dict[str, Any]) -> "Change":
        return cls(sequence=obj["sequence"], id=obj["id"], rev_id=obj["rev_id"], deleted=obj["deleted"])


@dataclass(frozen=True)
class ChangeEvent:
    """What a listener or change queue receives: the changes of one committed write,
    or (kind == "overflow") the number of events a full queue dropped at this point."""

    kind: str
    collection: str
    changes: Tuple[Change, ...] = ()
    dropped: int = 0

    @classmethod
    def _parse(cls, text: str) -> "ChangeEvent":
        obj = json.loads(text)
        return cls(kind=obj["event"], collection=obj["collection"],
                   changes=tuple(Change._from(c) for c in obj.get("changes", [])),
                   dropped=obj.get("dropped", 0))


def _changes(text: Optional[str]) -> List[Change]:
    return [Change._from(c) for c in json.loads(text or "[]")]


def _millis(when: Optional[datetime]) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        raise ValueError("expiration must be timezone-aware")
    return int(when.timestamp() * 1000)


class Database(_Handle):
    """An open database stored in one directory. Only one opener at a time (BusyError)."""

    _closer = "p2p_db_close"

    def __init__(self, path: PathLike, *, create: bool = True, max_rev_tree_depth: int = 0,
                 delta_sync: bool = True) -> None:
        """Opens (or creates) the database stored in directory `path`.

        delta_sync=False forbids delta-encoded revisions for this database whatever its
        listeners and replicators enable (by default they are permitted, and used where
        both the listener and the replicator enable them)."""
        opts = _ffi.db_options(create, max_rev_tree_depth, delta_sync)
        super().__init__(_ffi.out_handle("p2p_db_open", _ffi.text(os.fspath(path)), opts))

    @staticmethod
    def delete(path: PathLike) -> None:
        """Deletes the closed database stored at path (BusyError if it is open)."""
        _ffi.call("p2p_db_delete", _ffi.text(os.fspath(path)))

    @staticmethod
    def exists(path: PathLike) -> bool:
        """True if a database exists at `path`."""
        return _ffi.out_flag("p2p_db_exists", _ffi.text(os.fspath(path)))

    @property
    def name(self) -> str:
        """The database's name: the base name of its directory."""
        return _ffi.out_text("p2p_db_name", self._handle) or ""

    @property
    def path(self) -> str:
        """The database's directory."""
        return _ffi.out_text("p2p_db_path", self._handle) or ""

    @property
    def uuid(self) -> str:
        """The database's UUID (32 lowercase hex characters), fixed when it was created."""
        return _ffi.out_text("p2p_db_uuid", self._handle) or ""

    @property
    def source_id(self) -> str:
        """The database's source ID, the name its versions carry after the '@' (22 base64
        characters), created once and never changed."""
        return _ffi.out_text("p2p_db_source_id", self._handle) or ""

    def _describe(self) -> str:
        return repr(self.path)

    def default_collection(self) -> "Collection":
        """The `_default._default` collection, which always exists."""
        return Collection(self, _ffi.out_handle("p2p_db_default_collection", self._handle))

    def create_collection(self, name: str, scope: Optional[str] = None) -> "Collection":
        """Creates the collection if missing and opens it."""
        return Collection(self, _ffi.out_handle("p2p_db_create_collection", self._handle,
                                                _ffi.text(scope), _ffi.text(name)))

    def collection(self, name: str, scope: Optional[str] = None) -> "Collection":
        """Opens an existing collection (NotFoundError if missing)."""
        return Collection(self, _ffi.out_handle("p2p_db_get_collection", self._handle,
                                                _ffi.text(scope), _ffi.text(name)))

    def delete_collection(self, name: str, scope: Optional[str] = None) -> None:
        """Deletes a collection and all its documents (NotFoundError if it does not exist)."""
        _ffi.call("p2p_db_delete_collection", self._handle, _ffi.text(scope), _ffi.text(name))

    def collection_names(self, scope: Optional[str] = None) -> List[str]:
        """Names of the collections in `scope` (default: `_default`)."""
        return json.loads(_ffi.out_text("p2p_db_collection_names", self._handle, _ffi.text(scope)) or "[]")

    def scope_names(self) -> List[str]:
        """Names of the scopes that hold at least one collection."""
        return json.loads(_ffi.out_text("p2p_db_scope_names", self._handle) or "[]")

    def batch(self) -> "Batch":
        """Begins a write transaction. As a context manager it commits on success and
        aborts on an exception."""
        return Batch(self, _ffi.out_handle("p2p_db_begin_batch", self._handle))

    def get_local(self, doc_id: str) -> Tuple[Dict[str, Any], str]:
        """Reads a local (never replicated) document: (body, revision)."""
        body, rev = _ffi.out_texts("p2p_db_get_local", self._handle, _ffi.text(doc_id))
        return json.loads(body or "{}"), rev or ""

    def put_local(self, doc_id: str, body: Body, expected_rev: Optional[str] = None) -> str:
        """Writes a local document; expected_rev None = must not exist, "*" = no check."""
        return _ffi.out_text("p2p_db_put_local", self._handle, _ffi.text(doc_id), _ffi.text(_body_text(body)),
                             _ffi.text(expected_rev)) or ""

    def delete_local(self, doc_id: str) -> None:
        """Deletes a local (non-replicating) document (NotFoundError if missing)."""
        _ffi.call("p2p_db_delete_local", self._handle, _ffi.text(doc_id))

    # blobs (see p2psync.blob)

    def get_blob(self, blob: "BlobRef") -> "Blob":
        """The stored blob a dictionary (as found in a document body) or a digest names;
        NotFoundError if its content is not stored here."""
        from .blob import Blob, _spec
        return Blob(self, json.loads(_ffi.out_text("p2p_blob_info", self._handle, _spec(blob)) or "{}"))

    def blob_writer(self, content_type: Optional[str] = None) -> "BlobWriter":
        """Starts a blob written in chunks (a file-like object); see BlobWriter."""
        from .blob import BlobWriter
        return BlobWriter(self, content_type)

    def compact(self) -> Dict[str, int]:
        """Removes blobs no kept revision refers to (and leftovers of crashed writers);
        returns {"blobs_removed", "bytes_removed", "blobs_kept", "temp_files_removed"}."""
        return json.loads(_ffi.out_text("p2p_db_compact", self._handle) or "{}")

    def prepare(self, text: str) -> "Query":
        """Compiles a SQL++ statement (SELECT, EXPLAIN SELECT, CREATE/DROP INDEX) once,
        to run many times with Query.execute. InvalidArgumentError (message with the line
        and column) if it does not parse or compile; NotFoundError for an unknown
        collection."""
        return Query(self, _ffi.out_handle("p2p_query_prepare", self._handle, _ffi.text(text)))

    def query(self, text: str, params: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        """Runs a SQL++ statement and returns its rows as dicts. A property MISSING from a
        document is absent from its row; null is None.

        >>> import os, tempfile
        >>> with Database(os.path.join(tempfile.mkdtemp(), "people")) as db:
        ...     with db.default_collection() as people:
        ...         _ = people.save("ada", {"name": "Ada", "age": 36})
        ...         _ = people.save("bob", {"name": "Bob", "age": 12, "nick": None})
        ...     db.query("SELECT name, nick FROM _ WHERE age > $min ORDER BY name", {"min": 10})
        [{'name': 'Ada'}, {'name': 'Bob', 'nick': None}]
        """
        with self.prepare(text) as q:
            return list(q.execute(params))

    def explain(self, text: str) -> str:
        """The SQLite statement a SELECT compiles to and SQLite's query plan."""
        with self.prepare(text) as q:
            return q.explain()


class _CallbackOwner(_Handle):
    """A handle whose listeners are ctypes callbacks: each is kept (by subscription
    token) until removed, and one removed from inside itself, still on the stack, is kept
    until the handle closes (no call can be in flight then)."""

    def __init__(self, handle: int) -> None:
        super().__init__(handle)
        self._callbacks: Dict[int, Any] = {}  # token -> CFUNCTYPE object, kept until removed
        self._retired: List[Any] = []  # removed from inside themselves: freed at close
        self._lock = threading.Lock()

    def _forget(self, token: int) -> None:
        with self._lock:
            callback = self._callbacks.pop(token, None)
            if callback is not None:
                self._retired.append(callback)

    def close(self) -> None:
        """Releases the handle; idempotent. BusyError while listeners or queues on it
        are still registered (remove them first)."""
        super().close()
        with self._lock:
            self._retired.clear()


class Query(_CallbackOwner):
    """A compiled query of an open database (see Database.prepare). Keeps its database
    open until closed. Not for concurrent use from several threads."""

    _closer = "p2p_query_close"

    def __init__(self, database: Database, handle: int) -> None:
        super().__init__(handle)
        self.database = database

    @property
    def columns(self) -> List[str]:
        """The result column names (the keys rows may have)."""
        return json.loads(_ffi.out_text("p2p_query_columns", self._handle) or "[]")

    def execute(self, params: Optional[Dict[str, Any]] = None) -> Iterator[Dict[str, Any]]:
        """Runs the query with params ({"name": value} for each $name) and yields its rows
        as dicts. Executing again abandons the rows not read yet."""
        _ffi.call("p2p_query_execute", self._handle,
                  None if params is None else _ffi.text(json.dumps(params, ensure_ascii=False)))
        return self._rows()

    def _rows(self) -> Iterator[Dict[str, Any]]:
        while True:
            row = _ffi.out_text("p2p_query_next", self._handle)
            if row is None:
                return
            yield json.loads(row)

    def explain(self) -> str:
        """The compiled SQLite statement and SQLite's EXPLAIN QUERY PLAN."""
        return _ffi.out_text("p2p_query_explain", self._handle) or ""

    def add_listener(self, listener: Callable[[Optional[List[Dict[str, Any]]], Optional[P2PSyncError]], None],
                     params: Optional[Dict[str, Any]] = None) -> "Subscription":
        """Watches the query (a live query): calls listener(rows, None) on a library thread
        with the current rows, then again whenever a committed change (local or replicated)
        to its collection changes them; listener(None, error) if a run fails. Calls are
        serial, at most one per commit. The query cannot be closed while listeners remain;
        remove them with Subscription.remove() (allowed inside the listener)."""

        def on_event(_token: int, text: str) -> None:
            event = json.loads(text)
            if event.get("event") == "error":
                code = int(event.get("code", -99))
                listener(None, error_for(code, DOMAIN_LIBRARY, code, event.get("message", "")))
            else:
                listener(event.get("rows", []), None)

        callback = _ffi.change_callback(on_event)
        token = _ffi.out_handle("p2p_query_add_listener", self._handle,
                                None if params is None else _ffi.text(json.dumps(params, ensure_ascii=False)),
                                callback, None)
        with self._lock:
            self._callbacks[token] = callback
        return Subscription(self, token)

    def add_change_listener(self, listener: Callable[[Optional[List[Dict[str, Any]]], Optional[P2PSyncError]], None],
                            params: Optional[Dict[str, Any]] = None) -> "Subscription":
        """add_listener under the name Collection and the Kotlin binding use
        (Query.addChangeListener)."""
        return self.add_listener(listener, params)



class Collection(_CallbackOwner):
    """A collection of an open database. Keeps its database open until closed."""

    _closer = "p2p_collection_close"

    def __init__(self, database: Database, handle: int) -> None:
        super().__init__(handle)
        self.database = database  # strong reference: the parent outlives the child

    @property
    def name(self) -> str:
        """The collection's name."""
        return _ffi.out_text("p2p_collection_name", self._handle) or ""

    @property
    def scope(self) -> str:
        """The name of the collection's scope."""
        return _ffi.out_text("p2p_collection_scope_name", self._handle) or ""

    @property
    def full_name(self) -> str:
        """`scope.name`, as replication and the CLI spell it."""
        return f"{self.scope}.{self.name}"

    def count(self) -> int:
        """Number of live (non-deleted) documents."""
        return _ffi.out_uint("p2p_collection_count", self._handle)

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[str]:
        """The IDs of the live (non-deleted) documents, in sequence order: `for doc_id in coll`."""
        for change in self.iter_changes():
            if not change.deleted:
                yield change.id

    def _describe(self) -> str:
        return f"{self.full_name!r} count={self.count()}"

    def last_sequence(self) -> int:
        """The highest sequence number assigned in this collection (0 when empty)."""
        return _ffi.out_uint("p2p_collection_last_sequence", self._handle)

    def save(self, doc_id: str, body: Body, *, parent_rev_id: Optional[str] = None,
             concurrency: Concurrency = Concurrency.LAST_WRITE_WINS) -> Document:
        """Saves a new revision; body is a dict or JSON object text."""
        return Document._take(_ffi.out_handle("p2p_collection_save_document", self._handle, _ffi.text(doc_id),
                                              _ffi.text(_body_text(body)), _ffi.text(parent_rev_id),
                                              int(concurrency)))

    def delete(self, doc_id: str, *, parent_rev_id: Optional[str] = None,
               concurrency: Concurrency = Concurrency.LAST_WRITE_WINS) -> Document:
        """Deletes a document (a tombstone revision that replicates)."""
        return Document._take(_ffi.out_handle("p2p_collection_delete_document", self._handle, _ffi.text(doc_id),
                                              _ffi.text(parent_rev_id), int(concurrency)))

    def purge(self, doc_id: str) -> None:
        """Removes a document and its history without a trace."""
        _ffi.call("p2p_collection_purge_document", self._handle, _ffi.text(doc_id))

    def get(self, doc_id: str, *, include_deleted: bool = False) -> Document:
        """Reads the current revision (NotFoundError if missing or deleted)."""
        return Document._take(_ffi.out_handle("p2p_collection_get_document", self._handle, _ffi.text(doc_id),
                                              1 if include_deleted else 0))

    def get_many(self, doc_ids: Iterable[str], *, include_deleted: bool = False) -> List[Optional[Document]]:
        """Reads many documents in one call, from one snapshot: one entry per ID, in order,
        None for a missing (or, unless include_deleted, deleted) document. Much faster
        than get() in a loop."""
        ids = [_ffi.text(i) for i in doc_ids]
        text = _ffi.out_text("p2p_collection_get_documents", self._handle, len(ids), _ffi.text_array(ids),
                             1 if include_deleted else 0)
        return [None if e is None else Document(id=e["id"], rev_id=e["rev_id"], sequence=e["sequence"],
                                                deleted=e["deleted"], json=e["json"], version=e["version"],
                                                timestamp=e["timestamp"], version_vector=e["version_vector"])
                for e in json.loads(text or "[]")]

    def save_many(self, docs: Union[Mapping[str, Body], Iterable[Tuple[str, Body]]], *,
                  concurrency: Concurrency = Concurrency.LAST_WRITE_WINS,
                  parent_rev_ids: Optional[Iterable[Optional[str]]] = None) -> List[SavedRevision]:
        """Saves many documents in one transaction of their own (Batch.save_many in a batch
        that is committed, or aborted if a document fails: then nothing is saved)."""
        with self.database.batch() as batch:
            return batch.save_many(self, docs, concurrency=concurrency, parent_rev_ids=parent_rev_ids)

    def __getitem__(self, doc_id: str) -> Document:
        return self.get(doc_id)

    def __contains__(self, doc_id: str) -> bool:
        try:
            self.get(doc_id)
        except KeyError:
            return False
        return True

    def get_revision(self, doc_id: str, rev_id: str) -> Document:
        """Reads one revision by ID, current or not, while its body is kept (NotFoundError otherwise)."""
        return Document._take(_ffi.out_handle("p2p_collection_get_revision", self._handle, _ffi.text(doc_id),
                                              _ffi.text(rev_id)))

    def conflicts(self, doc_id: str) -> List[str]:
        """Revision IDs of the live conflicting leaves other than the current revision."""
        return json.loads(_ffi.out_text("p2p_collection_get_conflicts", self._handle, _ffi.text(doc_id)) or "[]")

    def set_expiration(self, doc_id: str, when: Optional[datetime]) -> None:
        """Purges the document automatically at `when` (timezone-aware); None clears it."""
        _ffi.call("p2p_collection_set_document_expiration", self._handle, _ffi.text(doc_id), _millis(when))

    def expiration(self, doc_id: str) -> Optional[datetime]:
        """When the document will be purged (timezone-aware UTC), or None."""
        ms = _ffi.out_int("p2p_collection_get_document_expiration", self._handle, _ffi.text(doc_id))
        return None if ms == 0 else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)

    def changes(self, since: int = 0, limit: int = 0) -> List[Change]:
        """Changes after sequence `since`, one per document, ascending (limit 0 = all)."""
        return _changes(_ffi.out_text("p2p_collection_changes", self._handle, since, limit))

    def iter_changes(self, since: int = 0, page_size: int = 500) -> Iterator[Change]:
        """Iterates over the changes feed page by page."""
        while True:
            page = self.changes(since, page_size)
            yield from page
            if len(page) < page_size:
                return
            since = page[-1].sequence

    def add_change_listener(self, listener: Callable[[ChangeEvent], None],
                            doc_id: Optional[str] = None) -> "Subscription":
        """Calls listener(event) on a library thread after each committed write to this
        collection (or only to `doc_id`). It must return quickly; exceptions are logged."""
        callback = _ffi.change_callback(lambda _token, text: listener(ChangeEvent._parse(text)))
        if doc_id is None:
            token = _ffi.out_handle("p2p_collection_add_change_listener", self._handle, callback, None)
        else:
            token = _ffi.out_handle("p2p_collection_add_document_change_listener", self._handle,
                                    _ffi.text(doc_id), callback, None)
        with self._lock:
            self._callbacks[token] = callback
        return Subscription(self, token)

    def create_index(self, name: str, expressions: List[str], *, full_text: bool = False,
                     language: Optional[str] = None, ignore_accents: bool = False) -> None:
        """Creates (or replaces, if its definition changed) the index `name` on SQL++
        expressions: a value index, or with full_text=True a full-text index for
        MATCH(name, 'terms') and RANK(name), as Couchbase Lite's ValueIndexConfiguration and
        FullTextIndexConfiguration. language "en" stems English words; ignore_accents folds
        diacritics. Same as the statement CREATE INDEX name ON coll(...) [USING FTS WITH {...}]."""
        text = f"CREATE INDEX {_quote_ident(name)} ON {self._from()}({', '.join(expressions)})"
        if full_text:
            text += " USING FTS WITH " + json.dumps({"language": language or "", "ignoreAccents": ignore_accents})
        elif language or ignore_accents:
            raise ValueError("language and ignore_accents apply to full-text indexes")
        self.database.query(text)

    def delete_index(self, name: str) -> None:
        """Drops the index `name` (value or full-text); NotFoundError if there is none."""
        self.database.query(f"DROP INDEX {_quote_ident(name)} ON {self._from()}")

    def _from(self) -> str:
        return f"{_quote_ident(self.scope)}.{_quote_ident(self.name)}"

    def change_queue(self, capacity: int = 0) -> "ChangeQueue":
        """A pull-style alternative to a listener: events wait in a bounded queue."""
        return ChangeQueue(self, _ffi.out_handle("p2p_collection_add_change_queue", self._handle, capacity))



def _quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class Subscription(_Handle):
    """A registered listener of a collection or a replicator (its owner). remove() (or
    close()) waits for calls in flight."""

    _closer = "p2p_subscription_remove"

    def __init__(self, owner: Any, token: int) -> None:
        super().__init__(token)
        self.owner = owner  # strong reference: the owner outlives the subscription

    @property
    def collection(self) -> Any:
        """The owner (kept for round-1 callers: the collection of a change listener)."""
        return self.owner

    def close(self) -> None:
        """Unregisters the listener or queue; idempotent. Waits for a callback in flight (unless
        called from inside it), so none runs after it returns."""
        super().close()
        self.owner._forget(self._handle)  # only now may the callback object go

    remove = close


class ChangeQueue(Subscription):
    """Events of a collection, read with next_event() or by iterating."""

    _parse: Callable[[str], Any] = staticmethod(ChangeEvent._parse)

    def next_event(self, timeout: float = 0.0) -> Optional[ChangeEvent]:
        """The next event, waiting up to `timeout` seconds; None on timeout."""
        text = _ffi.out_text("p2p_subscription_next_event", self._handle, max(0, int(timeout * 1000)))
        return None if text is None else self._parse(text)

    def events(self, timeout: float = 0.0) -> Iterator[ChangeEvent]:
        """Yields events until none arrives within `timeout` seconds."""
        while True:
            event = self.next_event(timeout)
            if event is None:
                return
            yield event

    def __iter__(self) -> Iterator[ChangeEvent]:
        return self.events()


class Batch(_Handle):
    """One write transaction: all of its writes land at commit(), or none do."""

    _closer = "p2p_batch_abort"

    def __init__(self, database: Database, handle: int) -> None:
        super().__init__(handle)
        self.database = database

    def save(self, collection: Collection, doc_id: str, body: Body, *, parent_rev_id: Optional[str] = None,
             concurrency: Concurrency = Concurrency.LAST_WRITE_WINS) -> Document:
        """Saves a revision inside the batch (visible to others when commit() returns)."""
        return Document._take(_ffi.out_handle("p2p_batch_save_document", self._handle, collection.handle,
                                              _ffi.text(doc_id), _ffi.text(_body_text(body)),
                                              _ffi.text(parent_rev_id), int(concurrency)))

    def save_many(self, collection: Collection, docs: Union[Mapping[str, Body], Iterable[Tuple[str, Body]]], *,
                  concurrency: Concurrency = Concurrency.LAST_WRITE_WINS,
                  parent_rev_ids: Optional[Iterable[Optional[str]]] = None) -> List[SavedRevision]:
        """Saves many documents inside the batch in one library call, in order, exactly as
        save() for each would. docs: (doc_id, body) pairs or a mapping of ID to body (dict
        or JSON object text); parent_rev_ids, if given, one entry per document (None: no
        parent). Returns what was saved, one SavedRevision per document.

        Saving stops at the first document that fails: its exception is raised with
        `saved` set to its index, the documents before it stay saved in the batch (which
        stays open, as after a failed save()), and the message starts with
        'document <index> ("<ID>"): '."""
        pairs = docs.items() if isinstance(docs, Mapping) else docs
        ids: List[Optional[bytes]] = []
        bodies: List[Optional[bytes]] = []
        for doc_id, body in pairs:
            ids.append(_ffi.text(doc_id))
            bodies.append(_ffi.text(_body_text(body)))
        parents = None
        if parent_rev_ids is not None:
            parents = [_ffi.text(p) for p in parent_rev_ids]
            if len(parents) != len(ids):
                raise ValueError(f"{len(parents)} parent_rev_ids for {len(ids)} documents")
        results = _ffi.save_documents(self._handle, collection.handle, ids, bodies, parents, int(concurrency))
        return [SavedRevision(r["id"], r["rev_id"], r["sequence"], r["version"]) for r in json.loads(results)]

    def delete(self, collection: Collection, doc_id: str, *, parent_rev_id: Optional[str] = None,
               concurrency: Concurrency = Concurrency.LAST_WRITE_WINS) -> Document:
        """Deletes a document inside the batch."""
        return Document._take(_ffi.out_handle("p2p_batch_delete_document", self._handle, collection.handle,
                                              _ffi.text(doc_id), _ffi.text(parent_rev_id), int(concurrency)))

    def purge(self, collection: Collection, doc_id: str) -> None:
        """Purges a document inside the batch."""
        _ffi.call("p2p_batch_purge_document", self._handle, collection.handle, _ffi.text(doc_id))

    def commit(self) -> None:
        """Makes every write durable; the batch ends either way."""
        if self.closed:
            raise InvalidHandleError(InvalidHandleError.code, message="batch has already ended")
        self._finalizer.detach()
        _ffi.call("p2p_batch_commit", self._handle)

    def abort(self) -> None:
        """Discards the writes; harmless on an ended batch."""
        self.close()

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None and not self.closed:
            self.commit()
        else:
            self.abort()
