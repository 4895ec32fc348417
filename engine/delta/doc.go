// Package delta creates and applies JSON deltas in the format Couchbase Lite and
// Sync Gateway exchange during delta sync (Fleece's JSONDelta format, PROTOCOL.md
// §6.2). A pusher that knows which revision the peer already has sends the
// difference instead of the whole body; the puller rebuilds the body from its
// stored copy of that base revision.
//
// # Using it
//
// A pusher, for a revision whose base the peer listed as known:
//
//  1. Call Create(baseBody, newBody).
//  2. Decide whether the delta is worth sending. Couchbase Lite sends one only if
//     the full body is at least 200 bytes and the delta is at most 1.2 times the
//     body; that policy belongs to the replicator, not to this package. Where the
//     receiver must end with the sender's exact bytes, call CreateExact instead of
//     Create: it also says whether Apply(baseBody, d) gives newBody byte for byte (a
//     key added in the middle, or keys reordered, come back in another order; see
//     "Values and formatting"), without scanning the base a second time.
//  3. Send it in a rev message with deltaSrc set to the base revision ID.
//
// A puller receiving a rev with deltaSrc:
//
//  1. Load the stored body of the deltaSrc revision. If there is none (purged,
//     compacted, a tombstone), answer 422 without calling this package.
//  2. Call Apply(baseBody, delta). Any error means the peer must resend the full
//     body: answer 422 (PROTOCOL.md §6.3).
//  3. Store the returned body as the new revision.
//
// ApplyReverse is Apply that also returns, when it is cheap and exact, the delta turning
// the new body back into the base, byte for byte: a receiver keeps the base that way
// instead of as a second full copy. It compares only the members the delta names, so it
// costs about what Apply costs; nil means there is none (CreateExact can still try).
//
// Example:
//
//	d, err := delta.Create([]byte(`{"kind":"bench","n":1}`), []byte(`{"kind":"edit1","n":1}`))
//	// d == `{"kind":"edit1"}`
//	body, err := delta.Apply([]byte(`{"kind":"bench","n":1}`), d)
//	// body == `{"kind":"edit1","n":1}`
//
// # What Create writes
//
// Create follows the reference encoder, so its output is what a Couchbase Lite peer
// would have sent for the same change:
//
//   - Objects: changed and added members (recursively), then deleted members as [].
//     Within each group keys are in byte order, so the same inputs always give the
//     same bytes.
//   - Arrays: items are compared at equal indexes only; changed items appear under
//     their decimal index, and a length change adds "n-" with the new items from
//     index n on. Moving or inserting items in the middle therefore changes every
//     later index: the reference encoder does the same. An array that is or becomes
//     empty is replaced whole.
//   - Other changes replace the value: a bare scalar inside an object or array
//     delta, [value] for objects and arrays and for any top-level replacement.
//   - Strings of at least 60 bytes that differ get a string diff ["ops",0,2] when it
//     is smaller than the new string. The diff keeps the longest common prefix and
//     suffix and replaces the middle, which is ideal for one edit in a long text;
//     several scattered edits give one large middle, and if that is not smaller the
//     whole string is sent.
//   - Equal values give the no-op delta {} (as the reference does). Callers that
//     want to skip sending nothing-changed deltas can compare the result with "{}".
//
// # What Apply accepts
//
// Everything in PROTOCOL.md §6.2, including forms Create never writes: the
// JsonDiffPatch forms [old, new] (replace) and [old, 0, 0] (delete), string diffs
// at any length and at the top level, and a bare scalar at the top level. Apply is
// stricter than the reference decoder where a laxer reading would hide a delta made
// from a different base: an array index or tail key past the end, two tail keys, a
// key that is not a canonical index, deleting a member that does not exist, or a
// string diff whose counts do not add up to the old string are all errors. These
// cannot come from a correct encoder and the right answer is a full body.
//
// # Values and formatting
//
// Input is JSON text in UTF-8; invalid UTF-8 is an error, not replaced. Output is
// compact JSON. Numbers are kept as written (no float64 round trip), so integers of
// any size and long decimals survive exactly; numbers compare by their text, so
// changing 1.0 to 1 is a change. Apply keeps the order of the old document's
// members and appends added members. A repeated key in an object keeps its last
// value, as encoding/json does. Objects and arrays may nest at most MaxDepth
// levels; deeper input is rejected before any recursion could exhaust the stack.
//
// # Errors
//
// Every error wraps ErrInvalidJSON (a document is not acceptable JSON) or
// ErrInvalidDelta (the delta is not JSON, is malformed, or does not fit the old
// value). Messages include the byte offset of a syntax error or the JSON Pointer
// path where a delta did not fit. No input makes these functions panic.
//
// # Cost
//
// When a document is an object in the compact form this package writes (strings
// escaped as Apply escapes them, no repeated key), Apply decodes only the top-level
// members the delta names and copies the others as text, and Create decodes only
// the members whose text differs between the two documents. The output is the same,
// byte for byte, as when everything is decoded (other documents take that path), so
// a large document with a small edit costs about one scan of its bytes. The scan
// finds the end of long strings with bytes.IndexByte.
//
// # Concurrency
//
// Create, CreateExact and Apply keep no state between calls and may be called from any number
// of goroutines at once. They never retain or modify the slices they are given.
package delta
