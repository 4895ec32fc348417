"""`make docs`: the C reference (Doxygen, from the header) documents every exported
function, without a Doxygen warning; the Python reference (pydoc) has every module."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_packaging import MAKE_ENV, LIB_REAL, ROOT


def strip_tags(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


@pytest.mark.skipif(shutil.which("doxygen") is None, reason="doxygen not installed (tests/setup-tools.sh test installs it)")
def test_make_docs_documents_every_exported_function() -> None:
    res = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-o", str(LIB_REAL), "docs"],
                         capture_output=True, text=True, env=MAKE_ENV, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    docs = ROOT / "build" / "docs"
    assert (docs / "doxygen-warnings.txt").read_text() == ""
    page = (docs / "c" / "p2psync_8h.html").read_text()
    described = {m.group(1): strip_tags(m.group(2)) for m in re.finditer(
        r'<h2 class="memtitle">.*?(\w+)\(\)</h2>.*?<div class="memdoc">(.*?)</div>', page, re.S)}
    exported = [line.strip() for line in (ROOT / "include" / "p2psync.exports").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    undocumented = [name for name in exported if not described.get(name)]
    assert len(exported) > 100 and undocumented == [], f"functions without documentation: {undocumented}"
    # A group shares its comment: p2p_db_uuid is documented by the comment above p2p_db_name.
    assert "UUID" in described["p2p_db_uuid"] and described["p2p_db_uuid"] == described["p2p_db_name"]
    assert "Conventions that hold for every function below" in page  # the file's own comment
    assert "P2P_ERR_BUSY" in page and "live children" in page  # a #define's trailing comment

    python = (docs / "python" / "p2psync.database.html").read_text()
    assert "class Collection" in strip_tags(python)
    assert "The IDs of the live (non-deleted) documents" in strip_tags(python)
