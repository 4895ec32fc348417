"""The README's examples run exactly as written: the C and Python quickstarts and the shell
sessions here, the Kotlin quickstart in make test-kotlin. A shell block that must not run
(it installs something, or is what runs the tests) is preceded by `<!-- readme-test: skip ... -->`."""

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


def block(language: str, first_line: str = "") -> str:
    """The README's one `language` block whose first line starts with first_line."""
    blocks = [b for b in re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.M | re.S)
              if b.startswith(first_line)]
    assert len(blocks) == 1, f"expected one {language} block starting {first_line!r} in README.md"
    return blocks[0]


PYTHON_BLOCKS = ("# quickstart.py", "# sync.py", "# blobs.py")


def test_every_python_block_is_run() -> None:
    firsts = [b.splitlines()[0] for b in re.findall(r"^```python\n(.*?)^```$", README, flags=re.M | re.S)]
    assert sorted(f.split(" ")[1] for f in firsts) == sorted(b.split(" ")[1] for b in PYTHON_BLOCKS)


def run_python(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    script = tmp_path / "block.py"
    script.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bindings" / "python"),
           "P2PSYNC_LIBRARY": str(ROOT / "build" / "lib" / "libp2psync.so")}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    return res


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
    res = run_python(tmp_path, block("python", "# quickstart.py"))
    assert "note-1 = {'text': 'hello, world'}" in res.stdout
    assert "heard ['note-2']" in res.stdout


def test_python_sync(tmp_path: Path) -> None:
    res = run_python(tmp_path, block("python", "# sync.py"))
    assert re.search(r"^fingerprint [0-9a-f]{64}$", res.stdout, flags=re.M)
    assert "error: None" in res.stdout
    assert "alpha has ['note-a', 'note-b']" in res.stdout
    assert "beta has ['note-a', 'note-b']" in res.stdout


def test_python_blobs(tmp_path: Path) -> None:
    res = run_python(tmp_path, block("python", "# blobs.py"))
    assert "b'\\x89PNG' 16 image/png" in res.stdout


def shell_blocks() -> list:
    """(skipped, text) for each ```sh block."""
    found = re.findall(r"(<!-- readme-test: skip[^>]*-->\n)?^```sh\n(.*?)^```$", README, flags=re.M | re.S)
    return [(bool(skip), text) for skip, text in found]


def test_shell_blocks_run(tmp_path: Path) -> None:
    runnable = [text for skipped, text in shell_blocks() if not skipped]
    assert runnable, "README.md has no runnable shell session"
    # `p2psync` as an installed package provides it: this repository's package and library.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "p2psync"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m p2psync "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT / "bindings" / "python"),
           "P2PSYNC_LIBRARY": str(ROOT / "build" / "lib" / "libp2psync.so")}
    outputs = []
    for i, text in enumerate(runnable):
        work = tmp_path / f"session-{i}"
        work.mkdir()
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=work, capture_output=True, text=True,
                             env=env, timeout=120)
        assert res.returncode == 0, f"README shell block {i} failed:\n{text}\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr
        outputs.append(res.stdout)
    # What the sessions promise: an exit code for a missing document, a synced document.
    joined = "\n".join(outputs)
    assert "exit code 3" in joined
    assert '{"text":"from alpha"}' in joined
    assert "saved photos-out/image.jpg (22 bytes, image/jpeg) from /image" in joined
    assert "removed 1 blob (22 bytes), kept 0" in joined
