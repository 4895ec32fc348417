"""Every public member of the Python binding has a docstring, and objects have useful reprs."""

from __future__ import annotations

import enum
import importlib
import inspect

import p2psync
import pytest


def public_members():
    """(qualified name, object) for everything p2psync exports, the log module's functions,
    and every public method and property of the exported classes, inherited ones included
    (when the binding defines them)."""
    for name in p2psync.__all__:
        obj = getattr(p2psync, name)
        yield name, obj
        if inspect.ismodule(obj):
            for attr in getattr(obj, "__all__", [a for a in vars(obj) if not a.startswith("_")]):
                member = getattr(obj, attr)
                if inspect.isfunction(member) and member.__module__ == obj.__name__:
                    yield f"{name}.{attr}", member
        if inspect.isclass(obj) and not issubclass(obj, (enum.Enum, BaseException)):
            seen = set()
            for klass in obj.__mro__:
                if not klass.__module__.startswith("p2psync"):
                    continue
                for attr, member in vars(klass).items():
                    if attr.startswith("_") or attr in seen:
                        continue
                    seen.add(attr)
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if isinstance(member, property) or inspect.isfunction(member):
                        yield f"{name}.{attr}", member


def module_members():
    """(qualified name, object) for the public classes and functions defined in each module
    `make docs` renders (its __all__ where it has one, e.g. the CLI's main), and their public
    methods and properties."""
    from test_docs import DOC_MODULES
    for modname in DOC_MODULES:
        module = importlib.import_module(modname)
        names = getattr(module, "__all__", None) or [a for a in vars(module) if not a.startswith("_")]
        for attr in names:
            obj = getattr(module, attr)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != modname:
                continue
            yield f"{modname}.{attr}", obj
            if inspect.isclass(obj) and not issubclass(obj, (enum.Enum, BaseException)):
                for name, member in vars(obj).items():
                    if name.startswith("_"):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if isinstance(member, property) or inspect.isfunction(member):
                        yield f"{modname}.{attr}.{name}", member


def test_every_public_member_has_a_docstring() -> None:
    members = list(public_members()) + list(module_members())
    missing = sorted({name for name, obj in members
                      if not (inspect.getdoc(obj) or "").strip() and not isinstance(obj, (int, str, float))})
    assert len(members) > 300 and missing == [], f"public members without a docstring: {missing}"


def test_collection_iterates_over_live_document_ids(db) -> None:
    with db.default_collection() as coll:
        for i in range(5):
            coll.save(f"d{i}", {"i": i})
        coll.delete("d2")
        coll.save("d0", {"i": "again"})  # moves d0 to the end of the sequence order
        assert list(coll) == ["d1", "d3", "d4", "d0"]
        assert sorted(coll) == sorted(doc_id for doc_id in coll) and len(list(coll)) == len(coll)


def test_reprs_name_the_object(db, tmp_path) -> None:
    assert repr(db) == f"<Database {db.path!r} handle={db.handle}>"
    with db.default_collection() as coll:
        coll.save("a", {})
        assert repr(coll) == f"<Collection '_default._default' count=1 handle={coll.handle}>"
    assert repr(coll) == "<Collection closed>"
    with p2psync.Identity.create(common_name="repr") as ident:
        assert repr(ident) == f"<Identity fingerprint={ident.fingerprint!r} handle={ident.handle}>"
    with p2psync.Listener(db, network_interface="127.0.0.1") as listener:
        assert repr(listener).startswith("<Listener stopped handle=")
        listener.start()
        assert repr(listener).startswith(f"<Listener port={listener.port} handle=")
    with p2psync.Replicator(db, "ws://127.0.0.1:9/db") as repl:
        assert repr(repl) == f"<Replicator 'ws://127.0.0.1:9/db' stopped handle={repl.handle}>"


def test_listener_tls_identity_before_start_is_a_clear_error(db) -> None:
    with p2psync.Listener(db, network_interface="127.0.0.1") as listener:
        with pytest.raises(RuntimeError, match="not running; call start"):
            listener.tls_identity()
        listener.start()
        with listener.tls_identity() as ident:
            assert ident.fingerprint
        listener.stop()
        with pytest.raises(RuntimeError, match="not running"):
            listener.tls_identity()
    with p2psync.Listener(db, network_interface="127.0.0.1", disable_tls=True) as plain:
        assert plain.tls_identity() is None


def test_error_messages_are_one_line() -> None:
    from p2psync.errors import error_for
    e = error_for(-8, 4, 401, "connect: HTTP 401\r\n  Unauthorized\n\nretry later\n")
    assert isinstance(e, p2psync.NetworkError)
    assert str(e) == e.message == "connect: HTTP 401 Unauthorized retry later"
    assert str(error_for(-3, 1, -3, 'get document "a  b": not found')) == 'get document "a  b": not found'
