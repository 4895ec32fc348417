"""Database: open options, names, local documents, handle rules, bad paths, one opener."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import p2psync
from p2psync import _ffi

ROOT = Path(__file__).resolve().parents[2]


def test_open_close_names(db_path: Path) -> None:
    assert not p2psync.Database.exists(db_path)
    with p2psync.Database(db_path) as db:
        assert db.name == "db"
        assert Path(db.path).name == "db"
        assert len(db.uuid) == 32
        uuid = db.uuid
    assert db.closed
    db.close()  # idempotent
    assert p2psync.Database.exists(db_path)
    with p2psync.Database(db_path, create=False, max_rev_tree_depth=5) as again:
        assert again.uuid == uuid
    p2psync.Database.delete(db_path)
    assert not p2psync.Database.exists(db_path)


def test_missing_database_without_create(db_path: Path) -> None:
    with pytest.raises(p2psync.NotFoundError):
        p2psync.Database(db_path, create=False)


def test_closed_handle_is_invalid(db_path: Path) -> None:
    db = p2psync.Database(db_path)
    db.close()
    with pytest.raises(p2psync.InvalidHandleError):
        db.default_collection()
    with pytest.raises(p2psync.InvalidHandleError):
        _ = db.name


def test_wrong_kind_handle(db: p2psync.Database) -> None:
    with db.default_collection() as coll:
        with pytest.raises(p2psync.InvalidHandleError):
            _ffi.out_text("p2p_db_name", coll.handle)
        with pytest.raises(p2psync.InvalidHandleError):
            _ffi.out_uint("p2p_collection_count", db.handle)
    with pytest.raises(p2psync.InvalidHandleError):
        _ffi.out_uint("p2p_collection_count", 0)
    _ffi.call("p2p_collection_close", 0)  # closing 0 is a no-op


def test_parent_with_children_is_busy(db_path: Path) -> None:
    db = p2psync.Database(db_path)
    coll = db.default_collection()
    with pytest.raises(p2psync.BusyError):
        db.close()
    assert coll.count() == 0  # nothing was closed
    coll.close()
    db.close()


def test_error_inside_with_is_not_hidden_by_busy_close(db_path: Path) -> None:
    # An error that leaves a child open must reach the caller, not the BusyError of
    # closing the parent on the way out (which used to replace it).
    db = p2psync.Database(db_path)
    coll = db.default_collection()
    with pytest.raises(p2psync.NotFoundError) as info:
        with db:
            coll.get("missing")
    assert any("closing Database failed" in note for note in getattr(info.value, "__notes__", [""]))
    assert not db.closed  # still open: its child is
    coll.close()
    db.close()
    # Without an exception in flight, a failing close still raises.
    db = p2psync.Database(db_path)
    coll = db.default_collection()
    with pytest.raises(p2psync.BusyError):
        with db:
            pass
    coll.close()
    db.close()


def test_corrupt_database_files(tmp_path: Path) -> None:
    for name, data in [("empty", b""), ("short", b"SQLite"), ("garbage", bytes(range(256)) * 64)]:
        path = tmp_path / name
        path.mkdir()
        (path / "db.sqlite3").write_bytes(data)
        with pytest.raises(p2psync.CorruptError):
            p2psync.Database(path)
        assert (path / "db.sqlite3").read_bytes() == data  # left as it was


def test_second_opener_is_busy(db: p2psync.Database, db_path: Path) -> None:
    with pytest.raises(p2psync.BusyError):
        p2psync.Database(db_path)
    with pytest.raises(p2psync.BusyError):
        p2psync.Database.delete(db_path)
    # another process too
    script = ("import sys, p2psync\n"
              "try:\n    p2psync.Database(sys.argv[1])\n"
              "except p2psync.BusyError as e:\n    print('busy', e.code)\n")
    res = subprocess.run([sys.executable, "-c", script, str(db_path)],
                         env={**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python")},
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "busy -5", res.stderr


def test_path_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("not a database")
    with pytest.raises(p2psync.IoError) as info:
        p2psync.Database(f)
    assert isinstance(info.value, OSError)


def test_path_not_writable() -> None:
    # /proc refuses new directories even to root
    with pytest.raises(p2psync.IoError):
        p2psync.Database("/proc/p2psync-no-such-dir/db")


def test_bad_path_text(tmp_path: Path) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        p2psync.Database("")
    undecodable = os.fsdecode(bytes(tmp_path) + b"/\xff\xfe")  # not UTF-8
    with pytest.raises(p2psync.InvalidArgumentError) as info:
        p2psync.Database(undecodable)
    assert "UTF-8" in str(info.value)
    with pytest.raises(TypeError):
        p2psync.Database(42)  # type: ignore[arg-type]


def test_local_documents(db: p2psync.Database) -> None:
    with pytest.raises(p2psync.NotFoundError):
        db.get_local("checkpoint")
    rev = db.put_local("checkpoint", {"seq": 1})
    assert db.get_local("checkpoint") == ({"seq": 1}, rev)
    with pytest.raises(p2psync.ConflictError):
        db.put_local("checkpoint", {"seq": 2})
    rev2 = db.put_local("checkpoint", {"seq": 2}, expected_rev=rev)
    assert rev2 != rev
    db.put_local("checkpoint", {"seq": 3}, expected_rev="*")
    assert db.get_local("checkpoint")[0] == {"seq": 3}
    with pytest.raises(p2psync.InvalidArgumentError):
        db.put_local("checkpoint", "{oops", expected_rev="*")
    db.delete_local("checkpoint")
    with pytest.raises(p2psync.NotFoundError):
        db.delete_local("checkpoint")


def test_finalizer_closes_forgotten_objects(db_path: Path) -> None:
    import gc
    db = p2psync.Database(db_path)
    coll = db.default_collection()
    assert p2psync.live_handles() == 2
    del db, coll
    gc.collect()
    assert p2psync.live_handles() == 0
