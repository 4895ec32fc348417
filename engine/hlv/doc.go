/*
Package hlv implements the version vectors of Couchbase Lite 4 and Sync Gateway 4
(hybrid logical vectors, "HLV"): source IDs, a hybrid logical clock, versions and
vectors in their exact wire text, comparison, merging after a conflict, pruning, and
Couchbase Lite 4's default conflict rule. It is pure computation: package store keeps
a vector with each document, and the CBMobile_4 subprotocol (see "Protocol plan" below)
carries them. Nothing here does I/O.

# Versions

A Version is "<time>@<source>": time is a hybrid-logical-clock value (nanoseconds since
the Unix epoch, the low 16 bits a logical counter), written in lowercase hex without
leading zeros; source identifies the database that wrote it.

	v, err := hlv.ParseVersion("18ed7b68946d0000@pqL3hlqMVKn2VRNcx3X6BA")
	// v.Time == 0x18ed7b68946d0000, v.Source == "pqL3hlqMVKn2VRNcx3X6BA"
	v.String() // the same text

ParseVersion also accepts upper-case hex, leading zeros and leading spaces, as Sync
Gateway does; the time must be non-zero. Errors wrap ErrSyntax.

A source ID made here (NewSourceID) is what Couchbase Lite makes: 16 random bytes in
standard base64 without padding, 22 characters that may contain '+' and '/'.
IsCanonicalSourceID tells whether a source has that form. Sources read from a peer are
kept verbatim (Sync Gateway does not decode them either); they must be 1–128 printable
ASCII characters without ',', ';', '@' or space, and not "*", Couchbase Lite's local
shorthand that never appears between peers.

A revision from a revision tree that has no vector is represented by LegacyVersion:
time = generation<<40 | the first 40 bits of the digest, source LegacySource
("Revision+Tree+Encoding"); "1-abab…ab" becomes "1ababababab@Revision+Tree+Encoding".
IsLegacyRevID tells the two kinds of revision ID apart by shape ("<positive decimal>-…").

# Vectors

A Vector holds the current version (cv), the merge versions (mv) recorded by a conflict
resolution, the previous versions (pv) of the other sources it descends from, and any
rev-tree IDs a peer sent after the previous versions (Legacy). Two text forms:

	full vector (String, ParseVector):     cv[,mv…][;pv…[,legacy…]]
	rev message (Current + History, ParseRevHistory): rev=cv  history=mv…;pv…  or  history=pv…

In the full form everything left of the single ';' after the cv is a merge version; a
vector with merge versions and nothing after them is written with a trailing ';'
("cv,mv1,mv2;"). In a rev message a history without ';' is all previous versions. Entry
order inside mv and inside pv means nothing (Sync Gateway writes map order); Equal
compares them as sets, but String writes them in the order held, so a parsed vector is
written back byte for byte. A vector never names a source twice, except that the cv's
source may appear once among the merge versions with an older time. Spaces after a
separator are accepted on input (Couchbase Lite's own text form has them); output has
none, as the recordings show. A vector of more than MaxEntries entries is refused.

# Comparing, adding, merging, pruning

a.Compare(b) looks each side's current version up in the other (a current version
dominates its own history), as Couchbase Lite does:

  - Same: the current versions are equal;
  - Newer: a contains b's cv and b does not contain a's — a received vector that is Newer
    than the local one is a fast-forward;
  - Older: the reverse — a received vector that is Older (or Same) is already known;
  - Conflicting: neither contains the other's cv.

MergesSameVersions tells whether two vectors resolved the same conflict (Sync Gateway
then treats them as not conflicting). AddVersion makes the vector of a local save: the
new version becomes the cv, the old cv and merge versions become previous versions, and
the writer's older entry goes. Merge makes the vector of a conflict resolution: a new cv,
both conflicting cvs as merge versions, and every other source at its later time; it is
commutative, so both peers that resolve one conflict record the same merge versions.

Prune shortens a vector as Couchbase Lite's VersionVector::prune does: the cv and merge
versions stay; beyond maxCount versions the oldest previous versions go (only those older
than a cutoff, when one is given). Pruning can turn a later "newer" into a "conflict",
never the reverse.

# Conflict rule

LocalWins is Couchbase Lite 4's default resolution: a deletion beats a live revision,
otherwise the later current version (last writer by clock time) wins; equal times are
broken by the larger source ID so that both peers choose alike. (Sync Gateway's own
last-writer-wins rule for SG-to-SG replication is different: there a live revision
beats a tombstone. It does not apply to Couchbase Lite peers.)

# Clock

Clock is a hybrid logical clock. Now returns the wall clock with the counter bits
cleared, or one more than the last time when the wall clock has not moved past it, so
its values strictly increase even when the wall clock steps back. Observe advances it
past a time seen in a received version, so that later local versions sort after what
was received; it refuses (ErrInvalidTime, clock unchanged) a time below MinValidTime
(mid-2023: legacy stand-ins and garbage), above MaxValidTime, or more than MaxClockSkew
(2 minutes) ahead of the wall clock, as Couchbase Lite does. AdvancePast moves it past a
time this database itself wrote, without checks. Last is the state to persist; NewClock
resumes from it.

# Protocol plan (CBMobile_4, for the syncproto/replicator/listener work)

Implemented in engine/syncproto (versions_push.go, versions_pull.go; see its doc.go),
as planned below except: a changes answer names both the local current version and its
rev-tree ID (Sync Gateway's two-entry form), and the sender then always adds its
rev-tree ancestry, so that a revision known here only by its rev-tree ID (received over
CBMobile_3, saved later) is found as an ancestor; the changes feed is not extended (the
pusher reads the versions of a list in one CurrentRevisions query); deltas name their
base by version (deltaSrc = the version the peer listed; see engine/syncproto's
versions_delta.go and store.Collection.GetRevisionByVersion).

What changes on the wire under BLIP_3+CBMobile_4, from the spec digest
(CBMOBILE4-AND-BLOBS.md §A, §W) and the recordings in testdata/transcripts; under
CBMobile_3 nothing changes. Store support is in package store (Document.Version,
Document.Vector, CurrentRevision.Version/Vector from CurrentRevisions,
Collection.PutExistingVersion, Collection.ResolveVersionConflict). Still missing there:
the changes feed (store.Change, changes.go) does not carry the version yet — add it
(from the vv/vv_rev columns, as getRevs does) before the pusher can send CBMobile_4
changes rows without a second lookup.

 1. Negotiation: the replicator offers "BLIP_3+CBMobile_4" first, then CBMobile_3 (and a
    test option to offer only 3); the listener accepts either, preferring the client's
    order. The mode is per connection; no message property switches it. Inside a _4
    connection classify each revision string by shape: IsLegacyRevID → CBMobile_3 rules
    for that row/message, else it must parse as a version.
 2. changes (pusher → puller, and listener → client): rows [seq, docID, cv, flags?] with
    the cv only (Document.Version); a document with no vector yet is sent with its
    rev-tree ID. The puller answers per row: 0 not wanted (its vector Contains the cv),
    [] wanted and nothing here, ["<local cv>"] wanted with the local cv (delta base),
    never more than 2 entries; a pre-upgrade local doc answers its rev-tree ID.
 3. proposeChanges (pusher → passive peer): rows [docID, full vector (String), parent
    cv or rev-tree ID or absent]; the passive side reads the proposed cv with
    CurrentVersion (and parses the whole vector only for rule 8). It answers (trailing zeros dropped) as in
    digest §A.6: 0 absent / parent is our cv / proposed source newer than ours / proposed
    vector contains our cv; 304 our vector Contains the proposed cv; else 409, with
    {"status":409,"rev":"<our cv>"} when conflictIncludesRev=true.
 4. rev: rev = cv, history = Vector.History() (omitted when empty), deleted=1 with body
    {} for a tombstone, deltaSrc = the cv of the delta base, sequence as before;
    maxHistory does not cut the vector. Receiving: ParseRevHistory(rev, history); a
    parse error answers 422; then PutExistingVersion: Older/Same → empty reply (already
    known, not an error); Newer → stored; Conflicting → the passive side answers 409
    "Document revision conflict", the active side resolves (default LocalWins, or the
    custom resolver) and stores with ResolveVersionConflict, whose Merge vector makes
    both sides see the conflict as resolved. A rev whose rev is a rev-tree ID is handled
    exactly as under CBMobile_3 (the stored doc then has no vector until its next save).
 5. norev, getCollections, subChanges, attachments: unchanged, except revpos is omitted
    from blob_ stubs under _4 and a proveAttachment may come once per stub name.
 6. Checkpoints: no recorded difference; keep the same checkpoint IDs and bodies so a
    peer that moves from 3 to 4 continues from its checkpoint (the sequences are the same
    numbers). Remote-ancestor records should store the cv under _4.
 7. Delta sync: deltaSrc names the base by its cv; the base body is the current
    revision's (or its parent's, which the store keeps) when the known cv matches.

Observe-on-receive: every received vector's times go through Clock.Observe (the store
does this in PutExistingVersion); too-far-future times are not adopted into the clock
but the revision is still stored, as Couchbase Lite does for other sources' versions.
*/
package hlv
