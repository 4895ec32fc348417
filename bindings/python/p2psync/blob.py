"""Blobs: binary content stored beside the documents, named by its SHA-1 digest.

A document refers to a blob with its dictionary, anywhere in its body::

    {"@type": "blob", "content_type": "image/png", "digest": "sha1-...", "length": 1234}

Create a blob (``Blob.from_bytes``, ``Blob.from_path`` or ``db.blob_writer()``), put
``blob.properties`` into a document body and save the document. Read it back with
``db.get_blob(body["photo"])`` and ``blob.open()`` (a file-like object), ``blob.read()``
or ``blob.save_to(path)``. Content is streamed in chunks: nothing here holds a whole blob
in memory unless you ask for it with ``read()``. Reads verify the digest and the length
when they reach the end and raise CorruptError if the stored file was damaged.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import weakref
from ctypes import byref, c_size_t
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from . import _ffi

if TYPE_CHECKING:  # pragma: no cover
    from .database import Database

PathLike = Union[str, "os.PathLike[str]"]
BlobRef = Union["Blob", Dict[str, Any], str]


def _spec(blob: BlobRef) -> bytes:
    """The C API's `blob` argument: a dictionary as JSON, or a bare digest."""
    if isinstance(blob, Blob):
        blob = blob.properties
    if isinstance(blob, dict):
        return _ffi.text(json.dumps(blob, separators=(",", ":"), ensure_ascii=False)) or b""
    return _ffi.text(blob) or b""


class Blob:
    """A blob stored in a database: its dictionary plus the database to read it from.

    Instances are cheap descriptions (no handle is held); the content stays in the
    database until ``db.compact()`` removes it because no document refers to it."""

    def __init__(self, database: "Database", properties: Dict[str, Any]) -> None:
        self.database = database
        self._properties = dict(properties)

    @classmethod
    def from_bytes(cls, database: "Database", data: bytes, content_type: Optional[str] = None) -> "Blob":
        """Stores `data` as a blob."""
        buf = ctypes.c_char_p(bytes(data))
        text = _ffi.out_text("p2p_blob_create", database.handle, ctypes.cast(buf, ctypes.c_void_p), len(data),
                             _ffi.text(content_type))
        return cls(database, json.loads(text or "{}"))

    @classmethod
    def from_path(cls, database: "Database", path: PathLike, content_type: Optional[str] = None) -> "Blob":
        """Stores the content of the file at `path` as a blob (streamed by the library)."""
        text = _ffi.out_text("p2p_blob_create_from_file", database.handle, _ffi.text(os.fspath(path)),
                             _ffi.text(content_type))
        return cls(database, json.loads(text or "{}"))

    @property
    def properties(self) -> Dict[str, Any]:
        """The blob's dictionary, to put into a document body (a copy)."""
        return dict(self._properties)

    @property
    def digest(self) -> str:
        """The content digest, `sha1-<base64>`: the blob's identity."""
        return str(self._properties["digest"])

    @property
    def length(self) -> int:
        """The length of the content in bytes."""
        return int(self._properties.get("length", -1))

    @property
    def content_type(self) -> Optional[str]:
        """The MIME type given when the blob was made, or None."""
        return self._properties.get("content_type")

    def exists(self) -> bool:
        """True if the content is stored in the database."""
        return _ffi.out_flag("p2p_blob_exists", self.database.handle, _spec(self))

    def open(self) -> "BlobReader":
        """Opens the content for reading (NotFoundError if it is not stored)."""
        return BlobReader(self.database, _ffi.out_handle("p2p_blob_reader_open", self.database.handle,
                                                         _spec(self)))

    def read(self) -> bytes:
        """The whole content, verified (holds it in memory: prefer open() for large blobs)."""
        with self.open() as r:
            return r.read()

    def save_to(self, path: PathLike) -> None:
        """Writes the verified content to `path` (replaced only on success)."""
        _ffi.call("p2p_blob_save_to_file", self.database.handle, _spec(self), _ffi.text(os.fspath(path)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Blob({self.digest!r}, length={self.length}, content_type={self.content_type!r})"


class _BlobHandle(io.RawIOBase):
    """A blob writer or reader handle as a raw binary stream. close() is idempotent and
    raises on failure; a weakref.finalize is only the safety net."""

    _closer = ""

    def __init__(self, database: "Database", handle: int) -> None:
        super().__init__()
        self.database = database  # strong reference: the database outlives the handle
        self._handle = handle
        self._finalizer = weakref.finalize(self, _ffi.close_quietly, self._closer, handle)

    @property
    def handle(self) -> int:
        """The raw C handle (for diagnostics)."""
        return self._handle

    def __del__(self) -> None:
        # io.IOBase.__del__ would call close(), which raises on failure; the finalizer
        # is the one safety net, and it never raises.
        pass

    def close(self) -> None:
        if self._finalizer.alive:
            _ffi.call(self._closer, self._handle)
            self._finalizer.detach()
        super().close()


class BlobReader(_BlobHandle):
    """Reads a blob in chunks: read(n), readinto(buffer), iteration over chunks with
    shutil.copyfileobj, and so on. The end is reported only after the content was
    verified; a damaged blob raises CorruptError instead."""

    _closer = "p2p_blob_reader_close"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Reads up to len(buffer) bytes into `buffer`; returns the count (0 at the end)."""
        view = memoryview(buffer).cast("B")
        if len(view) == 0:
            return 0
        if self.closed:
            raise ValueError("I/O operation on closed blob reader")
        n = c_size_t(0)
        c_buf = (ctypes.c_char * len(view)).from_buffer(view)
        _ffi.call("p2p_blob_reader_read", self._handle, ctypes.addressof(c_buf), len(view), byref(n))
        return n.value

    @property
    def length(self) -> int:
        """The blob's length in bytes."""
        return _ffi.out_uint("p2p_blob_reader_length", self._handle)


class BlobWriter(_BlobHandle):
    """Writes a new blob in chunks. Call finish() to store it and get the Blob; closing
    (or leaving the ``with`` block) without finish() abandons it and stores nothing."""

    _closer = "p2p_blob_writer_close"

    def __init__(self, database: "Database", content_type: Optional[str] = None) -> None:
        super().__init__(database, _ffi.out_handle("p2p_blob_writer_create", database.handle,
                                                   _ffi.text(content_type)))
        self._blob: Optional[Blob] = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Appends bytes to the blob; returns the count written (all of them)."""
        if self.closed:
            raise ValueError("I/O operation on closed blob writer")
        view = memoryview(data).cast("B")
        if len(view) == 0:
            return 0
        if isinstance(data, bytes):
            chunk = ctypes.c_char_p(data)  # points at the bytes object itself: no copy
            ptr = ctypes.cast(chunk, ctypes.c_void_p)
        elif view.readonly:
            chunk = ctypes.c_char_p(view.tobytes())
            ptr = ctypes.cast(chunk, ctypes.c_void_p)
        else:
            chunk = (ctypes.c_char * len(view)).from_buffer(view)
            ptr = ctypes.c_void_p(ctypes.addressof(chunk))
        _ffi.call("p2p_blob_writer_write", self._handle, ptr, len(view))
        return len(view)

    def finish(self) -> Blob:
        """Stores the blob (durably, under its digest) and returns it. Put
        ``blob.properties`` into a document and save it."""
        if self._blob is None:
            text = _ffi.out_text("p2p_blob_writer_finish", self._handle)
            self._blob = Blob(self.database, json.loads(text or "{}"))
        return self._blob

    @property
    def blob(self) -> Optional[Blob]:
        """The blob once finish() succeeded, else None."""
        return self._blob
