"""The one module of p2psync that touches ctypes.

It loads libp2psync, declares argtypes/restype for every exported function from one
table (kept in header order and checked against include/p2psync.exports by a test),
checks the ABI version, and offers a few typed helpers so that the public classes
never handle C memory themselves.

Library lookup order: $P2PSYNC_LIBRARY (must load; no fall-through), then
libp2psync.so beside this package, then ctypes.util.find_library("p2psync"), then
the dynamic loader's own search for libp2psync.so.<ABI> (LD_LIBRARY_PATH, ld.so.cache).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_int32, c_int64, c_size_t, c_uint8,
                    c_uint16, c_uint32, c_uint64, c_void_p)
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import DOMAIN_LIBRARY, ForkedError, error_for

ABI_VERSION = 2  # P2P_ABI_VERSION this binding was written for

log = logging.getLogger("p2psync")


class Error(Structure):
    """p2p_error. `message` is library-owned: c_void_p so it survives until disposed."""

    _fields_ = [("code", c_int32), ("domain", c_int32), ("message", c_void_p)]


# Options structs (ABI 2 layouts; tests/c/abi_layout.golden holds them and
# tests/python/test_ffi.py checks these classes against it). Every default is zero and
# struct_size, set by the *_init functions, tells the library which layout it reads.

class DbOptions(Structure):
    """p2p_db_options."""

    _fields_ = [("struct_size", c_uint32), ("max_rev_tree_depth", c_uint32), ("disable_create", c_uint8),
                ("disable_delta_sync", c_uint8), ("reserved", c_uint8 * 6)]


# typedef void (*p2p_change_fn)(p2p_subscription token, const char *event_json, void *user_data);
ChangeFn = CFUNCTYPE(None, c_uint64, c_char_p, c_void_p)
# typedef void (*p2p_replicator_event_fn)(p2p_subscription, const char *event_json, void *user_data);
ReplicatorEventFn = ChangeFn
# typedef void (*p2p_query_listener_fn)(p2p_subscription, const char *event_json, void *user_data);
QueryListenerFn = ChangeFn
# typedef uint8_t (*p2p_password_auth_fn)(const char *username, const char *password, void *user_data);
PasswordAuthFn = CFUNCTYPE(c_uint8, c_char_p, c_char_p, c_void_p)
# typedef uint8_t (*p2p_client_cert_auth_fn)(const char *chain_pem, void *user_data);
ClientCertAuthFn = CFUNCTYPE(c_uint8, c_char_p, c_void_p)
# typedef uint8_t (*p2p_replication_filter_fn)(const char *collection, const char *doc_id,
#     const char *rev_id, uint8_t deleted, const char *body_json, void *user_data);
FilterFn = CFUNCTYPE(c_uint8, c_char_p, c_char_p, c_char_p, c_uint8, c_char_p, c_void_p)
# typedef uint8_t (*p2p_conflict_resolver_fn)(const char *collection, const char *doc_id,
#     const char *local_json, const char *remote_json, char **out_merged_json, void *user_data);
ResolverFn = CFUNCTYPE(c_uint8, c_char_p, c_char_p, c_char_p, c_char_p, POINTER(c_void_p), c_void_p)
# typedef void (*p2p_log_fn)(uint32_t level, uint32_t domain, const char *message, void *user_data);
LogFn = CFUNCTYPE(None, c_uint32, c_uint32, c_char_p, c_void_p)


class TlsIdentityOptions(Structure):
    """p2p_tls_identity_options."""

    _fields_ = [("struct_size", c_uint32), ("validity_days", c_uint32), ("issuer", c_uint64),
                ("common_name", c_char_p), ("organization", c_char_p), ("organizational_unit", c_char_p),
                ("country", c_char_p), ("locality", c_char_p), ("province", c_char_p),
                ("subject_alt_names_json", c_char_p), ("key_type", c_uint8), ("usage", c_uint8), ("is_ca", c_uint8),
                ("reserved", c_uint8 * 5)]


class ListenerOptions(Structure):
    """p2p_listener_options."""

    _fields_ = [("struct_size", c_uint32), ("collection_count", c_uint32), ("collections", POINTER(c_uint64)),
                ("network_interface", c_char_p), ("port", c_uint16), ("read_only", c_uint8),
                ("disable_tls", c_uint8), ("enable_delta_sync", c_uint8), ("disable_version_vectors", c_uint8),
                ("reserved1", c_uint8 * 2),
                ("identity", c_uint64), ("credentials_json", c_char_p),
                ("password_auth", PasswordAuthFn), ("password_auth_user_data", c_void_p),
                ("client_cert_roots_pem", c_char_p), ("client_cert_auth", ClientCertAuthFn),
                ("client_cert_auth_user_data", c_void_p), ("max_message_size", c_uint64),
                ("max_connection_buffer", c_uint64), ("max_connections", c_uint32), ("reserved2", c_uint32),
                ("max_checkpoint_size", c_int32), ("max_peer_checkpoints", c_int32)]


class ReplicationCollection(Structure):
    """p2p_replication_collection."""

    _fields_ = [("struct_size", c_uint32), ("reserved1", c_uint32), ("collection", c_uint64),
                ("doc_ids_json", c_char_p), ("channels_json", c_char_p), ("push_filter", FilterFn),
                ("push_filter_user_data", c_void_p), ("pull_filter", FilterFn), ("pull_filter_user_data", c_void_p),
                ("conflict_resolver", ResolverFn), ("conflict_resolver_user_data", c_void_p)]


class ReplicatorOptions(Structure):
    """p2p_replicator_options."""

    _fields_ = [("struct_size", c_uint32), ("collection_count", c_uint32),
                ("collections", POINTER(ReplicationCollection)), ("url", c_char_p), ("headers_json", c_char_p),
                ("username", c_char_p), ("password", c_char_p), ("client_identity", c_uint64),
                ("trusted_roots_pem", c_char_p), ("pinned_certificate_pem", c_char_p),
                ("pinned_fingerprint", c_char_p), ("server_name", c_char_p), ("max_message_size", c_uint64),
                ("max_connection_buffer", c_uint64), ("heartbeat_ms", c_uint32), ("max_attempts", c_int32),
                ("max_attempt_wait_ms", c_uint32), ("retry_base_ms", c_uint32), ("type", c_uint8),
                ("trust_mode", c_uint8), ("continuous", c_uint8), ("disable_auto_purge", c_uint8),
                ("enable_delta_sync", c_uint8), ("disable_version_vectors", c_uint8),
                ("reserved1", c_uint8 * 2)]


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
    "p2p_strdup": ([c_char_p], c_void_p),
    # database
    "p2p_db_options_init": ([POINTER(DbOptions), c_size_t, _err], c_int32),
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
    # TLS identities
    "p2p_tls_identity_options_init": ([POINTER(TlsIdentityOptions), c_size_t, _err], c_int32),
    "p2p_tls_identity_create": ([POINTER(TlsIdentityOptions), _out_handle, _err], c_int32),
    "p2p_tls_identity_import_pkcs12": ([c_char_p, c_size_t, c_char_p, _out_handle, _err], c_int32),
    "p2p_tls_identity_export_pkcs12": ([_handle, c_char_p, POINTER(c_void_p), POINTER(c_size_t), _err], c_int32),
    "p2p_tls_identity_import_pem": ([c_char_p, c_char_p, c_char_p, _out_handle, _err], c_int32),
    "p2p_tls_identity_export_pem": ([_handle, c_char_p, _out_text, _out_text, _err], c_int32),
    "p2p_tls_identity_fingerprint": ([_handle, _out_text, _err], c_int32),
    "p2p_tls_identity_not_after": ([_handle, POINTER(c_int64), _err], c_int32),
    "p2p_tls_identity_chain_pem": ([_handle, _out_text, _err], c_int32),
    "p2p_tls_certificate_fingerprint": ([c_char_p, _out_text, _err], c_int32),
    "p2p_tls_fingerprint_normalize": ([c_char_p, _out_text, _err], c_int32),
    "p2p_tls_identity_close": ([_handle, _err], c_int32),
    # keystores
    "p2p_keystore_open": ([c_char_p, c_char_p, _out_handle, _err], c_int32),
    "p2p_keystore_store": ([_handle, c_char_p, _handle, _err], c_int32),
    "p2p_keystore_get": ([_handle, c_char_p, _out_handle, _err], c_int32),
    "p2p_keystore_list": ([_handle, _out_text, _err], c_int32),
    "p2p_keystore_delete": ([_handle, c_char_p, _err], c_int32),
    "p2p_keystore_close": ([_handle, _err], c_int32),
    # listener
    "p2p_listener_options_init": ([POINTER(ListenerOptions), c_size_t, _err], c_int32),
    "p2p_listener_create": ([_handle, POINTER(ListenerOptions), _out_handle, _err], c_int32),
    "p2p_listener_start": ([_handle, _err], c_int32),
    "p2p_listener_stop": ([_handle, _err], c_int32),
    "p2p_listener_port": ([_handle, POINTER(c_uint16), _err], c_int32),
    "p2p_listener_urls": ([_handle, _out_text, _err], c_int32),
    "p2p_listener_status": ([_handle, _out_text, _err], c_int32),
    "p2p_listener_tls_identity": ([_handle, _out_handle, _err], c_int32),
    "p2p_listener_close": ([_handle, _err], c_int32),
    # replicator
    "p2p_replication_collection_init": ([POINTER(ReplicationCollection), c_size_t, _err], c_int32),
    "p2p_replicator_options_init": ([POINTER(ReplicatorOptions), c_size_t, _err], c_int32),
    "p2p_replicator_create": ([_handle, POINTER(ReplicatorOptions), _out_handle, _err], c_int32),
    "p2p_replicator_start": ([_handle, c_uint8, _err], c_int32),
    "p2p_replicator_stop": ([_handle, _err], c_int32),
    "p2p_replicator_status": ([_handle, _out_text, _err], c_int32),
    "p2p_replicator_stats": ([_handle, _out_text, _err], c_int32),
    "p2p_replicator_add_status_listener": ([_handle, ReplicatorEventFn, c_void_p, _out_handle, _err], c_int32),
    "p2p_replicator_add_document_listener": ([_handle, ReplicatorEventFn, c_void_p, _out_handle, _err], c_int32),
    "p2p_replicator_add_event_queue": ([_handle, c_uint32, _out_handle, _err], c_int32),
    "p2p_replicator_pending_document_ids": ([_handle, _handle, _out_text, _err], c_int32),
    "p2p_replicator_is_document_pending": ([_handle, _handle, c_char_p, POINTER(c_uint8), _err], c_int32),
    "p2p_replicator_server_certificate": ([_handle, _out_text, _err], c_int32),
    "p2p_replicator_close": ([_handle, _err], c_int32),
    # blobs
    "p2p_blob_create": ([_handle, c_void_p, c_size_t, c_char_p, _out_text, _err], c_int32),
    "p2p_blob_create_from_file": ([_handle, c_char_p, c_char_p, _out_text, _err], c_int32),
    "p2p_blob_writer_create": ([_handle, c_char_p, _out_handle, _err], c_int32),
    "p2p_blob_writer_write": ([_handle, c_void_p, c_size_t, _err], c_int32),
    "p2p_blob_writer_finish": ([_handle, _out_text, _err], c_int32),
    "p2p_blob_writer_close": ([_handle, _err], c_int32),
    "p2p_blob_reader_open": ([_handle, c_char_p, _out_handle, _err], c_int32),
    "p2p_blob_reader_read": ([_handle, c_void_p, c_size_t, POINTER(c_size_t), _err], c_int32),
    "p2p_blob_reader_length": ([_handle, POINTER(c_uint64), _err], c_int32),
    "p2p_blob_reader_close": ([_handle, _err], c_int32),
    "p2p_blob_save_to_file": ([_handle, c_char_p, c_char_p, _err], c_int32),
    "p2p_blob_info": ([_handle, c_char_p, _out_text, _err], c_int32),
    "p2p_blob_exists": ([_handle, c_char_p, POINTER(c_uint8), _err], c_int32),
    "p2p_db_compact": ([_handle, _out_text, _err], c_int32),
    # logging
    "p2p_log_set_callback": ([c_uint32, c_uint32, LogFn, c_void_p, _err], c_int32),
    "p2p_log_set_console": ([c_uint32, c_uint32, _err], c_int32),
    "p2p_log_settings": ([_out_text, _err], c_int32),
    # queries
    "p2p_query_prepare": ([_handle, c_char_p, _out_handle, _err], c_int32),
    "p2p_query_columns": ([_handle, _out_text, _err], c_int32),
    "p2p_query_execute": ([_handle, c_char_p, _err], c_int32),
    "p2p_query_next": ([_handle, _out_text, _err], c_int32),
    "p2p_query_explain": ([_handle, _out_text, _err], c_int32),
    "p2p_query_close": ([_handle, _err], c_int32),
    # versions
    "p2p_document_version": ([_handle, _out_text, _err], c_int32),
    "p2p_document_timestamp": ([_handle, POINTER(c_uint64), _err], c_int32),
    "p2p_document_version_vector": ([_handle, _out_text, _err], c_int32),
    "p2p_db_source_id": ([_handle, _out_text, _err], c_int32),
    "p2p_query_add_listener": ([_handle, c_char_p, ChangeFn, c_void_p, _out_handle, _err], c_int32),
    # bulk documents
    "p2p_batch_save_documents": ([_handle, _handle, c_size_t, POINTER(c_char_p), POINTER(c_char_p),
                                  POINTER(c_char_p), c_uint8, POINTER(c_size_t), _out_text, _err], c_int32),
    "p2p_collection_get_documents": ([_handle, c_size_t, POINTER(c_char_p), c_uint8, _out_text, _err], c_int32),
}


def _load() -> ctypes.CDLL:
    explicit = os.environ.get("P2PSYNC_LIBRARY")
    if explicit:
        try:
            return ctypes.CDLL(explicit)  # a wrong explicit path fails loudly: no fall-through
        except OSError as e:
            raise ImportError(f"cannot load libp2psync from P2PSYNC_LIBRARY: {e}") from e
    beside = Path(__file__).resolve().parent / "libp2psync.so"
    if beside.exists():
        return ctypes.CDLL(str(beside))
    found = ctypes.util.find_library("p2psync")
    if found is not None:
        return ctypes.CDLL(found)
    # find_library needs ldconfig's cache or a compiler; the dynamic loader itself also
    # searches LD_LIBRARY_PATH and its default directories.
    soname = f"libp2psync.so.{ABI_VERSION}"
    try:
        return ctypes.CDLL(soname)
    except OSError:
        raise ImportError(f"libp2psync not found: no libp2psync.so beside the package, and the system cannot "
                          f"find {soname} (after `make install PREFIX=DIR`, set LD_LIBRARY_PATH=DIR/lib or run "
                          f"ldconfig); or set P2PSYNC_LIBRARY to its path") from None


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


# ------------------------------------------------------------------ fork

# The library's Go runtime does not survive fork(): in a child process forked after the
# library was loaded, every C call that returns a status fails with P2P_ERR_FORKED (the C
# side checks this itself). The binding marks such a child too, so that it raises
# ForkedError before calling into the library at all, with advice written for Python.
FORKED_MESSAGE = ("p2psync cannot be used in a process forked after it was imported: the Go runtime inside "
                  "libp2psync does not survive a fork. Use multiprocessing.get_context(\"spawn\") (or "
                  "\"forkserver\", without preloading p2psync in the server), or import p2psync only in the "
                  "child processes, not in the parent before it forks")
_forked = False


def _mark_forked() -> None:
    global _forked
    _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


def forked() -> bool:
    """True in a child process forked after p2psync was imported (where it cannot work)."""
    return _forked


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
    if _forked:
        raise ForkedError(ForkedError.code, DOMAIN_LIBRARY, ForkedError.code, FORKED_MESSAGE)
    err = Error()
    status = getattr(lib, name)(*args, byref(err))
    if status != 0:
        try:
            message = ctypes.string_at(err.message).decode("utf-8", "replace") if err.message else ""
            raise error_for(status, err.domain, err.code, message)
        finally:
            lib.p2p_error_dispose(byref(err))


def text_array(values: List[Optional[bytes]]) -> Any:
    """A C array of char * (each entry bytes or None), for the bulk calls."""
    return (c_char_p * len(values))(*values)


def save_documents(batch: int, coll: int, ids: List[Optional[bytes]], bodies: List[Optional[bytes]],
                   parents: Optional[List[Optional[bytes]]], concurrency: int) -> str:
    """p2p_batch_save_documents; returns the results JSON. A failure raises the mapped
    exception with `saved` set to the number of documents this call saved before it."""
    saved = c_size_t(0)
    out = c_void_p()
    parent_array = text_array(parents) if parents is not None else None
    try:
        call("p2p_batch_save_documents", batch, coll, len(ids), text_array(ids), text_array(bodies), parent_array,
             concurrency, byref(saved), byref(out))
    except Exception as e:
        e.saved = saved.value  # type: ignore[attr-defined]
        raise
    return _take_text(out) or "[]"


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


def close_quietly(name: str, handle: int, *keep_alive: Any) -> None:
    """Safety-net close for finalizers: never raises. keep_alive holds objects (callbacks)
    the library may still call until the close returns. In a forked child it does nothing:
    the handle belongs to the parent."""
    if _forked:
        return
    try:
        getattr(lib, name)(handle, None)
    except Exception:  # pragma: no cover - interpreter shutdown
        pass


def db_options(create: bool, max_rev_tree_depth: int, delta_sync: bool = True) -> Any:
    """A filled p2p_db_options, passed by reference (the reference keeps it alive)."""
    opts = init_struct("p2p_db_options_init", DbOptions)
    opts.disable_create = 0 if create else 1
    opts.max_rev_tree_depth = max_rev_tree_depth
    opts.disable_delta_sync = 0 if delta_sync else 1
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


def out_bytes(name: str, *args: Any) -> bytes:
    """Calls a function ending in (uint8_t **out_data, size_t *out_len); frees the data."""
    data, size = c_void_p(), c_size_t(0)
    call(name, *args, byref(data), byref(size))
    try:
        return ctypes.string_at(data.value, size.value) if data.value else b""
    finally:
        lib.p2p_free(data)


def out_port(name: str, *args: Any) -> int:
    out = c_uint16(0)
    call(name, *args, byref(out))
    return out.value


def init_struct(name: str, struct_type: Any) -> Any:
    """A struct filled by its *_init function (zero defaults, struct_size = its size)."""
    value = struct_type()
    call(name, byref(value), ctypes.sizeof(value))
    return value


def handle_array(handles: List[int]) -> Any:
    """A C array of handles (keep the returned object alive for the call)."""
    return (c_uint64 * len(handles))(*handles)


def struct_array(struct_type: Any, items: List[Any]) -> Any:
    return (struct_type * len(items))(*items)


def _guarded(kind: str, refused: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Runs fn; any exception from user code is logged and becomes `refused`."""

    def call_user(*args: Any) -> Any:
        try:
            return fn(*args)
        except BaseException:  # noqa: BLE001 - nothing may cross into C
            log.exception("p2psync %s raised; treated as a refusal", kind)
            return refused

    return call_user


def password_auth_callback(fn: Callable[[str, str], bool]) -> Any:
    check = _guarded("password authenticator", False, fn)
    return PasswordAuthFn(lambda user, password, _ud: 1 if check(user.decode("utf-8"), password.decode("utf-8"))
                          else 0)


def client_cert_auth_callback(fn: Callable[[str], bool]) -> Any:
    check = _guarded("client-certificate authenticator", False, fn)
    return ClientCertAuthFn(lambda chain, _ud: 1 if check(chain.decode("utf-8")) else 0)


DOC_DELETED = 1  # P2P_DOC_DELETED
DOC_ACCESS_REMOVED = 2  # P2P_DOC_ACCESS_REMOVED


def filter_callback(fn: Callable[[str, str, str, bool, str, bool], bool]) -> Any:
    check = _guarded("replication filter", False, fn)

    def trampoline(coll: bytes, doc_id: bytes, rev_id: bytes, flags: int, body: bytes, _ud: Any) -> int:
        return 1 if check(coll.decode("utf-8"), doc_id.decode("utf-8"), rev_id.decode("utf-8"),
                          flags & DOC_DELETED != 0, body.decode("utf-8"), flags & DOC_ACCESS_REMOVED != 0) else 0

    return FilterFn(trampoline)


RESOLVE_FAILED = 255  # any value other than P2P_RESOLVE_*: the resolver failed


def resolver_callback(fn: Callable[[str, str, Optional[str], Optional[str]], Tuple[int, Optional[str]]]) -> Any:
    """fn(collection, doc_id, local_json, remote_json) -> (P2P_RESOLVE_*, merged_json or None).
    The merged text is handed to the library through p2p_strdup (it takes ownership)."""

    def resolve(coll: bytes, doc_id: bytes, local: Optional[bytes], remote: Optional[bytes], out_merged: Any,
                _ud: Any) -> int:
        decision, merged = fn(coll.decode("utf-8"), doc_id.decode("utf-8"),
                              None if local is None else local.decode("utf-8"),
                              None if remote is None else remote.decode("utf-8"))
        if merged is not None:
            out_merged[0] = lib.p2p_strdup(text(merged))
        return int(decision)

    return ResolverFn(_guarded("conflict resolver", RESOLVE_FAILED, resolve))


def live_handles() -> int:
    """Number of live handles of every kind (p2p_debug_live_handles)."""
    return int(lib.p2p_debug_live_handles())


def abi_version() -> int:
    return int(lib.p2p_abi_version())


def version() -> str:
    return lib.p2p_version().decode("ascii")


def status_string(status: int) -> str:
    return lib.p2p_status_string(status).decode("ascii")
