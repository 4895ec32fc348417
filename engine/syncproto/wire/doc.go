// Package wire is the codec of the Couchbase Mobile replication messages (CBMobile 2, 3
// and 4 over BLIP 3): the profiles, properties and bodies of getCollections, getCheckpoint,
// setCheckpoint, subChanges, changes, proposeChanges, rev, norev, getAttachment and
// proveAttachment, and how a received revision body is cleaned of the protocol's
// metadata keys. It is pure: no I/O, no connection, no goroutines. It reads properties
// through the small Props interface (blip.Properties satisfies it; MapProps serves
// tests) and writes them as Prop lists, so it does not import engine/blip.
// engine/syncproto runs sessions with it.
//
// # Decoding
//
// The Decode* functions accept everything PROTOCOL.md says peers send: properties in any
// order, booleans as true/YES/1 (ParseBool), sequences as JSON numbers or strings
// ("40:42", kept as the raw JSON text in a Sequence), changes rows of 3–5 elements with
// boolean or integer deletion flags, a caught-up changes body of "[]" or "null",
// proposeChanges answers as integers or {"status":409,"rev":…}. Malformed input yields
// an error wrapping ErrBadMessage; a collection index that names no collection one
// wrapping ErrUnknownCollection. No decoder panics on any input (see the fuzz tests).
//
// A list whose length the peer chooses is counted before it is decoded (ElementsOver,
// ArrayLenOver: no allocation) and refused over its bound (MaxDocIDs, MaxCollections,
// MaxRevHistory, MaxRevTree, MaxKnownRevs, MaxRemoteCheckpointSize, and no more answer
// entries than rows asked) with an error wrapping both ErrTooLong and ErrBadMessage, so
// decoding a message costs about its size at most, never ten times it.
//
// # Encoding
//
// The Encode* functions and the Props methods write what Couchbase Lite writes: "true"
// booleans (True), deleted="1" (DeletedValue), trailing zero answers omitted.
//
// # Versions (CBMobile_4)
//
// The same messages carry versions instead of rev-tree IDs (CBMOBILE4-AND-BLOBS.md §A):
// a changes row names a document's current version, a proposeChanges row its whole
// vector (hlv.Vector.String), a rev message its current version in "rev" and the rest of
// the vector in "history". IsVersion tells a version from a rev-tree ID by shape, as Sync
// Gateway does (a CBMobile_4 peer may send either); RevVector reads a rev message's
// vector (hlv.ParseRevHistory) and SetRevVector writes one.
//
// # Bodies
//
// CleanBody removes the top-level keys the protocol defines (_id, _rev, _deleted,
// _revisions, _exp, _removed) from a received body and keeps every other member as
// sent, order and bytes included; another reserved "_" key is refused with
// store.ErrReservedProperty. TopLevelMembers splits a body into its members for code
// that rewrites one of them and keeps the rest byte for byte.
package wire
