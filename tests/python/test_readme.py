"""The README quickstarts run exactly as written (C and Python here; Kotlin in make test-kotlin)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def block(language: str) -> str:
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.M | re.S)
    assert len(blocks) == 1, f"expected one {language} quickstart in README.md"
    return blocks[0]


def test_c_quickstart(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler")
    src = tmp_path / "quickstart.c"
    src.write_text(block("c"))
    lib = ROOT / "build" / "lib"
    exe = tmp_path / "quickstart"
    subprocess.run([cc, str(src), f"-I{ROOT / 'include'}", f"-L{lib}", "-lp2psync", f"-Wl,-rpath,{lib}",
                    "-o", str(exe)], check=True, timeout=120)
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert 'note-1 = {"text":"hello"}' in res.stdout
    assert '"id":"note-1"' in res.stdout


def test_python_quickstart(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(block("python"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python"),
           "P2PSYNC_LIBRARY": str(ROOT / "build" / "lib" / "libp2psync.so")}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert "note-1 = {'text': 'hello, world'}" in res.stdout
    assert "heard ['note-2']" in res.stdout
