"""The p2psync command-line tool: documents, databases, listeners and replicators.

    p2psync put   notes.db note-1 '{"text": "hello"}'
    p2psync get   notes.db note-1
    p2psync put   photos.db photo-1 '{"title": "sunset"}' --attach sunset.jpg:image
    p2psync get   photos.db photo-1 --save-blobs out/     # writes out/image.jpg
    p2psync compact photos.db                            # removes blobs no document needs
    p2psync query notes.db 'SELECT meta().id, text FROM _ WHERE text LIKE $p' --param p=%hello%
    p2psync ls    notes.db -l
    p2psync export notes.db > notes.jsonl                # one {"id", "rev_id", "body"} per line
    p2psync import copy.db notes.jsonl --progress        # batched: thousands of documents a second
    p2psync info  notes.db
    p2psync serve notes.db --user alice:secret          # prints its URL and fingerprint; logs connections
    p2psync sync  copy.db wss://host:port/notes.db --user alice:secret --pin FINGERPRINT
    p2psync identity create server.p12 --cn my-server

Run `p2psync --help` or `p2psync COMMAND --help` for every option. Installed as the
`p2psync` console script (through _p2psync_cli) by `pip install bindings/python`;
`python3 -m p2psync` is the same program.

Exit codes (stable; scripts may rely on them):

    0  success
    1  error (I/O, a corrupt database, protocol, network, anything not listed below)
    2  usage: bad arguments or bad input (e.g. a body that is not a JSON object)
    3  not found: database, collection, document or revision
    4  conflict: the document changed since the given revision
    5  busy: the database is open in another process (e.g. a running `p2psync serve`)
    6  refused: TLS trust or authentication failed, or a wrong identity password
    7  blobs missing: `get --save-blobs` found the document, but it refers to blob content
       this database does not hold (not fetched from a peer) or names a blob with a malformed
       dictionary; the blobs that are present were saved
    130  interrupted (Ctrl-C) before the command finished

`serve` and `sync --continuous` run until Ctrl-C (or SIGTERM), stop cleanly (a replicator
saves its checkpoint) and exit 0.

Errors are printed as one line on standard error, "p2psync: <what failed>: <why>".
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import errors
from . import log as p2plog
from .blob import Blob
from .database import Collection, Concurrency, Database
from .replication import (DocumentEvent, Listener, ReplicationCollection, Replicator, ReplicatorStatus,
                          ReplicatorType, TrustMode)
from . import security
from .security import Identity, Usage

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_BUSY = 5
EXIT_REFUSED = 6
EXIT_MISSING_BLOBS = 7
EXIT_INTERRUPTED = 130

# Library error class -> exit code; anything else is EXIT_ERROR.
_EXIT_CODES: Dict[type, int] = {
    errors.InvalidArgumentError: EXIT_USAGE,
    errors.NotFoundError: EXIT_NOT_FOUND,
    errors.ConflictError: EXIT_CONFLICT,
    errors.BusyError: EXIT_BUSY,
    errors.TLSError: EXIT_REFUSED,
    errors.AuthError: EXIT_REFUSED,
    errors.WrongPasswordError: EXIT_REFUSED,
}

PROG = "p2psync"

EPILOG = """exit codes: 0 ok, 1 error, 2 usage or bad input, 3 not found, 4 conflict,
5 database busy (open in another process), 6 TLS trust or authentication refused
(or a wrong identity password), 7 blobs missing (get --save-blobs), 130 interrupted."""


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


def collection_specs(db: Database, spec: Optional[str]) -> List[Tuple[Optional[str], str]]:
    """(scope, name) of the named collection, or of every collection of every scope."""
    if spec is not None:
        return [split_collection(spec)]
    return [(scope, name) for scope in db.scope_names() for name in db.collection_names(scope)]


# ------------------------------------------------------------------ document commands


class Attachment:
    """One --attach FILE[:PROPERTY] (with the --content-type that followed it, if any)."""

    def __init__(self, spec: str) -> None:
        if ":" in spec:
            self.file, _, self.property = spec.rpartition(":")
            if not self.file or not self.property:
                raise argparse.ArgumentTypeError(f"bad --attach {spec!r}: expected FILE or FILE:PROPERTY")
        else:
            self.file = spec
            # "photos/sunset.jpg" -> "sunset"; a name without a stem keeps its whole name.
            self.property = os.path.splitext(os.path.basename(spec))[0] or os.path.basename(spec)
            if not self.property:
                raise argparse.ArgumentTypeError(f"bad --attach {spec!r}: no file name to name the property "
                                                 "after; give FILE:PROPERTY")
        self.content_type: Optional[str] = None

    def guessed_type(self) -> Optional[str]:
        return self.content_type or mimetypes.guess_type(self.file)[0]


class AttachAction(argparse.Action):
    """--attach: appends an Attachment (argparse reports a bad spec as a usage error)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        try:
            attachment = Attachment(values)
        except argparse.ArgumentTypeError as e:
            parser.error(str(e))
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), attachment])


class ContentTypeAction(argparse.Action):
    """--content-type: sets the type of the --attach just before it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        attachments = getattr(namespace, "attach", None)
        if not attachments:
            parser.error("--content-type applies to the --attach before it: give --attach FILE first")
        if attachments[-1].content_type is not None:
            parser.error(f"two --content-type for --attach {attachments[-1].file}")
        attachments[-1].content_type = values


def attach_blobs(db: Database, body_text: str,
                 attachments: List[Attachment]) -> Tuple[str, List[Tuple[Attachment, Blob]]]:
    """Stores each attached file as a blob (streamed by the library) and returns the body
    with each blob's dictionary under its property, and the blobs stored."""
    body = json.loads(body_text)
    seen: Dict[str, str] = {}
    for a in attachments:
        if a.property in body:
            raise UsageError(f"--attach {a.file}: the body already has a property {a.property!r} "
                             f"(name another one: {a.file}:PROPERTY)")
        if a.property in seen:
            raise UsageError(f"--attach {a.file} and --attach {seen[a.property]} both go to property "
                             f"{a.property!r} (name one: FILE:PROPERTY)")
        seen[a.property] = a.file
        if not os.path.exists(a.file):
            raise FileNotFoundError(2, "no such file", a.file)
        if not os.path.isfile(a.file):
            raise UsageError(f"--attach {a.file}: not a regular file")
    stored = []
    for a in attachments:
        # A blob stored here and left unreferenced (if the save below fails) is removed by
        # `p2psync compact`.
        blob = Blob.from_path(db, a.file, a.guessed_type())
        body[a.property] = blob.properties
        stored.append((a, blob))
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False), stored
    except ValueError as e:
        raise UsageError(f"the body cannot be written back as JSON: {e}") from None


def cmd_put(args: argparse.Namespace) -> int:
    attachments: List[Attachment] = args.attach or []
    if attachments and args.body is None and args.file is None:
        body = "{}"  # with --attach, an omitted body is empty ('-' reads standard input)
    else:
        body = read_body(args.body, args.file)
    with open_database(args.database, create=True) as db, \
            open_collection(db, args.collection, create=True) as coll:
        stored: List[Tuple[Attachment, Blob]] = []
        if attachments:
            body, stored = attach_blobs(db, body, attachments)
        if args.rev:
            doc = coll.save(args.id, body, parent_rev_id=args.rev, concurrency=Concurrency.FAIL_ON_CONFLICT)
        else:
            doc = coll.save(args.id, body)
        print(f"{doc.id} {doc.rev_id}")
        for a, blob in stored:
            print(f"attached {a.file} as {a.property}: {blob.length:,} bytes"
                  f"{', ' + blob.content_type if blob.content_type else ''}, {blob.digest}")
    return EXIT_OK


# ------------------------------------------------------------------ blobs of a document


def escape_pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def blob_references(body: Any) -> List[Tuple[str, Optional[str], Any]]:
    """(JSON pointer, attachment name or None, dictionary) of every blob reference in a
    body, sorted by pointer, as the library finds them: each "@type": "blob" dictionary
    anywhere, and each entry of a top-level "_attachments" object (the legacy form, which
    a received document may carry)."""
    found: Dict[str, Tuple[str, Optional[str], Any]] = {}

    def walk(value: Any, pointer: str) -> None:
        if isinstance(value, dict):
            if value.get("@type") == "blob":
                found[pointer] = (pointer, None, value)
                return  # a blob's own properties are not more blobs
            for key, child in value.items():
                if pointer == "" and key == "_attachments" and isinstance(child, dict):
                    continue  # its entries are taken below
                walk(child, f"{pointer}/{escape_pointer(key)}")
        elif isinstance(value, list):
            for i, child in enumerate(value):
                walk(child, f"{pointer}/{i}")

    walk(body, "")
    attachments = body.get("_attachments") if isinstance(body, dict) else None
    if isinstance(attachments, dict):
        for name, entry in attachments.items():
            pointer = f"/_attachments/{escape_pointer(name)}"
            found[pointer] = (pointer, name, entry)
    return [found[p] for p in sorted(found)]


MAX_FILE_NAME = 120


def safe_file_name(text: str) -> str:
    """A single, harmless file name made from untrusted text: ASCII letters, digits and
    ._-+ only (anything else, including every path separator, becomes "_"), no leading
    dot or dash (no hidden file, no "..", nothing read as an option), at most
    MAX_FILE_NAME characters."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-+" else "_" for c in text)
    name = name.lstrip(".-")
    if len(name) > MAX_FILE_NAME:
        root, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = root[:MAX_FILE_NAME - len(ext)] + ext
    return name or "blob"


def blob_file_name(pointer: str, attachment_name: Optional[str], entry: Any) -> str:
    """File name for a blob: the attachment name, or the property path ("/album/0" ->
    "album-0"), plus an extension for its content type unless it already has one."""
    if attachment_name is not None:
        base = attachment_name
    else:
        base = "-".join(p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:])
    name = safe_file_name(base)
    content_type = entry.get("content_type") if isinstance(entry, dict) else None
    if isinstance(content_type, str):
        mime = content_type.split(";", 1)[0].strip().lower()
        extensions = mimetypes.guess_all_extensions(mime)
        if extensions and not any(name.lower().endswith(e) for e in extensions):
            name = safe_file_name(name + (mimetypes.guess_extension(mime) or extensions[0]))
    return name


def unique_name(name: str, taken: set) -> str:
    """name, or name-2, name-3 ... (before the extension) if taken (compared ignoring
    case, for case-insensitive file systems)."""
    root, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{root}-{n}{ext}"
    taken.add(candidate.lower())
    return candidate


def save_blobs(db: Database, body: Any, directory: str, force: bool, report: bool) -> List[Dict[str, Any]]:
    """Writes every blob the body refers to into `directory`, streamed and verified by the
    library (each file appears only once its content checked out). Returns one entry per
    reference: {"pointer", "file", "digest", "length", "content_type"}, with "file": null
    and "missing": why, for a blob that could not be saved."""
    plan = []
    taken: set = set()
    for pointer, name, entry in blob_references(body):
        item: Dict[str, Any] = {"pointer": pointer, "file": None}
        if isinstance(entry, dict):
            item.update({k: entry[k] for k in ("digest", "length", "content_type") if k in entry})
        problem, blob = None, None
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            problem = "malformed blob dictionary (no digest)"
        else:
            try:
                blob = db.get_blob(entry)
            except errors.NotFoundError:
                problem = "not in this database"
            except errors.InvalidArgumentError as e:
                problem = f"malformed blob dictionary ({e.message or e})"
        if problem is None:
            # One component of safe characters: it cannot point outside `directory`.
            path = os.path.join(directory, unique_name(blob_file_name(pointer, name, entry), taken))
            if os.path.lexists(path) and not force:
                raise UsageError(f"{path} exists (use --force to replace it)")
            item["file"] = path
        else:
            item["missing"] = problem
        plan.append((item, entry, blob))

    if any(item["file"] for item, _, _ in plan):
        os.makedirs(directory, exist_ok=True)
    for item, entry, blob in plan:
        if item["file"] is None:
            continue
        # Named by the document's own dictionary, so its length, if given, is checked too.
        Blob(db, entry).save_to(item["file"])
        if report:
            print(f"saved {item['file']} ({blob.length:,} bytes"
                  f"{', ' + blob.content_type if blob.content_type else ''}) from {item['pointer']}", flush=True)
    return [item for item, _, _ in plan]


def missing_message(doc_id: str, items: List[Dict[str, Any]]) -> Optional[str]:
    missing = [i for i in items if "missing" in i]
    if not missing:
        return None
    shown = "; ".join(f"{i['pointer']} {i.get('digest', '?')}: {i['missing']}" for i in missing[:5])
    more = f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (f"{doc_id}: {len(missing)} of {plural(len(items), 'blob')} not saved (not held by this database): "
            f"{shown}{more}; saved the other {len(items) - len(missing)}")


def cmd_get(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db, \
            open_collection(db, args.collection, create=False) as coll:
        doc = coll.get_revision(args.id, args.rev) if args.rev else coll.get(args.id)
        blobs: Optional[List[Dict[str, Any]]] = None
        if args.save_blobs is not None:
            blobs = save_blobs(db, doc.body, args.save_blobs, args.force, report=not args.meta)
            if not blobs and not args.meta:
                print(f"{doc.id} refers to no blobs")
        if args.meta:
            meta = {"id": doc.id, "rev_id": doc.rev_id, "version": doc.version, "timestamp": doc.timestamp,
                    "sequence": doc.sequence, "deleted": doc.deleted,
                    "conflicts": coll.conflicts(doc.id), "body": doc.body}
            if blobs is not None:
                meta["blobs"] = blobs
            print_json(meta, args.pretty)
        elif blobs is None:
            print_json(doc.body, args.pretty)
    missing = missing_message(doc.id, blobs or [])
    if missing is not None:
        return fail(missing, EXIT_MISSING_BLOBS)
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
                print_json({"sequence": change.sequence, "id": change.id, "rev_id": change.rev_id,
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


# ------------------------------------------------------------------ bulk import and export


class Progress:
    """A one-line progress display on standard error: count, total when known, rate and ETA.

    What it shows never goes backwards: the count and the completed fraction only grow,
    even when the total grows (a replicator discovering more work) or a caller reports a
    smaller number. The rate is over the whole run; the ETA comes from the fraction left
    at that rate, and is shown only once a total is known.
    """

    def __init__(self, draw: bool, noun: str = "docs", total: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic, stream: Any = None) -> None:
        self.draw, self.noun, self.clock = draw, noun, clock
        self.stream = stream if stream is not None else sys.stderr
        self.started = clock()
        self.count = 0
        self.fraction = 0.0
        self.total = total
        self._last = -1.0
        self._drawn = False

    def update(self, count: int, done: Optional[float] = None, total: Optional[float] = None) -> None:
        """Reports `count` items so far and, when known, `done` out of `total` (any unit:
        documents, bytes). Redraws at most ten times a second."""
        self.count = max(self.count, count)
        if total is not None:
            self.total = total
        if done is not None and self.total:
            self.fraction = max(self.fraction, min(done / self.total, 1.0))
        self.tick()

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.count / elapsed
        text = f"{self.count:,} {self.noun}"
        if self.total:
            width = 24
            filled = int(width * self.fraction)
            text = f"[{'#' * filled}{'.' * (width - filled)}] {self.fraction * 100:5.1f}%  " + text
        text += f"  {rate:,.0f} {self.noun}/s"
        if self.total and 0 < self.fraction < 1:
            left = elapsed * (1 - self.fraction) / self.fraction
            text += f"  ETA {format_duration(left)}"
        return text

    def tick(self, force: bool = False) -> None:
        now = self.clock()
        if self.draw and (force or now - self._last >= 0.1):
            self.stream.write("\r" + self.line() + "\033[K")
            self.stream.flush()
            self._last, self._drawn = now, True

    def finish(self) -> None:
        """Draws the final state and ends the line (if anything was drawn)."""
        if self.draw:
            self.tick(force=True)
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def format_duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# "rev" is what export wrote before 2.0 named the key "rev_id" like the bindings; both are ignored.
IMPORT_KEYS = {"id", "body", "rev_id", "rev"}


def parse_import_line(line: str, number: int, source: str) -> Tuple[str, str]:
    """(doc_id, body text) from one line of an import file, or UsageError naming the line."""
    where = f"{source}:{number}"
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise UsageError(f"{where}: not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise UsageError(f'{where}: expected an object {{"id": ..., "body": {{...}}}}')
    unknown = sorted(set(obj) - IMPORT_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (expected id, body and "
                         f"optionally rev_id)")
    doc_id, body = obj.get("id"), obj.get("body")
    if not isinstance(doc_id, str) or not doc_id:
        raise UsageError(f'{where}: "id" must be a non-empty string')
    if not isinstance(body, dict):
        raise UsageError(f'{where}: "body" must be a JSON object')
    return doc_id, json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def cmd_import(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    source = "<stdin>" if args.file == "-" else args.file
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    total_bytes: Optional[int] = None
    if args.file != "-":
        st = os.fstat(stream.fileno())
        total_bytes = st.st_size if st.st_size > 0 and os.path.isfile(args.file) else None
    draw = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = Progress(draw, total=total_bytes)
    imported = 0
    pending: List[Tuple[str, str]] = []
    consumed = 0
    try:
        with open_database(args.database, create=True) as db, \
                open_collection(db, args.collection, create=True) as coll:
            def flush() -> None:
                nonlocal imported
                if not pending:
                    return
                with db.batch() as batch:
                    for doc_id, body in pending:
                        batch.save(coll, doc_id, body)
                imported += len(pending)
                pending.clear()
                progress.update(imported, consumed)

            for number, line in enumerate(stream, 1):
                consumed += len(line.encode("utf-8"))
                if not line.strip():
                    continue
                pending.append(parse_import_line(line, number, source))
                if len(pending) >= args.batch:
                    flush()
            flush()
    except (UsageError, errors.P2PSyncError) as e:
        progress.finish()
        saved = (f" ({plural(imported, 'document')} imported before it, in whole batches of {args.batch}; "
                 f"nothing of the failed batch)")
        if isinstance(e, UsageError):
            raise UsageError(f"{e}{saved}") from None
        e.message = f"{e.message or e}{saved}"
        raise
    finally:
        if stream is not sys.stdin:
            stream.close()
    progress.finish()
    elapsed = time.monotonic() - progress.started
    print(f"imported {plural(imported, 'document')} in {elapsed:.1f} s")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    draw = args.progress if args.progress is not None else sys.stderr.isatty()
    out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8")
    exported = 0
    try:
        with open_database(args.database, create=False) as db, \
                open_collection(db, args.collection, create=False) as coll:
            progress = Progress(draw, total=coll.count())
            for change in coll.iter_changes():
                if change.deleted:
                    continue
                try:
                    doc = coll.get(change.id)
                except errors.NotFoundError:
                    continue  # deleted or purged since the feed was read
                out.write(json.dumps({"id": doc.id, "rev_id": doc.rev_id, "body": doc.body},
                                     separators=(",", ":"), ensure_ascii=False) + "\n")
                exported += 1
                progress.update(exported, exported)
            progress.finish()
    finally:
        if out is not sys.stdout:
            out.close()
    if out is not sys.stdout:
        print(f"exported {plural(exported, 'document')} to {args.output}")
    return EXIT_OK


def collection_info(coll: Collection) -> Dict[str, Any]:
    conflicted = [c.id for c in coll.iter_changes() if not c.deleted and coll.conflicts(c.id)]
    return {"collection": coll.full_name, "documents": coll.count(), "last_sequence": coll.last_sequence(),
            "conflicted_documents": len(conflicted), "conflicted_ids": conflicted[:20]}


def blob_usage(db_path: str) -> Dict[str, int]:
    """Number and total size of the blobs stored in a database: the "<hex digest>.blob"
    files of its "blobs" directory (see engine/blobstore), counted without reading them.
    Blobs no document refers to any more count until `compact` removes them."""
    count = size = 0
    try:
        entries = os.scandir(os.path.join(db_path, "blobs"))
    except FileNotFoundError:
        return {"count": 0, "bytes": 0}
    with entries:
        for e in entries:
            if e.name.endswith(".blob") and e.is_file(follow_symlinks=False):
                count += 1
                size += e.stat(follow_symlinks=False).st_size
    return {"count": count, "bytes": size}


def cmd_info(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db:
        collections = []
        for scope, name in collection_specs(db, args.collection):
            # Each collection is closed before an error propagates (a suspended generator
            # used to keep one open, so closing the database failed with BusyError and
            # hid the real error, e.g. a corrupt database).
            with db.collection(name, scope=scope) as coll:
                collections.append(collection_info(coll))
        info = {"path": db.path, "name": db.name, "uuid": db.uuid, "collections": collections,
                "blobs": blob_usage(db.path)}
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
    blobs = info["blobs"]
    print(f"blobs        {plural(blobs['count'], 'blob')} stored, {blobs['bytes']:,} bytes")
    return EXIT_OK


def cmd_compact(args: argparse.Namespace) -> int:
    with open_database(args.database, create=False) as db:
        stats = db.compact()
    if args.json:
        print_json(stats, False)
        return EXIT_OK
    temps = stats.get("temp_files_removed", 0)
    temp_text = f"; removed {temps} temporary file{'' if temps == 1 else 's'}" if temps else ""
    print(f"removed {plural(stats.get('blobs_removed', 0), 'blob')} ({stats.get('bytes_removed', 0):,} bytes), "
          f"kept {stats.get('blobs_kept', 0)}{temp_text}")
    return EXIT_OK


def query_params(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    params: Dict[str, Any] = {}
    if args.params:
        try:
            params = json.loads(args.params)
        except ValueError as e:
            raise UsageError(f"--params is not JSON: {e}") from None
        if not isinstance(params, dict):
            raise UsageError("--params must be a JSON object")
    for item in args.param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {item!r}: expected NAME=JSON")
        try:
            params[name.lstrip("$")] = json.loads(value)
        except ValueError:
            params[name.lstrip("$")] = value  # not JSON: taken as a string
    return params or None


def cmd_query(args: argparse.Namespace) -> int:
    params = query_params(args)
    with open_database(args.database, create=False) as db, db.prepare(args.statement) as q:
        if args.explain:
            print(q.explain(), end="")
            return EXIT_OK
        for row in q.execute(params):
            if args.pretty:
                print(json.dumps(row, indent=2, ensure_ascii=False))
            else:
                print(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
    return EXIT_OK


# ------------------------------------------------------------------ network commands


def normalize_fingerprint(text: str) -> str:
    """The fingerprint `text` in the one form every output uses (64 lowercase hex digits),
    read by the library (p2p_tls_fingerprint_normalize): it accepts "ab12...", "AB:12:..."
    (as openssl prints it), either case, optionally after "SHA256:"."""
    try:
        return security.normalize_fingerprint(text.strip())
    except errors.InvalidArgumentError:
        raise UsageError(f"bad fingerprint {text!r}: expected the 64 hex digits (SHA-256) that `serve` prints") from None


def parse_user(spec: str) -> Tuple[str, str]:
    """"NAME:PASSWORD", or "NAME" with the password in $P2PSYNC_PASSWORD."""
    name, colon, password = spec.partition(":")
    if not colon:
        password = os.environ.get("P2PSYNC_PASSWORD", "")
        if not password:
            raise UsageError(f"no password for user {name!r}: give NAME:PASSWORD or set P2PSYNC_PASSWORD")
    if not name:
        raise UsageError(f"bad --user {spec!r}: expected NAME:PASSWORD")
    return name, password


def identity_password(args: argparse.Namespace) -> str:
    if getattr(args, "password", None) is not None:
        return args.password
    return os.environ.get("P2PSYNC_IDENTITY_PASSWORD", "")


def load_identity(path: str, password: str) -> Identity:
    with open(path, "rb") as f:
        return Identity.from_pkcs12(f.read(), password)


def write_private(path: str, data: bytes, force: bool) -> None:
    """Writes a file only its owner can read (it holds a private key)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} exists (use --force to replace it)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def open_collections(db: Database, specs: Optional[List[str]], *, create: bool) -> List[Collection]:
    opened: List[Collection] = []
    try:
        for spec in specs or ["_default"]:
            opened.append(open_collection(db, spec, create=create))
    except BaseException:
        for coll in opened:
            coll.close()
        raise
    return opened


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while serving or syncing."""


class StopFlag:
    """Set by SIGINT/SIGTERM (see stop_on_signals); waited for by the main thread.

    Not a threading.Event: a Python signal handler runs in the main thread between two
    bytecodes, possibly while that thread is inside Event.wait holding the Event's own
    (non-reentrant) lock, and Event.set from the handler then waited for that lock
    forever (`serve` never printed "stopped" after Ctrl-C). Setting the flag takes no
    lock; waiting for it polls in short sleeps, which a signal interrupts."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for the flag; returns whether it is set."""
        deadline = time.monotonic() + timeout
        while not self._set:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.05))
        return True


def stop_on_signals() -> StopFlag:
    """A flag set by SIGINT/SIGTERM (Ctrl-C, `kill`), so that the main thread can stop
    the listener or replicator cleanly instead of dying mid-write."""
    stop = StopFlag()

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


SERVE_LOG_DOMAINS = p2plog.LISTENER | p2plog.TLS | p2plog.NETWORK


def log_to_stderr(level: str, domains: int) -> None:
    """Routes the library's records of `level` and above in `domains` to standard error,
    one line each: "<UTC time> <level> <domain>: <message>"."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(domain)s: %(message)s",
                                  "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_add_domain)
    p2plog.logger.addHandler(handler)
    p2plog.logger.setLevel(logging.DEBUG)
    p2plog.set_level(level, domains)


def _add_domain(record: logging.LogRecord) -> bool:
    record.domain = record.name.rpartition(".")[2]
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    credentials = dict(parse_user(u) for u in args.user or [])
    if args.log_level != "none":
        log_to_stderr(args.log_level, SERVE_LOG_DOMAINS)
    if args.no_tls and args.identity:
        raise UsageError("--identity needs TLS: drop --no-tls")
    identity = load_identity(args.identity, identity_password(args)) if args.identity else None
    stop = stop_on_signals()
    try:
        with open_database(args.database, create=True) as db:
            colls = open_collections(db, args.collection, create=True)
            try:
                with Listener(db, collections=colls, port=args.port, network_interface=args.host,
                              read_only=args.read_only, disable_tls=args.no_tls, identity=identity,
                              credentials=credentials or None) as listener:
                    listener.start()
                    fingerprint = ""
                    served = listener.tls_identity()
                    if served is not None:
                        with served:
                            fingerprint = served.fingerprint
                    if args.json:
                        print_json({"urls": listener.urls, "port": listener.port, "fingerprint": fingerprint,
                                    "collections": [c.full_name for c in colls]}, False)
                    else:
                        print(f"serving {db.path} ({', '.join(c.full_name for c in colls)})"
                              f"{' read-only' if args.read_only else ''}")
                        for url in listener.urls:
                            print(f"url {url}")
                        if fingerprint:
                            print(f"fingerprint {fingerprint}")
                        print("press Ctrl-C to stop")
                    sys.stdout.flush()
                    if not credentials:
                        access = "read" if args.read_only else "read and write"
                        print(f"{PROG}: warning: no --user: any peer that reaches this port can {access} "
                              "the database", file=sys.stderr)
                    while not stop.wait(0.5):
                        pass
                    listener.stop()
            finally:
                for coll in colls:
                    coll.close()
    finally:
        if identity is not None:
            identity.close()
    print("stopped", flush=True)
    return EXIT_OK


class SyncProgress:
    """Counts replicated documents and draws a one-line progress bar on standard error."""

    def __init__(self, draw: bool) -> None:
        self.draw = draw
        self.lock = threading.Lock()
        self.pulled = self.pushed = self.failed = 0
        self.status: Optional[ReplicatorStatus] = None
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def on_documents(self, event: DocumentEvent) -> None:
        with self.lock:
            for doc in event.documents:
                if doc.error is not None:
                    self.failed += 1
                elif event.direction == "pull":
                    self.pulled += 1
                else:
                    self.pushed += 1

    def on_status(self, status: ReplicatorStatus) -> None:
        with self.lock:
            self.status = status

    def line(self) -> str:
        st = self.status
        activity = st.activity if st else "starting"
        completed, total = (st.completed, st.total) if st else (0, 0)
        width = 24
        fraction = min(completed, total) / total if total else (1.0 if activity == "idle" else 0.0)
        # The total grows as the replicator finds more work: the bar never moves back.
        self._fraction = max(getattr(self, "_fraction", 0.0), fraction)
        filled = int(width * self._fraction)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.pulled + self.pushed) / elapsed
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {activity:<10} pulled {self.pulled}  "
                f"pushed {self.pushed}  {rate:,.0f} docs/s")
        if activity == "busy" and 0 < self._fraction < 1:
            line += f"  ETA {format_duration(elapsed * (1 - self._fraction) / self._fraction)}"
        return line

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.draw and (force or now - self._last >= 0.1):
            sys.stderr.write("\r" + self.line() + "\033[K")
            sys.stderr.flush()
            self._last, self._drawn = now, True

    def finish(self) -> None:
        if self._drawn:
            self.tick(force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd_sync(args: argparse.Namespace) -> int:
    trust_options = [o for o in ("pin", "self_signed", "ca", "pinned_cert") if getattr(args, o)]
    if len(trust_options) > 1:
        raise UsageError("choose one of --pin, --self-signed, --ca and --pinned-cert")
    username, password = parse_user(args.user) if args.user else (None, None)
    trust, roots, pinned, fingerprint = TrustMode.SYSTEM_ROOTS, None, None, None
    if args.pin:
        # The replicator checks the fingerprint in the TLS handshake, before credentials are sent.
        fingerprint, trust = normalize_fingerprint(args.pin), TrustMode.PINNED
    elif args.pinned_cert:
        with open(args.pinned_cert, encoding="utf-8") as f:
            pinned, trust = f.read(), TrustMode.PINNED
    elif args.ca:
        with open(args.ca, encoding="utf-8") as f:
            roots, trust = f.read(), TrustMode.ROOTS
    elif args.self_signed:
        trust = TrustMode.SELF_SIGNED_ONLY
    direction = ReplicatorType.PUSH if args.push else ReplicatorType.PULL if args.pull else ReplicatorType.PUSH_AND_PULL
    tls_settings = trust != TrustMode.SYSTEM_ROOTS
    if tls_settings and not args.url.startswith("wss://"):
        raise UsageError("--pin, --self-signed, --ca and --pinned-cert need a wss:// URL")

    draw = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = SyncProgress(draw)
    stop = stop_on_signals()
    interrupted = False
    with open_database(args.database, create=True) as db:
        colls = open_collections(db, args.collection, create=True)
        try:
            repl = Replicator(db, args.url, type=direction, continuous=args.continuous, username=username,
                              password=password, trust_mode=trust, trusted_roots=roots, pinned_certificate=pinned,
                              pinned_fingerprint=fingerprint, collections=[ReplicationCollection(c) for c in colls])
            with repl, repl.add_document_listener(progress.on_documents), \
                    repl.add_status_listener(progress.on_status):
                repl.start(reset_checkpoint=args.reset)
                deadline = time.monotonic() + args.timeout if args.timeout else None
                shown = ""
                while True:
                    if stop.wait(0.05):
                        interrupted = True
                        break
                    progress.tick()
                    status = repl.status
                    if status.stopped:
                        break
                    if not draw and status.activity != shown:
                        # Without a progress bar, say when a continuous sync is caught up, and
                        # why any sync is waiting to retry (a one-shot sync retries too).
                        if status.activity == "idle" and args.continuous:
                            print(f"idle: pulled {progress.pulled}, pushed {progress.pushed}", flush=True)
                        elif status.activity == "offline":
                            why = f" ({' '.join(status.error.message.split())})" if status.error is not None else ""
                            print(f"{PROG}: offline{why}; retrying", file=sys.stderr, flush=True)
                    shown = status.activity
                    if deadline is not None and time.monotonic() > deadline:
                        last = repl.status.error
                        raise errors.TimedOutError(errors.TimedOutError.code, message=(
                            f"sync did not finish within {args.timeout:g} s"
                            + (f" (last error: {last.message})" if last is not None else "")))
                repl.stop()  # saves the checkpoint
                final, presented = repl.status, repl.server_certificate
            progress.finish()
        finally:
            for coll in colls:
                coll.close()
    elapsed = time.monotonic() - progress.started
    summary = {"pulled": progress.pulled, "pushed": progress.pushed, "failed": progress.failed,
               "seconds": round(elapsed, 3), "interrupted": interrupted}
    if args.json:
        print_json(summary, False)
    else:
        print(f"pulled {progress.pulled}, pushed {progress.pushed} documents in {elapsed:.1f} s"
              f"{f', {progress.failed} failed' if progress.failed else ''}"
              f"{' (stopped by signal; checkpoint saved)' if interrupted else ''}")
    if final.error is not None and not interrupted:
        if isinstance(final.error, errors.TLSPinMismatchError) and fingerprint is not None and presented:
            return fail(f"certificate fingerprint mismatch: expected {fingerprint}, "
                        f"the listener presented {security.certificate_fingerprint(presented)}", EXIT_REFUSED)
        if isinstance(final.error, errors.TLSError) and trust == TrustMode.SYSTEM_ROOTS:
            # The usual first stumble: a listener's anonymous identity is self-signed.
            return fail(f"{final.error.message} (a self-signed listener? use --pin FINGERPRINT, as "
                        "`serve` prints it, or --self-signed)", EXIT_REFUSED)
        raise final.error
    if interrupted and not args.continuous:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if progress.failed else EXIT_OK


def cmd_identity_create(args: argparse.Namespace) -> int:
    usage = Usage.SERVER_AND_CLIENT if args.client else Usage.SERVER
    with Identity.create(common_name=args.cn, subject_alt_names=args.san or [], validity_days=args.days,
                         usage=usage) as identity:
        write_private(args.file, identity.to_pkcs12(identity_password(args)), args.force)
        print(f"{args.file}: fingerprint {identity.fingerprint}")
    return EXIT_OK


def cmd_identity_import(args: argparse.Namespace) -> int:
    with open(args.cert, encoding="utf-8") as f:
        cert = f.read()
    key = None
    if args.key:
        with open(args.key, encoding="utf-8") as f:
            key = f.read()
    with Identity.from_pem(cert, key, args.key_password) as identity:
        write_private(args.file, identity.to_pkcs12(identity_password(args)), args.force)
        print(f"{args.file}: fingerprint {identity.fingerprint}")
    return EXIT_OK


def cmd_identity_export(args: argparse.Namespace) -> int:
    with load_identity(args.file, identity_password(args)) as identity:
        if args.key:
            chain, key = identity.to_pem(args.key_password)
            write_private(args.key, key.encode("utf-8"), args.force)
        else:
            chain = identity.chain_pem
        if args.cert:
            with open(args.cert, "w", encoding="utf-8") as f:
                f.write(chain)
        else:
            sys.stdout.write(chain)
    return EXIT_OK


def show_identity(identity: Identity, source: str, as_json: bool) -> None:
    info = {"source": source, "fingerprint": identity.fingerprint,
            "not_after": identity.not_after.isoformat(timespec="seconds")}
    if as_json:
        print_json(info, False)
        return
    print(f"identity     {source}")
    print(f"fingerprint  {info['fingerprint']}")
    print(f"valid until  {info['not_after']}")


def cmd_identity_show(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.database is None):
        raise UsageError("give an identity FILE or --database DB")
    if args.file is not None:
        with load_identity(args.file, identity_password(args)) as identity:
            show_identity(identity, args.file, args.json)
        return EXIT_OK
    # A database's anonymous identity is what `serve` presents; a listener started on
    # loopback for a moment loads it (creating it on first use, as serve would).
    with open_database(args.database, create=False) as db, \
            Listener(db, network_interface="127.0.0.1") as listener:
        listener.start()
        try:
            with listener.tls_identity() as identity:  # type: ignore[union-attr]
                show_identity(identity, f"anonymous identity of {db.path}", args.json)
        finally:
            listener.stop()
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

    def command(name: str, fn: Optional[Callable[[argparse.Namespace], int]], help_text: str,
                description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=description, epilog=EPILOG)
        if fn is not None:  # None: the command has sub-commands that set it
            p.set_defaults(func=fn)
        return p

    p = command("put", cmd_put, "save a document",
                "Saves a document (creating the database and collection if needed) and prints "
                "its ID and new revision ID. Without --rev the save wins over whatever is "
                "current; with --rev it fails with exit code 4 if the document changed since.")
    p.add_argument("database", help="database directory")
    p.add_argument("id", help="document ID")
    p.add_argument("body", nargs="?", help="JSON object; '-' or omitted: read standard input "
                   "(with --attach, omitted means {})")
    p.add_argument("-f", "--file", help="read the JSON body from this file")
    p.add_argument("--rev", metavar="REV_ID", help="the revision this edit is based on (conflict check)")
    p.add_argument("--attach", action=AttachAction, metavar="FILE[:PROPERTY]",
                   help="store FILE as a blob (streamed, never read whole) and put its blob dictionary "
                   "in the body under PROPERTY (default: the file name without its extension; a top-level "
                   "property the body must not already have). Repeatable. The content type is guessed "
                   "from the file name")
    p.add_argument("--content-type", action=ContentTypeAction, metavar="TYPE",
                   help="content type of the --attach just before it (e.g. image/png), instead of the guess")
    add_collection_option(p)

    p = command("get", cmd_get, "print a document",
                "Prints a document's body as JSON (exit code 3 if it does not exist or is deleted), "
                "or with --save-blobs DIR writes the blobs it refers to into DIR.")
    p.add_argument("database", help="database directory")
    p.add_argument("id", help="document ID")
    p.add_argument("--rev", metavar="REV_ID", help="print this revision instead of the current one")
    p.add_argument("--meta", action="store_true",
                   help='print {"id", "rev_id", "version", "timestamp", "sequence", "deleted", "conflicts", "body"} '
                        '(version "" and timestamp 0 for a revision without a version)')
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
    p.add_argument("--save-blobs", metavar="DIR",
                   help="write every blob the document refers to into DIR (created if needed), verified, "
                   "one file each, named after its property (\"/album/0\" -> album-0) plus an extension for "
                   "its content type, and print a 'saved' line for each instead of the body (with --meta: "
                   "a \"blobs\" list in the JSON). A blob this database does not hold gives exit code 7, "
                   "after the others were saved")
    p.add_argument("--force", action="store_true", help="with --save-blobs: replace existing files")
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

    p = command("import", cmd_import, "save many documents from a JSON Lines file",
                "Saves one document per line of FILE ('-': standard input), each line "
                '{"id": ID, "body": {...}} (a "rev_id" key, as `export` writes, or the older "rev", is accepted and ignored: '
                "every document gets a new revision, winning over the current one). Writes go in "
                "batches of --batch documents, each one transaction; a bad line stops the import with "
                "exit code 2 naming the line, after the batches before it were saved.")
    p.add_argument("database", help="database directory (created if needed)")
    p.add_argument("file", help="JSON Lines file, or '-' for standard input")
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="documents per transaction (default: 1000)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show count, rate and ETA on standard error (default: when it is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    add_collection_option(p)

    p = command("export", cmd_export, "write every document as JSON Lines",
                'Writes one line per live document, {"id", "rev_id", "body"}, in sequence order: what '
                "`import` reads.")
    p.add_argument("database", help="database directory")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show count, rate and ETA on standard error (default: when it is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    add_collection_option(p)

    p = command("info", cmd_info, "show counts, sequences, conflicts and blobs",
                "Shows the database's UUID and, per collection, the number of documents, the "
                "last sequence and the documents in conflict; and the number and total size of "
                "the blobs stored (including unreferenced ones until `compact`).")
    p.add_argument("database", help="database directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_collection_option(p, default=None)

    p = command("compact", cmd_compact, "remove blobs no document refers to",
                "Removes the blobs that no kept revision refers to (and leftovers of interrupted "
                "blob writes) and prints how many were removed and kept. Kept revisions are the "
                "current one, other leaves (conflicts) and the current one's parent, so a blob an "
                "update dropped goes once a further update made the old body obsolete.")
    p.add_argument("database", help="database directory")
    p.add_argument("--json", action="store_true", help='print {"blobs_removed", "bytes_removed", '
                   '"blobs_kept", "temp_files_removed"}')

    p = command("query", cmd_query, "find documents with a SQL++ query",
                "Runs a SQL++ statement (SELECT, EXPLAIN SELECT, CREATE INDEX, DROP INDEX; see the "
                "README, \"Queries\") and prints each result row as one JSON object per line. A statement "
                "that does not parse gives exit code 2 and the line and column of the problem; an "
                "unknown collection exit code 3.")
    p.add_argument("database", help="database directory")
    p.add_argument("statement", help="the SQL++ statement, e.g. \"SELECT name FROM _ WHERE age > $min\"")
    p.add_argument("--param", action="append", metavar="NAME=JSON",
                   help="value of parameter $NAME, as JSON (a value that is not JSON is taken as a "
                   "string). Repeatable")
    p.add_argument("--params", metavar="JSON", help="all parameters as one JSON object")
    p.add_argument("--explain", action="store_true",
                   help="print the SQLite statement and SQLite's query plan instead of running it")
    p.add_argument("--pretty", action="store_true", help="indent the JSON")

    p = command("serve", cmd_serve, "serve a database to peers (a listener)",
                "Starts a listener on DATABASE (created if missing) and serves it until Ctrl-C. "
                "It prints one 'url URL' line per address and a 'fingerprint' line: give the URL "
                "to peers and let them compare (or --pin) the fingerprint. TLS is on by default, "
                "with the database's anonymous identity (a self-signed certificate kept in the "
                "database directory, so the fingerprint survives restarts).")
    p.add_argument("database", help="database directory")
    p.add_argument("-p", "--port", type=int, default=0, help="TCP port (default: any free port)")
    p.add_argument("--host", metavar="ADDRESS", help="listen only on this IP address or interface name "
                   "(default: all)")
    p.add_argument("-u", "--user", action="append", metavar="NAME[:PASSWORD]",
                   help="accept this user (repeatable); without :PASSWORD, $P2PSYNC_PASSWORD is used")
    p.add_argument("--identity", metavar="FILE.p12", help="serve this identity (see `identity create`) "
                   "instead of the anonymous one; its password: --password or $P2PSYNC_IDENTITY_PASSWORD")
    p.add_argument("--password", help="password of the --identity file")
    p.add_argument("--read-only", action="store_true", help="refuse pushes; serve pulls only")
    p.add_argument("--no-tls", action="store_true", help="plain ws:// (only on a trusted network)")
    p.add_argument("--json", action="store_true", help='print one JSON line {"urls", "port", "fingerprint", '
                   '"collections"} instead of text')
    p.add_argument("-c", "--collection", action="append", metavar="[SCOPE.]NAME",
                   help="serve this collection (repeatable; default: the default collection)")
    p.add_argument("--log-level", choices=["debug", "verbose", "info", "warning", "error", "none"], default="info",
                   help="log lines on standard error, one per event: at info (the default) each connection "
                        "opened and closed (peer address, user, subprotocol, collections) and every error a "
                        "peer caused; warning: the errors only; none: nothing")

    p = command("sync", cmd_sync, "sync a database with a listener (a replicator)",
                "Replicates DATABASE (created if missing) with the listener at URL "
                "(wss://host:port/db, as `serve` prints it): both directions unless --push or "
                "--pull, once unless --continuous. Ctrl-C stops cleanly and saves the checkpoint, "
                "so the next run resumes. Server trust, for wss:// URLs: the system's CAs by "
                "default; --pin FINGERPRINT accepts only the certificate with that SHA-256 "
                "fingerprint (checked in the TLS handshake, before credentials are sent); "
                "--self-signed accepts any "
                "self-signed certificate; --ca and --pinned-cert take PEM files.")
    p.add_argument("database", help="local database directory")
    p.add_argument("url", help="the listener's URL, e.g. wss://192.0.2.7:4984/notes")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument("--push", action="store_true", help="only send local changes")
    direction.add_argument("--pull", action="store_true", help="only receive remote changes")
    p.add_argument("--continuous", action="store_true", help="keep syncing until Ctrl-C")
    p.add_argument("-u", "--user", metavar="NAME[:PASSWORD]",
                   help="log in (HTTP Basic); without :PASSWORD, $P2PSYNC_PASSWORD is used")
    p.add_argument("--pin", metavar="FINGERPRINT", help="trust only the certificate with this SHA-256 "
                   "fingerprint (as `serve` prints it; colons optional)")
    p.add_argument("--self-signed", action="store_true", help="trust any self-signed certificate")
    p.add_argument("--ca", metavar="ROOTS.pem", help="trust certificates issued by these CAs")
    p.add_argument("--pinned-cert", metavar="CERT.pem", help="trust only this certificate")
    p.add_argument("--reset", action="store_true", help="ignore the checkpoint and start from the beginning")
    p.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                   help="give up (exit code 1) if a one-shot sync takes longer (default: no limit)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="draw a progress bar on standard error (default: when it is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="never draw the progress bar")
    p.add_argument("--json", action="store_true",
                   help='print the summary as JSON {"pulled", "pushed", "failed", "seconds", "interrupted"}')
    p.add_argument("-c", "--collection", action="append", metavar="[SCOPE.]NAME",
                   help="replicate this collection (repeatable; default: the default collection)")

    p = command("identity", None, "create, import, export or show a TLS identity",
                "TLS identities (a private key and its certificate) kept in PKCS#12 files, "
                "readable by openssl and keytool. The file's password comes from --password or "
                "$P2PSYNC_IDENTITY_PASSWORD (default: empty).")
    ids = p.add_subparsers(dest="identity_command", metavar="ACTION", required=True)

    def action(name: str, fn: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        q = ids.add_parser(name, help=help_text, description=help_text + ".", epilog=EPILOG)
        q.set_defaults(func=fn)
        return q

    q = action("create", cmd_identity_create, "create a self-signed identity in a PKCS#12 file")
    q.add_argument("file", help="PKCS#12 file to write (mode 0600)")
    q.add_argument("--cn", metavar="NAME", help="certificate common name")
    q.add_argument("--san", action="append", metavar="HOST_OR_IP",
                   help="subject alternative name (repeatable), for peers that check host names")
    q.add_argument("--days", type=int, default=0, help="validity in days (default 365)")
    q.add_argument("--client", action="store_true", help="also usable as a client certificate")
    q.add_argument("--password", help="password of the PKCS#12 file")
    q.add_argument("--force", action="store_true", help="replace an existing file")

    q = action("import", cmd_identity_import, "build a PKCS#12 identity file from PEM certificate and key")
    q.add_argument("file", help="PKCS#12 file to write (mode 0600)")
    q.add_argument("--cert", required=True, metavar="CHAIN.pem", help="certificate chain (leaf first)")
    q.add_argument("--key", metavar="KEY.pem", help="private key (default: in the --cert file)")
    q.add_argument("--key-password", help="password of an encrypted private key")
    q.add_argument("--password", help="password of the PKCS#12 file")
    q.add_argument("--force", action="store_true", help="replace an existing file")

    q = action("export", cmd_identity_export, "write an identity's certificate chain (and key) as PEM")
    q.add_argument("file", help="PKCS#12 identity file")
    q.add_argument("--cert", metavar="OUT.pem", help="write the chain here (default: standard output)")
    q.add_argument("--key", metavar="OUT.pem", help="also write the private key here (mode 0600)")
    q.add_argument("--key-password", help="encrypt the exported key with this password")
    q.add_argument("--password", help="password of the PKCS#12 file")
    q.add_argument("--force", action="store_true", help="replace an existing key file")

    q = action("show", cmd_identity_show, "print an identity's fingerprint and expiry")
    q.add_argument("file", nargs="?", help="PKCS#12 identity file")
    q.add_argument("--database", metavar="DB", help="show the anonymous identity `serve` uses for DB")
    q.add_argument("--password", help="password of the PKCS#12 file")
    q.add_argument("--json", action="store_true", help="print JSON")

    return parser


# ------------------------------------------------------------------ entry point


def exit_code_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in _EXIT_CODES:
            return _EXIT_CODES[cls]
    return EXIT_ERROR


def fail(message: str, code: int) -> int:
    message = " ".join(message.split())  # one line, even if a peer's reason had several
    if not message.startswith(f"{PROG}: "):
        message = f"{PROG}: {message}"
    print(message, file=sys.stderr)
    return code


# The module's interface is the command line (p2psync --help) and main(); the rest is
# the implementation, so pydoc and `import *` show main only.
__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the p2psync command line with argv (default sys.argv[1:]) and returns the
    exit code (see the module docstring); `p2psync` and `python3 -m p2psync` call it."""
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


if __name__ == "__main__":
    sys.exit(main())
