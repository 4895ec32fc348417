"""The ctypes layer: signature table, library lookup, ABI check, error classes."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import p2psync
from p2psync import _ffi, errors

ROOT = Path(__file__).resolve().parents[2]
HEADER = (ROOT / "include" / "p2psync.h").read_text()


def test_signature_table_matches_exports() -> None:
    exported = (ROOT / "include" / "p2psync.exports").read_text().split()
    assert sorted(_ffi.SIGNATURES) == exported


def test_signature_table_in_header_order() -> None:
    declared = re.findall(r"^P2P_API [^(]*?\b(p2p_\w+)\(", HEADER, flags=re.M)
    assert list(_ffi.SIGNATURES) == declared


def test_versions() -> None:
    assert p2psync.abi_version() == p2psync.ABI_VERSION == 2
    version = re.search(r'#define P2P_VERSION_STRING "([^"]+)"', HEADER).group(1)
    assert p2psync.library_version() == version


def test_error_classes_match_header_codes() -> None:
    codes = {name: int(value) for name, value in re.findall(r"#define (P2P_ERR_\w+)\s+(-\d+)", HEADER)}
    assert sorted(codes.values()) == sorted(errors.ERRORS)
    for name, code in codes.items():
        assert _ffi.status_string(code) == name
        cls = errors.ERRORS[code]
        assert cls.code == code and issubclass(cls, p2psync.P2PSyncError)
    unknown = errors.error_for(-77, errors.DOMAIN_LIBRARY, -77, "from the future")
    assert type(unknown) is p2psync.P2PSyncError and unknown.code == -77


def test_error_classes_follow_primary_codes() -> None:
    codes = {name: int(value) for name, value in re.findall(r"#define (P2P_ERR_\w+)\s+(-\d+)", HEADER)}
    for name, code in codes.items():
        prim = errors.primary(code)
        assert prim in errors.ERRORS, name
        # every extended code's class derives from its primary code's class
        assert issubclass(errors.ERRORS[code], errors.ERRORS[prim]), name
    assert errors.primary(codes["P2P_ERR_TLS_PIN_MISMATCH"]) == codes["P2P_ERR_TLS"]
    assert issubclass(p2psync.WrongPasswordError, p2psync.AuthError)
    # a TLS code added by a later library is still a TLSError, with its own code
    later = -(9 | 77 << 8)
    e = errors.error_for(later, errors.DOMAIN_LIBRARY, later, "later")
    assert type(e) is p2psync.TLSError and e.code == later


def test_structures_match_golden_layout() -> None:
    """The ctypes Structures have the C layout of tests/c/abi_layout.golden."""
    golden = (ROOT / "tests" / "c" / "abi_layout.golden").read_text().splitlines()
    classes = {"p2p_error": _ffi.Error, "p2p_db_options": _ffi.DbOptions,
               "p2p_tls_identity_options": _ffi.TlsIdentityOptions, "p2p_listener_options": _ffi.ListenerOptions,
               "p2p_replication_collection": _ffi.ReplicationCollection,
               "p2p_replicator_options": _ffi.ReplicatorOptions}
    seen = {name: [] for name in classes}
    for line in golden:
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        cls = classes[parts[0]]
        if parts[1] == "sizeof":
            assert ctypes.sizeof(cls) == int(parts[2]), line
            continue
        field = getattr(cls, parts[1])
        assert (field.offset, field.size) == (int(parts[2]), int(parts[3])), line
        seen[parts[0]].append(parts[1])
    for name, cls in classes.items():
        assert seen[name] == [f[0] for f in cls._fields_], name


def test_options_init_zeroes_and_sizes() -> None:
    opts = _ffi.ReplicatorOptions()
    ctypes.memset(ctypes.byref(opts), 0x5A, ctypes.sizeof(opts))
    _ffi.call("p2p_replicator_options_init", ctypes.byref(opts), ctypes.sizeof(opts))
    assert opts.struct_size == ctypes.sizeof(opts)
    assert bytes(opts)[4:] == bytes(ctypes.sizeof(opts) - 4)
    with pytest.raises(p2psync.InvalidArgumentError):
        _ffi.call("p2p_replicator_options_init", ctypes.byref(opts), 4)


def test_error_carries_domain_and_message(tmp_path: Path) -> None:
    try:
        p2psync.Database(tmp_path / "x", create=False)
    except p2psync.NotFoundError as e:
        assert e.code == -3 and e.domain == errors.DOMAIN_LIBRARY and e.domain_code == -3
        assert "not found" in str(e)
    else:
        raise AssertionError("expected NotFoundError")


def _import_in_child(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import p2psync; print(p2psync.library_version())"],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python"), **env},
                          capture_output=True, text=True, timeout=60)


def test_explicit_library_path_must_load() -> None:
    res = _import_in_child({"P2PSYNC_LIBRARY": "/nonexistent/libp2psync.so"})
    assert res.returncode != 0 and "nonexistent" in res.stderr
    # One ImportError that names the setting to fix (not a bare OSError from ctypes).
    assert "ImportError: cannot load libp2psync from P2PSYNC_LIBRARY" in res.stderr


def test_library_found_through_explicit_path() -> None:
    res = _import_in_child({"P2PSYNC_LIBRARY": os.environ["P2PSYNC_LIBRARY"]})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == p2psync.library_version()


def test_abi_mismatch_refuses_import() -> None:
    # Simulate a binding written for another ABI by patching the constant before the check runs.
    script = ("import sys, importlib.util, pathlib\n"
              f"path = pathlib.Path({str(ROOT / 'bindings/python/p2psync/_ffi.py')!r})\n"
              "src = path.read_text().replace('ABI_VERSION = 2', 'ABI_VERSION = 999')\n"
              "import p2psync.errors\n"
              "mod = type(sys)('p2psync._ffi_test'); mod.__package__ = 'p2psync'; mod.__file__ = str(path)\n"
              "try:\n"
              "    exec(compile(src, str(path), 'exec'), mod.__dict__)\n"
              "except ImportError as e:\n"
              "    print('refused:', e)\n")
    res = subprocess.run([sys.executable, "-c", script],
                         env={**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python")},
                         capture_output=True, text=True, timeout=60)
    assert "refused:" in res.stdout and "999" in res.stdout and "2" in res.stdout, res.stdout + res.stderr


def test_filter_flags_reach_the_document() -> None:
    """The filter's flags byte (P2P_DOC_*) becomes ReplicationDocument.deleted / access_removed."""
    from p2psync.replication import ReplicationDocument, _filter
    assert (_ffi.DOC_DELETED, _ffi.DOC_ACCESS_REMOVED) == tuple(
        int(re.search(rf"#define {name}\s+(\d+)", HEADER).group(1)) for name in ("P2P_DOC_DELETED", "P2P_DOC_ACCESS_REMOVED"))
    seen: list = []

    def keep_unless_revoked(doc: ReplicationDocument) -> bool:
        seen.append(doc)
        return not doc.access_removed

    fn = _filter(keep_unless_revoked)
    assert fn(b"_default._default", b"d", b"2-a", 0, b'{"a":1}', None) == 1
    assert fn(b"_default._default", b"d", b"3-b", _ffi.DOC_DELETED, b"{}", None) == 1
    assert fn(b"_default._default", b"d", b"3-c", _ffi.DOC_ACCESS_REMOVED, b"{}", None) == 0
    assert [(d.deleted, d.access_removed) for d in seen] == [(False, False), (True, False), (False, True)]
