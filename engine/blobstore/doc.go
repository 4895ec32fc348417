/*
Package blobstore keeps blobs — binary content referred to from documents — as files
named by their SHA-1 digest, and finds blob references in document bodies. It is pure Go
and knows nothing of documents beyond their JSON: package store opens one Store per
database (the directory "blobs" inside the database directory, under the database's
lock) and decides which blobs are referenced.

# Digests and blob dictionaries

A Digest is the SHA-1 of the content; its text form is "sha1-" followed by the standard
base64 (with padding) of the 20 bytes, as Couchbase Lite and Sync Gateway write it
(ParseDigest, Digest.String). A document refers to a blob with a dictionary anywhere in
its body,

	{"@type":"blob","content_type":"image/png","digest":"sha1-…","length":12345}

which Properties writes for a committed Blob. References finds every reference in a
body: each "@type":"blob" dictionary, wherever it is, and each entry of a top-level
"_attachments" object (the legacy CouchDB / Sync Gateway form, Ref.Legacy), with the JSON
pointer of each and a Problem for malformed ones. MayReference is a cheap pre-check that
lets callers skip the parse for bodies that cannot hold a reference. ParseBlobSpec reads
how an API caller names a blob: its dictionary as JSON, or its bare digest.

# Writing

	w, err := s.Create()            // or s.NewWriter(WriterOptions{...})
	defer w.Close()                 // abandons the blob unless committed
	_, err = io.Copy(w, src)        // the SHA-1 is computed as bytes pass
	b, err := w.Commit()            // b.Digest, b.Length

A Writer streams into a temporary file "incoming-<random>.tmp" in the store directory.
Commit fsyncs it, renames it to "<40 hex digits>.blob" and fsyncs the directory, so a
blob is either entirely visible under its name or not at all; committing content that is
already stored replaces the file with an identical one (which also repairs a damaged
copy). A crash before the rename leaves only the temporary file; Open removes such
leftovers (no writer can be open yet), and so does Sweep for files no open writer owns.
WriterOptions lets a caller that knows what it should receive (a replicator fetching a
blob by digest) demand a digest and a length: a Write past the length fails at once and
Commit refuses a mismatch with ErrMismatch, storing nothing. Memory is bounded: nothing
buffers more than one chunk.

# Reading

NewReader(digest, length) opens a blob (ErrNotFound if absent). The Reader hashes what it
returns and, when it reaches the end, checks the length (the caller's, from the blob
dictionary, or else the stored size) and the digest: a mismatch turns the end into
ErrCorrupt instead of io.EOF, and so does a file longer than the expected length as
soon as the excess is read. Callers must therefore treat the data as good only after
io.EOF. Stat reports the stored length without reading.

# Removing: Sweep

Sweep(referenced) removes every blob file for which referenced returns false, except the
blobs committed since the previous Sweep began: a blob is always kept by the first sweep
after its commit, so a writer has until the next one to save the document that refers to
it, and an unreferenced blob goes at the second. The commit's rename and a sweep's
check-and-unlink of the same name are serialised, so a blob committed while a sweep runs
is never removed by it. Sweep also removes temporary files that no open writer owns, and
leaves alone files it does not recognise. The caller computes referenced from a state in
which no document can start referring to a blob being swept (store holds its write lock
for the whole of Database.Compact). A crash during a sweep has removed only unreferenced
blobs.

# Errors and concurrency

Errors wrap ErrNotFound, ErrCorrupt, ErrMismatch, ErrInvalid, ErrIO or ErrClosed (after
Store.Close). A Store is safe for concurrent use; a Writer or a Reader is used by one
goroutine at a time. Files are only ever created, renamed over and removed, never
modified in place, so a Reader open on a blob keeps reading the same content even if a
sweep removes its name.
*/
package blobstore
