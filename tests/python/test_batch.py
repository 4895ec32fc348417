"""Batches: commit, abort, context manager, and all-or-nothing across SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import p2psync

ROOT = Path(__file__).resolve().parents[2]
BATCH_DOCS = 100


def test_context_manager_commits(db: p2psync.Database, coll: p2psync.Collection) -> None:
    with db.batch() as batch:
        batch.save(coll, "a", {"v": 1})
        batch.save(coll, "b", {"v": 2})
        with pytest.raises(p2psync.BusyError):
            db.close()  # the open batch keeps the database open
    assert coll.count() == 2
    with db.batch() as batch:
        batch.delete(coll, "a")
        batch.purge(coll, "b")
    assert coll.count() == 0


def test_exception_aborts(db: p2psync.Database, coll: p2psync.Collection) -> None:
    with pytest.raises(RuntimeError):
        with db.batch() as batch:
            batch.save(coll, "a", {"v": 1})
            raise RuntimeError("changed my mind")
    assert coll.count() == 0


def test_failed_write_keeps_batch(db: p2psync.Database, coll: p2psync.Collection) -> None:
    batch = db.batch()
    batch.save(coll, "ok", {})
    with pytest.raises(p2psync.InvalidArgumentError):
        batch.save(coll, "bad", "[1]")
    batch.commit()
    assert coll.count() == 1
    with pytest.raises(p2psync.InvalidHandleError):
        batch.commit()
    batch.abort()  # harmless once ended


def test_write_beside_own_batch_is_busy(db: p2psync.Database, coll: p2psync.Collection) -> None:
    """The thread holding a batch gets BusyError from a collection write (it would wait for
    its own batch forever); another thread's write waits for the batch, then succeeds."""
    done = threading.Event()
    result: list = []

    def elsewhere() -> None:
        try:
            coll.save("elsewhere", {"v": 2})
            result.append("saved")
        except p2psync.P2PSyncError as e:  # pragma: no cover - reported below
            result.append(e)
        done.set()

    with db.batch() as batch:
        with pytest.raises(p2psync.BusyError):
            coll.save("self", {"v": 1})
        thread = threading.Thread(target=elsewhere)
        thread.start()
        assert not done.wait(0.2), result  # waiting for the batch
        batch.save(coll, "in-batch", {"v": 3})
    thread.join(30)
    assert result == ["saved"]
    coll.save("self", {"v": 1})  # the batch is over
    assert coll.count() == 3


def test_collection_of_other_database(db: p2psync.Database, coll: p2psync.Collection, tmp_path: Path) -> None:
    with p2psync.Database(tmp_path / "other") as other, other.default_collection() as foreign:
        with db.batch() as batch:
            with pytest.raises(p2psync.InvalidArgumentError):
                batch.save(foreign, "x", {})


WRITER = """
import sys, p2psync
db = p2psync.Database(sys.argv[1])
coll = db.default_collection()
k = 0
while True:
    with db.batch() as batch:
        for i in range(int(sys.argv[2])):
            batch.save(coll, f"batch{k}-doc{i}", {"payload": "x" * 64})
    k += 1
    print(k, flush=True)
"""


@pytest.mark.parametrize("after", [1, 3, 6])
def test_sigkill_mid_batch_is_all_or_nothing(db_path: Path, after: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), str(BATCH_DOCS)],
                            env={**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python")},
                            stdout=subprocess.PIPE, text=True)
    try:
        committed = 0
        assert proc.stdout is not None
        while committed < after:
            line = proc.stdout.readline()
            assert line, "writer died early"
            committed = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with p2psync.Database(db_path) as db, db.default_collection() as coll:
        count = coll.count()
        assert count % BATCH_DOCS == 0, f"{count} documents: a batch was torn"
        assert count >= committed * BATCH_DOCS
        # every batch present is complete
        per_batch: dict = {}
        for change in coll.iter_changes():
            key = change.id.split("-")[0]
            per_batch[key] = per_batch.get(key, 0) + 1
        assert all(n == BATCH_DOCS for n in per_batch.values())
