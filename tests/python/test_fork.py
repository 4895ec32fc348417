"""Processes and fork: a child forked after p2psync was imported gets ForkedError at once
(never a hang), the C library refuses calls there by itself as well, the parent keeps
working, and the documented remedy (the "spawn" start method) works.

Every child is bounded: join with a timeout, then kill; a hung child fails the test."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
from ctypes import byref, c_uint64
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest

import p2psync
from p2psync import _ffi

CHILD_TIMEOUT = 30  # seconds; a child still running then is hung

# Python 3.12+ warns when forking a multi-threaded process; forking it is the point here.
pytestmark = pytest.mark.filterwarnings("ignore:.*multi-threaded.*:DeprecationWarning")

Outcome = Tuple[str, str, int, str]  # (what, exception class or "ok", code, message)


def _attempt(what: str, fn: Callable[[], Any]) -> Outcome:
    try:
        fn()
    except p2psync.P2PSyncError as e:
        return (what, type(e).__name__, e.code, str(e))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        return (what, type(e).__name__, 0, str(e))
    return (what, "ok", 0, "")


def _run_child(ctx: Any, target: Callable[..., None], *args: Any) -> List[Outcome]:
    """Runs target(conn, *args) in a child of `ctx`; returns what it sent, or fails if it
    hangs or dies."""
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=target, args=(send, *args))
    child.start()
    send.close()
    try:
        child.join(CHILD_TIMEOUT)
        if child.is_alive():
            child.kill()
            child.join(10)
            pytest.fail(f"the child process hung (killed after {CHILD_TIMEOUT} s) instead of failing at once")
        assert recv.poll(0), f"the child sent nothing (exit code {child.exitcode})"
        outcomes: List[Outcome] = recv.recv()
    finally:
        recv.close()
    assert child.exitcode == 0, f"child exit code {child.exitcode}: {outcomes}"
    return outcomes


def _use_binding_in_child(conn: Any, coll: p2psync.Collection, fresh: str) -> None:
    outcomes = [
        _attempt("open a database", lambda: p2psync.Database(fresh)),
        _attempt("count the inherited collection", lambda: coll.count()),
        _attempt("save through the inherited collection", lambda: coll.save("from-child", {"n": 0})),
        _attempt("delete a database", lambda: p2psync.Database.delete(fresh)),
        _attempt("create an identity", lambda: p2psync.Identity.create(common_name="child")),
        ("live handles", "ok", p2psync.live_handles(), ""),
        ("forked flag", "ok", int(_ffi.forked()), ""),
        ("created on disk", "ok", int(os.path.exists(fresh)), ""),
    ]
    conn.send(outcomes)
    conn.close()


def test_forked_child_gets_forked_error(coll: p2psync.Collection, tmp_path: Path) -> None:
    coll.save("before", {"n": 1})
    fresh = str(tmp_path / "opened-in-child")
    outcomes = _run_child(multiprocessing.get_context("fork"), _use_binding_in_child, coll, fresh)

    refused = [o for o in outcomes if o[1] != "ok"]
    assert len(refused) == 5, outcomes
    for what, cls, code, message in refused:
        assert (cls, code) == ("ForkedError", -22), f"{what}: {cls} {code} {message}"
        assert "spawn" in message and "forkserver" in message and "fork" in message, message
    facts = {what: code for what, cls, code, _ in outcomes if cls == "ok"}
    assert facts == {"live handles": 0, "forked flag": 1, "created on disk": 0}

    # the parent is unaffected
    assert not _ffi.forked()
    coll.save("after", {"n": 2})
    assert coll.count() == 2
    assert coll["before"].body == {"n": 1}


def _call_library_directly_in_child(conn: Any, fresh: str) -> None:
    # Bypasses the binding's own check: the C library must refuse by itself.
    err = _ffi.Error()
    db = c_uint64(0)
    status = _ffi.lib.p2p_db_open(fresh.encode(), None, byref(db), byref(err))
    message = ctypes.string_at(err.message).decode() if err.message else ""
    outcome = ("p2p_db_open", "status", status, message)
    domain, code, handle = err.domain, err.code, db.value
    _ffi.lib.p2p_error_dispose(byref(err))
    conn.send([outcome, ("error domain and code", "ok", domain * 1000 + code, ""),
               ("out handle", "ok", handle, ""), ("created on disk", "ok", int(os.path.exists(fresh)), "")])
    conn.close()


def test_c_library_refuses_in_forked_child(db: p2psync.Database, tmp_path: Path) -> None:
    fresh = str(tmp_path / "opened-in-child")
    outcomes = _run_child(multiprocessing.get_context("fork"), _call_library_directly_in_child, fresh)
    (_, _, status, message), (_, _, domain_code, _), (_, _, handle, _), (_, _, created, _) = outcomes
    assert status == -22 and _ffi.status_string(status) == "P2P_ERR_FORKED"
    assert "fork" in message and "spawn" in message and "after the fork" in message, message
    assert domain_code == 1000 * 1 + -22  # library domain, code = status
    assert handle == 0 and created == 0
    assert db.name == "db"  # the parent still works


def _open_in_spawned_child(conn: Any, path: str) -> None:
    outcome = _attempt("open and save", lambda: _save_one(path))
    conn.send([outcome])
    conn.close()


def _save_one(path: str) -> None:
    with p2psync.Database(path) as db, db.default_collection() as coll:
        coll.save("from-spawned-child", {"ok": True})


def test_spawned_child_works(tmp_path: Path) -> None:
    # The remedy the error message gives: a spawned child loads its own copy of the library.
    path = str(tmp_path / "spawned")
    [outcome] = _run_child(multiprocessing.get_context("spawn"), _open_in_spawned_child, path)
    assert outcome == ("open and save", "ok", 0, ""), outcome
    with p2psync.Database(path) as db, db.default_collection() as coll:
        assert coll["from-spawned-child"].body == {"ok": True}
