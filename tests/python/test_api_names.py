"""The Python and Kotlin bindings name the same things the same way: every public method,
property and field of a Python class has its camelCase twin on the Kotlin class of the
same name, except for the differences listed (and explained) in IDIOMS. The Kotlin side is
read from its sources with docs/kdoc.py, the parser of the Kotlin reference."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import sys
from pathlib import Path

import p2psync
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))
import kdoc  # noqa: E402

sys.path.pop(0)

# Python name -> Kotlin name where each language's idiom differs on purpose.
IDIOMS = {
    "*": {
        "closed": "isClosed",  # Kotlin's Boolean property convention
        "body": "json",  # Python hands bodies over as dicts, Kotlin as JSON text
    },
    "Replicator": {"wait": "await"},  # Object.wait is final on the JVM
    "Conflict": {"local": "localJson", "remote": "remoteJson", "doc_id": "id"},  # dicts vs JSON text
    "Collection": {"iter_changes": "changes"},  # a generator; Kotlin returns the list
    "ChangeQueue": {"events": "nextEvent"},  # Python iterates; Kotlin polls
    # Python's Subscription.collection is the owner: the replicator, for its event queue.
    "ReplicatorEventQueue": {"events": "nextEvent", "collection": "replicator"},
    "ReplicationCollection": {"doc_ids": "documentIds"},  # the former Python name, kept
    "Query": {"add_listener": "addChangeListener"},  # the former Python name, kept
    "Blob": {"properties": "json", "read": "bytes", "open": "openStream",
             # Python builds blobs from bytes or a file; Kotlin through Database.blobWriter.
             "from_bytes": "-", "from_path": "-"},
    # Python's batch() is a context manager; Kotlin runs a block in one (or beginBatch().use).
    # Whether a database exists: Kotlin's idiom is File(path).exists().
    "Database": {"exists": "-", "batch": "inBatch"},
}
# Python classes with no Kotlin class of that name, and what stands for them there.
ELSEWHERE = {
    "BlobReader": "BlobInputStream", "BlobWriter": "BlobOutputStream", "DocumentEvent": "DocumentReplication",
    "Identity": "TLSIdentity", "OverflowEvent": "ReplicatorEvent.Overflow", "ReplicationDocument": "ReplicatedRevision",
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def kotlin_members() -> dict:
    """Kotlin class name -> names of its public members: declared ones, constructor
    properties, companion members, extension functions on it, and its supertypes' members."""
    decls, supers, extensions = {}, {}, {}
    for path in sorted((ROOT / "bindings" / "kotlin" / "src").rglob("*.kt")):
        for d in kdoc.parse(path):
            ext = re.match(r"fun (?:<[^>]*> )?(\w+)\.(\w+)", d.signature)
            if d.kind == "fun" and ext:
                extensions.setdefault(ext.group(1), set()).add(ext.group(2))
                continue
            names = set(re.findall(r"\b(?:val|var) +(\w+)", d.signature.split(")")[0]))
            for m in d.members:
                names.add(m.name)
                if m.name == "companion object":
                    names |= {c.name for c in m.members}
            decls[d.name] = names
            after = d.signature.split(")", 1)[-1] if "(" in d.signature.split(":")[0] else d.signature
            supers[d.name] = re.findall(r"[:,]\s*(\w+)", after)
    result = {}
    for name in decls:
        seen, todo, names = set(), [name], set()
        while todo:
            cur = todo.pop()
            if cur in seen or cur not in decls:
                continue
            seen.add(cur)
            names |= decls[cur] | extensions.get(cur, set())
            todo += supers.get(cur, [])
        result[name] = names
    return result


def python_members(cls: type) -> set:
    names = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("p2psync"):
            names |= {a for a in vars(klass) if not a.startswith("_")}
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    return names


def test_python_and_kotlin_use_the_same_names() -> None:
    kotlin = kotlin_members()
    assert "addStatusListener" in kotlin["Replicator"] and "await" in kotlin["Replicator"]
    mismatches, checked = [], 0
    for name in p2psync.__all__:
        cls = getattr(p2psync, name)
        if not inspect.isclass(cls) or issubclass(cls, (BaseException, enum.Enum)):
            continue
        if name in ELSEWHERE:
            assert name not in kotlin and ELSEWHERE[name].split(".")[0] in kotlin, name
            continue
        assert name in kotlin, f"no Kotlin class {name}: add it or list it in ELSEWHERE"
        for member in sorted(python_members(cls)):
            want = IDIOMS.get(name, {}).get(member) or IDIOMS["*"].get(member) or camel(member)
            checked += 1
            if want != "-" and want not in kotlin[name]:
                mismatches.append(f"{name}.{member} (Kotlin {want})")
    assert checked > 150
    assert mismatches == [], f"named differently in Kotlin: {mismatches}"


def test_idioms_are_still_needed() -> None:
    """An entry of IDIOMS whose Python name has gone, or whose camelCase twin now exists in
    Kotlin, must be removed: the table only lists real differences."""
    kotlin = kotlin_members()
    stale = []
    for cls_name, table in IDIOMS.items():
        if cls_name == "*":
            continue
        members = python_members(getattr(p2psync, cls_name))
        for py, kt in table.items():
            if py not in members or (kt != "-" and camel(py) in kotlin[cls_name] and camel(py) != kt):
                stale.append(f"{cls_name}.{py}")
    assert stale == []


@pytest.mark.parametrize("kwargs", [{"doc_ids": ["a"]}, {"document_ids": ["a"]}, {"doc_ids": ["a"], "document_ids": ["a"]}])
def test_replication_collection_takes_either_name(db, kwargs) -> None:
    with db.default_collection() as coll:
        assert p2psync.ReplicationCollection(coll, **kwargs)._ids() == ["a"]
        with pytest.raises(ValueError, match="not both"):
            p2psync.ReplicationCollection(coll, doc_ids=["a"], document_ids=["b"])


def test_conflict_id_is_doc_id() -> None:
    c = p2psync.Conflict("_default._default", "d1", None, {"x": 1})
    assert c.id == c.doc_id == "d1"
