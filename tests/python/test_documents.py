"""Documents: save/get/delete/purge, concurrency control, revisions, expiration,
changes feed, and bad input."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

import p2psync
from p2psync import Concurrency


def test_save_and_get(coll: p2psync.Collection) -> None:
    doc = coll.save("doc-1", {"name": "Ada", "tags": ["x", "é"]})
    assert doc.id == "doc-1" and doc.rev_id.startswith("1-") and doc.sequence == 1 and not doc.deleted
    got = coll.get("doc-1")
    assert got.body == {"name": "Ada", "tags": ["x", "é"]}
    assert got["name"] == "Ada"
    assert got.rev_id == doc.rev_id
    assert "doc-1" in coll and "nope" not in coll
    assert coll["doc-1"].json == '{"name":"Ada","tags":["x","é"]}'
    with pytest.raises(p2psync.NotFoundError):
        coll.get("nope")
    with pytest.raises(KeyError):
        coll["nope"]


def test_json_text_body(coll: p2psync.Collection) -> None:
    coll.save("t", '{ "a" : 1 }')
    assert coll.get("t").json == '{"a":1}'


def test_concurrency_control(coll: p2psync.Collection) -> None:
    first = coll.save("d", {"v": 1})
    with pytest.raises(p2psync.ConflictError):
        coll.save("d", {"v": 2}, concurrency=Concurrency.FAIL_ON_CONFLICT)
    second = coll.save("d", {"v": 2}, parent_rev_id=first.rev_id, concurrency=Concurrency.FAIL_ON_CONFLICT)
    assert second.rev_id.startswith("2-")
    with pytest.raises(p2psync.ConflictError):
        coll.save("d", {"v": 3}, parent_rev_id=first.rev_id, concurrency=Concurrency.FAIL_ON_CONFLICT)
    third = coll.save("d", {"v": 3}, parent_rev_id=first.rev_id)  # last write wins
    assert third.rev_id.startswith("3-")
    assert coll.get_revision("d", second.rev_id).body == {"v": 2}
    assert coll.conflicts("d") == []


def test_delete_and_purge(coll: p2psync.Collection) -> None:
    coll.save("gone", {"a": 1})
    tomb = coll.delete("gone")
    assert tomb.deleted
    with pytest.raises(p2psync.NotFoundError):
        coll.get("gone")
    assert coll.get("gone", include_deleted=True).body == {}
    with pytest.raises(p2psync.NotFoundError):
        coll.delete("gone")
    coll.purge("gone")
    with pytest.raises(p2psync.NotFoundError):
        coll.get("gone", include_deleted=True)
    with pytest.raises(p2psync.NotFoundError):
        coll.purge("gone")


def test_expiration(coll: p2psync.Collection) -> None:
    coll.save("temp", {})
    assert coll.expiration("temp") is None
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    coll.set_expiration("temp", later)
    assert coll.expiration("temp") == later
    coll.set_expiration("temp", None)
    assert coll.expiration("temp") is None
    with pytest.raises(ValueError):
        coll.set_expiration("temp", datetime.now())  # naive
    coll.set_expiration("temp", datetime.now(timezone.utc) - timedelta(seconds=1))
    deadline = time.monotonic() + 20
    while "temp" in coll and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "temp" not in coll


def test_changes_feed(coll: p2psync.Collection) -> None:
    for i in range(5):
        coll.save(f"c{i}", {"i": i})
    coll.save("c0", {"i": 10})
    changes = coll.changes()
    assert [c.id for c in changes] == ["c1", "c2", "c3", "c4", "c0"]
    assert [c.sequence for c in changes] == [2, 3, 4, 5, 6]
    assert coll.changes(since=4) == changes[3:]
    assert len(coll.changes(limit=2)) == 2
    assert [c.id for c in coll.iter_changes(page_size=2)] == [c.id for c in changes]


@pytest.mark.parametrize("body", ["{", "[1, 2]", '"text"', "42", "null", "", '{"a":1} tail'])
def test_invalid_bodies(coll: p2psync.Collection, body: str) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.save("bad", body)
    assert "bad" not in coll


def test_json_error_reports_offset(coll: p2psync.Collection) -> None:
    with pytest.raises(p2psync.InvalidArgumentError) as info:
        coll.save("bad", '{"a": tru}')
    assert "offset" in str(info.value)


@pytest.mark.parametrize("doc_id", ["", "x" * 256, "bad\udcff", "nul\0inside"])
def test_invalid_ids(coll: p2psync.Collection, doc_id: str) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.save(doc_id, {})
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.get(doc_id)


RESERVED_KEYS = ["_id", "_rev", "_deleted", "_removed", "_attachments", "_exp", "_revisions", "_anything"]


@pytest.mark.parametrize("key", RESERVED_KEYS)
def test_reserved_top_level_keys_refused(db: p2psync.Database, coll: p2psync.Collection, key: str) -> None:
    with pytest.raises(ValueError) as info:  # InvalidArgumentError is a ValueError
        coll.save("r", {"a": 1, key: True})
    assert isinstance(info.value, p2psync.InvalidArgumentError)
    assert f'"{key}"' in str(info.value)
    with db.batch() as batch:
        with pytest.raises(p2psync.InvalidArgumentError) as info:
            batch.save(coll, "r", '{"%s": 1}' % key)
        assert f'"{key}"' in str(info.value)
    assert "r" not in coll


def test_reserved_keys_only_at_top_level(coll: p2psync.Collection) -> None:
    coll.save("r", {"nested": {"_id": 1, "_removed": True}, "a_b": "_x", "list": [{"_rev": 1}]})
    assert coll.get("r")["nested"] == {"_id": 1, "_removed": True}


@pytest.mark.parametrize("doc_id", ["", "x" * 256, "x" * (1 << 20)], ids=["empty", "256 bytes", "1 MiB"])
def test_document_listener_refuses_invalid_id(coll: p2psync.Collection, doc_id: str) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.add_change_listener(lambda _event: None, doc_id=doc_id)


def test_longest_valid_id(coll: p2psync.Collection) -> None:
    coll.save("x" * 255, {})
    coll.save("é" * 127, {})  # 254 bytes
    assert coll.count() == 2


def test_unknown_concurrency(coll: p2psync.Collection) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.save("d", {}, concurrency=7)  # type: ignore[arg-type]


def test_use_after_close(db: p2psync.Database) -> None:
    coll = db.default_collection()
    coll.close()
    with pytest.raises(p2psync.InvalidHandleError):
        coll.save("d", {})


def test_versions(db: p2psync.Database, coll: p2psync.Collection) -> None:
    """Every save gets a version "<hex time>@<source ID>" with a growing timestamp; reads
    return the same; the database's own older version is replaced, not kept as history."""
    source = db.source_id
    assert len(source) == 22 and db.source_id == source
    first = coll.save("v", {"n": 1})
    assert first.version == f"{first.timestamp:x}@{source}"
    assert abs(first.timestamp / 1e9 - time.time()) < 60
    second = coll.save("v", {"n": 2})
    assert second.timestamp > first.timestamp and second.version_vector == second.version
    got = coll.get("v")
    assert (got.version, got.timestamp, got.version_vector) == (second.version, second.timestamp, second.version)
    gone = coll.delete("v")
    assert gone.timestamp > second.timestamp and gone.version.endswith("@" + source)
