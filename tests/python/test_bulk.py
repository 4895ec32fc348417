"""Bulk documents: Batch.save_many, Collection.save_many and Collection.get_many."""

from __future__ import annotations

import json

import pytest

import p2psync


def test_save_many_matches_single_saves(db: p2psync.Database, coll: p2psync.Collection) -> None:
    docs = [("a", {"n": 1}), ("b", '{ "n" : 2, "s": "é\\"\\n\\u0001" }'), ("c", {"deep": [1, {"x": None}]})]
    with db.batch() as batch:
        saved = batch.save_many(coll, docs)
    assert [s.id for s in saved] == ["a", "b", "c"]
    assert [s.sequence for s in saved] == [1, 2, 3]
    for s in saved:
        got = coll.get(s.id)
        assert (got.rev_id, got.sequence, got.version) == (s.rev_id, s.sequence, s.version)
        assert s.rev_id.startswith("1-") and s.version
    # The same body saved one at a time gets the same revision ID.
    assert coll.save("a2", {"n": 1}).rev_id == saved[0].rev_id


def test_get_many(db: p2psync.Database, coll: p2psync.Collection) -> None:
    coll.save_many({"a": {"n": 1}, "b": '{"s":"é\\"\\\\\\n\\u0001 \\ud83d\\ude00"}', "c": {"n": 3}})
    coll.delete("c")
    ids = ["b", "missing", "a", "c", "a"]
    many = coll.get_many(ids)
    assert many[1] is None and many[3] is None
    for doc_id, got in zip(ids, many):
        if got is None:
            continue
        one = coll.get(doc_id)
        assert got == one  # every field, the body text byte for byte
    assert many[2] is not many[4]
    tomb = coll.get_many(["c"], include_deleted=True)[0]
    assert tomb is not None and tomb.deleted and tomb.json == "{}" and tomb.rev_id.startswith("2-")
    assert tomb == coll.get("c", include_deleted=True)
    assert coll.get_many([]) == []
    assert json.loads(many[0].json)["s"] == 'é"\\\n\x01 \U0001F600'


def test_failure_stops_and_keeps_the_batch(db: p2psync.Database, coll: p2psync.Collection) -> None:
    with db.batch() as batch:
        with pytest.raises(p2psync.InvalidArgumentError) as e:
            batch.save_many(coll, [("m1", {"v": 1}), ("m2", "[1]"), ("m3", {"v": 3})])
        assert e.value.saved == 1  # type: ignore[attr-defined]
        assert str(e.value.message).startswith('document 1 ("m2"): ')
        with pytest.raises(p2psync.InvalidArgumentError) as e:
            batch.save_many(coll, [("ok", {}), ("bad", {"_id": "x"})])
        assert e.value.saved == 1  # type: ignore[attr-defined]
    assert coll.count() == 2
    assert [d is not None for d in coll.get_many(["m1", "m2", "m3", "ok"])] == [True, False, False, True]
    # Collection.save_many is one transaction of its own: all or nothing.
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.save_many([("n1", {}), ("", {})])
    assert coll.get_many(["n1"]) == [None]


def test_parents_and_concurrency(db: p2psync.Database, coll: p2psync.Collection) -> None:
    first = coll.save_many([("r", {"v": 1}), ("r", {"v": 2})])
    assert [s.rev_id[:2] for s in first] == ["1-", "2-"]
    fail = p2psync.Concurrency.FAIL_ON_CONFLICT
    with pytest.raises(p2psync.ConflictError):
        coll.save_many([("r", {"v": 3})], concurrency=fail, parent_rev_ids=[first[0].rev_id])
    with pytest.raises(p2psync.ConflictError):
        coll.save_many([("r", {"v": 3})], concurrency=fail)
    done = coll.save_many([("r", {"v": 3}), ("new", {})], concurrency=fail, parent_rev_ids=[first[1].rev_id, None])
    assert done[0].rev_id.startswith("3-") and done[1].rev_id.startswith("1-")
    with pytest.raises(ValueError):
        coll.save_many([("x", {})], parent_rev_ids=[])


def test_bad_input(db: p2psync.Database, coll: p2psync.Collection) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.get_many(["ok", ""])
    with pytest.raises(TypeError):
        coll.get_many([1])  # type: ignore[list-item]
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.save_many([("x", "not json")])
    assert coll.save_many([]) == []
    batch = db.batch()
    batch.commit()
    with pytest.raises(p2psync.InvalidHandleError):
        batch.save_many(coll, [("x", {})])


def test_save_many_past_one_chunk(db: p2psync.Database, coll: p2psync.Collection) -> None:
    """More documents than one call of the store's SaveMany takes (1,024) and than one SQL
    statement inserts (32), one existing and one repeated: the results of one save each;
    a failure past the first chunk reports its own index."""
    coll.save("d0040", {"old": True})
    docs = [(f"d{i:04d}", {"i": i}) for i in range(1100)]
    docs[1060] = ("d0005", {"again": True})
    with db.batch() as batch:
        saved = batch.save_many(coll, docs)
    assert [s.id for s in saved] == [d[0] for d in docs]
    assert [s.sequence for s in saved] == list(range(2, 1102))
    assert [i for i, s in enumerate(saved) if not s.rev_id.startswith("1-")] == [40, 1060]
    assert coll.save("x", {"i": 7}).rev_id == saved[7].rev_id
    for s in saved[::37] + [saved[40], saved[1060]]:
        got = coll.get(s.id)
        assert (got.rev_id, got.sequence, got.version) == (s.rev_id, s.sequence, s.version)
    assert json.loads(coll.get("d0005").json) == {"again": True}
    bad = [(f"e{i:04d}", {"i": i}) for i in range(1100)]
    bad[1050] = ("e1050", "[1]")
    with db.batch() as batch:
        with pytest.raises(p2psync.InvalidArgumentError) as e:
            batch.save_many(coll, bad)
        assert e.value.saved == 1050  # type: ignore[attr-defined]
        assert str(e.value.message).startswith('document 1050 ("e1050"): ')
    assert coll.count() == 1099 + 1 + 1050
