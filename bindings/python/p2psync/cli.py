"""The p2psync command-line tool: documents, databases, listeners and replicators.

    p2psync put   notes.db note-1 '{"text": "hello"}'
    p2psync get   notes.db note-1
    p2psync ls    notes.db -l
    p2psync info  notes.db

Run `p2psync --help` or `p2psync COMMAND --help` for every option. Installed as the
`p2psync` console script by `pip install bindings/python`; `python3 -m p2psync` is the
same program.

Exit codes (stable; scripts may rely on them):

    0  success
    1  error (I/O, protocol, network, anything not listed below)
    2  usage: bad arguments or bad input (e.g. a body that is not a JSON object)
    3  not found: database, collection, document or revision
    4  conflict: the document changed since the given revision
    5  busy: the database is open in another process (e.g. a running `p2psync serve`)
    6  refused: TLS trust or authentication failed
    130  interrupted (Ctrl-C) before the command finished

Errors are printed as one line on standard error, "p2psync: <what failed>: <why>".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from . import errors
from .database import Collection, Concurrency, Database

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_BUSY = 5
EXIT_REFUSED = 6
EXIT_INTERRUPTED = 130

# Library error class -> exit code; anything else is EXIT_ERROR.
_EXIT_CODES: Dict[type, int] = {
    errors.InvalidArgumentError: EXIT_USAGE,
    errors.NotFoundError: EXIT_NOT_FOUND,
    errors.ConflictError: EXIT_CONFLICT,
    errors.BusyError: EXIT_BUSY,
    errors.TLSError: EXIT_REFUSED,
    errors.AuthError: EXIT_REFUSED,
}

PROG = "p2psync"

EPILOG = """exit codes: 0 ok, 1 error, 2 usage or bad input, 3 not found, 4 conflict,
5 database busy (open in another process), 6 TLS trust or authentication refused,
130 interrupted."""


class UsageError(Exception):
    """A problem with the arguments that argparse cannot see (exit code 2)."""


# ------------------------------------------------------------------ helpers


def split_collection(spec: str) -> Tuple[Optional[str], str]:
    """"notes" -> (None, "notes") (the default scope); "app.notes" -> ("app", "notes")."""
    if not spec:
        raise UsageError("empty collection name")
    scope, dot, name = spec.rpartition(".")
    if dot and not scope:
        raise UsageError(f"bad collection name {spec!r}: expected NAME or SCOPE.NAME")
    return (scope or None), name


def open_database(path: str, *, create: bool) -> Database:
    return Database(path, create=create)


def open_collection(db: Database, spec: str, *, create: bool) -> Collection:
    scope, name = split_collection(spec)
    if create:
        return db.create_collection(name, scope=scope)
    return db.collection(name, scope=scope)


def read_body(text: Optional[str], file: Optional[str]) -> str:
    """The document body from the argument, --file, or standard input; must be a JSON object."""
    if text is not None and file is not None:
        raise UsageError("give the body as an argument or with --file, not both")
    if file is not None:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    elif text is None or text == "-":
        text = sys.stdin.read()
    try:
        body = json.loads(text)
    except ValueError as e:
        raise UsageError(f"the body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object, e.g. '{\"text\": \"hello\"}'")
    return text


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def print_json(obj: Any, pretty: bool) -> None:
    if pretty:
        print(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True))
    else:
        print(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))


def iter_collections(db: Database, spec: Optional[str]) -> Iterator[Collection]:
    """The named collection, or every collection of every scope."""
    if spec is not None:
        with open_collection(db, spec, create=False) as coll:
            yield coll
        return
    for scope in db.scope_names():
        for name in db.collection_names(scope):
            with db.collection(name, scope=scope) as coll:
                yield coll


# ------------------------------------------------------------------ document commands


def cmd_put(args: argparse.Namespace) -> int:
    body = read_body(args.body, args.file)
    with open_database(args.database, create=True) as db, \
            open_collection(db, args.collection, create=True) as coll:
        if args.rev:
            doc = coll.save(args.id, body, parent_rev_id=args.rev, concurrency=Concurrency.FAIL_ON_CONFLICT)
        else:
            doc = coll.save(args.id, body)
        print(f"{doc.id} {doc.rev_id}")
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db, \
            open_collection(db, args.collection, create=False) as coll:
        doc = coll.get_revision(args.id, args.rev) if args.rev else coll.get(args.id)
        if args.meta:
            print_json({"id": doc.id, "rev": doc.rev_id, "sequence": doc.sequence, "deleted": doc.deleted,
                        "conflicts": coll.conflicts(doc.id), "body": doc.body}, args.pretty)
        else:
            print_json(doc.body, args.pretty)
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db, \
            open_collection(db, args.collection, create=False) as coll:
        if args.purge:
            coll.purge(args.id)
            print(f"{args.id} purged")
        elif args.rev:
            doc = coll.delete(args.id, parent_rev_id=args.rev, concurrency=Concurrency.FAIL_ON_CONFLICT)
            print(f"{doc.id} {doc.rev_id}")
        else:
            coll.get(args.id)  # deleting a missing document is "not found", not a new tombstone
            doc = coll.delete(args.id)
            print(f"{doc.id} {doc.rev_id}")
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db, \
            open_collection(db, args.collection, create=False) as coll:
        shown = 0
        for change in coll.iter_changes(since=args.since):
            if change.deleted and not args.all:
                continue
            if args.json:
                print_json({"sequence": change.sequence, "id": change.id, "rev": change.rev_id,
                            "deleted": change.deleted}, False)
            elif args.long:
                mark = " (deleted)" if change.deleted else ""
                print(f"{change.sequence}\t{change.id}\t{change.rev_id}{mark}")
            else:
                print(change.id)
            shown += 1
            if args.limit and shown >= args.limit:
                break
    return EXIT_OK


def collection_info(coll: Collection) -> Dict[str, Any]:
    conflicted = [c.id for c in coll.iter_changes() if not c.deleted and coll.conflicts(c.id)]
    return {"collection": coll.full_name, "documents": coll.count(), "last_sequence": coll.last_sequence(),
            "conflicted_documents": len(conflicted), "conflicted_ids": conflicted[:20]}


def cmd_info(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db:
        info = {"path": db.path, "name": db.name, "uuid": db.uuid,
                "collections": [collection_info(c) for c in iter_collections(db, args.collection)]}
    if args.json:
        print_json(info, True)
        return EXIT_OK
    print(f"database     {info['path']}")
    print(f"uuid         {info['uuid']}")
    for c in info["collections"]:
        print(f"collection   {c['collection']}: {plural(c['documents'], 'document')}, last sequence "
              f"{c['last_sequence']}, {c['conflicted_documents']} in conflict")
        for doc_id in c["conflicted_ids"]:
            print(f"  conflict   {doc_id}")
    return EXIT_OK


# ------------------------------------------------------------------ parser


def add_collection_option(p: argparse.ArgumentParser, default: Optional[str] = "_default") -> None:
    p.add_argument("-c", "--collection", metavar="[SCOPE.]NAME", default=default,
                   help="collection to use (default: %(default)s, the default collection)"
                   if default else "only this collection (default: every collection)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, epilog=EPILOG,
        description="Command-line tool for libp2psync databases: read and write documents, "
                    "serve a database to peers and sync with them.")
    parser.add_argument("--version", action="store_true", help="print the library and ABI versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, fn: Callable[[argparse.Namespace], int], help_text: str,
                description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=description, epilog=EPILOG)
        p.set_defaults(func=fn)
        return p

    p = command("put", cmd_put, "save a document",
                "Saves a document (creating the database and collection if needed) and prints "
                "its ID and new revision ID. Without --rev the save wins over whatever is "
                "current; with --rev it fails with exit code 4 if the document changed since.")
    p.add_argument("database", help="database directory")
    p.add_argument("id", help="document ID")
    p.add_argument("body", nargs="?", help="JSON object; '-' or omitted: read standard input")
    p.add_argument("-f", "--file", help="read the JSON body from this file")
    p.add_argument("--rev", metavar="REV_ID", help="the revision this edit is based on (conflict check)")
    add_collection_option(p)

    p = command("get", cmd_get, "print a document",
                "Prints a document's body as JSON (exit code 3 if it does not exist or is deleted).")
    p.add_argument("database", help="database directory")
    p.add_argument("id", help="document ID")
    p.add_argument("--rev", metavar="REV_ID", help="print this revision instead of the current one")
    p.add_argument("--meta", action="store_true",
                   help='print {"id", "rev", "sequence", "deleted", "conflicts", "body"}')
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
    add_collection_option(p)

    p = command("delete", cmd_delete, "delete a document",
                "Deletes a document: a tombstone revision that replicates to peers (prints its "
                "revision ID). --purge instead removes it locally without a trace.")
    p.add_argument("database", help="database directory")
    p.add_argument("id", help="document ID")
    p.add_argument("--rev", metavar="REV_ID", help="the revision this deletion is based on (conflict check)")
    p.add_argument("--purge", action="store_true", help="remove the document and its history locally")
    add_collection_option(p)

    p = command("ls", cmd_ls, "list documents",
                "Lists document IDs in sequence order (the changes feed).")
    p.add_argument("database", help="database directory")
    p.add_argument("-l", "--long", action="store_true", help="also print sequence and revision ID")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-a", "--all", action="store_true", help="include deleted documents")
    p.add_argument("--since", type=int, default=0, metavar="SEQ", help="only changes after this sequence")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N entries (0: all)")
    add_collection_option(p)

    p = command("info", cmd_info, "show counts, sequences and conflicts",
                "Shows the database's UUID and, per collection, the number of documents, the "
                "last sequence and the documents in conflict.")
    p.add_argument("database", help="database directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_collection_option(p, default=None)

    return parser


# ------------------------------------------------------------------ entry point


def exit_code_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in _EXIT_CODES:
            return _EXIT_CODES[cls]
    return EXIT_ERROR


def fail(message: str, code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import abi_version, library_version
        print(f"p2psync {library_version()} (ABI {abi_version()})")
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as e:
        return fail(str(e), EXIT_USAGE)
    except errors.P2PSyncError as e:
        return fail(e.message or str(e), exit_code_for(e))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `p2psync ls db | head`: the reader left; not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:
        return fail(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}", EXIT_ERROR)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
