// Package syncproto runs the Couchbase Mobile replication protocol (CBMobile 2, 3 and 4
// over BLIP 3) on one connection: a Session owns the connection's lifecycle and runs the
// pusher and puller of each collection. A listener connection and a replicator run the
// same code with roles swapped, as Couchbase Lite does: the passive side answers
// subChanges with a Pusher in "changes" mode, the active side pushes with
// proposeChanges; both receive with a Puller. The messages themselves (getCollections,
// getCheckpoint, setCheckpoint, subChanges, changes, proposeChanges, rev, norev,
// getAttachment, proveAttachment) are encoded and decoded by the pure codec package
// engine/syncproto/wire, which has no I/O.
//
// # Layout
//
//	wire/         the codec: message properties and bodies, sequences, body cleaning
//	lifecycle.go  Dial, Accept, Start, Handshake, Disconnect, Done; BLIP names re-exported
//	session.go    Session, its configuration, limits, statistics, Quiesce, Close
//	active.go     the active side's requests (getCollections, get/setCheckpoint, subChanges)
//	passive.go    the passive side's handlers for the same
//	pusher.go     Pusher: changes feed, lists, revs sent and their replies
//	puller.go     Puller: changes/proposeChanges answered, revs and norevs received
//	inserter.go   received revisions saved in batched transactions
//	tracker.go    checkpoint positions over rows completed in any order
//	blobs.go      blobs fetched, served, granted; legacy _attachments
//	versions_*.go CBMobile_4: versions sent (push) and judged (pull)
//
// engine/replicator and engine/listener use only this package; neither imports
// engine/blip. The BLIP close codes, sentinels (ErrProtocol, ErrNoSubprotocol,
// ErrTimeout, ErrTooLarge, ErrConnClosed, ErrHandshakeCut) and error types (HTTPError,
// CloseError, ErrorReply) are re-exported as the same values and types, so errors.Is and
// errors.As match them through either package; engine/replicator's IsTransient is the
// one place that decides which of them are worth retrying. ErrBadMessage and ErrUnknownCollection are
// wire's values.
//
// # Sessions
//
// A caller (engine/replicator or engine/listener) does, in order:
//
//  1. active: s, err := Dial(ctx, url, DialOptions{…}, SessionConfig{…}); passive:
//     s, err := Accept(w, r, SessionConfig{…}) (the connection is open, not read yet);
//  2. passive: s.ServePassive(PassiveConfig{…}); active: s.SetCollections(colls,
//     !s.Legacy()) and s.AddPuller(i, PullOptions{Active: true, …}) for each pulled
//     collection;
//  3. s.Start();
//  4. active: cps, err := s.Handshake(ctx, checkpointIDs) (getCollections, or
//     getCheckpoint in legacy mode), then s.SubChanges and s.StartPusher(i, …);
//  5. watch OnProgress / Failed(); read Pusher.Checkpoint and Puller.Checkpoint to save
//     checkpoints (SetCheckpoint); at the end s.Quiesce(ctx) (optional, for the freshest
//     checkpoint), s.Disconnect(code, reason), then s.Close(). Done is closed when the
//     connection has ended, ConnErr says how (a *CloseError), ConnStats counts its bytes.
//
// NewSession wraps an existing *blip.Conn instead of Dial/Accept (tests, other
// transports).
//
// Example (active push of the default collection):
//
//	s, err := syncproto.Dial(ctx, url, syncproto.DialOptions{}, syncproto.SessionConfig{Database: db, RemoteID: url})
//	s.SetCollections([]*store.Collection{db.DefaultCollection()}, !s.Legacy())
//	s.Start()
//	cps, err := s.Handshake(ctx, []string{checkpointID})
//	p, err := s.StartPusher(0, syncproto.PushOptions{Propose: true, Since: cps[0].Checkpoint.Local})
//	<-p.Done()
//	s.Disconnect(syncproto.CloseNormal, "done")
//	s.Close()
//
// Received revisions are saved in batched transactions and acknowledged only once
// durable. While revisions stream in, a batch is committed once they pause for 2 ms (at
// most 10 ms after it started, at most Limits.InsertBatch revisions); a lone revision is
// committed at once. The pusher's records of what the peer has leave memory once
// persisted, so a push keeps a bounded amount of memory whatever its length. Checkpoint positions only advance over rows that are completely handled
// (PROTOCOL §7.2), whatever order revisions complete in. The puller knows the rows'
// order by the order of the changes messages (registered as they arrive, whatever order
// their handlers run in), so a pusher prepares lists concurrently but sends them in
// sequence order; with numeric sequences the puller also stays before any pending row
// of a list that came late.
//
// A received revision the store refuses for what it is (malformed, invalid ID, a conflict
// a passive side does not take, a reserved property) is answered with the error, reported
// (DocumentEvent.Err) and counted as handled. One it fails to save for a reason of its own
// (busy, I/O error, disk full, closed: the transaction failed, taking the other
// revisions of its batch with it) is not: it is answered HTTP/503 (retry later, so a
// pushing peer keeps it pending), reported with the store error in DocumentEvent.Err's
// chain, and an active puller holds its row (the checkpoint stays before it) and ends
// the session with the store error, so the next session asks for it again.
//
// An active puller answers a changes list only while fewer than 10,000 of its rows are
// unfinished (revisions asked for and not yet received): a peer that lists changes
// without sending them waits for the answer instead of making this side keep a row per
// change (Couchbase Lite's puller queues changes messages the same way). Rows done
// behind an unfinished (or held) one are kept as one.
//
// Bodies keep their bytes: a received body is stored as sent, minus the protocol's own
// top-level keys (CleanBody) and the blob stubs that only mirror a blob
// (FoldLegacyAttachments); both split it with the store's parser (store.ObjectMembers)
// and keep every other member's text in its order. A pusher sends a delta only when
// applying it to the base rebuilds its body byte for byte (the delta format cannot place
// an added key nor reorder keys), so both peers hold one body per revision. A receiver
// of a delta keeps the base it replaces (the next delta's base) as the reverse delta
// delta.ApplyReverse made with the new body (store.BaseDelta; a few bytes instead of a
// second full copy), made in the rev's handler, not in the store's writer; that is
// storage only, nothing on the wire changes.
//
// # CBMobile_4 (version vectors)
//
// Dial offers BLIP_3+CBMobile_4, CBMobile_3, CBMobile_2 and Accept takes the first of the
// client's list it speaks (SessionConfig.DisableCBMobile4 leaves CBMobile_4 out on
// either side); Session.VersionVectors reports a CBMobile_4 connection. There a
// revision with a version (package hlv; store.Document.Version) travels as a version,
// one without (saved before versions existed, or received over CBMobile_3) in its
// rev-tree form, classified per row and per message by shape (wire.IsVersion), so a
// database moves from 3 to 4 without re-sending anything: checkpoints are the same.
// (versions_push.go, versions_pull.go; CBMOBILE4-AND-BLOBS.md §A.)
//
// Sending: changes rows carry the current version, proposeChanges rows the whole vector
// with the remote ancestor (the remote's version, or rev-tree ID) as parent; rev
// messages rev = current version, history = merge versions;previous versions, deleted=1
// and {} for a tombstone, and, when the peer named a rev-tree ID among what it has, this
// revision's rev-tree ancestry down to that ID after the previous versions (so that a
// peer holding the revision without its version finds it, as Sync Gateway sends it).
// Every rev sent by version also carries revTree (wire.RevTreeProperty): its rev-tree
// ID, then its ancestors down to the first the peer is known to have (at most
// maxHistory), so that a libp2psync receiver keeps the same revision tree (Couchbase
// Lite ignores the property). A proposal answered 409 is
// left to the pull side when the replicator also pulls.
//
// Deltas (versions_delta.go): a version's rev is sent as a delta against the first of the
// peer's known revisions whose body this side holds, named as the peer named it:
// deltaSrc is a version (store.Collection.GetRevisionByVersion: the current revision or
// its kept parent) or, for a peer copy without one, a rev-tree ID. The receiver applies
// it to its body of that version, found the same way (its current revision first:
// store.Collection.GetVersionCurrentFirst), and answers HTTP/422 when it has
// none (a version older than the parent, pruned, or one it never stored); the sender then
// resends the whole body, as under CBMobile_3. Checked in LiteCore and Sync Gateway
// sources (CBMOBILE4-AND-BLOBS.md §A.4, §A.5 and §D: no CBMobile_4 delta was recorded on
// the wire): Couchbase Lite's pusher sets deltaSrc to the absolute form of the base's
// version ("<hex time>@<source>", as in rev) and picks the base from the remote's
// recorded revision, then from the versions the puller listed; Sync Gateway takes the
// first entry of a changes answer's known list as the delta base and names it in
// deltaSrc unchanged; a receiver without the base answers LiteCore/31 (Couchbase Lite;
// sent to the peer as HTTP/422) or HTTP/422 (Sync Gateway; 404 in older releases), and
// both senders resend the whole body on 422, 404, LiteCore/31 and LiteCore/32, which this
// side does too.
//
// Receiving: a changes row is not wanted when the local vector contains its version;
// wanted with [current version, rev-tree ID] (or only the rev-tree ID when the local
// revision has no version) otherwise. proposeChanges rows are judged by Sync Gateway's
// rules (500 unparsable, 0 absent or parent = our current version, 304 already held,
// 409 with our current version otherwise). A rev whose vector or revTree does not parse
// is answered HTTP/422; otherwise store.PutExistingVersion judges it (with the revTree
// IDs, which place it in the revision tree): known (same or
// older) writes nothing and is answered with success; newer is stored; conflicting is
// refused HTTP/409 "Document revision conflict" by a passive puller and resolved by an
// active one before it is answered: SessionConfig.ResolveVersion (default
// DefaultVersionResolution, Couchbase Lite 4's rule) chooses, and
// store.ResolveVersionConflict stores the outcome with a vector recording both sides,
// the received version being recorded as the remote's revision in the same transaction
// (OnResolved reports the conflict and the stored outcome). A resolver error leaves the revision
// unstored and the row held (the checkpoint stays before it). The remote-ancestor
// records hold the remote's version under CBMobile_4.
//
// # Blobs
//
// A revision's blobs are its "@type":"blob" dictionaries and the entries of its
// top-level _attachments (PROTOCOL §3.9, §3.10, §4.5). Receiving (handleRev, both
// roles): after the delta is applied and the body cleaned, FoldLegacyAttachments drops
// the "blob_<pointer>" stubs that mirror a blob of the same body; then every blob the
// blob store lacks is fetched with getAttachment (digest, docID, compress=true unless the
// content type or name says it is already compressed; the reply's size cap is raised to
// the announced length) and streamed into a blobstore.Writer that demands that digest
// and length. Only when all are stored is the revision saved and the rev answered. A
// blob that cannot be obtained (an error reply, a digest or length mismatch) answers the
// rev HTTP/502, reports a document error, and leaves the row out of the checkpoint (the
// active puller holds it: it no longer counts as pending, so a one-shot run completes,
// but the checkpoint never passes it); a connection lost mid-blob leaves the row pending
// and ends the session. This side never sends proveAttachment: it asks only for blobs
// it lacks, and a peer that may push may also pull everything, so a proof would guard
// nothing (Couchbase Lite's puller does not send it either). A blob longer than
// Limits.MaxBlobSize (default 1 GiB) is not asked for (its announced length is checked
// first; with no announced length the reply is cut off at the cap): the rev is answered
// HTTP/413, reported and held the same way (the active puller's checkpoint stays
// before it; a pusher answered 413 counts the document as failed, as for any 413), so a
// peer cannot make this side stream an unbounded amount to disk.
//
// Sending: while a rev awaits its reply, its (docID, digest) pairs are granted on the
// session; getAttachment and proveAttachment are answered only for granted blobs (HTTP
// 403 otherwise, as Sync Gateway does; 400 without digest or docID; 404 for a blob
// missing here). The getAttachment reply streams the blob from the store through
// blip.Message.BodyStream (memory stays bounded; a blob found damaged at its end closes
// the connection rather than deliver wrong bytes). proveAttachment gets
// ProveAttachment's "sha1-"+base64(SHA-1(len(nonce) ‖ nonce ‖ content)). To a puller that
// did not answer with blobs=true (Sync Gateway) the body gets AddLegacyAttachments'
// stubs (key "blob_"+pointer, digest, length, content_type, revpos = the revision's
// generation, stub) and is sent whole (no delta). A rev answered HTTP/502 is held the
// same way as on the receiving side (Pusher.Settled tells a one-shot push it is over).
// Answers to changes and proposeChanges carry blobs=true.
//
// # Reserved keys in bodies
//
// A received body loses the top-level "_" keys the protocol defines (_id, _rev,
// _deleted, _revisions, _exp, _removed; "_removed": true is a revocation) and keeps
// everything else as sent, order included, _attachments too (see Blobs). A revision with any other
// top-level "_" key is refused with HTTP/400 and a document event naming the key:
// the store cannot hold it (store.IsReservedProperty) and dropping it would leave two
// bodies under one revision ID. The pusher sends no body with a reserved key (a
// database written before the store refused them may hold one): it reports a document
// error wrapping store.ErrReservedProperty, and answers a peer's request for it with a
// norev (HTTP/400).
//
// # Many sessions on one database
//
// A continuous pusher that has caught up takes the rows of later commits from the
// collection's change notifications (changeFeed: the changes after its position, one per
// document, as ChangesSince would list them) instead of querying after every commit; a
// purge, more changes than a batch before it takes them, or a backlog send it back to
// querying. A row whose notification carried its committed revision (store.Change.Doc:
// a small local save) is sent from it, exactly as a read at its sequence returns it,
// without reading the document (notifiedDoc); other rows are read. A pusher that queries
// reads the small documents of a list in the same query (store.ChangesSinceWithDocs, the
// bodies of a list within 1 MiB) and sends them as read there. Passive sessions given one PassiveConfig.Reads (a SharedReads, as
// engine/listener does) reuse what another session has just read of a document at the
// same sequence (its current revision and body), so a commit followed by N replicators
// is read from the store about once rather than N times.
//
// # Peer checkpoints and list sizes
//
// The passive side stores each peer's checkpoints as local documents
// ("peer-checkpoint/<client ID>", store.PutLocalCapped), as Couchbase Lite does in its
// peer-checkpoint store and Sync Gateway as "checkpoint/<client>" local documents; any
// connected peer may write them, whether or not it may push. Neither of those bounds them;
// here a body over Limits.MaxCheckpointSize (default 16 KiB; ours and Couchbase Lite's
// are under 200 bytes) is answered HTTP/413 and not stored, and at most
// Limits.MaxPeerCheckpoints (default 10,000) are kept: a new client ID past that deletes
// the least recently written other checkpoint in the same transaction (logged at Info).
// Neither costs data: the active side (ours, and Couchbase Lite's, which does not retry a
// refused save and keeps its local checkpoint where it was) only saves its local
// checkpoint after the peer stored it, and a replication that finds no checkpoint on the
// peer starts from the beginning, compares every document and sends only what is missing.
// A changes or proposeChanges list of more than wire.MaxListRows (10,000) rows is answered
// HTTP/413 before it is decoded, which bounds what decoding one message costs to little
// more than its size (unbounded, short rows cost ~18 times it); Limits.ChangesBatch is
// kept at or below it. The other lists a peer chooses the length of are bounded the same
// way, counted before they are decoded (wire.ElementsOver) and answered HTTP/413 when
// over: a subChanges docIDs filter (wire.MaxDocIDs, 100,000 IDs; neither Couchbase Lite
// nor Sync Gateway bounds it, and a 20 MiB list of short IDs allocated over 300 MiB to
// decode), the collections of getCollections (wire.MaxCollections, 1,000: Couchbase
// Server's own limit), a rev's history (wire.MaxRevHistory, 10,000) and revTree
// (wire.MaxRevTree). The active side refuses answers with more entries than it asked
// for, changes answer entries listing more than wire.MaxKnownRevs known revisions and
// checkpoints over wire.MaxRemoteCheckpointSize (1 MiB) the same way, before decoding
// them; the session then ends with an error wrapping ErrBadMessage.
//
// # Thread safety
//
// A Session is safe for concurrent use. Its callbacks (OnDocument, OnConflict,
// OnProgress, filters) are called from session goroutines, never with a session lock
// held; they must return quickly. Close waits for every goroutine the session started.
package syncproto
