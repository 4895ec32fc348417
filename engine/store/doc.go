/*
Package store is libp2psync's local document database: JSON documents in
collections, with the revision trees, sequences, change feed, local documents
and remote-ancestor records that Couchbase Lite style replication needs. It is
pure Go on modernc.org/sqlite; nothing here knows about the network.

# Opening and closing

A database is a directory. Open creates it (unless Config.NoCreate) and takes
an exclusive lock on it:

	db, err := store.Open(ctx, "/data/app.p2pdb", store.Config{})
	if err != nil {
		// ErrBusy: open elsewhere (another process, or another Open in this one)
		// ErrIO: the path is a regular file, or the directory is not writable
		// ErrCorrupt: the SQLite file is damaged (empty, truncated, not a
		// database) or from a newer version
		// ErrNotFound: NoCreate and there is no database
	}
	defer db.Close()

The directory holds db.sqlite3 (WAL mode, synchronous=NORMAL), its -wal and
-shm files, db.lock, and the blob store "blobs" (see Blobs). A new db.sqlite3
is written whole (schema and identity in a temporary file, synced, then renamed
into place), so a crash during creation leaves no database file; an existing
db.sqlite3 that is empty, too short, not an SQLite file, shorter than its header
records, or an SQLite file without this package's tables is refused with
ErrCorrupt and left as it is, never replaced by a new database. The lock is an flock(2) held for the lifetime of the
Database; because flock belongs to an open file description, a second Open of
the same directory fails with ErrBusy whether it comes from another process or
from this one, and the kernel drops the lock if the process dies. Delete
removes a closed database with its blobs (ErrBusy while it is open anywhere). Exists reports
whether a directory holds one.

WAL checkpoints never run inside a commit: the writer has SQLite's automatic
checkpoint turned off, and a checkpointer on its own connection copies the WAL
back into db.sqlite3 in the background (PASSIVE, a quarter second after a commit,
once 1,000 pages are waiting), and empties it with a TRUNCATE checkpoint when a
steady stream of commits or old read snapshots let it grow past 16 MiB (only then
does a writer wait for a checkpoint: for what the PASSIVE one left, and its
fsyncs); journal_size_limit keeps the file at most that size (checkpoint.go). synchronous=NORMAL as before: a
commit is not synced, the WAL is synced by each checkpoint.

Close waits for calls in progress, delivers the change notifications already
committed, stops the expiry purger and the checkpointer and releases the lock;
closing the last connection checkpoints the WAL and removes it. It refuses with
ErrBusy while a Batch is open. After Close every call returns ErrClosed.

# Collections

Documents live in collections grouped in scopes. _default._default always
exists (DefaultCollection) and cannot be deleted. Other collections are made
with CreateCollection (idempotent) and found with Collection; scope "" means
"_default". Names are 1–251 characters of A-Z a-z 0-9 _ - %, not starting
with _ or %; the only exception is "_default", and a collection named
"_default" exists only in scope "_default". Bad names are ErrInvalidName.
DeleteCollection removes a collection with all its documents; afterwards every
call on its *Collection returns ErrNotFound.

# Documents and revisions

A document is a JSON object (anything else is ErrInvalidJSON and nothing is
written) stored in compact form: insignificant whitespace removed, keys and
values byte for byte. Document IDs are 1–255 bytes of UTF-8 without NUL
(ErrInvalidID).

Top-level keys starting with "_" are reserved (IsReservedProperty): every
write of a body — Save, a merged body in ResolveConflict, a received revision
in PutExistingRevision — refuses one with ErrReservedProperty naming the key,
also when the underscore is written as an escape. The sync protocol carries
metadata in such keys (_id, _rev, _deleted, _revisions, _removed, _exp,
_attachments); a peer strips or acts on them, so a body holding one would reach
the peer as another body under the same revision ID, or ("_removed": true) as
an access revocation. Keys below the top level are not restricted.
One reserved key may be stored: _attachments (AttachmentsProperty), the legacy
attachment metadata Sync Gateway sends. PutExistingRevision keeps it as received;
a local save may carry it over from the revision it replaces, compared as a JSON
value (so an application can edit such a document without touching it), but a
save that introduces it or changes it is refused with ErrReservedProperty (local
blobs are "@type":"blob" dictionaries; the replicator writes the stubs for Sync
Gateway itself). A merged body in ResolveConflict refuses it like any other.
CheckDocumentBody finds a reserved key other than _attachments in a body stored
before this rule existed.

	doc, err := coll.Save(ctx, "user:42", []byte(`{"name":"Ada"}`), store.SaveOptions{})
	// doc.RevID = "1-<40 hex>", doc.Sequence = next sequence of the collection
	doc, err = coll.Save(ctx, "user:42", []byte(`{"name":"Ada L."}`), store.SaveOptions{
		ParentRevID: doc.RevID,             // what the caller read
		Concurrency: store.FailOnConflict,  // ErrConflict if someone saved in between
	})

Every save, delete, inserted remote revision and conflict resolution creates
a revision "<generation>-<digest>", where the digest of a local revision is the
lowercase hex SHA-1 of byte(len(parent)) || parent || byte(deleted) || body.
With LastWriteWins (the default) the new revision is always a child of the
current one. Delete adds a tombstone revision (body "{}"); Get then reports
ErrNotFound while GetWithDeleted returns it with Deleted set, and saving again
continues the same history. A deletion that leaves no live leaf is the
current revision even where the tombstone of an older branch (closed by a
conflict resolution) would beat it by the winner rule: that branch is
removed. Purge removes a document and all its history without a tombstone,
so nothing about it replicates.

Revisions form a tree per document. Each revision keeps its ID, parent,
deletion flag and the sequence at which it was added locally. What is kept:

  - the tree is pruned to Config.MaxRevTreeDepth (default 20) revisions
    behind each leaf; older ancestors are forgotten, and a revision whose
    parent was pruned becomes a root;
  - bodies are kept for every leaf (the current revision, conflicting
    branches, tombstones) and for the parent of the current revision, so that
    GetRevision of the previous version works (a delta can be computed against
    it); every other body is dropped when a later change makes it obsolete.
    Ancestors received only as history from a peer never had a body.

GetManyWithDeleted and CurrentRevisions (the latter without bodies) look up
many documents in one statement from one snapshot, much cheaper than a
GetWithDeleted each; a missing document gives nil (or an empty RevID).
GetRevision returns a revision whose body is still kept (ErrNotFound
otherwise), Revisions the whole kept tree (newest generation first) and
History the kept ancestors of a revision, newest first. GetRevision reads
the current body only when that is the revision asked for, and History reads
no body at all, beyond the small kept bodies stored inside the tree.

# Conflicts

PutExistingRevision inserts a revision received from a peer together with
its history (ancestors newest first, consecutive generations, possibly
truncated). It grafts the new revisions onto the newest ancestor it already
has; if it knows none of them, the chain becomes a separate branch. Inserting
a revision that is already present is a no-op (Inserted=false). With
NoConflicts set it refuses (ErrConflict) what Sync Gateway refuses in its
no-conflicts mode: it accepts a revision extending the current one, a
tombstone closing a live leaf, and on a deleted or absent document a
revision none of whose history is known here (the document created again).
With AdoptDeletion set (the peer's current revision: pulled by an active
replicator, or pushed under the no-conflicts rules), a deletion that leaves
the document without a live leaf becomes its current revision: the other
deleted leaves that would beat it are removed with the branches only they
hold. Two concurrent deletions thus end on the passive peer's tombstone on
both sides, since that peer refuses ours; nothing live is ever removed.

The current revision is chosen among the leaves: a live leaf beats a deleted
one, then the higher generation wins, then the larger digest (string order).
This is the rule of Couchbase Lite and Sync Gateway, so every peer agrees on
it. A document is in conflict when it has more than one live leaf; Conflicts
lists the live leaves other than the current one. ResolveConflict closes the
losing leaf with a tombstone child and optionally adds a merged revision (or
a deletion) under the winning one, all under one new sequence.
ResolveConflictWith does the same with ResolveOptions; PruneLosingBranch
removes the losing leaf (which may then be a tombstone) and the ancestors no
other leaf shares instead of closing it, as Couchbase Lite's resolution
does, and, when the result is a deletion, also the tombstones that would
outrank it, so that the result is the current revision. A closing tombstone
has a generation one above the losing leaf and can outrank a deletion that
won; the replicator prunes whenever a resolution ends in a deletion. The
change of current revision, like every write, takes a new sequence and
appears in the change feed.

# Versions (version vectors)

Besides its rev-tree ID every revision saved here gets a version, as Couchbase Lite 4
gives one (package hlv): "<time>@<source ID>", where the source ID is the database's
own (SourceID: 16 random bytes in base64, 22 characters, created once and stored) and
the time comes from the database's hybrid logical clock — wall-clock nanoseconds with a
logical counter in the low 16 bits, strictly increasing even if the wall clock steps
back (Config.WallClock replaces the wall clock in tests). The clock state is persisted
in the same transaction as the save that moves it (rounded up by a second, so a burst of
saves writes it once), so a reopened database never issues a time it issued before.
A revision's version vector records the versions of other sources it descends from;
Document.Version, Document.Timestamp and Document.Vector give the current version, its
time and the whole vector (hlv's text form) on every read of a current revision (Get,
GetWithDeleted, GetManyWithDeleted, GetRevision of the current revision) and every
write result. A save replaces this database's previous version by the new one and keeps
the rest as previous versions; vectors are pruned to Config.MaxRevTreeDepth versions
(hlv.Vector.Prune: current and merge versions always stay).

Revisions without a version show empty fields: documents saved before versions existed
(or by the previous version of this library, which leaves the vector columns alone) and
revisions received as rev-tree revisions (PutExistingRevision). They keep their
revision tree and gain a version on their next save, whose vector holds the legacy
stand-in of the replaced revision (hlv.LegacyVersion: "<generation><10 digest
digits>@Revision+Tree+Encoding") and the versions of the last versioned ancestor, if
any. A database from before versions opens with the vector columns added and the
source ID created (and is migrated to schema version 2, see "Storage layout").

PutExistingVersion stores a revision received with a vector (CBMobile_4): every time in
the vector first advances the clock (a time more than two minutes ahead of the wall
clock, or not a clock time at all, is not adopted); then the vector is compared with the
local one (hlv.Vector.Compare). A newer one is stored as the new current revision, a
child of the old one in the tree under a minted rev-tree ID; a known (same or older) one
writes nothing; a conflicting one writes nothing and is reported (VersionResult.Order),
for the caller to refuse or to settle with ResolveVersionConflict, which stores the
chosen or merged body with a vector recording both sides (hlv.Merge), or keeps the
winning remote vector as it is when the local revision adds nothing to it but this
database's own versions. The vectors decide whenever the local current revision has a
vector of its own; a received vector holding the rev-tree stand-in of that revision
(hlv.LegacyVersion: the sender got it over CBMobile_3) descends from it, or is that
revision when it names that revision's own rev-tree ID first. A conflicting vector
without the stand-in is a conflict even when it names the same rev-tree ID: the two
peers made the same change independently (two deletions of one revision share a
rev-tree ID), and only a resolution gives them one version. A local current revision
without a vector of its own is judged by the sender's rev-tree IDs (RemoteVersion.RevTree,
the revTree property libp2psync sends, else the IDs Sync Gateway lists after the
previous versions): listed first, it is the received revision itself (it gains the
received vector, no new sequence); listed later, an ancestor (a fast-forward): how a
document replicated under CBMobile_3 meets its own versions under CBMobile_4. A stored
version takes the sender's rev-tree ID and ancestry: a new document gets the whole
listed ancestry (bodiless), an existing one the listed revisions above its current
revision, or, when the sender does not list that revision (the trees diverged), the
sender's ancestry from the newest listed revision held here with the superseded
current branch removed (see placeFor); only without the sender's IDs is a rev-tree ID
minted. ResolveVersionConflict places a received revision that wins unchanged the same
way. So a peer that missed intermediate revisions, or resolved a conflict, holds the
same revision tree as the sender, and a later CBMobile_3 session sees no conflict. The stored vector does not keep
those rev-tree IDs (the revision tree does).
Remote-ancestor records (SetRemoteAncestor) accept a version as well as a rev-tree ID:
under CBMobile_4 the replicator records the remote's current version.

GetRevisionByVersion finds a revision by version, for deltas under CBMobile_4: the
current revision, or its parent while that body is kept (the retention rule above),
whose version is recorded when a save on top of it replaces the row's vector
(keptversion.go: table kept_versions, one row per document, used while that revision
keeps its body; not written when the database forbids delta sync). Older versions, and other peers' versions never stored as such,
are not found (ErrNotFound).

# Batches

Every write runs in a transaction. A Batch groups many writes into one
transaction, committed together or not at all:

	err := db.InBatch(ctx, func(b *store.Batch) error {
		for _, d := range docs {
			if _, err := b.Save(coll, d.ID, d.Body, store.SaveOptions{}); err != nil {
				return err // rolls everything back
			}
		}
		return nil // commits
	})

Saving many documents at once, Batch.SaveMany (or Collection.SaveMany, in a
transaction of its own) stores, returns and notifies exactly what one Save per
document would, but inserts documents that do not exist yet 32 to a SQL
statement, which costs SQLite much less per document; a group holding an
existing document or a repeated ID is saved one document at a time instead.
SaveOptions.NoBody leaves the returned Documents' Body nil, for a caller that
does not read the bodies back: it saves a copy of each. On W1 (tests/bench/store)
SaveMany with NoBody writes at 0.9–1.0 of the rate per CPU-second of plain SQLite
inserting the same documents one statement each, one Save per document at about
0.7 of it (the revision ID's SHA-1, the JSON check, the version vector and a
wider row with more parameters are the difference).

There is one writer: while a batch is open, writes from other goroutines wait
for it (honouring their ctx). Readers never wait: they use their own
connections and see the last committed state. An invalid input (bad JSON, bad
ID, a lost FailOnConflict) fails only that call and the batch stays usable; a
failure inside SQLite, or cancellation of the batch's ctx, leaves the batch
able only to roll back. Commit after such a failure rolls back and returns the
error. A process killed mid-batch loses the whole batch and nothing else.

Caller duty: do not call the Collection or Database write methods from the
code that holds an open Batch — they would wait for the batch forever. Use the
Batch's methods. To have such a call fail with ErrBusy instead of waiting, name
the holder: begin the batch with a context from WithOwner and pass contexts
naming the same owner to the other calls (the C API names the calling thread,
so a thread holding a batch gets P2P_ERR_BUSY).

# Sequences and changes

Each collection numbers its changes: every save, delete, insert and
resolution gets the next sequence, strictly increasing and never reused, even
across restarts and purges (purges take no sequence). LastSequence is the
highest committed one. ChangesSince(since, limit) returns one row per document
whose latest change is after since, in sequence order — the feed a pusher
reads. Purged documents disappear from it. ChangesSinceWithDocs lists the same
rows with each document whose body is at most a given size read in the same
statement (Change.Doc), for a reader that sends what it lists.

# Listeners

AddChangeListener and AddDocumentChangeListener register callbacks that run
after each commit that touched the collection (or the document). They are
called on one notifier goroutine per database, never on the writer's
goroutine and never while the store holds a lock, serially and in commit
order. The notifier goroutine is locked to its OS thread while it calls
listeners (not while it waits for commits), which is how calls made from
inside a callback (directly or through C) are recognised. A listener hears only of commits made after it was registered. A
commit that changed a collection gives one CollectionChange carrying all of
that collection's changes. Purges (explicit or by expiry) are announced with
Change.Purged set and Sequence 0. While a collection has a collection
listener, the change of a local save or deletion (Save, Delete) whose body is
at most NotifiedBodyMax (16 KiB) also carries the committed revision in
Change.Doc, as a read at that sequence returns it (Expiration left zero), up
to 256 KiB of bodies per commit and 1 MiB in the commits not yet delivered (a
slow listener); it is shared by all listeners and must not be
written. Remote revisions, purges and larger bodies carry none. The syncproto
pusher sends from it instead of reading the document back (SQLite drops a
reader connection's page cache after every write by another connection, so a
read right after a commit is several times slower than a warm one).
A callback may call the store, including
writes, but should return quickly. ListenerToken.Remove waits for a call in
progress unless it is made from inside a callback. A panicking callback is
logged and does not stop delivery.
Database.WaitChangesDelivered waits until the listeners have been called for
every commit made so far (the replicator uses it so that its Stop and its
"stopped" status come after the change listeners heard of what it wrote);
from inside a callback it returns at once.

# Expiration

SetExpiration gives a document a time after which a goroutine owned by the
Database purges it (every Config.ExpiryInterval, default 1 s, stopped by
Close). A zero time clears it. Setting an expiration creates no revision and
survives later saves. Once a pass finds no document with an expiration, the
goroutine reads nothing until an expiration is set again.

# Local documents and remote ancestors

GetLocal/PutLocal/DeleteLocal store per-database JSON documents that never
replicate (checkpoints, metadata), with opaque revisions "<n>-local" for
optimistic concurrency (expectedRev "" = must not exist, AnyRev = no check,
mismatch = ErrConflict). PutLocalCapped writes one of a family sharing an ID prefix of
which at most a given number are kept: creating one past it deletes the least recently
written others in the same transaction (local_docs.written, added on open to a database
that lacks it, orders them). RemoteAncestor/SetRemoteAncestor record, per remote
and document, the latest revision known to be on that remote; purging the
document or deleting the collection forgets the records.
Batch.SetRemoteAncestor records one inside a batch, so that many cost a single
transaction.

# Blobs

Blobs (binary content referred to from documents by "@type":"blob" dictionaries, see
package blobstore) live in the directory "blobs" of the database, opened with it:
Database.Blobs returns the blobstore.Store, through which they are written and read.
Two rules tie them to documents:

  - A local save (Save, Batch.Save) refuses a body that introduces a blob reference the
    store cannot back: a digest it does not hold is ErrNotFound; a malformed
    "@type":"blob" dictionary (digest missing or invalid, length not a non-negative
    integer, content_type not a string) or a length differing from the stored blob is
    ErrInvalidJSON. A reference equal to one in the revision being replaced is accepted
    as it is, so a document pulled from a peer whose blob content has not arrived can
    still be edited. Inserted remote revisions and conflict resolutions are not checked.
  - Compact removes the blobs no kept revision body refers to — in a "@type":"blob"
    dictionary anywhere or a top-level "_attachments" entry — where the kept bodies are
    those of "Documents and revisions": every leaf (current, conflicting, deleted) and the
    current revision's parent. Local documents do not count. Blobs committed since the
    previous Compact began are kept regardless (blobstore.Store.Sweep). Compact holds the
    write lock throughout, so no save can start referring to a blob it is removing; it
    also removes the temporary files of crashed blob writers.

# Errors

Every error wraps one of the sentinels (ErrNotFound, ErrConflict,
ErrInvalidJSON, ErrInvalidID, ErrInvalidName, ErrInvalidRevID, ErrBusy,
ErrClosed, ErrCorrupt, ErrIO, ErrReservedProperty) with a lowercase prefix saying what was being
done; test with errors.Is. Failures reported by SQLite also carry an
*SQLiteError with the extended result code (errors.As).

# Thread safety

Database, Collection and ListenerToken are safe for concurrent use. A Batch
may be shared between goroutines; its calls run one at a time.

# Storage layout

One table per collection, keyed by the sequence of each document's latest
change, holds the current revision (ID, deletion flag, body), the encoded
revision tree, and the expiration; a unique index finds documents by ID. The
row also holds the version vector of one revision (column vv) and, when that is
not the current revision, its ID (vv_rev): the vector is shown only while that
revision is current. The body is the last column, so reading anything else never
walks a large body's overflow pages. Saving a new document is a single INSERT
(a document of one revision stores an empty tree blob: the row says it all); an
update reads the row (without a current body of 2 KB or more) and rewrites it.
Kept bodies of other revisions (the previous revision, conflicting leaves) under
2 KB live inside the tree; larger ones in the collection's kept-bodies table
(kept_<collection>), which the tree refers to by row ID: an update moves the
replaced body there inside SQLite and never reads or rewrites the bodies already
kept. Tables beside them hold the collection catalogue (with each collection's
last sequence and live document count), local documents, remote ancestors, the
versions of kept parent bodies (kept_versions, keptversion.go), the database UUID,
source ID and clock state.

Schema version 3 is this layout. Version 3 adds to version 2 one form of kept
body: a revision received as a delta (PutExistingRevision or PutExistingVersion
with a BaseDelta) keeps the body it replaced as a reverse delta against the new
body column, a few bytes instead of a second full copy (keptdelta.go says how it
stays correct when the column changes). A version-2 database opens as version 3
without rewriting anything. A version-1 database (kept bodies inside the
tree, vv and vv_rev after the body) is migrated when opened, in the opening
transaction (an error or a crash leaves it as it was): each documents table is
rebuilt with the body last, keeping its rows, indexes and full-text triggers,
and gains its kept-bodies table; old-form trees stay readable and take the new
form on their next save. Versions of this library that read at most schema 1 or
2 refuse a version-3 database (unsupported schema version).

Indexes for engine/query live beside a collection's table: value indexes are
partial expression indexes on it (qidx_<collection>_<name>, query.go), and
full-text indexes are contentless FTS5 tables (qfts_<collection>_<name>__,
fulltext.go) whose rows the table's triggers keep equal to its live documents
in the writing transaction, so no write path needs to know of them. Deleting a
collection drops both kinds.
*/
package store
