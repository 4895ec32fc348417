"""The command-line tool (`python3 -m p2psync`), run as a subprocess the way scripts use it:
output, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python"),
       "P2PSYNC_LIBRARY": str(ROOT / "build" / "lib" / "libp2psync.so")}


def cli(*args: str, stdin: str = "", code: int = 0, timeout: float = 60) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "p2psync", *args], input=stdin, capture_output=True, text=True,
                         env=ENV, timeout=timeout)
    assert res.returncode == code, f"exit {res.returncode}, wanted {code}\n{res.stdout}\n{res.stderr}"
    if code != 0:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("p2psync: "), f"error is not one line: {res.stderr!r}"
        assert "Traceback" not in res.stderr
    return res


def out_lines(res: subprocess.CompletedProcess) -> List[str]:
    return res.stdout.strip().splitlines()


def test_put_get_roundtrip(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    doc_id, rev = cli("put", db, "note-1", '{"text": "hello"}').stdout.split()
    assert doc_id == "note-1" and rev.startswith("1-")
    assert json.loads(cli("get", db, "note-1").stdout) == {"text": "hello"}
    meta = json.loads(cli("get", db, "note-1", "--meta").stdout)
    assert meta["rev"] == rev and meta["sequence"] == 1 and meta["deleted"] is False and meta["conflicts"] == []
    assert meta["body"] == {"text": "hello"}


def test_put_reads_stdin_and_file(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    cli("put", db, "from-stdin", stdin='{"n": 1}')
    body = tmp_path / "body.json"
    body.write_text('{"n": 2}')
    cli("put", db, "from-file", "--file", str(body))
    assert json.loads(cli("get", db, "from-stdin").stdout) == {"n": 1}
    assert json.loads(cli("get", db, "from-file").stdout) == {"n": 2}


def test_rev_checks_for_conflicts(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    rev1 = cli("put", db, "d", '{"v": 1}').stdout.split()[1]
    rev2 = cli("put", db, "d", '{"v": 2}', "--rev", rev1).stdout.split()[1]
    assert rev2.startswith("2-")
    res = cli("put", db, "d", '{"v": 3}', "--rev", rev1, code=4)
    assert "conflict" in res.stderr
    assert json.loads(cli("get", db, "d", "--rev", rev1).stdout) == {"v": 1}
    assert json.loads(cli("get", db, "d").stdout) == {"v": 2}


@pytest.mark.parametrize("args,stdin,code,needle", [
    (["put", "DB", "d", "[1, 2]"], "", 2, "JSON object"),
    (["put", "DB", "d", "{not json"], "", 2, "not valid JSON"),
    (["put", "DB", "d"], "", 2, "not valid JSON"),
    (["get", "DB", "missing"], "", 3, "not found"),
    (["get", "NODB", "d"], "", 3, "does not exist"),
    (["ls", "DB", "-c", "no.such"], "", 3, "not found"),
    (["delete", "DB", "missing"], "", 3, "not found"),
    (["get", "DB", "d", "-c", ".bad"], "", 2, "SCOPE.NAME"),
])
def test_errors_have_exit_codes(tmp_path: Path, args: List[str], stdin: str, code: int, needle: str) -> None:
    db = str(tmp_path / "db")
    cli("put", db, "seed", "{}")
    args = [db if a == "DB" else str(tmp_path / "nodb") if a == "NODB" else a for a in args]
    assert needle in cli(*args, stdin=stdin, code=code).stderr


def test_usage_errors_exit_2() -> None:
    res = subprocess.run([sys.executable, "-m", "p2psync", "get"], capture_output=True, text=True, env=ENV,
                         timeout=60)
    assert res.returncode == 2 and "usage:" in res.stderr
    res = subprocess.run([sys.executable, "-m", "p2psync"], capture_output=True, text=True, env=ENV, timeout=60)
    assert res.returncode == 2 and "COMMAND" in res.stderr


def test_delete_ls_and_info(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    for i in range(3):
        cli("put", db, f"doc-{i}", json.dumps({"i": i}))
    cli("put", db, "task", '{"t": 1}', "-c", "app.tasks")
    tomb = cli("delete", db, "doc-1").stdout.split()[1]
    assert tomb.startswith("2-")
    cli("get", db, "doc-1", code=3)
    assert out_lines(cli("ls", db)) == ["doc-0", "doc-2"]
    assert out_lines(cli("ls", db, "--all", "--limit", "2")) == ["doc-0", "doc-2"]
    long = [line.split("\t") for line in out_lines(cli("ls", db, "-la"))]
    assert [row[1] for row in long] == ["doc-0", "doc-2", "doc-1"]
    assert long[2][2].endswith("(deleted)")
    rows = [json.loads(line) for line in out_lines(cli("ls", db, "--json", "--since", "2"))]
    assert [r["id"] for r in rows] == ["doc-2"]
    assert out_lines(cli("ls", db, "-c", "app.tasks")) == ["task"]

    info = json.loads(cli("info", db, "--json").stdout)
    by_name = {c["collection"]: c for c in info["collections"]}
    assert by_name["_default._default"]["documents"] == 2
    assert by_name["_default._default"]["last_sequence"] == 4
    assert by_name["app.tasks"]["documents"] == 1
    assert all(c["conflicted_documents"] == 0 for c in info["collections"])
    assert "app.tasks: 1 document," in cli("info", db).stdout

    cli("delete", db, "doc-0", "--purge")
    assert out_lines(cli("ls", db, "--all")) == ["doc-2", "doc-1"]


def test_busy_database(tmp_path: Path) -> None:
    import p2psync
    db = tmp_path / "db"
    with p2psync.Database(db):
        assert "already open" in cli("ls", str(db), code=5).stderr


def test_help_on_every_command() -> None:
    top = cli("--help").stdout
    assert "exit codes" in top
    commands = [c for c in ("put", "get", "delete", "ls", "info", "serve", "sync", "identity") if f"    {c}" in top]
    assert {"put", "get", "delete", "ls", "info"} <= set(commands)
    for command in commands:
        res = cli(command, "--help")
        assert res.stdout.startswith("usage: p2psync " + command)


def test_version() -> None:
    assert cli("--version").stdout.startswith("p2psync 1.")
