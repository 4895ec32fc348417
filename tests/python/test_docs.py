"""`make docs`: the C reference (Doxygen, from the header) documents every exported
function, without a Doxygen warning; the Python reference (pydoc) has every module."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

from test_packaging import MAKE_ENV, LIB_REAL, ROOT
from tooling import needs_tools


def strip_tags(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


@needs_tools("doxygen")
def test_make_docs_documents_every_exported_function() -> None:
    res = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-o", str(LIB_REAL), "docs"],
                         capture_output=True, text=True, env=MAKE_ENV, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    docs = ROOT / "build" / "docs"
    assert (docs / "doxygen-warnings.txt").read_text() == ""
    page = (docs / "c" / "p2psync_8h.html").read_text()
    # A function the C example calls links to it ("Examples: sync_two_databases.c").
    examples_note = r'<dl class="section examples"><dt>Examples</dt><dd>.*?</dd>\s*</dl>'
    described = {m.group(1): strip_tags(re.sub(examples_note, "", m.group(2), flags=re.S)) for m in re.finditer(
        r'<h2 class="memtitle">.*?(\w+)\(\)</h2>.*?<div class="memdoc">(.*?)</div>', page, re.S)}
    assert page.count('href="sync_two_databases_8c-example.html') > 20
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
    # The docstring examples (run by test_python_docstring_examples_run) are in the pages.
    def flat(page: str) -> str:  # pydoc links names inside the code: drop the tags only
        return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
    assert '>>> with Database(os.path.join(tempfile.mkdtemp(), "people")) as db:' in flat(python)
    assert "pinned_fingerprint=pin) as repl:" in flat((docs / "python" / "p2psync.replication.html").read_text())

    # The C example page shows examples/c/sync_two_databases.c line for line (ctest runs it).
    example = ROOT / "examples" / "c" / "sync_two_databases.c"
    page = (docs / "c" / "sync_two_databases_8c-example.html").read_text()
    shown = [html.unescape(re.sub(r"<[^>]+>", "", line)).rstrip()
             for line in re.findall(r'<div class="line">(.*?)</div>', page)]
    assert shown == [line.rstrip() for line in example.read_text().splitlines()]
    assert "example_c_sync_two_databases" in strip_tags((docs / "c" / "examples.html").read_text() + page)

    # The Kotlin reference: every public top-level declaration with its KDoc, and the
    # programs make test-kotlin compiles and runs, whole.
    kotlin = (docs / "kotlin" / "index.html").read_text()
    sources = "\n".join(p.read_text() for p in (ROOT / "bindings" / "kotlin" / "src").rglob("*.kt"))
    public = set(re.findall(r"^(?:(?:open|data|sealed|abstract|enum|annotation) )*(?:class|interface|object) (\w+)",
                            sources, re.M))
    assert len(public) > 40
    missing = [name for name in public if f'id="{name}"' not in kotlin]
    assert missing == [], f"public Kotlin declarations missing from the reference: {missing}"
    assert 'id="Native"' not in kotlin and 'id="Json"' not in kotlin  # internal objects stay out
    text = strip_tags(kotlin)
    assert "What every exception of libp2psync carries, whatever JDK class it extends" in text
    assert "Throws IllegalStateException while the listener is stopped" in text
    for program in [ROOT / "examples" / "kotlin" / "SyncExample.kt", ROOT / "build" / "kotlin" / "readme" / "Quickstart.kt"]:
        assert html.escape(program.read_text(), quote=False) in kotlin.replace("&#x27;", "'").replace("&quot;", '"'), program


DOC_MODULES = re.search(r"^PY_DOC_MODULES := ((?:.*\\\n)*.*)", (ROOT / "Makefile").read_text(), re.M).group(1)
DOC_MODULES = DOC_MODULES.replace("\\", " ").split()


def test_python_docstring_examples_run() -> None:
    """The >>> examples of the modules `make docs` renders run as written (doctest), and
    leave no library object open."""
    import doctest
    import importlib

    import p2psync
    assert "p2psync" in DOC_MODULES and "p2psync.replication" in DOC_MODULES
    attempted = {}
    for name in DOC_MODULES:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=True)
        assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see above)"
        attempted[name] = result.attempted
    # The package quickstart, a query, and a sync on loopback at least.
    assert attempted["p2psync"] >= 3 and attempted["p2psync.database"] >= 2 and attempted["p2psync.replication"] >= 4
    assert p2psync.live_handles() == 0
