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
import textwrap
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
    assert meta["rev_id"] == rev and "rev" not in meta and meta["sequence"] == 1 and meta["deleted"] is False and meta["conflicts"] == []
    assert meta["version"] == f'{meta["timestamp"]:x}@' + meta["version"].split("@")[1] and meta["timestamp"] > 0
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
    assert [r["id"] for r in rows] == ["doc-2"] and set(rows[0]) == {"sequence", "id", "rev_id", "deleted"}
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
    commands = [c for c in ("put", "get", "delete", "ls", "info", "compact", "serve", "sync", "identity") if f"    {c}" in top]
    assert {"put", "get", "delete", "ls", "info", "compact"} <= set(commands)
    for command in commands:
        res = cli(command, "--help")
        assert res.stdout.startswith("usage: p2psync " + command)


def test_version() -> None:
    assert cli("--version").stdout.startswith("p2psync 2.")


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
    # The password can come from the environment; a pin in openssl's form is accepted too.
    env_user = subprocess.run([sys.executable, "-m", "p2psync", "sync", b, server.url, "--user", "bob", "--pin",
                               "SHA256:" + colon(server.fingerprint)], capture_output=True, text=True,
                              env={**ENV, "P2PSYNC_PASSWORD": "s3cret"}, timeout=60)
    assert env_user.returncode == 0 and "pulled 0, pushed 0" in env_user.stdout, env_user.stderr
    server.stop()
    assert json.loads(cli("get", a, "b-0").stdout) == {"from": "b"}


def test_sync_refusals(served: Tuple[Server, str], tmp_path: Path) -> None:
    server, _ = served
    b = str(tmp_path / "b.db")
    wrong_pin = "00" * 32
    mismatch = cli("sync", b, server.url, "--user", "bob:s3cret", "--pin", wrong_pin, code=6).stderr
    # One fingerprint form in every output: the error names both as `serve` prints them.
    assert f"expected {wrong_pin}, the listener presented {server.fingerprint}" in mismatch, mismatch
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
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)  # the one form: as Identity.fingerprint gives it
    assert os.stat(p12).st_mode & 0o077 == 0
    assert "exists" in cli("identity", "create", p12, code=2).stderr
    assert "password" in cli("identity", "show", p12, "--password", "wrong", code=6).stderr
    shown = json.loads(cli("identity", "show", p12, "--password", "pw", "--json").stdout)
    assert shown["fingerprint"] == fingerprint
    assert cli("identity", "show", p12, "--password", "pw").stdout.count(fingerprint) == 1

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


def test_read_only_serve_warns_about_reading(tmp_path: Path) -> None:
    """Without --user, a read-only listener lets anyone read, not write: the warning says so."""
    err = Server(str(tmp_path / "ro"), "--read-only").stop()
    assert "can read the database" in err and "write" not in err
    assert "can read and write the database" in Server(str(tmp_path / "rw")).stop()


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


# ------------------------------------------------------------------ blobs: put --attach, get --save-blobs, compact


def blob_files(db: str) -> List[Path]:
    return sorted((Path(db) / "blobs").glob("*.blob"))


def test_put_attach_and_save_blobs(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    photo = tmp_path / "sunset.jpg"
    photo.write_bytes(bytes((i * 7919) & 0xFF for i in range(300_000)))
    notes = tmp_path / "notes.dat"
    notes.write_bytes(b"# hello\n")
    res = cli("put", db, "photo-1", '{"title": "sunset"}', "--attach", str(photo),
              "--attach", f"{notes}:text", "--content-type", "text/markdown")
    lines = out_lines(res)
    assert lines[0].split()[0] == "photo-1" and lines[0].split()[1].startswith("1-")
    assert lines[1].startswith(f"attached {photo} as sunset: 300,000 bytes, image/jpeg, sha1-")
    assert lines[2].startswith(f"attached {notes} as text: 8 bytes, text/markdown, sha1-")

    body = json.loads(cli("get", db, "photo-1").stdout)
    assert body["title"] == "sunset"
    assert body["sunset"]["@type"] == "blob" and body["sunset"]["length"] == 300_000
    assert body["sunset"]["content_type"] == "image/jpeg" and body["sunset"]["digest"].startswith("sha1-")
    assert body["text"]["content_type"] == "text/markdown" and body["text"]["length"] == 8

    info = json.loads(cli("info", db, "--json").stdout)
    assert info["blobs"] == {"count": 2, "bytes": 300_008}
    assert "2 blobs stored, 300,008 bytes" in cli("info", db).stdout

    out = tmp_path / "out"
    saved = out_lines(cli("get", db, "photo-1", "--save-blobs", str(out)))
    assert saved == [f"saved {out}/sunset.jpg (300,000 bytes, image/jpeg) from /sunset",
                     f"saved {out}/text.md (8 bytes, text/markdown) from /text"]
    assert (out / "sunset.jpg").read_bytes() == photo.read_bytes()
    assert (out / "text.md").read_bytes() == notes.read_bytes()

    # Existing files are not replaced without --force (and nothing is written).
    (out / "text.md").write_bytes(b"mine")
    assert "exists" in cli("get", db, "photo-1", "--save-blobs", str(out), code=2).stderr
    assert (out / "text.md").read_bytes() == b"mine"
    meta = json.loads(cli("get", db, "photo-1", "--save-blobs", str(out), "--force", "--meta").stdout)
    assert meta["body"] == body
    assert [(b["pointer"], b["file"], b["length"]) for b in meta["blobs"]] == [
        ("/sunset", f"{out}/sunset.jpg", 300_000), ("/text", f"{out}/text.md", 8)]
    assert (out / "text.md").read_bytes() == notes.read_bytes()

    # Standard input still works with --attach ('-'); a document without blobs says so.
    cli("put", db, "photo-2", "-", "--attach", f"{photo}:image", stdin='{"n": 2}')
    assert json.loads(cli("get", db, "photo-2").stdout)["n"] == 2
    cli("put", db, "plain", '{"n": 3}')
    assert out_lines(cli("get", db, "plain", "--save-blobs", str(tmp_path / "none"))) == ["plain refers to no blobs"]
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("args,code,needle", [
    (["--attach", "NOFILE"], 1, "no such file"),
    (["--attach", "DIR:x"], 2, "not a regular file"),
    (["{\"title\": 1}", "--attach", "FILE:title"], 2, "already has a property 'title'"),
    (["--attach", "FILE:p", "--attach", "FILE:p"], 2, "both go to property 'p'"),
    (["--attach", "FILE:_attachments"], 2, "reserved top-level property: \"_attachments\""),
    (["--attach", "FILE:x", "--content-type", "a/b", "--content-type", "c/d"], 2, "two --content-type"),
    (["--attach", "FILE:"], 2, "FILE:PROPERTY"),
    (["--content-type", "text/plain"], 2, "--attach FILE first"),
])
def test_put_attach_errors(tmp_path: Path, args: List[str], code: int, needle: str) -> None:
    db = str(tmp_path / "db")
    cli("put", db, "seed", "{}")
    (tmp_path / "file.bin").write_bytes(b"content")
    subst = {"NOFILE": str(tmp_path / "missing.bin"), "DIR:x": f"{tmp_path}:x"}
    args = [subst.get(a, a.replace("FILE", str(tmp_path / "file.bin"))) for a in args]
    res = subprocess.run([sys.executable, "-m", "p2psync", "put", db, "d", *args], capture_output=True, text=True,
                         env=ENV, timeout=60)
    assert res.returncode == code, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    cli("get", db, "d", code=3)


def test_save_blobs_reports_missing_blobs(tmp_path: Path) -> None:
    """A document whose blob content is not in the database (as on a peer that received
    the document but not the content): the blobs present are saved, the missing ones are
    named on one line, exit code 7."""
    db = str(tmp_path / "db")
    a, b = tmp_path / "a.txt", tmp_path / "b.png"
    a.write_bytes(b"present")
    b.write_bytes(b"\x89PNG gone")
    cli("put", db, "d", "--attach", f"{a}:kept", "--attach", f"{b}:lost")
    lost = json.loads(cli("get", db, "d").stdout)["lost"]
    [lost_file] = [p for p in blob_files(db) if p.stat().st_size == len(b"\x89PNG gone")]
    lost_file.unlink()

    out = tmp_path / "out"
    res = cli("get", db, "d", "--save-blobs", str(out), code=7)
    assert res.stdout.strip() == f"saved {out}/kept.txt (7 bytes, text/plain) from /kept"
    assert "1 of 2 blobs not saved" in res.stderr and f"/lost {lost['digest']}: not in this database" in res.stderr
    assert (out / "kept.txt").read_bytes() == b"present" and sorted(os.listdir(out)) == ["kept.txt"]
    meta = json.loads(cli("get", db, "d", "--save-blobs", str(out), "--force", "--meta", code=7).stdout)
    assert [(x["pointer"], x["file"], x.get("missing")) for x in meta["blobs"]] == [
        ("/kept", f"{out}/kept.txt", None), ("/lost", None, "not in this database")]


def test_save_blobs_names_stay_inside_the_directory(tmp_path: Path) -> None:
    import p2psync
    db = tmp_path / "db"
    with p2psync.Database(db) as database, database.default_collection() as coll:
        blobs = [p2psync.Blob.from_bytes(database, f"content {i}".encode(), "image/png") for i in range(6)]
        coll.save("evil", {"../../escape": blobs[0].properties, "/etc/passwd": blobs[1].properties,
                           "album": [blobs[2].properties, {"cover": blobs[3].properties}],
                           "a/b": blobs[4].properties, "a_b": blobs[5].properties,
                           "..": blobs[0].properties, "x" * 500: blobs[1].properties})
    out = tmp_path / "deep" / "out"
    lines = out_lines(cli("get", str(db), "evil", "--save-blobs", str(out)))
    assert len(lines) == 8
    names = sorted(os.listdir(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "deep"] and os.listdir(tmp_path / "deep") == ["out"]
    assert all(re.fullmatch(r"[A-Za-z0-9+_][A-Za-z0-9._+-]*", n) and len(n) <= 120 for n in names), names
    assert {"album-0.png", "album-1-cover.png", "a_b.png", "a_b-2.png", "_etc_passwd.png", "blob.png"} <= set(names)
    assert len(names) == 8


def test_blob_file_names_from_untrusted_text() -> None:
    from p2psync import cli as tool
    name = tool.blob_file_name
    assert name("/photo", None, {"content_type": "image/jpeg"}) == "photo.jpg"
    assert name("/photo.jpeg", None, {"content_type": "image/jpeg"}) == "photo.jpeg"
    assert name("/a~1b/0", None, {}) == "a_b-0"
    assert name("", None, {}) == "blob"
    # Legacy attachment names (a received `_attachments`) are untrusted too.
    for evil in ("../../etc/passwd", "/abs/path", "..", ".hidden", "-rf", "a\x00b", "dir\\..\\x", "é/ü"):
        n = name("/_attachments/x", evil, {"content_type": "text/plain"})
        assert "/" not in n and "\\" not in n and "\x00" not in n and not n.startswith((".", "-")), n
    refs = tool.blob_references({"_attachments": {"pic.png": {"digest": "sha1-x"}},
                                 "list": [{"@type": "blob", "digest": "sha1-y"}]})
    assert [(p, n) for p, n, _ in refs] == [("/_attachments/pic.png", "pic.png"), ("/list/0", None)]


def test_compact(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 1000)
    cli("put", db, "d", "--attach", f"{f}:file")
    assert cli("compact", db).stdout.strip() == "removed 0 blobs (0 bytes), kept 1"
    cli("put", db, "d", "{}")
    cli("put", db, "d", '{"v": 2}')  # the body that referred to the blob is no longer kept
    assert json.loads(cli("compact", db, "--json").stdout) == {
        "blobs_removed": 1, "bytes_removed": 1000, "blobs_kept": 0, "temp_files_removed": 0}
    assert json.loads(cli("info", db, "--json").stdout)["blobs"] == {"count": 0, "bytes": 0}
    cli("compact", str(tmp_path / "nodb"), code=3)


def test_serve_logs_connections_and_peer_errors(served: Tuple[Server, str], tmp_path: Path) -> None:
    """`serve` logs one line on standard error per connection opened and closed (peer
    address, user, subprotocol, collections) and per error a peer caused."""
    server, _ = served
    b = str(tmp_path / "b.db")
    cli("sync", b, server.url, "--user", "bob:s3cret", "--pin", server.fingerprint)
    cli("sync", b, server.url, "--user", "bob:wrong", "--pin", server.fingerprint, code=6)
    err = server.stop()
    lines = err.splitlines()

    def one(*parts: str) -> str:
        found = [ln for ln in lines if all(p in ln for p in parts)]
        assert len(found) == 1, f"{parts} in {lines}"
        return found[0]

    opened = one("INFO listener: connection opened", "user=bob", "subprotocol=BLIP_3+CBMobile_4")  # the default
    peer = re.search(r"peer=(127\.0\.0\.1:\d+)", opened).group(1)  # type: ignore[union-attr]
    one("INFO listener: peer asked for collections", f"peer={peer}", "collections=_default._default")
    one("INFO listener: connection closed", f"peer={peer}", "user=bob", "docs_sent=3", "reason=")
    one("WARNING listener: connection refused: credentials not accepted", "username=bob")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", opened), opened


def test_import_export_roundtrip_in_batches(tmp_path: Path) -> None:
    src = tmp_path / "docs.jsonl"
    with open(src, "w") as f:
        for i in range(2500):
            f.write(json.dumps({"id": f"d{i:04}", "body": {"n": i, "name": f"doc {i}"}}) + "\n")
        f.write("\n")  # blank lines are skipped
    db = str(tmp_path / "db")
    res = cli("import", db, str(src), "--batch", "1000")
    assert re.fullmatch(r"imported 2500 documents in \d+\.\d s", res.stdout.strip()), res.stdout
    assert json.loads(cli("get", db, "d1234").stdout) == {"n": 1234, "name": "doc 1234"}
    exported = cli("export", db).stdout.splitlines()
    assert len(exported) == 2500
    first = json.loads(exported[0])
    assert first["id"] == "d0000" and first["body"] == {"n": 0, "name": "doc 0"} and first["rev_id"].startswith("1-")
    # What export writes, import reads (rev_id is accepted; the documents get new revisions),
    # and so is the "rev" key of files exported before it was named like the bindings.
    copy = str(tmp_path / "copy")
    cli("import", copy, "-", stdin="\n".join(exported) + "\n")
    old = json.dumps({"id": "old", "rev": "3-abc", "body": {"k": 1}})
    cli("import", str(tmp_path / "old"), "-", stdin=old + "\n")
    assert json.loads(cli("get", str(tmp_path / "old"), "old").stdout) == {"k": 1}
    assert [json.loads(x)["body"] for x in cli("export", copy).stdout.splitlines()] == [json.loads(x)["body"] for x in exported]
    assert json.loads(cli("info", copy, "--json").stdout)["collections"][0]["documents"] == 2500


def test_import_bad_line_names_it_and_keeps_earlier_batches(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    lines = [json.dumps({"id": f"d{i}", "body": {"n": i}}) for i in range(5)]
    lines.insert(3, '{"id": "x", "body": [1, 2]}')
    src.write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "db")
    res = cli("import", db, str(src), "--batch", "2", code=2)
    assert f"{src}:4: \"body\" must be a JSON object" in res.stderr
    assert "(2 documents imported before it, in whole batches of 2" in res.stderr
    assert cli("ls", db).stdout.split() == ["d0", "d1"]
    for bad, message in [("[1]", "expected an object"), ('{"id": "a", "body": {}, "x": 1}', "unknown key(s) 'x'"),
                         ('{"id": "", "body": {}}', '"id" must be a non-empty string'), ("{oops", "not valid JSON")]:
        res = cli("import", str(tmp_path / "db2"), "-", stdin=bad + "\n", code=2)
        assert "<stdin>:1: " + message in res.stderr, res.stderr


def test_import_progress_shows_count_rate_eta_and_never_goes_back(tmp_path: Path) -> None:
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "body": {"n": i}}) + "\n" for i in range(3000)))
    res = cli("import", str(tmp_path / "db"), str(src), "--batch", "100", "--progress")
    # (text mode reads each "\r" as a line end)
    frames = [f.replace("\x1b[K", "") for f in re.split(r"[\r\n]", res.stderr) if f.strip()]
    assert frames and res.stderr.endswith("\n")
    counts, percents = [], []
    for frame in frames:
        m = re.match(r"\[[#.]{24}\]\s+([\d.]+)%  ([\d,]+) docs  [\d,]+ docs/s", frame.strip())
        assert m, frame
        percents.append(float(m.group(1)))
        counts.append(int(m.group(2).replace(",", "")))
    assert counts == sorted(counts) and percents == sorted(percents)
    assert counts[-1] == 3000 and percents[-1] == 100.0


def test_progress_never_goes_backwards_when_the_total_grows() -> None:
    import io
    from p2psync.cli import Progress
    now = [0.0]
    out = io.StringIO()
    p = Progress(True, total=100, clock=lambda: now[0], stream=out)
    now[0] = 1.0
    p.update(50, 50)
    assert "50.0%" in p.line() and "50 docs/s" in p.line() and "ETA 1s" in p.line()
    now[0] = 2.0
    p.update(60, 60, total=1000)  # the work grew: 6 %, but the display stays at 50 %
    assert "50.0%" in p.line() and "60 docs" in p.line()
    p.update(40, 40)  # a smaller count is not shown either
    assert "60 docs" in p.line()
    p.update(1000, 1000)
    assert "100.0%" in p.line() and "ETA" not in p.line()


def test_sync_progress_bar_never_goes_back_and_shows_eta() -> None:
    from p2psync import ReplicatorStatus
    from p2psync.cli import SyncProgress
    p = SyncProgress(False)
    p.on_status(ReplicatorStatus("busy", 50, 100, None))
    first = p.line()
    assert first.startswith("[" + "#" * 12 + "." * 12 + "] busy") and "ETA " in first
    p.on_status(ReplicatorStatus("busy", 60, 1000, None))  # more work found: 6 %, the bar stays
    assert p.line().startswith("[" + "#" * 12 + "." * 12 + "]")
    p.on_status(ReplicatorStatus("idle", 1000, 1000, None))
    assert p.line().startswith("[" + "#" * 24 + "] idle") and "ETA" not in p.line()


def test_signal_while_waiting_for_it_stops(tmp_path: Path) -> None:
    """The SIGINT/SIGTERM handler runs in the main thread between two bytecodes, possibly
    while that thread is inside its own wait for the stop flag: the handler must not take
    a lock the waiter may hold. (It was a threading.Event: set() from the handler, landing
    while Event.wait held the Event's lock, waited forever for itself, and `serve` never
    printed "stopped" after Ctrl-C.) Here the main thread polls the flag without pause,
    so nearly every signal lands inside the wait."""
    script = tmp_path / "waiter.py"
    script.write_text(textwrap.dedent("""
        import os, signal, sys, threading, time
        from p2psync.cli import stop_on_signals
        stop = stop_on_signals()
        for i in range(20):
            threading.Timer(0.05 * (i + 1), os.kill, (os.getpid(), signal.SIGINT)).start()
        deadline = time.monotonic() + 5
        while not stop.wait(0) and time.monotonic() < deadline:
            pass
        print("stopped" if stop.is_set() else "not stopped", flush=True)
        time.sleep(1.2)  # the other timers' signals land in the same loop, now idle
        print("still alive", flush=True)
    """))
    for _ in range(5):
        res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=ENV, timeout=30)
        assert res.returncode == 0 and res.stdout.split() == ["stopped", "still", "alive"], (res.stdout, res.stderr)
