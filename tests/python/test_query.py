"""Queries from Python: Database.query/prepare/explain, and the `p2psync query` CLI."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

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


def test_full_text_index(people: p2psync.Database) -> None:
    with people.default_collection() as coll:
        coll.save("h1", {"overview": "Boats in the harbour, boats at sea"})
        coll.save("h2", {"overview": "A harbour café"})
        coll.create_index("overviewFTS", ["overview"], full_text=True, language="en", ignore_accents=True)
        rows = people.query("SELECT meta().id, RANK(overviewFTS) AS r FROM _ "
                            "WHERE MATCH(overviewFTS, $t) ORDER BY RANK(overviewFTS) DESC", {"t": "boat"})
        assert [r["id"] for r in rows] == ["h1"] and rows[0]["r"] > 0
        assert people.query("SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'cafe')") == [{"id": "h2"}]
        coll.delete("h2")
        assert people.query("SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'cafe')") == []
        with pytest.raises(p2psync.InvalidArgumentError, match="full-text query"):
            people.query("SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'harbour AND')")
        with pytest.raises(p2psync.InvalidArgumentError, match="not supported"):
            coll.create_index("bad", ["overview"], full_text=True, language="fr")
        coll.delete_index("overviewFTS")
        with pytest.raises(p2psync.NotFoundError):
            coll.delete_index("overviewFTS")
        with pytest.raises(p2psync.InvalidArgumentError, match="overviewFTS"):
            people.query("SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'boat')")
        coll.create_index("byAge", ["age"])
        assert "byAge" in people.explain("SELECT name FROM _ WHERE age = 25")
        coll.delete_index("byAge")


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_live_query(people: p2psync.Database) -> None:
    seen: List[Any] = []
    lock = threading.Lock()

    def listener(rows: Optional[List[Dict[str, Any]]], error: Optional[p2psync.P2PSyncError]) -> None:
        with lock:
            seen.append(rows if error is None else error)

    def last() -> Any:
        with lock:
            return seen[-1] if seen else None

    with people.default_collection() as coll, \
            people.prepare("SELECT meta().id, name FROM _ WHERE age >= $min ORDER BY meta().id") as q:
        with pytest.raises(p2psync.InvalidArgumentError, match=r"\$min"):
            q.add_listener(listener)
        sub = q.add_listener(listener, {"min": 30})
        wait_until(lambda: last() == [{"id": "a", "name": "Ada"}])
        with pytest.raises(p2psync.BusyError):
            q.close()
        coll.save("d", {"name": "Dee", "age": 70})
        wait_until(lambda: last() == [{"id": "a", "name": "Ada"}, {"id": "d", "name": "Dee"}])
        n = len(seen)
        coll.save("e", {"name": "Young", "age": 3})  # does not change the rows: no call
        coll.delete("a")
        wait_until(lambda: last() == [{"id": "d", "name": "Dee"}])
        assert len(seen) == n + 1
        sub.remove()
        coll.save("f", {"name": "Old", "age": 99})
        time.sleep(0.1)
        assert len(seen) == n + 1


def test_live_query_removed_inside_listener(people: p2psync.Database) -> None:
    calls: List[Any] = []
    with people.prepare("SELECT COUNT(*) AS n FROM _") as q:
        holder: Dict[str, Any] = {}
        ready = threading.Event()

        def listener(rows: Any, error: Any) -> None:
            ready.wait(10)
            calls.append(rows)
            holder["sub"].remove()  # must not wait for this very call

        holder["sub"] = q.add_listener(listener)
        ready.set()
        wait_until(lambda: len(calls) == 1)
        with people.default_collection() as coll:
            coll.save("z", {})
        time.sleep(0.1)
        assert calls == [[{"n": 2}]]


def test_live_query_sees_pulled_revisions(tmp_path: Path) -> None:
    seen: List[Any] = []
    with p2psync.Database(tmp_path / "server") as server, p2psync.Database(tmp_path / "client") as client:
        with client.default_collection() as ccoll:
            ccoll.create_index("notes", ["text"], full_text=True)
        with client.prepare("SELECT meta().id FROM _ WHERE MATCH(notes, 'harbour')") as q, \
                p2psync.Listener(server, network_interface="127.0.0.1", disable_tls=True) as listener:
            listener.start()
            sub = q.add_listener(lambda rows, error: seen.append(rows if error is None else error))
            wait_until(lambda: seen[-1:] == [[]])
            url = f"ws://127.0.0.1:{listener.port}/server"
            with p2psync.Replicator(client, url, type=p2psync.ReplicatorType.PULL, continuous=True) as repl:
                repl.start()
                with server.default_collection() as scoll:
                    scoll.save("n1", {"text": "boats in the harbour"})
                    wait_until(lambda: seen[-1:] == [[{"id": "n1"}]])
                    scoll.delete("n1")
                    wait_until(lambda: seen[-1:] == [[]])
            sub.remove()


def test_live_query_reports_a_failed_run(people: p2psync.Database) -> None:
    seen: List[Any] = []
    with people.default_collection() as coll:
        coll.create_index("names", ["name"], full_text=True)
        with people.prepare("SELECT meta().id FROM _ WHERE MATCH(names, 'ada')") as q:
            sub = q.add_listener(lambda rows, error: seen.append(rows if error is None else error))
            wait_until(lambda: seen[-1:] == [[{"id": "a"}]])
            coll.delete_index("names")
            coll.save("x", {"name": "Ada again"})  # the next run finds no index
            wait_until(lambda: bool(seen) and isinstance(seen[-1], p2psync.NotFoundError))
            assert "full-text index" in str(seen[-1])
            sub.remove()
