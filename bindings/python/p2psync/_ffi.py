"""The one module of p2psync that touches ctypes.

It loads libp2psync, declares argtypes/restype for every exported function from one
table (kept in header order and checked against include/p2psync.exports by a test),
checks the ABI version, and offers a few typed helpers so that the public classes
never handle C memory themselves.

Library lookup order: $P2PSYNC_LIBRARY (must load; no fall-through), then
libp2psync.so beside this package, then ctypes.util.find_library("p2psync").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_int32, c_int64, c_uint8,
                    c_uint32, c_uint64, c_void_p)
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import error_for

ABI_VERSION = 1  # P2P_ABI_VERSION this binding was written for

log = logging.getLogger("p2psync")


class Error(Structure):
    """p2p_error. `message` is library-owned: c_void_p so it survives until disposed."""

    _fields_ = [("code", c_int32), ("domain", c_int32), ("message", c_void_p)]


class DbOptions(Structure):
    """p2p_db_options (version 1.0 layout; struct_size tells the library which)."""

    _fields_ = [("struct_size", c_uint32), ("create", c_uint8), ("max_rev_tree_depth", c_uint32)]


# typedef void (*p2p_change_fn)(p2p_subscription token, const char *event_json, void *user_data);
ChangeFn = CFUNCTYPE(None, c_uint64, c_char_p, c_void_p)

_handle = c_uint64
_out_handle = POINTER(c_uint64)
_out_text = POINTER(c_void_p)  # char ** whose result is freed with p2p_free
_err = POINTER(Error)

# Every exported function, in header order: name -> (argtypes, restype).
SIGNATURES: Dict[str, Tuple[List[Any], Any]] = {
    # versions, handles, status, errors, memory
    "p2p_abi_version": ([], c_uint32),
    "p2p_version": ([], c_char_p),
    "p2p_debug_live_handles": ([], c_uint64),
    "p2p_status_string": ([c_int32], c_char_p),
    "p2p_error_dispose": ([_err], None),
    "p2p_free": ([c_void_p], None),
    # database
    "p2p_db_options_init": ([POINTER(DbOptions), _err], c_int32),
    "p2p_db_open": ([c_char_p, POINTER(DbOptions), _out_handle, _err], c_int32),
    "p2p_db_close": ([_handle, _err], c_int32),
    "p2p_db_delete": ([c_char_p, _err], c_int32),
    "p2p_db_exists": ([c_char_p, POINTER(c_uint8), _err], c_int32),
    "p2p_db_name": ([_handle, _out_text, _err], c_int32),
    "p2p_db_path": ([_handle, _out_text, _err], c_int32),
    "p2p_db_uuid": ([_handle, _out_text, _err], c_int32),
    # collections
    "p2p_db_default_collection": ([_handle, _out_handle, _err], c_int32),
    "p2p_db_create_collection": ([_handle, c_char_p, c_char_p, _out_handle, _err], c_int32),
    "p2p_db_get_collection": ([_handle, c_char_p, c_char_p, _out_handle, _err], c_int32),
    "p2p_db_delete_collection": ([_handle, c_char_p, c_char_p, _err], c_int32),
    "p2p_db_collection_names": ([_handle, c_char_p, _out_text, _err], c_int32),
    "p2p_db_scope_names": ([_handle, _out_text, _err], c_int32),
    "p2p_collection_close": ([_handle, _err], c_int32),
    "p2p_collection_scope_name": ([_handle, _out_text, _err], c_int32),
    "p2p_collection_name": ([_handle, _out_text, _err], c_int32),
    "p2p_collection_count": ([_handle, POINTER(c_uint64), _err], c_int32),
    "p2p_collection_last_sequence": ([_handle, POINTER(c_uint64), _err], c_int32),
    # documents
    "p2p_collection_save_document": ([_handle, c_char_p, c_char_p, c_char_p, c_uint8, _out_handle, _err], c_int32),
    "p2p_collection_delete_document": ([_handle, c_char_p, c_char_p, c_uint8, _out_handle, _err], c_int32),
    "p2p_collection_purge_document": ([_handle, c_char_p, _err], c_int32),
    "p2p_collection_get_document": ([_handle, c_char_p, c_uint8, _out_handle, _err], c_int32),
    "p2p_collection_get_revision": ([_handle, c_char_p, c_char_p, _out_handle, _err], c_int32),
    "p2p_collection_get_conflicts": ([_handle, c_char_p, _out_text, _err], c_int32),
    "p2p_collection_set_document_expiration": ([_handle, c_char_p, c_int64, _err], c_int32),
    "p2p_collection_get_document_expiration": ([_handle, c_char_p, POINTER(c_int64), _err], c_int32),
    "p2p_document_close": ([_handle, _err], c_int32),
    "p2p_document_json": ([_handle, _out_text, _err], c_int32),
    "p2p_document_id": ([_handle, _out_text, _err], c_int32),
    "p2p_document_rev_id": ([_handle, _out_text, _err], c_int32),
    "p2p_document_sequence": ([_handle, POINTER(c_uint64), _err], c_int32),
    "p2p_document_deleted": ([_handle, POINTER(c_uint8), _err], c_int32),
    # local documents
    "p2p_db_get_local": ([_handle, c_char_p, _out_text, _out_text, _err], c_int32),
    "p2p_db_put_local": ([_handle, c_char_p, c_char_p, c_char_p, _out_text, _err], c_int32),
    "p2p_db_delete_local": ([_handle, c_char_p, _err], c_int32),
    # batches
    "p2p_db_begin_batch": ([_handle, _out_handle, _err], c_int32),
    "p2p_batch_save_document": ([_handle, _handle, c_char_p, c_char_p, c_char_p, c_uint8, _out_handle, _err], c_int32),
    "p2p_batch_delete_document": ([_handle, _handle, c_char_p, c_char_p, c_uint8, _out_handle, _err], c_int32),
    "p2p_batch_purge_document": ([_handle, _handle, c_char_p, _err], c_int32),
    "p2p_batch_commit": ([_handle, _err], c_int32),
    "p2p_batch_abort": ([_handle, _err], c_int32),
    # changes
    "p2p_collection_changes": ([_handle, c_uint64, c_uint32, _out_text, _err], c_int32),
    "p2p_collection_add_change_listener": ([_handle, ChangeFn, c_void_p, _out_handle, _err], c_int32),
    "p2p_collection_add_document_change_listener": ([_handle, c_char_p, ChangeFn, c_void_p, _out_handle, _err], c_int32),
    "p2p_collection_add_change_queue": ([_handle, c_uint32, _out_handle, _err], c_int32),
    "p2p_subscription_next_event": ([_handle, c_uint32, _out_text, _err], c_int32),
    "p2p_subscription_remove": ([_handle, _err], c_int32),
}


def _load() -> ctypes.CDLL:
    explicit = os.environ.get("P2PSYNC_LIBRARY")
    if explicit:
        return ctypes.CDLL(explicit)  # a wrong explicit path fails loudly
    beside = Path(__file__).resolve().parent / "libp2psync.so"
    found = str(beside) if beside.exists() else ctypes.util.find_library("p2psync")
    if found is None:
        raise ImportError("libp2psync not found: set P2PSYNC_LIBRARY to the path of libp2psync.so")
    return ctypes.CDLL(found)


def _declare(lib: ctypes.CDLL) -> None:
    for name, (argtypes, restype) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype


lib = _load()
_declare(lib)
if lib.p2p_abi_version() != ABI_VERSION:
    raise ImportError(f"libp2psync ABI version {lib.p2p_abi_version()} does not match the binding's "
                      f"{ABI_VERSION}: install matching versions")


# ------------------------------------------------------------------ text

def text(value: Optional[str]) -> Optional[bytes]:
    """Encodes text for the C API. Lone surrogates (from undecodable file names) are kept
    as their original bytes, so the library can reject them as bad UTF-8."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if "\0" in value:  # C text would silently end there
        raise error_for(-1, 1, -1, "text contains a NUL character")
    return value.encode("utf-8", "surrogateescape")


def _take_text(ptr: c_void_p) -> Optional[str]:
    """Copies library-owned text and frees it."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.p2p_free(ptr)


# ------------------------------------------------------------------ calls

def call(name: str, *args: Any) -> None:
    """Calls `name` with args plus an error out-parameter; raises the mapped exception."""
    err = Error()
    status = getattr(lib, name)(*args, byref(err))
    if status != 0:
        try:
            message = ctypes.string_at(err.message).decode("utf-8", "replace") if err.message else ""
            raise error_for(status, err.domain, err.code, message)
        finally:
            lib.p2p_error_dispose(byref(err))


def out_handle(name: str, *args: Any) -> int:
    """Calls a function whose last out-parameter is a handle."""
    out = c_uint64(0)
    call(name, *args, byref(out))
    return out.value


def out_text(name: str, *args: Any) -> Optional[str]:
    """Calls a function whose last out-parameter is library-owned text (None if NULL)."""
    out = c_void_p()
    call(name, *args, byref(out))
    return _take_text(out)


def out_texts(name: str, *args: Any, count: int = 2) -> List[Optional[str]]:
    """Calls a function ending in `count` text out-parameters."""
    outs = [c_void_p() for _ in range(count)]
    call(name, *args, *[byref(o) for o in outs])
    return [_take_text(o) for o in outs]


def out_uint(name: str, *args: Any) -> int:
    out = c_uint64(0)
    call(name, *args, byref(out))
    return out.value


def out_int(name: str, *args: Any) -> int:
    out = c_int64(0)
    call(name, *args, byref(out))
    return out.value


def out_flag(name: str, *args: Any) -> bool:
    out = c_uint8(0)
    call(name, *args, byref(out))
    return out.value != 0


def close_quietly(name: str, handle: int) -> None:
    """Safety-net close for finalizers: never raises."""
    try:
        getattr(lib, name)(handle, None)
    except Exception:  # pragma: no cover - interpreter shutdown
        pass


def db_options(create: bool, max_rev_tree_depth: int) -> Any:
    """A filled p2p_db_options, passed by reference (the reference keeps it alive)."""
    opts = DbOptions()
    call("p2p_db_options_init", byref(opts))
    opts.create = 1 if create else 0
    opts.max_rev_tree_depth = max_rev_tree_depth
    return byref(opts)


def change_callback(fn: Callable[[int, str], None]) -> Any:
    """Wraps fn(token, event_json) as a p2p_change_fn. Exceptions from user code are
    logged, never propagated into the library thread. The caller keeps the returned
    object alive until the subscription is removed."""

    def trampoline(token: int, event_json: bytes, _user_data: Any) -> None:
        try:
            fn(token, event_json.decode("utf-8"))
        except BaseException:  # noqa: BLE001 - nothing may cross into C
            log.exception("p2psync change listener raised")

    return ChangeFn(trampoline)


def live_handles() -> int:
    """Number of live handles of every kind (p2p_debug_live_handles)."""
    return int(lib.p2p_debug_live_handles())


def abi_version() -> int:
    return int(lib.p2p_abi_version())


def version() -> str:
    return lib.p2p_version().decode("ascii")


def status_string(status: int) -> str:
    return lib.p2p_status_string(status).decode("ascii")
