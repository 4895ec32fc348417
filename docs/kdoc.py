#!/usr/bin/env python3
"""kdoc.py SRC_DIR OUT_HTML [EXAMPLE.kt ...] — the Kotlin API reference of `make docs`.

Debian packages no Dokka, so this renders the binding's KDoc comments itself: for every
source file, each public declaration (classes, interfaces, objects, functions, properties,
constructor parameters of data classes are part of the signature) with the /** ... */
comment above it. Private and internal declarations, and everything inside a private or
internal class, are left out. [Name] references become links when Name is a documented
top-level declaration. The example programs given after OUT_HTML (the ones `make
test-kotlin` compiles and runs) are appended whole, so the examples in the reference are
the ones the tests run. Standard library only.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

DECL = re.compile(r"^(?P<indent>\s*)(?P<mods>(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|protected|private|internal|open|"
                  r"final|abstract|sealed|data|enum|inner|inline|override|const|lateinit|operator|infix|"
                  r"external|annotation|companion)\s+)*)"
                  r"(?P<kind>class|interface|object|fun|val|var|typealias|constructor)\b(?P<rest>.*)$")


class Decl:
    def __init__(self, kind: str, name: str, signature: str, doc: str, indent: int, line: int):
        self.kind, self.name, self.signature, self.doc, self.indent, self.line = kind, name, signature, doc, indent, line
        self.members: list = []


def clean_comment(lines: list) -> str:
    """The text of a /** ... */ comment without its delimiters and leading stars."""
    text = []
    for line in lines:
        line = line.strip()
        line = re.sub(r"^/\*\*", "", line)
        line = re.sub(r"\*/$", "", line)
        line = re.sub(r"^\* ?", "", line)
        text.append(line.rstrip())
    return "\n".join(text).strip()


def signature_of(lines: list, start: int) -> str:
    """The declaration starting at lines[start], over as many lines as its parentheses take,
    without its body."""
    sig, depth = [], 0
    for line in lines[start:start + 40]:
        sig.append(line.strip())
        depth += line.count("(") - line.count(")")
        if depth <= 0 and not line.rstrip().endswith((":", ",")):  # supertypes may follow
            break
    text = " ".join(sig).replace("->", "\x00")  # an arrow's '>' is no closing bracket
    # Cut the body: a block, an expression body or a property initializer at depth 0.
    depth, out = 0, []
    for i, ch in enumerate(text):
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        elif depth == 0 and (ch == "{" or (ch == "=" and not text.startswith("typealias") and
                                           text[i - 1:i + 2] not in ("==", "=>") and text[i - 1] not in "!<>=")):
            break
        out.append(ch)
    return re.sub(r"\s+get\(\)$", "", "".join(out).strip()).replace("\x00", "->")


def parse(path: Path) -> list:
    """Top-level public declarations of one file, each with its public members."""
    lines = path.read_text(encoding="utf-8").splitlines()
    top: list = []
    stack: list = []  # (indent, Decl or None for a hidden scope)
    comment: list = []
    in_comment = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_comment:
            comment.append(line)
            if "*/" in stripped:
                in_comment = False
            continue
        if stripped.startswith("/**"):
            comment = [line]
            in_comment = "*/" not in stripped
            continue
        m = DECL.match(line)
        if not m or stripped.startswith("//"):
            if stripped and not stripped.startswith("@"):
                comment = [] if not stripped.startswith("*") else comment
            continue
        indent = len(m.group("indent").expandtabs(4))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        mods, kind = m.group("mods"), m.group("kind")
        hidden = bool(re.search(r"\b(private|internal)\b", mods))
        parent_hidden = bool(stack) and stack[-1][1] is None
        name_match = re.match(r"\s*(?:<[^>]*>\s*)?(?:[\w.<>, ]+\.)?(`[^`]+`|\w+)", m.group("rest"))
        name = name_match.group(1) if name_match else kind
        if kind == "object" and "companion" in mods:
            name = "companion object"
        decl = Decl(kind, name, signature_of(lines, i), clean_comment(comment), indent, i + 1)
        comment = []
        if hidden or parent_hidden:
            stack.append((indent, None))
            continue
        owner = stack[-1][1] if stack else None
        if owner is None and indent == 0:
            top.append(decl)
        elif owner is not None:
            owner.members.append(decl)
        # A class's body holds members; a function's or property's body only locals.
        stack.append((indent, decl if kind in ("class", "interface", "object") else None))
    return top


def render_doc(doc: str, known: set) -> str:
    if not doc:
        return ""
    out = html.escape(doc)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)

    def link(m: re.Match) -> str:
        target = m.group(1)
        head = target.split(".")[0]
        if head in known:
            return f'<a href="#{head}"><code>{target}</code></a>'
        return f"<code>{target}</code>"
    out = re.sub(r"\[([\w.]+)\]", link, out)
    paragraphs = [p.replace("\n", " ") for p in re.split(r"\n\s*\n", out)]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def render(src: Path, examples: list) -> str:
    files = sorted(src.rglob("*.kt"))
    parsed = [(f, decls) for f, decls in ((f, parse(f)) for f in files) if decls]
    known = {d.name for _, decls in parsed for d in decls}
    body = ['<h1>libp2psync — the Kotlin API</h1>',
            '<p>Package <code>org.p2psync</code>. Generated from the KDoc comments of bindings/kotlin/src by '
            'docs/kdoc.py (<code>make docs</code>). The example programs at the end are compiled and run by '
            '<code>make test-kotlin</code>.</p>', "<h2>Contents</h2><ul>"]
    for f, decls in parsed:
        names = ", ".join(f'<a href="#{d.name}">{html.escape(d.name)}</a>' for d in decls)
        body.append(f"<li>{html.escape(f.name)}: {names}</li>")
    body.append('<li><a href="#examples">Examples</a></li></ul>')
    for f, decls in parsed:
        body.append(f'<h2 class="file">{html.escape(f.name)}</h2>')
        for d in decls:
            body.append(f'<div class="decl" id="{html.escape(d.name)}"><h3>{html.escape(d.name)}</h3>'
                        f'<pre class="signature">{html.escape(d.signature)}</pre>{render_doc(d.doc, known)}')
            if d.members:
                body.append("<dl>")
                for mem in d.members:
                    body.append(f'<dt><pre class="signature">{html.escape(mem.signature)}</pre></dt>'
                                f"<dd>{render_doc(mem.doc, known)}</dd>")
                body.append("</dl>")
            body.append("</div>")
    body.append('<h2 id="examples">Examples</h2>')
    for ex in examples:
        body.append(f'<h3 class="example">{html.escape(ex.name)}</h3>'
                    f'<pre class="example">{html.escape(ex.read_text(encoding="utf-8"))}</pre>')
    style = ("body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f4f4f4;padding:.4em;"
             "white-space:pre-wrap}.decl{border-top:1px solid #ccc;margin-top:1em}dd{margin-bottom:.8em}")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>libp2psync Kotlin API</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def main(argv: list) -> int:
    if len(argv) < 3:
        sys.stderr.write(__doc__.splitlines()[0] + "\n")
        return 2
    out = Path(argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(Path(argv[1]), [Path(a) for a in argv[3:]]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
