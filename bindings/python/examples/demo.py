"""Two peers syncing over TLS, in two processes: what `make demo` runs.

Peer A (a child process) serves its database with a Listener: TLS with the database's
anonymous, persisted identity, password authentication, a port the system picks. Peer B
(this process) runs a continuous push-and-pull Replicator that logs in and trusts exactly
the certificate whose fingerprint A printed. Then:

  1. a document written on A appears on B, and one written on B appears on A;
  2. B goes offline, both peers edit the same document, B reconnects: the conflict is
     resolved (here by merging the two edits) and both peers end with the same revision;
  3. A attaches a generated picture (a ~2 MB blob) to a document; B receives the document
     and the picture's content, and checks it against the digest;
  4. both peers write a few thousand documents at once; a progress bar follows them;
  5. a summary: documents each way, conflicts resolved, time, documents per second.

Everything below uses the public Python API (and the standard library). Run it with
`make demo`, or from the repository root after `make build`:

    P2PSYNC_LIBRARY=build/lib/libp2psync.so PYTHONPATH=bindings/python \\
        python3 bindings/python/examples/demo.py [--docs 2500]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

import p2psync

USER, PASSWORD = "peer-b", "correct horse battery staple"
TIMEOUT = 30.0  # seconds any single step may take before the demo gives up


PICTURE_W, PICTURE_H = 1024, 683  # a 3:2 picture, 2.1 MB as 24-bit pixels


def picture_rows() -> Any:
    """A generated test card as a binary PPM image (a format any image viewer opens): the
    header, then one row of RGB pixels at a time (colour bars over a gradient with some
    noise, so that it does not compress to nothing)."""
    yield f"P6\n{PICTURE_W} {PICTURE_H}\n255\n".encode("ascii")
    bars = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255)]
    noise = 0x2545F491
    for y in range(PICTURE_H):
        row = bytearray()
        for x in range(PICTURE_W):
            noise = (noise * 1103515245 + 12345) & 0x7FFFFFFF
            r, g, b = bars[x * len(bars) // PICTURE_W]
            shade = 64 + 191 * y // PICTURE_H
            jitter = noise >> 27
            row += bytes(((r * shade) // 255 ^ jitter, (g * shade) // 255 ^ jitter, (b * shade) // 255 ^ jitter))
        yield bytes(row)


def sha1_digest(chunks: Any) -> str:
    """The blob digest of some content: "sha1-" and the base64 of its SHA-1."""
    h = hashlib.sha1()
    for chunk in chunks:
        h.update(chunk)
    return "sha1-" + base64.b64encode(h.digest()).decode("ascii")


# ------------------------------------------------------------------ peer A (child process)


def peer_a(path: str) -> int:
    """Serves the database at `path` and obeys one JSON command per line on stdin."""

    def reply(**obj: Any) -> None:
        print(json.dumps(obj), flush=True)

    with p2psync.Database(path) as db, db.default_collection() as docs, \
            p2psync.Listener(db, network_interface="127.0.0.1", credentials={USER: PASSWORD}) as listener:
        listener.start()
        with listener.tls_identity() as identity:
            reply(url=listener.urls[0], fingerprint=identity.fingerprint)
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "put":
                current = docs.get(cmd["id"]).rev_id if cmd.get("update") else None
                doc = docs.save(cmd["id"], cmd["body"], parent_rev_id=current,
                                concurrency=p2psync.Concurrency.FAIL_ON_CONFLICT if current else
                                p2psync.Concurrency.LAST_WRITE_WINS)
                reply(rev=doc.rev_id)
            elif op == "bulk":
                with db.batch() as batch:
                    for i in range(cmd["count"]):
                        batch.save(docs, f"{cmd['prefix']}-{i:05d}", {"n": i, "from": "A"})
                reply(ok=True)
            elif op == "wait":  # until the document has the given body (or exists)
                deadline = time.monotonic() + TIMEOUT
                while True:
                    try:
                        doc = docs.get(cmd["id"])
                        if "body" not in cmd or doc.body == cmd["body"]:
                            reply(rev=doc.rev_id, body=doc.body, conflicts=docs.conflicts(cmd["id"]))
                            break
                    except p2psync.NotFoundError:
                        pass
                    if time.monotonic() > deadline:
                        reply(error=f"{cmd['id']} did not arrive within {TIMEOUT} s")
                        break
                    time.sleep(0.01)
            elif op == "picture":  # a generated picture, streamed into a blob, in a document
                with db.blob_writer("image/x-portable-pixmap") as w:
                    for row in picture_rows():
                        w.write(row)
                    blob = w.finish()
                doc = docs.save(cmd["id"], {"title": "generated test card", "image": blob.properties})
                reply(rev=doc.rev_id, image=blob.properties)
            elif op == "count":
                reply(count=docs.count())
            elif op == "quit":
                listener.stop()
                reply(ok=True)
                break
    return 0


class PeerA:
    """Peer B's handle on the child process."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--peer-a", str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = self._read()
        self.url: str = hello["url"]
        self.fingerprint: str = hello["fingerprint"]

    def _read(self) -> Dict[str, Any]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"peer A exited (status {self.proc.wait()})")
        obj = json.loads(line)
        if "error" in obj:
            raise RuntimeError(f"peer A: {obj['error']}")
        return obj

    def __call__(self, op: str, **args: Any) -> Dict[str, Any]:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def quit(self) -> None:
        self("quit")
        self.proc.stdin.close()  # type: ignore[union-attr]
        if self.proc.wait(TIMEOUT) != 0:
            raise RuntimeError(f"peer A exited with status {self.proc.returncode}")


# ------------------------------------------------------------------ peer B (this process)


class Tally:
    """Counts what the replicator reports, from its library thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pulled = 0
        self.pushed = 0
        self.failed = 0
        self.conflicts = 0
        self.last_error: Optional[Exception] = None

    def on_documents(self, event: p2psync.DocumentEvent) -> None:
        with self.lock:
            for doc in event.documents:
                if doc.error is not None:
                    self.failed += 1
                elif event.direction == "pull":
                    self.pulled += 1
                else:
                    self.pushed += 1

    def on_status(self, status: p2psync.ReplicatorStatus) -> None:
        if status.error is not None:
            self.last_error = status.error

    def merge(self, conflict: p2psync.Conflict) -> Dict[str, Any]:
        """Conflict resolver: keeps every field of both edits (remote wins a field both set)."""
        with self.lock:
            self.conflicts += 1
        return {**(conflict.local or {}), **(conflict.remote or {})}


def progress(done: int, total: int, started: float, width: int = 30) -> str:
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-9)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} documents  {rate:,.0f} docs/s"


def wait_until(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def wait_for_doc(coll: p2psync.Collection, doc_id: str) -> p2psync.Document:
    found = []

    def arrived() -> bool:
        try:
            found.append(coll.get(doc_id))
            return True
        except p2psync.NotFoundError:
            return False

    wait_until(arrived, f"{doc_id} on peer B")
    return found[-1]


def peer_b(workdir: Path, bulk: int) -> int:
    started = time.monotonic()
    print(f"libp2psync {p2psync.library_version()}: two peers, two processes, one TLS connection\n")
    a = PeerA(workdir / "peer-a")
    print(f"peer A  listening on {a.url}")
    print(f"        certificate fingerprint (SHA-256) {a.fingerprint}")
    # A person would compare the fingerprint by eye; B pins it, and the TLS handshake
    # refuses any other certificate before the credentials are sent.
    print("peer B  pins the certificate by that fingerprint")

    tally = Tally()
    with p2psync.Database(workdir / "peer-b") as db, db.default_collection() as docs:
        repl = p2psync.Replicator(
            db, a.url, continuous=True, username=USER, password=PASSWORD,
            trust_mode=p2psync.TrustMode.PINNED, pinned_fingerprint=a.fingerprint,
            collections=[p2psync.ReplicationCollection(docs, conflict_resolver=tally.merge)])
        with repl, repl.add_document_listener(tally.on_documents), repl.add_status_listener(tally.on_status):
            repl.start()
            wait_until(lambda: repl.status.activity == "idle" or tally.last_error is not None, "the first sync")
            if tally.last_error is not None:
                raise tally.last_error
            print(f"peer B  replicating continuously, both directions, as {USER!r}\n")

            # 1. Live edits travel both ways.
            t0 = time.monotonic()
            a("put", id="hello-from-a", body={"text": "written on A"})
            wait_for_doc(docs, "hello-from-a")
            print(f"1. A wrote hello-from-a  -> on B after {1000 * (time.monotonic() - t0):.0f} ms")
            t0 = time.monotonic()
            docs.save("hello-from-b", {"text": "written on B"})
            a("wait", id="hello-from-b")
            print(f"   B wrote hello-from-b  -> on A after {1000 * (time.monotonic() - t0):.0f} ms")

            # 2. A conflict: both edit the same document while B is offline.
            base = docs.save("shared", {"title": "shopping list"})
            a("wait", id="shared", body=base.body)
            repl.stop()
            a("put", id="shared", update=True, body={"title": "shopping list", "milk": 2})
            docs.save("shared", {"title": "shopping list", "eggs": 12}, parent_rev_id=base.rev_id,
                      concurrency=p2psync.Concurrency.FAIL_ON_CONFLICT)
            print("2. B offline; A adds milk and B adds eggs to the same document; B reconnects")
            repl.start()
            merged = {"title": "shopping list", "milk": 2, "eggs": 12}
            on_a = a("wait", id="shared", body=merged)
            wait_until(lambda: docs.get("shared").body == merged and not docs.conflicts("shared"),
                       "the merged revision on B")
            same = on_a["rev"] == docs.get("shared").rev_id and not on_a["conflicts"]
            print(f"   conflict resolved by merging: {json.dumps(merged)} on both peers"
                  f" ({'same revision' if same else 'DIFFERENT revisions'})")
            if not same:
                raise RuntimeError("the peers disagree about the merged document")

            # 3. A picture: a blob travels with its document.
            t0 = time.monotonic()
            image = a("picture", id="photo-1")["image"]
            wait_for_doc(docs, "photo-1")
            picture = p2psync.Blob(db, docs.get("photo-1")["image"])
            try:
                wait_until(picture.exists, "the picture's content on peer B")
            except RuntimeError:
                raise RuntimeError(f"photo-1 arrived on B without its {image['length'] / 1e6:.1f} MB picture "
                                   f"({image['digest']}): its blob content was not replicated") from None
            with picture.open() as r:  # streamed; the reader also checks the digest at the end
                received = sha1_digest(iter(lambda: r.read(1 << 16), b""))
            if received != image["digest"] or picture.length != image["length"]:
                raise RuntimeError(f"the picture on B differs from A's: {received} != {image['digest']}")
            print(f"3. A attached a {image['length'] / 1e6:.1f} MB picture to photo-1  -> on B after "
                  f"{1000 * (time.monotonic() - t0):.0f} ms, content verified ({image['digest']})")

            # 4. Bulk transfer, both directions at once.
            print(f"4. A and B each write {bulk} documents at once")
            before_pulled, before_pushed = tally.pulled, tally.pushed
            t_bulk = time.monotonic()
            a("bulk", prefix="bulk-a", count=bulk)
            with db.batch() as batch:
                for i in range(bulk):
                    batch.save(docs, f"bulk-b-{i:05d}", {"n": i, "from": "B"})
            total, tty = 2 * bulk, sys.stdout.isatty()
            last_draw, next_mark = 0.0, 0
            while True:
                done = min(tally.pulled - before_pulled, bulk) + min(tally.pushed - before_pushed, bulk)
                now = time.monotonic()
                if tty and (now - last_draw > 0.1 or done == total):
                    print("\r   " + progress(done, total, t_bulk), end="", flush=True)
                    last_draw = now
                elif not tty and 100 * done >= next_mark * total:  # logs get a line per quarter
                    print("   " + progress(done, total, t_bulk), flush=True)
                    next_mark += 25
                if done == total:
                    break
                if now - t_bulk > TIMEOUT:
                    raise RuntimeError(f"bulk transfer stalled at {done}/{total} documents")
                if tally.last_error is not None:
                    raise tally.last_error
                time.sleep(0.02)
            bulk_seconds = time.monotonic() - t_bulk
            if tty:
                print()
            count_a, count_b = a("count")["count"], docs.count()
            if count_a != count_b:
                raise RuntimeError(f"peer A has {count_a} documents, peer B {count_b}")
            repl.stop()  # saves the checkpoint
        a.quit()

    elapsed = time.monotonic() - started
    print("\nsummary")
    print(f"  documents A -> B   {tally.pulled}")
    print(f"  documents B -> A   {tally.pushed}")
    print(f"  conflicts resolved {tally.conflicts}")
    print(f"  blob A -> B        {image['length']:,} bytes ({image['content_type']}), verified")
    print(f"  documents on each  {count_b}")
    print(f"  bulk transfer      {2 * bulk} documents in {bulk_seconds:.2f} s = {2 * bulk / bulk_seconds:,.0f} docs/s")
    print(f"  total time         {elapsed:.1f} s")
    if tally.failed or tally.conflicts < 1:
        print(f"demo FAILED: {tally.failed} document errors, {tally.conflicts} conflicts", file=sys.stderr)
        return 1
    if p2psync.live_handles() != 0:
        print(f"demo FAILED: {p2psync.live_handles()} library objects left open", file=sys.stderr)
        return 1
    print("demo OK")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Two libp2psync peers syncing over TLS in two processes.")
    parser.add_argument("--docs", type=int, default=2500, help="documents each peer writes in bulk (default 2500)")
    parser.add_argument("--peer-a", metavar="PATH", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.peer_a:
        return peer_a(args.peer_a)
    workdir = Path(tempfile.mkdtemp(prefix="p2psync-demo-"))
    try:
        return peer_b(workdir, args.docs)
    except (p2psync.P2PSyncError, RuntimeError, OSError) as e:
        print(f"\ndemo FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
