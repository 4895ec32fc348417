"""`make demo`'s program: two processes sync over TLS, with a conflict, a picture (a blob)
and a bulk transfer, and finish well under a minute."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_two_peers() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python"),
           "P2PSYNC_LIBRARY": str(ROOT / "build" / "lib" / "libp2psync.so")}
    started = time.monotonic()
    res = subprocess.run([sys.executable, str(ROOT / "bindings" / "python" / "examples" / "demo.py")],
                         capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.monotonic() - started
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert re.search(r"listening on wss://127\.0\.0\.1:\d+/", out)
    assert "conflict resolved by merging" in out and "(same revision)" in out
    assert re.search(r"documents A -> B\s+(\d+)", out) and int(re.search(r"documents A -> B\s+(\d+)", out)[1]) >= 2500
    assert int(re.search(r"documents B -> A\s+(\d+)", out)[1]) >= 2500
    assert re.search(r"conflicts resolved 1\b", out)
    assert re.search(r"3\. A attached a 2\.1 MB picture to photo-1  -> on B after \d+ ms, content verified \(sha1-", out)
    assert re.search(r"blob A -> B\s+2,098,192 bytes \(image/x-portable-pixmap\), verified", out)
    assert "5000/5000 documents" in out
    assert out.rstrip().endswith("demo OK")
    assert elapsed < 60, f"the demo took {elapsed:.0f} s"
