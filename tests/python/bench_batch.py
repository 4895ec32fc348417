"""Benchmark W8 (tests/bench/WORKLOAD.md): the W1 documents saved from Python in batches of
1,000 and read back in bulk, against the engine's own batched insert of the same documents
measured in the same run (tests/bench/store -engine-only -many -nobody: Batch.SaveMany, the
path the C bulk save takes; run between the Python runs).

Run by `make bench` (not by `make test`):
    P2PSYNC_LIBRARY=build/lib/libp2psync.so PYTHONPATH=bindings/python \\
        python3 tests/python/bench_batch.py [--n 20000] [--runs 3] [--engine build/bench/store-bench]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import p2psync

ROOT = Path(__file__).resolve().parents[2]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def payload(i: int, length: int) -> str:
    x = ((i * 2654435761) % 2**32) ^ 0x9E3779B9
    if x == 0:
        x = 1
    out = []
    for _ in range(length):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(ALPHABET[x & 63])
    return "".join(out)


def score_text(i: int) -> str:
    """((i * 7919) mod 100000) / 100 written as Go's strconv.FormatFloat(v, 'f', -1)."""
    v = ((i * 7919) % 100000) / 100
    return str(int(v)) if v == int(v) else repr(v)


def doc_text(i: int) -> Tuple[str, str]:
    """Document i of the ~1 KB set, byte for byte as tests/bench/workload.Doc writes it."""
    return (f"doc-{i:06d}", f'{{"n":{i},"kind":"bench","group":"g{i % 100}","score":{score_text(i)},'
                            f'"created":"2024-01-01T00:00:00.000Z","payload":"{payload(i, 900)}"}}')


# SHA-256 over ID then body of documents 1..20,000 of the ~1 KB set (tests/bench/WORKLOAD.md, W8).
W1_FINGERPRINT_20K = "78c541d4907a22edec9efb98db59534670a463d27cd32998ee92675081c2c6f3"


def fingerprint(docs: List[Tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for doc_id, body in docs:
        h.update(doc_id.encode())
        h.update(body.encode())
    return h.hexdigest()


def engine_rate(binary: Path, n: int, batch: int) -> float:
    out = subprocess.run([str(binary), "-engine-only", "-many", "-nobody", "-n", str(n), "-runs", "1", "-batch", str(batch)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def timed(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def run_once(dirpath: Path, docs_text: List[Tuple[str, str]], docs_dict: List[Tuple[str, Dict]],
             batch: int, loop: bool) -> Dict[str, float]:
    rates: Dict[str, float] = {}
    n = len(docs_text)

    def fresh(name: str) -> Tuple[p2psync.Database, p2psync.Collection]:
        db = p2psync.Database(str(dirpath / name))
        return db, db.default_collection()

    db, coll = fresh("text")

    def save_text() -> None:
        for lo in range(0, n, batch):
            with db.batch() as b:
                b.save_many(coll, docs_text[lo:lo + batch])
    rates["save_many (JSON text)"] = timed(n, save_text)
    ids = [d[0] for d in docs_text]

    def read() -> None:
        for lo in range(0, n, batch):
            got = coll.get_many(ids[lo:lo + batch])
            assert got[-1] is not None and got[-1].json == docs_text[min(lo + batch, n) - 1][1]
    rates["get_many"] = timed(n, read)
    coll.close()
    db.close()

    db, coll = fresh("dict")

    def save_dict() -> None:
        for lo in range(0, n, batch):
            with db.batch() as b:
                b.save_many(coll, docs_dict[lo:lo + batch])
    rates["save_many (dicts)"] = timed(n, save_dict)
    coll.close()
    db.close()

    if loop:
        db, coll = fresh("loop")

        def save_loop() -> None:
            for lo in range(0, n, batch):
                with db.batch() as b:
                    for doc_id, body in docs_text[lo:lo + batch]:
                        b.save(coll, doc_id, body)
        rates["Batch.save loop"] = timed(n, save_loop)
        coll.close()
        db.close()
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="documents (default 20,000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--no-loop", action="store_true", help="skip the one-call-per-document Batch.save loop")
    ap.add_argument("--engine", help="a built tests/bench/store binary (default: go build it here)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-python-"))
    try:
        binary = Path(args.engine) if args.engine else work / "store-bench"
        if not args.engine:
            subprocess.run(["go", "build", "-o", str(binary), "./tests/bench/store"], cwd=ROOT, check=True)
        docs_text = [doc_text(i) for i in range(1, args.n + 1)]
        if args.n >= 20000 and fingerprint(docs_text[:20000]) != W1_FINGERPRINT_20K:
            raise SystemExit("generated documents differ from tests/bench/workload.Doc's")
        docs_dict = [(i, json.loads(t)) for i, t in docs_text]
        print(f"W8 Python bulk save/read: {args.n} docs (~1 KB, W1's), batches of {args.batch}, {args.runs} runs")
        results: Dict[str, List[float]] = {}
        for r in range(args.runs):
            eng = engine_rate(binary, args.n, args.batch)
            results.setdefault("engine batched insert", []).append(eng)
            rates = run_once(work / f"run-{r}", docs_text, docs_dict, args.batch, not args.no_loop)
            for k, v in rates.items():
                results.setdefault(k, []).append(v)
            shutil.rmtree(work / f"run-{r}", ignore_errors=True)
            print(f"  run {r + 1}: engine {eng:.0f}/s | " + " | ".join(f"{k} {v:.0f}/s" for k, v in rates.items()))
        eng_med = statistics.median(results["engine batched insert"])
        for name, xs in results.items():
            med = statistics.median(xs)
            print(f"{name:24s} docs/s  min {min(xs):8.0f}  median {med:8.0f}  max {max(xs):8.0f}"
                  f"  ratio to engine insert {med / eng_med:.2f}")
        assert p2psync.live_handles() == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
