"""The command-line tool (`python3 -m p2psync`), run as a subprocess the way scripts use it:
output, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import re
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Tuple

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


def test_put_refuses_reserved_key(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    assert '"_removed"' in cli("put", db, "d", '{"text": "x", "_removed": true}', code=2).stderr
    cli("get", db, "d", code=3)


def _corrupt_db(tmp_path: Path, how: str) -> str:
    import p2psync
    db = tmp_path / "db"
    with p2psync.Database(db) as database, database.default_collection() as coll, database.batch() as batch:
        for i in range(400):
            batch.save(coll, f"doc-{i:04d}", {"i": i, "text": "x" * 300})
    path = db / "db.sqlite3"
    data = path.read_bytes()
    assert len(data) > 40 * 4096 and not (db / "db.sqlite3-wal").exists()
    if how == "empty":
        data = b""
    elif how == "truncated":
        data = data[:len(data) // 2]
    elif how == "garbage inside":  # the header and schema intact, document pages overwritten
        middle = (len(data) // 2) // 4096 * 4096
        data = data[:middle] + bytes((i * 7919) & 0xFF for i in range(8 * 4096)) + data[middle + 8 * 4096:]
    elif how == "garbage":
        data = bytes((i * 31 + 7) & 0xFF for i in range(len(data)))
    path.write_bytes(data)
    return str(db)


_OPEN_FAILS = [("empty", "empty (0 bytes)"), ("truncated", "truncated"), ("garbage", "not a database file")]


# Damage found when opening fails every command; damage inside (found when the pages are
# read) fails the commands that read every document. Either way the corruption is what the
# command reports (it used to be hidden by "busy" from closing the database), exit 1.
@pytest.mark.parametrize("how,needle,command", [
    *[(how, needle, command) for how, needle in _OPEN_FAILS for command in (["info"], ["ls"], ["get", "DB", "doc-0"])],
    ("garbage inside", "corrupt", ["info"]), ("garbage inside", "corrupt", ["ls"]),
])
def test_corrupt_database(tmp_path: Path, how: str, needle: str, command: List[str]) -> None:
    db = _corrupt_db(tmp_path, how)
    args = [db if a == "DB" else a for a in command] if "DB" in command else [*command, db]
    err = cli(*args, code=1, timeout=60).stderr
    assert "corrupt" in err and needle in err, err
    assert "busy" not in err


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


# ------------------------------------------------------------------ serve, sync, identity

class Lines:
    """A process's stdout lines, read by a thread so a test can wait for one with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.queue: "queue.Queue[str]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.queue.put(line.rstrip("\n"))
        self.queue.put("")  # end of output

    def wait_for(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if not line and (self.proc.poll() is not None or time.monotonic() >= deadline):
                self.proc.kill()
                raise AssertionError(f"no line starting {prefix!r}; saw {self.seen}; stderr: "
                                     f"{self.proc.stderr.read() if self.proc.stderr else ''}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line


class Server:
    """`p2psync serve` in the background; reads the URL and fingerprint it prints."""

    def __init__(self, db: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "p2psync", "serve", db, "--host", "127.0.0.1", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        self.lines = Lines(self.proc)
        self.url = self.lines.wait_for("url ").split()[1]
        self.fingerprint = self.lines.wait_for("fingerprint ").split()[1]
        assert re.fullmatch(r"wss://127\.0\.0\.1:\d+/[^/]+", self.url), self.url
        assert int(self.url.rsplit(":", 1)[1].split("/")[0]) > 0

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.lines.wait_for("stopped")
        assert self.proc.wait(30) == 0
        return self.proc.stderr.read()  # type: ignore[union-attr]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Tuple[Server, str]]:
    a = str(tmp_path / "a.db")
    for i in range(3):
        cli("put", a, f"a-{i}", json.dumps({"i": i}))
    server = Server(a, "--user", "bob:s3cret")
    try:
        yield server, a
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_serve_and_sync_both_ways(served: Tuple[Server, str], tmp_path: Path) -> None:
    server, a = served
    b = str(tmp_path / "b.db")
    cli("put", b, "b-0", '{"from": "b"}')
    res = cli("sync", b, server.url, "--user", "bob:s3cret", "--pin", server.fingerprint, "--json")
    summary = json.loads(res.stdout)
    assert summary["pulled"] == 3 and summary["pushed"] == 1 and summary["failed"] == 0
    # ls lists in sequence order: b-0 was written locally first; the pulled documents may be
    # inserted in any order within their batch.
    listed = out_lines(cli("ls", b))
    assert listed[0] == "b-0" and sorted(listed[1:]) == ["a-0", "a-1", "a-2"]
    # The password can come from the environment; a pin without colons is accepted too.
    env_user = subprocess.run([sys.executable, "-m", "p2psync", "sync", b, server.url, "--user", "bob", "--pin",
                               server.fingerprint.replace(":", "").lower()], capture_output=True, text=True,
                              env={**ENV, "P2PSYNC_PASSWORD": "s3cret"}, timeout=60)
    assert env_user.returncode == 0 and "pulled 0, pushed 0" in env_user.stdout, env_user.stderr
    server.stop()
    assert json.loads(cli("get", a, "b-0").stdout) == {"from": "b"}


def test_sync_refusals(served: Tuple[Server, str], tmp_path: Path) -> None:
    server, _ = served
    b = str(tmp_path / "b.db")
    wrong_pin = "00" * 32
    assert "mismatch" in cli("sync", b, server.url, "--user", "bob:s3cret", "--pin", wrong_pin, code=6).stderr
    assert "401" in cli("sync", b, server.url, "--user", "bob:wrong", "--pin", server.fingerprint, code=6).stderr
    assert "--self-signed" in cli("sync", b, server.url, "--user", "bob:s3cret", code=6).stderr
    cli("sync", b, server.url, "--user", "bob:s3cret", "--self-signed")
    assert "64 hex digits" in cli("sync", b, server.url, "--pin", "abc", code=2).stderr
    assert "one of" in cli("sync", b, server.url, "--pin", server.fingerprint, "--self-signed", code=2).stderr
    assert "NAME:PASSWORD" in cli("sync", b, server.url, "--user", "bob", "--self-signed", code=2).stderr


def test_busy_while_serving(served: Tuple[Server, str]) -> None:
    _, a = served
    assert "already open" in cli("put", a, "x", "{}", code=5).stderr


def test_continuous_sync_stops_cleanly_and_resumes(served: Tuple[Server, str], tmp_path: Path) -> None:
    server, _ = served
    b = str(tmp_path / "b.db")
    proc = subprocess.Popen([sys.executable, "-m", "p2psync", "sync", b, server.url, "--continuous", "--user",
                             "bob:s3cret", "--pin", server.fingerprint], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    lines = Lines(proc)
    line = lines.wait_for("idle")
    assert line.strip() == "idle: pulled 3, pushed 0"
    proc.send_signal(signal.SIGINT)
    assert "checkpoint saved" in lines.wait_for("pulled 3, pushed 0 documents")
    assert proc.wait(30) == 0, proc.stderr.read()  # type: ignore[union-attr]
    # The checkpoint was saved: the next sync has nothing to pull.
    assert json.loads(cli("sync", b, server.url, "--user", "bob:s3cret", "--pin", server.fingerprint,
                          "--json").stdout)["pulled"] == 0


def fill(path: str, prefix: str, count: int) -> None:
    """Creates (or extends) a database with `count` documents, in one batch."""
    import p2psync
    with p2psync.Database(path) as db, db.default_collection() as coll, db.batch() as batch:
        for i in range(count):
            batch.save(coll, f"{prefix}{i:04d}", {"i": i, "text": "x" * 200})


# The CLI with a slow document listener, as on a loaded machine: every event takes 0.3 ms
# a document to count.
SLOW_CLI = """
import sys, time
from p2psync import cli
count = cli.SyncProgress.on_documents
def slow(self, event):
    time.sleep(0.0003 * len(event.documents))
    count(self, event)
cli.SyncProgress.on_documents = slow
sys.exit(cli.main(sys.argv[1:]))
"""


def test_sync_counts_are_exact(tmp_path: Path) -> None:
    """`sync --json` counts every document it replicated: the replicator's stop waits for
    the document listener, so nothing is still on its way when the summary is printed."""
    a = str(tmp_path / "a.db")
    fill(a, "a-", 400)
    server = Server(a, "--user", "bob:s3cret")
    try:
        for run in range(3):
            b = str(tmp_path / f"b{run}.db")
            fill(b, f"b{run}-", 100)
            args = ["sync", b, server.url, "--user", "bob:s3cret", "--pin", server.fingerprint, "--json"]
            res = subprocess.run([sys.executable, "-c", SLOW_CLI, *args], capture_output=True, text=True, env=ENV,
                                 timeout=120)
            assert res.returncode == 0, res.stderr
            summary = json.loads(res.stdout)
            # Each run also pulls what the runs before it pushed.
            want = (400 + 100 * run, 100, 0)
            assert (summary["pulled"], summary["pushed"], summary["failed"]) == want, f"run {run}: {summary}"
    finally:
        server.stop()


def test_identity_commands(tmp_path: Path) -> None:
    p12 = str(tmp_path / "id.p12")
    created = cli("identity", "create", p12, "--cn", "test-peer", "--san", "127.0.0.1", "--password", "pw").stdout
    fingerprint = created.split()[-1]
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)
    assert os.stat(p12).st_mode & 0o077 == 0
    assert "exists" in cli("identity", "create", p12, code=2).stderr
    assert "password" in cli("identity", "show", p12, "--password", "wrong", code=6).stderr
    shown = json.loads(cli("identity", "show", p12, "--password", "pw", "--json").stdout)
    assert colon(shown["fingerprint"]) == fingerprint

    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    cli("identity", "export", p12, "--password", "pw", "--cert", cert, "--key", key)
    assert Path(cert).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in Path(key).read_text()
    assert cli("identity", "export", p12, "--password", "pw").stdout == Path(cert).read_text()
    copy = str(tmp_path / "copy.p12")
    assert cli("identity", "import", copy, "--cert", cert, "--key", key).stdout.split()[-1] == fingerprint

    # serve presents the identity it is given.
    server = Server(str(tmp_path / "db"), "--identity", p12, "--password", "pw")
    assert server.fingerprint == fingerprint
    assert "no --user" in server.stop()


def test_anonymous_identity_is_persistent(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    cli("put", db, "d", "{}")
    shown = cli("identity", "show", "--database", db).stdout
    first = Server(db, "--user", "u:p")
    first.stop()
    second = Server(db, "--user", "u:p")
    second.stop()
    assert first.fingerprint == second.fingerprint
    assert f"fingerprint  {first.fingerprint}" in shown


def colon(hex_digest: str) -> str:
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2)).upper()
