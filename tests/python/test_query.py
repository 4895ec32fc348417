"""Queries from Python: Database.query/prepare/explain, and the `p2psync query` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import p2psync
from p2psync import cli


@pytest.fixture
def people(db: p2psync.Database) -> p2psync.Database:
    with db.default_collection() as coll:
        coll.save("a", {"name": "Ada", "age": 36, "address": {"city": "London"}, "nick": None})
        coll.save("b", {"name": "Bob", "age": 25, "tags": ["x", "y"]})
        coll.save("c", {"name": "Cy", "age": 50, "address": {"city": "London"}})
        coll.delete("c")
    return db


def test_query_rows_as_dicts(people: p2psync.Database) -> None:
    rows = people.query("SELECT meta().id, name, address.city, nick FROM _ WHERE age > $min ORDER BY name",
                        {"min": 20})
    # MISSING properties are absent; null is None; deleted documents never match
    assert rows == [{"id": "a", "name": "Ada", "city": "London", "nick": None}, {"id": "b", "name": "Bob"}]
    assert people.query("SELECT COUNT(*) AS n FROM _") == [{"n": 2}]
    assert people.query("SELECT name FROM _ WHERE ANY t IN tags SATISFIES t = 'y' END") == [{"name": "Bob"}]


def test_prepare_execute_again_and_columns(people: p2psync.Database) -> None:
    with people.prepare("SELECT name, age + 1 FROM _ WHERE name = $n") as q:
        assert q.columns == ["name", "$1"]
        assert list(q.execute({"n": "Ada"})) == [{"name": "Ada", "$1": 37}]
        assert list(q.execute({"n": "Bob"})) == [{"name": "Bob", "$1": 26}]
        with pytest.raises(p2psync.InvalidArgumentError, match=r"\$n"):
            q.execute()


def test_index_and_explain(people: p2psync.Database) -> None:
    people.query("CREATE INDEX byCity ON _(address.city)")
    plan = people.explain("SELECT name FROM _ WHERE address.city = 'London'")
    assert "USING INDEX qidx_1_byCity" in plan
    assert people.query("SELECT name FROM _ WHERE address.city = 'London'") == [{"name": "Ada"}]


def test_invalid_query(people: p2psync.Database) -> None:
    with pytest.raises(p2psync.InvalidArgumentError, match="line 2, column 13: expected an expression"):
        people.query("SELECT name FROM _\nWHERE age > ")
    with pytest.raises(p2psync.NotFoundError):
        people.query("SELECT name FROM nosuch")


def test_cli_query(people: p2psync.Database, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    people.close()
    assert cli.main(["query", str(db_path), "SELECT name FROM _ WHERE age > $min ORDER BY name",
                     "--param", "min=30"]) == 0
    assert capsys.readouterr().out.splitlines() == ['{"name":"Ada"}']
    assert cli.main(["query", str(db_path), "SELECT name FROM _ WHERE name LIKE $p",
                     "--params", json.dumps({"p": "B%"})]) == 0
    assert capsys.readouterr().out.splitlines() == ['{"name":"Bob"}']
    assert cli.main(["query", str(db_path), "SELECT name FROM _ WHERE", "--explain"]) == 2
    assert "line 1, column 25" in capsys.readouterr().err
    assert cli.main(["query", str(db_path), "SELECT name FROM nosuch"]) == 3
    assert cli.main(["query", str(db_path), "SELECT name FROM _ WHERE age = 1", "--explain"]) == 0
    assert "SCAN docs_1" in capsys.readouterr().out
