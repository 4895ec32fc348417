"""The Python programs under examples/ run as users would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "python").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python"),
           "P2PSYNC_LIBRARY": str(ROOT / "build" / "lib" / "libp2psync.so")}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("example OK")


def test_there_are_examples() -> None:
    assert EXAMPLES, "no Python examples found"
