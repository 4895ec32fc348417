"""Blobs: creation from bytes, files and writers; reading as file-like objects; saving to
files; verification of damaged blobs; documents that refer to blobs; compaction; a writer
killed mid-blob; bounded memory for a large blob."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

import p2psync
from p2psync import Blob

HELLO = b"Hello from an inline attachment.\n"
HELLO_DIGEST = "sha1-gyVDxtgNqLc9qt2O+DDtfuD1dQY="


def blob_files(db_path: Path, suffix: str = ".blob") -> list:
    return sorted(p.name for p in (db_path / "blobs").iterdir() if p.name.endswith(suffix))


def test_round_trip_from_bytes(db: p2psync.Database) -> None:
    blob = Blob.from_bytes(db, HELLO, content_type="text/plain")
    assert blob.properties == {"@type": "blob", "content_type": "text/plain", "digest": HELLO_DIGEST, "length": 33}
    assert blob.digest == HELLO_DIGEST and blob.length == 33 and blob.exists()
    again = db.get_blob(blob.properties)
    assert again == blob and again.read() == HELLO
    assert db.get_blob(HELLO_DIGEST).length == 33
    with again.open() as r:
        assert r.length == 33
        assert r.read(5) == b"Hello"
        assert r.read() == HELLO[5:]
        assert r.read(10) == b""
    with pytest.raises(p2psync.NotFoundError):
        db.get_blob("sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    with pytest.raises(p2psync.InvalidArgumentError):
        db.get_blob({"@type": "blob", "length": 3})
    assert Blob.from_bytes(db, b"").read() == b""


def test_writer_streams_and_abandons(db: p2psync.Database, db_path: Path) -> None:
    with db.blob_writer("text/plain") as w:
        for i in range(0, len(HELLO), 4):
            w.write(HELLO[i:i + 4])
        w.write(bytearray(b""))
        blob = w.finish()
        assert w.finish() is blob
    assert blob.digest == HELLO_DIGEST and blob.content_type == "text/plain"
    assert w.closed

    before = blob_files(db_path)
    with db.blob_writer() as w:
        w.write(b"never finished")
    assert blob_files(db_path) == before and blob_files(db_path, ".tmp") == []
    with pytest.raises(RuntimeError):
        with db.blob_writer() as w:
            w.write(b"interrupted")
            raise RuntimeError("boom")
    assert blob_files(db_path) == before and blob_files(db_path, ".tmp") == []
    with pytest.raises(ValueError):
        w.write(b"after close")


def test_files_in_and_out(db: p2psync.Database, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(300_000))
    blob = Blob.from_path(db, src, content_type="application/octet-stream")
    assert blob.length == 300_000
    out = tmp_path / "out.bin"
    blob.save_to(out)
    assert out.read_bytes() == src.read_bytes()
    with blob.open() as r, open(tmp_path / "copy.bin", "wb") as f:
        shutil.copyfileobj(r, f, 7000)
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()
    with pytest.raises(p2psync.NotFoundError):
        Blob.from_path(db, tmp_path / "missing.bin")


def test_damaged_blob_is_corrupt(db: p2psync.Database, db_path: Path, tmp_path: Path) -> None:
    blob = Blob.from_bytes(db, b"precious bytes" * 1000)
    (name,) = blob_files(db_path)
    path = db_path / "blobs" / name
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(p2psync.CorruptError):
        blob.read()
    target = tmp_path / "out.bin"
    with pytest.raises(p2psync.CorruptError):
        blob.save_to(target)
    assert not target.exists() and list(tmp_path.glob(".out.bin*")) == []
    Blob.from_bytes(db, b"precious bytes" * 1000)  # storing the content again repairs it
    assert blob.read() == b"precious bytes" * 1000


def test_documents_and_compaction(db: p2psync.Database, coll: p2psync.Collection) -> None:
    keep, drop, loose = (Blob.from_bytes(db, x) for x in (b"keep", b"drop", b"loose"))
    coll.save("album", {"files": [keep.properties], "cover": drop.properties})
    doc = coll.get("album")
    assert db.get_blob(doc["cover"]).read() == b"drop"
    with pytest.raises(p2psync.NotFoundError):
        coll.save("bad", {"f": {"@type": "blob", "digest": "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "length": 1}})
    with pytest.raises(p2psync.InvalidArgumentError):
        coll.save("bad", {"f": {"@type": "blob", "digest": keep.digest, "length": 99}})

    assert db.compact()["blobs_removed"] == 0  # just written: kept once
    assert db.compact()["blobs_removed"] == 1
    assert not loose.exists() and keep.exists() and drop.exists()

    coll.save("album", {"files": [keep.properties]})
    coll.save("album", {"files": [keep.properties], "n": 2})  # the old body is no longer kept
    db.compact()
    assert not drop.exists() and keep.exists()

    coll.purge("album")
    db.compact()
    assert not keep.exists()


def test_database_stays_open_under_blob_handles(db: p2psync.Database) -> None:
    blob = Blob.from_bytes(db, b"x")
    w = db.blob_writer()
    r = blob.open()
    with pytest.raises(p2psync.BusyError):
        db.close()
    w.close()
    r.close()


CHILD = textwrap.dedent("""
    import sys
    import p2psync
    db = p2psync.Database(sys.argv[1])
    w = db.blob_writer()
    chunk = bytes(65536)
    while True:
        w.write(chunk)
""")


def test_crash_mid_write_leaves_no_blob(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(p2psync.__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, str(script), str(db_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            tmps = list((db_path / "blobs").glob("*.tmp")) if (db_path / "blobs").exists() else []
            if tmps and tmps[0].stat().st_size > 1 << 20:
                break
            assert child.poll() is None, "the child stopped before writing 1 MiB"
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert blob_files(db_path) == [] and len(blob_files(db_path, ".tmp")) == 1
    with p2psync.Database(db_path) as db:
        assert blob_files(db_path, ".tmp") == []
        assert db.compact()["temp_files_removed"] == 0


def test_large_blob_streams_with_bounded_memory(db: p2psync.Database, tmp_path: Path) -> None:
    size, chunk = 64 << 20, bytes(range(256)) * 256  # 64 MiB in 64 KiB chunks
    tracemalloc.start()
    try:
        with db.blob_writer() as w:
            for _ in range(size // len(chunk)):
                w.write(chunk)
            blob = w.finish()
        total = 0
        with blob.open() as r:
            buf = bytearray(1 << 16)
            while True:
                n = r.readinto(buf)
                if n == 0:
                    break
                assert buf[:n] == chunk[:n]
                total += n
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.length == size and total == size
    assert peak < 4 << 20, f"peak Python allocation {peak} bytes for a {size}-byte blob"


def test_replication_round_trip_through_tls_listener(tmp_path: Path) -> None:
    """A blob made on each side crosses a TLS listener with its document (one streamed
    through a writer in chunks, one from bytes), both ways in one push-and-pull; each
    arrives byte for byte under the same dictionary, with its document unchanged."""
    from p2psync import Listener, Replicator, TrustMode

    big = bytes((i * 7919 >> 3) & 0xFF for i in range(300_000))
    small = b"\x89PNG\x00\x00\x01\x02\x00\x03"
    with p2psync.Database(tmp_path / "a") as a, p2psync.Database(tmp_path / "b") as b, \
            a.default_collection() as ca, b.default_collection() as cb, \
            Listener(a, network_interface="127.0.0.1", credentials={"alice": "pw"}) as listener:
        listener.start()
        with listener.tls_identity() as ident:
            pin = ident.chain_pem
        with a.blob_writer("application/octet-stream") as w:
            for i in range(0, len(big), 70_000):
                w.write(big[i:i + 70_000])
            blob_a = w.finish()
        blob_b = Blob.from_bytes(b, small, content_type="image/png")
        ca.save("blob-a", {"title": "from a", "att": blob_a.properties})
        cb.save("blob-b", {"pics": [blob_b.properties]})
        with pytest.raises(p2psync.NotFoundError):
            b.get_blob(blob_a.properties)

        with Replicator(b, f"wss://127.0.0.1:{listener.port}/a", username="alice", password="pw",
                        trust_mode=TrustMode.PINNED, pinned_certificate=pin, max_attempts=2, retry_base=0.05) as repl:
            repl.start()
            status = repl.wait(60)
        assert status.error is None

        assert b.get_blob(blob_a.properties).read() == big
        assert a.get_blob(blob_b.properties).read() == small
        assert cb.get("blob-a").body == {"title": "from a", "att": blob_a.properties}
        assert ca.get("blob-b").body == {"pics": [blob_b.properties]}
        with b.get_blob(blob_a.digest).open() as r:  # streamed, verified at its end
            assert sum(len(chunk) for chunk in iter(lambda: r.read(65536), b"")) == len(big)
