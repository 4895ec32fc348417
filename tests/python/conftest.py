"""Shared fixtures: every test gets a fresh directory and must leave no live handle."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
os.environ.setdefault("P2PSYNC_LIBRARY", str(ROOT / "build" / "lib" / "libp2psync.so"))

import p2psync  # noqa: E402


@pytest.fixture(autouse=True)
def no_leaked_handles() -> Iterator[None]:
    yield
    gc.collect()
    assert p2psync.live_handles() == 0, "a test left library objects open"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def db(db_path: Path) -> Iterator[p2psync.Database]:
    with p2psync.Database(db_path) as database:
        yield database


@pytest.fixture
def coll(db: p2psync.Database) -> Iterator[p2psync.Collection]:
    with db.default_collection() as collection:
        yield collection
