"""p2psync — Python binding of libp2psync, an embeddable peer-to-peer JSON document
database with sync.

    >>> import os, tempfile
    >>> from p2psync import Database
    >>> with Database(os.path.join(tempfile.mkdtemp(), "notes")) as db, db.default_collection() as notes:
    ...     doc = notes.save("note-1", {"text": "hello"})
    ...     print(notes.get("note-1").body, doc.rev_id.startswith("1-"), list(notes))
    {'text': 'hello'} True ['note-1']

(The examples in these docstrings run as tests: tests/python/test_docs.py.)

The shared library is found through $P2PSYNC_LIBRARY, then libp2psync.so beside this
package, then the system library path.
"""

from . import _ffi, log
from .blob import Blob, BlobReader, BlobWriter
from .database import (Batch, Change, ChangeEvent, ChangeQueue, Collection, Concurrency, Database, Document,
                       Query, SavedRevision, Subscription)
from .errors import (AuthError, BusyError, CancelledError, ConflictError, CorruptError, ForkedError,
                     InternalError, InvalidArgumentError, InvalidHandleError, IoError, NetworkError, NotFoundError,
                     P2PSyncError, ProtocolError, TimedOutError, TLSClientCertError, TLSError, TLSExpiredError,
                     TLSHostnameError, TLSPinMismatchError, TLSUntrustedError, TLSVersionError, UnsupportedError,
                     WrongPasswordError)
from .replication import (Conflict, DocumentEvent, Listener, ListenerConnection, ListenerStatus, OverflowEvent,
                          ReplicatedDocument,
                          ReplicationCollection, ReplicationDocument, Replicator, ReplicatorEventQueue,
                          ReplicatorStats, ReplicatorStatus, ReplicatorType, Resolution, TrustMode)
from .security import Identity, KeyType, Keystore, Usage, certificate_fingerprint, normalize_fingerprint

ABI_VERSION = _ffi.ABI_VERSION


def library_version() -> str:
    """Version of the loaded libp2psync, e.g. "2.0.0"."""
    return _ffi.version()


def abi_version() -> int:
    """ABI version of the loaded libp2psync."""
    return _ffi.abi_version()


def live_handles() -> int:
    """Number of live library objects (for leak checks in tests)."""
    return _ffi.live_handles()


__all__ = [
    "ABI_VERSION", "AuthError", "Batch", "Blob", "BlobReader", "BlobWriter", "BusyError", "CancelledError", "Change", "ChangeEvent", "ChangeQueue",
    "Collection", "Concurrency", "Conflict", "ConflictError", "CorruptError", "Database", "Document",
    "DocumentEvent", "ForkedError", "Identity", "InternalError", "InvalidArgumentError", "InvalidHandleError", "IoError",
    "KeyType", "Keystore", "Listener", "ListenerConnection", "ListenerStatus", "NetworkError", "NotFoundError",
    "OverflowEvent",
    "P2PSyncError", "ProtocolError", "Query", "ReplicatedDocument", "ReplicationCollection", "ReplicationDocument",
    "Replicator", "ReplicatorEventQueue", "ReplicatorStats", "ReplicatorStatus", "ReplicatorType", "Resolution", "SavedRevision",
    "Subscription",
    "TLSClientCertError", "TLSError", "TLSExpiredError", "TLSHostnameError", "TLSPinMismatchError",
    "TLSUntrustedError", "TLSVersionError", "TimedOutError", "TrustMode", "UnsupportedError", "Usage",
    "WrongPasswordError", "abi_version", "log", "library_version", "live_handles",
    "certificate_fingerprint", "normalize_fingerprint",
]
