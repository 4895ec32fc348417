package syncproto

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// legacyBlobPrefix starts the _attachments key under which Couchbase Lite mirrors a blob
// for Sync Gateway: "blob_" + the blob's JSON pointer ("blob_/photo").
const legacyBlobPrefix = "blob_"

// blobCodeUnavailable answers a rev whose blobs could not be obtained from its sender
// (missing there, wrong content, connection trouble): HTTP 502, which Couchbase Lite's
// pusher and ours treat as "not now" for that document: it is reported and sent again
// later, never counted as done.
const blobCodeUnavailable = 502

// blobCodeTooLarge answers a rev whose blob is longer than Limits.MaxBlobSize: HTTP 413,
// as for a message over Limits.MaxMessageSize. The revision is held (not checkpointed)
// like an unavailable one, so raising the cap lets a later replication get it.
const blobCodeTooLarge = 413

// ---------------------------------------------------------------- grants (sending side)

// blobGrants are the (document, digest) pairs the peer may fetch or prove: the blobs of
// revisions this side sent on this connection whose reply has not come yet, as Sync
// Gateway allows (a puller fetches a revision's blobs before answering it).
type blobGrants struct {
	mu sync.Mutex
	m  map[blobGrant]int
}

type blobGrant struct {
	docID  string
	digest blobstore.Digest
}

func (g *blobGrants) add(docID string, digests []blobstore.Digest) {
	if len(digests) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[blobGrant]int{}
	}
	for _, d := range digests {
		g.m[blobGrant{docID, d}]++
	}
}

func (g *blobGrants) remove(docID string, digests []blobstore.Digest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range digests {
		k := blobGrant{docID, d}
		if g.m[k] <= 1 {
			delete(g.m, k)
		} else {
			g.m[k]--
		}
	}
}

func (g *blobGrants) has(docID string, d blobstore.Digest) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[blobGrant{docID, d}] > 0
}

// bodyDigests returns the distinct digests a body refers to (blob dictionaries and legacy
// _attachments entries).
func bodyDigests(body []byte) []blobstore.Digest {
	if !blobstore.MayReference(body) {
		return nil
	}
	refs, err := blobstore.References(body)
	if err != nil {
		return nil
	}
	var out []blobstore.Digest
	seen := map[blobstore.Digest]bool{}
	for _, r := range refs {
		if r.HasDigest && !seen[r.Digest] {
			seen[r.Digest] = true
			out = append(out, r.Digest)
		}
	}
	return out
}

// requestedBlob reads and checks the digest and docID of a getAttachment or
// proveAttachment request, and that the peer may have that blob.
func (s *Session) requestedBlob(req *blip.Message) (blobstore.Digest, error) {
	ds := req.Properties.Get("digest")
	if ds == "" {
		return blobstore.Digest{}, &blip.Error{Domain: "HTTP", Code: 400, Message: "Missing 'digest'"}
	}
	d, err := blobstore.ParseDigest(ds)
	if err != nil {
		return d, &blip.Error{Domain: "HTTP", Code: 400, Message: err.Error()}
	}
	docID := req.Properties.Get("docID")
	if docID == "" {
		return d, &blip.Error{Domain: "HTTP", Code: 400, Message: "Missing 'docID'"}
	}
	if !s.grants.has(docID, d) {
		return d, &blip.Error{Domain: "HTTP", Code: 403, Message: "Attachment's doc not being synced"}
	}
	return d, nil
}

// handleGetAttachment answers a peer's getAttachment with the blob's bytes, streamed
// from the blob store (never whole in memory), compressed if asked.
func (s *Session) handleGetAttachment(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	d, err := s.requestedBlob(req)
	if err != nil {
		return nil, err
	}
	r, err := s.cfg.Database.Blobs().NewReader(d, -1)
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, &blip.Error{Domain: "HTTP", Code: 404, Message: "No such blob " + d.String()}
	}
	if err != nil {
		return nil, &blip.Error{Domain: "HTTP", Code: 500, Message: err.Error()}
	}
	s.log.Debug("sending blob", "doc", req.Properties.Get("docID"), "digest", d.String(), "length", r.Length())
	// The reader checks the digest when it reaches the end: a blob damaged on disk makes
	// the message fail, which closes the connection rather than deliver wrong bytes.
	return &blip.Message{BodyStream: r, BodyLength: r.Length(), Compressed: wire.ParseBool(req.Properties.Get("compress"))}, nil
}

// handleProveAttachment answers Sync Gateway's proveAttachment: the proof that this side
// holds the blob, "sha1-" + base64(SHA-1(len(nonce) ‖ nonce ‖ content)).
func (s *Session) handleProveAttachment(ctx context.Context, req *blip.Message) (*blip.Message, error) {
	nonce, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	if len(nonce) == 0 || len(nonce) > 255 {
		return nil, &blip.Error{Domain: "BLIP", Code: 400, Message: "nonce must be 1 to 255 bytes"}
	}
	ds := req.Properties.Get("digest")
	d, err := blobstore.ParseDigest(ds)
	if err != nil {
		return nil, &blip.Error{Domain: "HTTP", Code: 400, Message: "Missing or invalid 'digest'"}
	}
	// Sync Gateway's proveAttachment carries no docID: it proves a blob of a revision this
	// side is sending, so any granted document will do.
	if !s.grants.hasDigest(d) {
		return nil, &blip.Error{Domain: "HTTP", Code: 403, Message: "Attachment's doc not being synced"}
	}
	r, err := s.cfg.Database.Blobs().NewReader(d, -1)
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, &blip.Error{Domain: "HTTP", Code: 404, Message: "attachment not found"}
	}
	if err != nil {
		return nil, &blip.Error{Domain: "HTTP", Code: 500, Message: err.Error()}
	}
	defer r.Close()
	proof, err := ProveAttachment(nonce, r)
	if err != nil {
		return nil, &blip.Error{Domain: "HTTP", Code: 500, Message: err.Error()}
	}
	return &blip.Message{Body: []byte(proof)}, nil
}

func (g *blobGrants) hasDigest(d blobstore.Digest) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.m {
		if k.digest == d {
			return true
		}
	}
	return false
}

// ProveAttachment computes the proof of holding content for a proveAttachment nonce
// (PROTOCOL §3.10): "sha1-" + standard base64 of SHA-1(byte(len(nonce)) ‖ nonce ‖
// content). content is read to its end; its error is returned.
func ProveAttachment(nonce []byte, content io.Reader) (string, error) {
	if len(nonce) == 0 || len(nonce) > 255 {
		return "", fmt.Errorf("%w: nonce of %d bytes", ErrBadMessage, len(nonce))
	}
	h := sha1.New()
	h.Write([]byte{byte(len(nonce))})
	h.Write(nonce)
	if _, err := io.Copy(h, content); err != nil {
		return "", err
	}
	return "sha1-" + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// ---------------------------------------------------------------- receiving side

// fetchMissingBlobs gets, with getAttachment, every blob the received body refers to
// that the blob store lacks, and stores each after checking its digest and length. It
// returns an error (a *blip.Error to answer the rev with) when any cannot be obtained;
// blobs already fetched stay stored (unreferenced, Compact removes them).
func (p *Puller) fetchMissingBlobs(ctx context.Context, docID string, body []byte) error {
	if !blobstore.MayReference(body) {
		return nil
	}
	refs, err := blobstore.References(body)
	if err != nil {
		return &blip.Error{Domain: "HTTP", Code: 400, Message: err.Error()}
	}
	blobs := p.s.cfg.Database.Blobs()
	done := map[blobstore.Digest]bool{}
	for _, r := range refs {
		if !r.HasDigest || done[r.Digest] {
			continue
		}
		done[r.Digest] = true
		size, err := blobs.Stat(r.Digest)
		if err == nil && (r.Length < 0 || r.Length == size) {
			continue // already here
		}
		if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return &blip.Error{Domain: "HTTP", Code: 500, Message: err.Error()}
		}
		if err := p.fetchBlob(ctx, docID, r); err != nil {
			return err
		}
	}
	return nil
}

func (p *Puller) fetchBlob(ctx context.Context, docID string, r blobstore.Ref) error {
	props := []wire.Prop{{Key: "digest", Value: r.Digest.String()}, {Key: "docID", Value: docID}}
	if compressible(r) {
		props = append(props, wire.Prop{Key: "compress", Value: wire.True})
	}
	limit := p.s.limits.MaxBlobSize // > 0: a cap; negative: none
	tooLarge := func(what string) error {
		return &blip.Error{Domain: "HTTP", Code: blobCodeTooLarge,
			Message: fmt.Sprintf("blob %s (at %s) %s, more than the %d bytes this end accepts (MaxBlobSize)", r.Digest, r.Pointer, what, limit)}
	}
	if limit > 0 && r.Length > limit {
		return tooLarge(fmt.Sprintf("is %d bytes", r.Length)) // not asked for: nothing is written
	}
	req := p.s.newRequest(wire.ProfileGetAttachment, p.idx, props)
	switch {
	case r.Length >= 0:
		req.MaxReplySize = r.Length + 1 // a byte past the length shows a longer reply
	case limit > 0:
		req.MaxReplySize = limit + 1
	}
	unavailable := func(format string, args ...any) error {
		return &blip.Error{Domain: "HTTP", Code: blobCodeUnavailable,
			Message: fmt.Sprintf("blob %s (at %s) not obtained from the sender: ", r.Digest, r.Pointer) + fmt.Sprintf(format, args...)}
	}
	reply, err := p.s.conn.Send(ctx, req)
	if err != nil {
		var be *blip.Error
		if errors.As(err, &be) {
			return unavailable("getAttachment answered %s/%d %s", be.Domain, be.Code, be.Message)
		}
		return err // the connection or session ended
	}
	w, err := p.s.cfg.Database.Blobs().NewWriter(blobstore.WriterOptions{
		ExpectDigest: &r.Digest, LengthKnown: r.Length >= 0, ExpectLength: r.Length})
	if err != nil {
		_, _ = io.Copy(io.Discard, reply.BodyReader())
		return &blip.Error{Domain: "HTTP", Code: 500, Message: err.Error()}
	}
	defer w.Close() // abandons the temporary file unless committed
	if _, err := io.Copy(w, reply.BodyReader()); err != nil {
		if errors.Is(err, blobstore.ErrMismatch) {
			_, _ = io.Copy(io.Discard, reply.BodyReader())
			return unavailable("%v", err)
		}
		if errors.Is(err, blip.ErrTooLarge) {
			if r.Length < 0 {
				return tooLarge("has no announced length and is longer")
			}
			return unavailable("longer than its length %d", r.Length)
		}
		return fmt.Errorf("receive blob %s: %w", r.Digest, err)
	}
	if _, err := w.Commit(); err != nil {
		return unavailable("%v", err)
	}
	p.s.log.Debug("received blob", "doc", docID, "digest", r.Digest.String(), "length", w.Len())
	return nil
}

// compressibleType: Sync Gateway's rule for asking a compressed getAttachment reply
// (B.3): not for content already compressed (by extension or type).
var (
	compressedName = regexp.MustCompile(`(?i)\.(zip|t?gz|rar|7z|jpe?g|png|gif|svgz|mp3|m4a|ogg|wav|aiff|mp4|mov|avi|theora)$`)
	compressedType = regexp.MustCompile(`(?i)^(audio|image|video)/|(gzip|zip)`)
)

func compressible(r blobstore.Ref) bool {
	if r.Legacy && compressedName.MatchString(r.Name) {
		return false
	}
	return !compressedType.MatchString(r.ContentType)
}

// ---------------------------------------------------------------- legacy _attachments

// AddLegacyAttachments returns body with a top-level "_attachments" announcing each
// "@type":"blob" dictionary as Couchbase Lite does for a peer that did not say blobs=true
// (Sync Gateway): key "blob_" + the blob's JSON pointer, value the dictionary without
// "@type" plus "stub": true and, with revpos > 0, "revpos". Entries of an existing
// _attachments not under a "blob_" key are kept as they are, where they are, and the
// stubs follow them; an existing _attachments keeps its place, a new one comes first.
// Everything else is kept byte for byte in its order, so FoldLegacyAttachments gives back
// the stored body. A body with no blob is returned unchanged.
func AddLegacyAttachments(body []byte, revpos int) ([]byte, error) {
	if !blobstore.MayReference(body) {
		return body, nil
	}
	stubs, err := legacyStubs(body, revpos)
	if err != nil || len(stubs) == 0 {
		return body, err
	}
	members, err := wire.TopLevelMembers(bytes.TrimSpace(body))
	if err != nil {
		return nil, err
	}
	parts, found := make([][]byte, 0, len(members)+1), false
	for _, m := range members {
		if m.Key != store.AttachmentsProperty {
			parts = append(parts, m.Text)
			continue
		}
		entries, err := wire.TopLevelMembers(m.Value)
		if err != nil {
			return nil, fmt.Errorf("_attachments is not an object: %w", err)
		}
		var kept [][]byte
		for _, e := range entries {
			if !strings.HasPrefix(e.Key, legacyBlobPrefix) {
				kept = append(kept, e.Text)
			}
		}
		parts = append(parts, attachmentsMember(append(kept, stubs...)))
		found = true
	}
	if !found {
		parts = append([][]byte{attachmentsMember(stubs)}, parts...)
	}
	return joinObject(parts), nil
}

// legacyStubs returns the "blob_<pointer>":{stub} members for the blobs body refers to, in
// the order of their pointers.
func legacyStubs(body []byte, revpos int) ([][]byte, error) {
	refs, err := blobstore.References(body)
	if err != nil {
		return nil, err
	}
	byName := map[string][]byte{}
	for _, r := range refs {
		if r.Legacy || !r.HasDigest || r.Problem != "" {
			continue
		}
		stub := map[string]any{"digest": r.Digest.String(), "stub": true}
		if r.Length >= 0 {
			stub["length"] = r.Length
		}
		if r.ContentType != "" {
			stub["content_type"] = r.ContentType
		}
		if revpos > 0 {
			stub["revpos"] = revpos
		}
		name, _ := json.Marshal(legacyBlobPrefix + r.Pointer)
		value, _ := json.Marshal(stub)
		byName[string(name)] = append(append(name, ':'), value...)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out, nil
}

// attachmentsMember is `"_attachments":{entries}`.
func attachmentsMember(entries [][]byte) []byte {
	return append([]byte(`"`+store.AttachmentsProperty+`":`), joinObject(entries)...)
}

// joinObject is the object whose members are parts, in order.
func joinObject(parts [][]byte) []byte {
	out := append([]byte{'{'}, bytes.Join(parts, []byte{','})...)
	return append(out, '}')
}

// FoldLegacyAttachments undoes AddLegacyAttachments on a received body, as Couchbase
// Lite does: an _attachments entry named "blob_<pointer>" whose pointer leads to a
// "@type":"blob" dictionary with the same digest is removed (it only mirrors that blob);
// every other entry is kept (a legacy attachment, fetched and stored like a blob), and
// _attachments is removed when nothing is left in it. What is kept keeps its bytes and
// order. A body without such entries is returned unchanged.
func FoldLegacyAttachments(body []byte) ([]byte, error) {
	// A mirror's key starts with the prefix (a key written with escapes is not
	// folded); the quote in front makes the search fast on long strings.
	if !jsonscan.ContainsRare(body, []byte(`"`+legacyBlobPrefix)) {
		return body, nil
	}
	members, err := wire.TopLevelMembers(bytes.TrimSpace(body))
	if err != nil {
		return nil, err
	}
	at := -1
	for i, m := range members {
		if m.Key == store.AttachmentsProperty {
			at = i
		}
	}
	if at < 0 {
		return body, nil
	}
	entries, err := wire.TopLevelMembers(members[at].Value)
	if err != nil {
		return body, nil // not an object: kept as sent
	}
	var root any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, err
	}
	var kept [][]byte
	for _, e := range entries {
		if !mirrorsBlob(root, e) {
			kept = append(kept, e.Text)
		}
	}
	if len(kept) == len(entries) {
		return body, nil
	}
	var parts [][]byte
	for i, m := range members {
		switch {
		case i != at:
			parts = append(parts, m.Text)
		case len(kept) > 0:
			parts = append(parts, attachmentsMember(kept))
		}
	}
	return joinObject(parts), nil
}

// mirrorsBlob reports whether the _attachments entry e is the stub AddLegacyAttachments
// makes for a blob of root: named "blob_<pointer>", with the digest of the "@type":"blob"
// dictionary at that pointer.
func mirrorsBlob(root any, e wire.Member) bool {
	ptr, ok := strings.CutPrefix(e.Key, legacyBlobPrefix)
	if !ok || !strings.HasPrefix(ptr, "/") {
		return false
	}
	var stub struct {
		Digest string `json:"digest"`
	}
	if json.Unmarshal(e.Value, &stub) != nil || stub.Digest == "" {
		return false
	}
	target, ok := resolvePointer(root, ptr)
	if !ok {
		return false
	}
	blob, ok := target.(map[string]any)
	return ok && blob["@type"] == "blob" && blob["digest"] == stub.Digest
}

// resolvePointer follows the JSON pointer ptr (RFC 6901) from v.
func resolvePointer(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			c, ok := x[tok]
			if !ok {
				return nil, false
			}
			v = c
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
