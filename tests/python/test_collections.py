"""Collections and scopes."""

from __future__ import annotations

import pytest

import p2psync


def test_default_collection(db: p2psync.Database) -> None:
    with db.default_collection() as coll:
        assert (coll.scope, coll.name, coll.full_name) == ("_default", "_default", "_default._default")


def test_create_get_list_delete(db: p2psync.Database) -> None:
    with pytest.raises(p2psync.NotFoundError):
        db.collection("users", scope="app")
    with db.create_collection("users", scope="app") as users:
        users.save("u1", {"n": 1})
        assert len(users) == 1 and users.last_sequence() == 1
    with db.collection("users", scope="app") as users:
        assert users.count() == 1
    with db.create_collection("notes") as notes:
        assert notes.scope == "_default"
    assert db.collection_names("app") == ["users"]
    assert db.collection_names() == ["_default", "notes"]
    assert db.scope_names() == ["_default", "app"]
    db.delete_collection("users", scope="app")
    assert db.scope_names() == ["_default"]
    with pytest.raises(p2psync.NotFoundError):
        db.delete_collection("users", scope="app")
    with pytest.raises(p2psync.InvalidArgumentError):
        db.delete_collection("_default", scope="_default")


def test_deleted_collection_handle(db: p2psync.Database) -> None:
    with db.create_collection("tmp") as tmp:
        db.delete_collection("tmp")
        with pytest.raises(p2psync.NotFoundError):
            tmp.count()


@pytest.mark.parametrize("name", ["", "_hidden", "%x", "with space", "a.b", "x" * 252, "caf\udcff"])
def test_invalid_collection_names(db: p2psync.Database, name: str) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        db.create_collection(name, scope="app")


def test_invalid_scope_name(db: p2psync.Database) -> None:
    with pytest.raises(p2psync.InvalidArgumentError):
        db.create_collection("ok", scope="bad scope")
