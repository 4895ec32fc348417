package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/store"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// Profiles of the CBMobile messages (PROTOCOL §3).
const (
	ProfileGetCollections = "getCollections"
	ProfileGetCheckpoint  = "getCheckpoint"
	ProfileSetCheckpoint  = "setCheckpoint"
	ProfileSubChanges     = "subChanges"
	ProfileChanges        = "changes"
	ProfileProposeChanges = "proposeChanges"
	ProfileRev            = "rev"
	ProfileNoRev          = "norev"
	ProfileGetAttachment  = "getAttachment"
	ProfileProveAttach    = "proveAttachment"
)

// DefaultCollectionPath is how the default collection is named in getCollections.
const DefaultCollectionPath = "_default"

// Prop is one outgoing property (mirrors blip.Property without importing it).
type Prop struct{ Key, Value string }

// ---- getCollections (§3.1) ----

// GetCollectionsRequest is the body of getCollections.
type GetCollectionsRequest struct {
	CheckpointIDs []string `json:"checkpoint_ids"`
	Collections   []string `json:"collections"`
}

// Encode returns the JSON body.
func (r GetCollectionsRequest) Encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// DecodeGetCollectionsRequest parses and validates a getCollections body: both arrays
// present, non-empty, of equal length, without duplicate collections. A body naming more
// than MaxCollections collections (or holding more than twice as many array elements in
// all, checked before it is decoded) is refused with an error wrapping ErrTooLong.
func DecodeGetCollectionsRequest(body []byte) (GetCollectionsRequest, error) {
	var r GetCollectionsRequest
	if ElementsOver(body, 2*MaxCollections) {
		return r, tooLongf("getCollections names more than %d collections", MaxCollections)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, badf("getCollections body: %v", err)
	}
	if len(r.Collections) > MaxCollections {
		return r, tooLongf("getCollections names %d collections (at most %d)", len(r.Collections), MaxCollections)
	}
	if len(r.Collections) == 0 || len(r.Collections) != len(r.CheckpointIDs) {
		return r, badf("getCollections: %d checkpoint_ids for %d collections", len(r.CheckpointIDs), len(r.Collections))
	}
	seen := make(map[string]bool, len(r.Collections))
	for _, c := range r.Collections {
		sc, name, err := SplitCollectionPath(c)
		if err != nil {
			return r, err
		}
		k := sc + "." + name
		if seen[k] {
			return r, badf("getCollections: duplicate collection %q", c)
		}
		seen[k] = true
	}
	return r, nil
}

// SplitCollectionPath splits "[scope.]collection" ("_default" alone = the default collection).
func SplitCollectionPath(path string) (scope, name string, err error) {
	if path == "" {
		return "", "", badf("empty collection path")
	}
	scope, name = "_default", path
	if i := strings.IndexByte(path, '.'); i >= 0 {
		scope, name = path[:i], path[i+1:]
	}
	if scope == "" || name == "" || strings.IndexByte(name, '.') >= 0 {
		return "", "", badf("bad collection path %q", path)
	}
	return scope, name, nil
}

// CollectionPath is the wire name of scope.name: "_default" for the default collection,
// the bare name in the default scope, otherwise "scope.name".
func CollectionPath(scope, name string) string {
	if scope == "" || scope == "_default" {
		return name
	}
	return scope + "." + name
}

// RemoteCheckpoint is one entry of a getCollections answer.
type RemoteCheckpoint struct {
	Missing bool   // null: the collection does not exist on the passive side
	Body    []byte // checkpoint JSON without rev keys; nil when none is stored
	Rev     string // checkpoint MVCC revision
}

// EncodeGetCollectionsResponse builds the answer array. A present checkpoint is written with
// its revision under both "rev" (CBL) and "_rev" (SG) so either kind of client finds it.
func EncodeGetCollectionsResponse(entries []RemoteCheckpoint) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		switch {
		case e.Missing:
			buf.WriteString("null")
		case e.Body == nil:
			buf.WriteString("{}")
		default:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(e.Body, &m); err != nil || m == nil {
				m = map[string]json.RawMessage{}
			}
			rev, _ := json.Marshal(e.Rev)
			m["rev"] = rev
			m["_rev"] = rev
			b, err := json.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("encode getCollections answer: %w", err)
			}
			buf.Write(b)
		}
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// DecodeGetCollectionsResponse parses an answer with n entries. The revision is read from
// "rev", then "_rev" (PROTOCOL §9 item 16); both keys are removed from Body. An answer
// with more than n entries is refused before it is decoded, an entry longer than
// MaxRemoteCheckpointSize before it is (both errors wrap ErrTooLong).
func DecodeGetCollectionsResponse(body []byte, n int) ([]RemoteCheckpoint, error) {
	if ArrayLenOver(body, n) {
		return nil, tooLongf("getCollections answer has more than %d entries for %d collections", n, n)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, badf("getCollections answer: %v", err)
	}
	if len(raw) != n {
		return nil, badf("getCollections answer has %d entries for %d collections", len(raw), n)
	}
	out := make([]RemoteCheckpoint, n)
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		if string(r) == "null" {
			out[i].Missing = true
			continue
		}
		if len(r) > MaxRemoteCheckpointSize {
			return nil, tooLongf("getCollections answer entry %d: a checkpoint of %d bytes (at most %d)", i, len(r), MaxRemoteCheckpointSize)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, badf("getCollections answer entry %d: %v", i, err)
		}
		if len(m) == 0 {
			continue
		}
		for _, k := range []string{"rev", "_rev"} {
			if v, ok := m[k]; ok {
				var s string
				if json.Unmarshal(v, &s) == nil && out[i].Rev == "" {
					out[i].Rev = s
				}
				delete(m, k)
			}
		}
		out[i].Body, _ = json.Marshal(m)
	}
	return out, nil
}

// ---- checkpoints (§7) ----

// Checkpoint is the body stored by getCheckpoint/setCheckpoint.
type Checkpoint struct {
	Local  uint64   // push: every local sequence <= Local is done
	Remote Sequence // pull: every remote row up to this one is done ("" = none)
	Time   int64    // seconds since the epoch, informational
}

// Encode returns the JSON body; zero fields are omitted.
func (c Checkpoint) Encode() []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	sep := ""
	if c.Time != 0 {
		fmt.Fprintf(&buf, `"time":%d`, c.Time)
		sep = ","
	}
	if c.Local != 0 {
		fmt.Fprintf(&buf, `%s"local":%d`, sep, c.Local)
		sep = ","
	}
	if c.Remote != "" {
		fmt.Fprintf(&buf, `%s"remote":%s`, sep, c.Remote)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// DecodeCheckpoint parses a checkpoint body. Unknown keys are ignored; "local" may be a
// number or a numeric string; an unparseable "local" counts as 0 (start over, which is safe).
// A body longer than MaxRemoteCheckpointSize is refused (an error wrapping ErrTooLong).
func DecodeCheckpoint(body []byte) (Checkpoint, error) {
	var c Checkpoint
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return c, nil
	}
	if len(body) > MaxRemoteCheckpointSize {
		return c, tooLongf("checkpoint of %d bytes (at most %d)", len(body), MaxRemoteCheckpointSize)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return c, badf("checkpoint: %v", err)
	}
	if v, ok := m["local"]; ok {
		if n, ok := NormalizeSequence(v).Uint(); ok {
			c.Local = n
		}
	}
	if v, ok := m["remote"]; ok {
		c.Remote = NormalizeSequence(v)
	}
	if v, ok := m["time"]; ok {
		var f float64
		if json.Unmarshal(v, &f) == nil {
			c.Time = int64(f)
		}
	}
	return c, nil
}

// ---- subChanges (§3.4) ----

// SubChanges is the puller's request to open a changes feed.
type SubChanges struct {
	Since               Sequence
	Continuous          bool
	Batch               int
	ActiveOnly          bool
	Filter              string
	Channels            []string
	Versioning          string
	SendReplacementRevs bool
	Revocations         bool
	RequestPlus         bool
	Future              bool
	DocIDs              []string
}

// Versioning values.
const (
	VersioningRevTrees       = "rev-trees"
	VersioningVersionVectors = "version-vectors"
)

// Props returns the request properties (without Profile and collection).
func (s SubChanges) Props() []Prop {
	var p []Prop
	if s.Since != "" {
		p = append(p, Prop{"since", string(s.Since)})
	}
	if s.Continuous {
		p = append(p, Prop{"continuous", True})
	}
	if s.Batch > 0 {
		p = append(p, Prop{"batch", strconv.Itoa(s.Batch)})
	}
	if s.ActiveOnly {
		p = append(p, Prop{"activeOnly", True})
	}
	if s.Filter != "" {
		p = append(p, Prop{"filter", s.Filter})
	}
	if len(s.Channels) > 0 {
		p = append(p, Prop{"channels", strings.Join(s.Channels, ",")})
	}
	if s.Versioning != "" {
		p = append(p, Prop{"versioning", s.Versioning})
	}
	if s.SendReplacementRevs {
		p = append(p, Prop{"sendReplacementRevs", True})
	}
	if s.Revocations {
		p = append(p, Prop{"revocations", True})
	}
	if s.RequestPlus {
		p = append(p, Prop{"requestPlus", True})
	}
	if s.Future {
		p = append(p, Prop{"future", True})
	}
	return p
}

// Body returns the optional {"docIDs":[…]} body (nil when there is no filter).
func (s SubChanges) Body() []byte {
	if len(s.DocIDs) == 0 {
		return nil
	}
	b, _ := json.Marshal(struct {
		DocIDs []string `json:"docIDs"`
	}{s.DocIDs})
	return b
}

// DecodeSubChanges parses a subChanges request.
func DecodeSubChanges(p Props, body []byte) (SubChanges, error) {
	var s SubChanges
	if v, ok := p.Lookup("since"); ok {
		s.Since = NormalizeSequence([]byte(v))
	}
	s.Continuous = propBool(p, "continuous")
	if v, ok := p.Lookup("batch"); ok && v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return s, badf("subChanges: bad batch %q", v)
		}
		s.Batch = n
	}
	s.ActiveOnly = propBool(p, "activeOnly")
	s.Filter, _ = p.Lookup("filter")
	if v, ok := p.Lookup("channels"); ok && v != "" {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				s.Channels = append(s.Channels, c)
			}
		}
	}
	s.Versioning, _ = p.Lookup("versioning")
	s.SendReplacementRevs = propBool(p, "sendReplacementRevs")
	s.Revocations = propBool(p, "revocations")
	s.RequestPlus = propBool(p, "requestPlus")
	s.Future = propBool(p, "future")
	if b := bytes.TrimSpace(body); len(b) > 0 && string(b) != "null" {
		// Counted before it is decoded: decoding a 20 MiB list of short IDs allocated
		// ~220 MiB.
		if ElementsOver(b, MaxDocIDs) {
			return s, tooLongf("subChanges docIDs filter has more than %d IDs", MaxDocIDs)
		}
		var m struct {
			DocIDs []string `json:"docIDs"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return s, badf("subChanges body: %v", err)
		}
		s.DocIDs = m.DocIDs
	}
	return s, nil
}

// ---- changes (§3.5) ----

// Deletion flag bits of a changes row (CBMobile_3).
const (
	FlagDeleted = 1
	FlagRevoked = 2
	FlagRemoved = 4
)

// ChangeRow is one row of a changes message.
type ChangeRow struct {
	Sequence Sequence
	DocID    string
	RevID    string
	Flags    int // FlagDeleted | FlagRevoked | FlagRemoved
	BodySize int // 0 = unknown
}

// Deleted reports a tombstone.
func (r ChangeRow) Deleted() bool { return r.Flags&FlagDeleted != 0 }

// AccessRemoved reports a revocation or channel removal: the puller purges the document
// instead of fetching the revision. Deleted+removed (5) is a plain tombstone, as in CBL.
func (r ChangeRow) AccessRemoved() bool {
	if r.Flags&FlagRevoked != 0 {
		return true
	}
	return r.Flags&FlagRemoved != 0 && r.Flags&FlagDeleted == 0
}

// EncodeChanges writes rows as [seq,id,rev] or [seq,id,rev,true] (plus body size when known).
func EncodeChanges(rows []ChangeRow) []byte {
	var buf bytes.Buffer
	buf.Grow(len(rows) * 64)
	buf.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('[')
		buf.WriteString(string(r.Sequence))
		buf.WriteByte(',')
		writeJSONString(&buf, r.DocID)
		buf.WriteByte(',')
		writeJSONString(&buf, r.RevID)
		if r.Flags != 0 || r.BodySize > 0 {
			if r.Flags&FlagDeleted != 0 {
				buf.WriteString(",true")
			} else {
				buf.WriteString(",false")
			}
			if r.BodySize > 0 {
				buf.WriteByte(',')
				buf.WriteString(strconv.Itoa(r.BodySize))
			}
		}
		buf.WriteByte(']')
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// MaxListRows is the most rows a changes or proposeChanges list may hold for this end to
// decode it. Decoding costs about 18 times a list's size in allocations when its rows
// are short (a 20 MiB list of minimal rows: over 800,000 rows, 370 MiB), nearly all of it
// per row; with the rows bounded, a list costs little more than its bytes. Couchbase
// Lite and Sync Gateway send lists of 200 rows (the subChanges "batch"), this library at
// most Limits.ChangesBatch, which is kept at or below this bound.
const MaxListRows = 10000

// ListRowsOver reports whether the JSON array body (a changes or proposeChanges list)
// has more than limit elements. It reads only as far as the (limit+1)th element and does
// not validate: a malformed body is left to the decoder.
func ListRowsOver(body []byte, limit int) bool {
	depth, rows := 0, 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			i = stringEnd(body, i+1)
		case '[', '{':
			depth++
			if depth == 2 {
				if rows++; rows > limit {
					return true
				}
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// stringEnd returns the index of the quote closing the JSON string whose contents begin
// at i (len(b) if it is not closed).
func stringEnd(b []byte, i int) int {
	for {
		q := jsonscan.NextQuote(b, i)
		if q >= len(b) {
			return len(b)
		}
		k := q
		for k > i && b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 { // an even run of backslashes escapes itself, not the quote
			return q
		}
		i = q + 1
	}
}

// DecodeChanges parses a changes body. "null" and "[]" both mean caught up (empty result).
// Rows may have 3–5 elements; deleted may be a boolean or an integer bit set.
func DecodeChanges(body []byte) ([]ChangeRow, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	var raw [][]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, badf("changes body: %v", err)
	}
	rows := make([]ChangeRow, 0, len(raw))
	for i, r := range raw {
		if len(r) < 3 {
			return nil, badf("changes row %d has %d elements", i, len(r))
		}
		var row ChangeRow
		row.Sequence = NormalizeSequence(r[0])
		if row.Sequence == "" {
			return nil, badf("changes row %d: missing sequence", i)
		}
		if err := rawString(r[1], &row.DocID); err != nil || row.DocID == "" {
			return nil, badf("changes row %d: bad docID", i)
		}
		if err := rawString(r[2], &row.RevID); err != nil || row.RevID == "" {
			return nil, badf("changes row %d: bad revID", i)
		}
		if len(r) > 3 {
			f, err := decodeDeletedFlag(r[3])
			if err != nil {
				return nil, badf("changes row %d: %v", i, err)
			}
			row.Flags = f
		}
		if len(r) > 4 {
			var n float64
			if json.Unmarshal(r[4], &n) == nil && n > 0 && n < 1<<40 {
				row.BodySize = int(n)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// rawString decodes a JSON value of an already validated body into dst, as
// json.Unmarshal does, without its per-call cost for the common case: a string with no
// escapes and valid UTF-8 is its bytes between the quotes (a row's IDs; W2's lists have
// 200 rows of 2-4 such strings).
func rawString(v json.RawMessage, dst *string) error {
	if n := len(v); n >= 2 && v[0] == '"' && v[n-1] == '"' {
		if in := v[1 : n-1]; bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 && utf8.Valid(in) {
			*dst = string(in)
			return nil
		}
	}
	return json.Unmarshal(v, dst)
}

func decodeDeletedFlag(v json.RawMessage) (int, error) {
	switch s := string(bytes.TrimSpace(v)); s {
	case "true":
		return FlagDeleted, nil
	case "false", "null":
		return 0, nil
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			return 0, fmt.Errorf("bad deleted flag %q", s)
		}
		return n, nil
	}
}

// ChangeAnswer is the puller's answer to one changes row.
type ChangeAnswer struct {
	Want      bool     // send me this revision
	KnownRevs []string // ancestors I have, best first (only when Want)
	Status    int      // when !Want: 0 (have it / not interested) or e.g. 409
}

// EncodeChangesResponse writes the answer array; trailing "not wanted" entries are omitted.
func EncodeChangesResponse(ans []ChangeAnswer) []byte {
	end := len(ans)
	for end > 0 && !ans[end-1].Want && ans[end-1].Status == 0 {
		end--
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, a := range ans[:end] {
		if i > 0 {
			buf.WriteByte(',')
		}
		switch {
		case a.Want:
			buf.WriteByte('[')
			for j, r := range a.KnownRevs {
				if j > 0 {
					buf.WriteByte(',')
				}
				writeJSONString(&buf, r)
			}
			buf.WriteByte(']')
		default:
			buf.WriteString(strconv.Itoa(a.Status))
		}
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// DecodeChangesResponse parses the answer to a changes message of n rows. Missing trailing
// entries, 0 and null mean "not wanted". An answer with more than n entries, or an entry
// listing more than MaxKnownRevs known revisions, is refused before it is decoded (an
// error wrapping ErrTooLong).
func DecodeChangesResponse(body []byte, n int) ([]ChangeAnswer, error) {
	out := make([]ChangeAnswer, n)
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return out, nil
	}
	if ArrayLenOver(body, n) {
		return nil, tooLongf("changes answer has more than %d entries for %d rows", n, n)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, badf("changes answer: %v", err)
	}
	if len(raw) > n {
		return nil, badf("changes answer has %d entries for %d rows", len(raw), n)
	}
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) == 0 {
			continue
		}
		switch r[0] {
		case '[':
			out[i].Want = true
			if ElementsOver(r, MaxKnownRevs) {
				return nil, tooLongf("changes answer %d lists more than %d known revisions", i, MaxKnownRevs)
			}
			if err := json.Unmarshal(r, &out[i].KnownRevs); err != nil {
				return nil, badf("changes answer %d: %v", i, err)
			}
		case 'n':
		default:
			var f float64
			if err := json.Unmarshal(r, &f); err != nil {
				return nil, badf("changes answer %d: %v", i, err)
			}
			out[i].Status = int(f)
		}
	}
	return out, nil
}

// ---- proposeChanges (§3.6) ----

// ProposedChange is one proposeChanges row.
type ProposedChange struct {
	DocID       string
	RevID       string
	ParentRevID string // the revision the pusher believes the receiver has; "" for a new doc
	BodySize    int
}

// EncodeProposeChanges writes rows [docID, revID, parent?, size?].
func EncodeProposeChanges(rows []ProposedChange) []byte {
	var buf bytes.Buffer
	buf.Grow(len(rows) * 80)
	buf.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('[')
		writeJSONString(&buf, r.DocID)
		buf.WriteByte(',')
		writeJSONString(&buf, r.RevID)
		if r.ParentRevID != "" || r.BodySize > 0 {
			buf.WriteByte(',')
			writeJSONString(&buf, r.ParentRevID)
			if r.BodySize > 0 {
				buf.WriteByte(',')
				buf.WriteString(strconv.Itoa(r.BodySize))
			}
		}
		buf.WriteByte(']')
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// DecodeProposeChanges parses a proposeChanges body ("null" = empty = caught up).
func DecodeProposeChanges(body []byte) ([]ProposedChange, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	var raw [][]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, badf("proposeChanges body: %v", err)
	}
	rows := make([]ProposedChange, 0, len(raw))
	for i, r := range raw {
		if len(r) < 2 {
			return nil, badf("proposeChanges row %d has %d elements", i, len(r))
		}
		var row ProposedChange
		if err := rawString(r[0], &row.DocID); err != nil || row.DocID == "" {
			return nil, badf("proposeChanges row %d: bad docID", i)
		}
		if err := rawString(r[1], &row.RevID); err != nil || row.RevID == "" {
			return nil, badf("proposeChanges row %d: bad revID", i)
		}
		if len(r) > 2 && string(bytes.TrimSpace(r[2])) != "null" {
			if err := rawString(r[2], &row.ParentRevID); err != nil {
				return nil, badf("proposeChanges row %d: bad parent revID", i)
			}
		}
		if len(r) > 3 {
			var n float64
			if json.Unmarshal(r[3], &n) == nil && n > 0 && n < 1<<40 {
				row.BodySize = int(n)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Proposal answer statuses.
const (
	ProposeAccept       = 0
	ProposeAlreadyHave  = 304
	ProposeConflict     = 409
	ProposeForbidden    = 403
	ProposeServerFailed = 500
)

// ProposeAnswer is the receiver's answer to one proposed change.
type ProposeAnswer struct {
	Status     int    // ProposeAccept, ProposeAlreadyHave, ProposeConflict, or another HTTP-like status
	CurrentRev string // with 409 when conflictIncludesRev was asked: the receiver's current revision
}

// EncodeProposeChangesResponse writes the answer array; trailing accepts are omitted, so
// "[]" means "send everything".
func EncodeProposeChangesResponse(ans []ProposeAnswer) []byte {
	end := len(ans)
	for end > 0 && ans[end-1].Status == 0 {
		end--
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, a := range ans[:end] {
		if i > 0 {
			buf.WriteByte(',')
		}
		if a.CurrentRev != "" && a.Status == ProposeConflict {
			buf.WriteString(`{"status":409,"rev":`)
			writeJSONString(&buf, a.CurrentRev)
			buf.WriteByte('}')
			continue
		}
		buf.WriteString(strconv.Itoa(a.Status))
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// DecodeProposeChangesResponse parses the answer for n rows; integer and
// {"status":…,"rev":…} items are both accepted (PROTOCOL §9 item 14). An answer with
// more than n entries is refused before it is decoded (an error wrapping ErrTooLong).
func DecodeProposeChangesResponse(body []byte, n int) ([]ProposeAnswer, error) {
	out := make([]ProposeAnswer, n)
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return out, nil
	}
	if ArrayLenOver(body, n) {
		return nil, tooLongf("proposeChanges answer has more than %d entries for %d rows", n, n)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, badf("proposeChanges answer: %v", err)
	}
	if len(raw) > n {
		return nil, badf("proposeChanges answer has %d entries for %d rows", len(raw), n)
	}
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) == 0 || string(r) == "null" {
			continue
		}
		if r[0] == '{' {
			var o struct {
				Status float64 `json:"status"`
				Rev    string  `json:"rev"`
			}
			if err := json.Unmarshal(r, &o); err != nil {
				return nil, badf("proposeChanges answer %d: %v", i, err)
			}
			out[i] = ProposeAnswer{Status: int(o.Status), CurrentRev: o.Rev}
			continue
		}
		var f float64
		if err := json.Unmarshal(r, &f); err != nil {
			return nil, badf("proposeChanges answer %d: %v", i, err)
		}
		out[i].Status = int(f)
	}
	return out, nil
}

// ---- rev / norev (§3.7, §3.8) ----

// Rev is a revision message.
type Rev struct {
	DocID       string
	RevID       string
	History     []string // ancestors newest first, excluding RevID
	Deleted     bool
	Sequence    Sequence // the sender's sequence of this change
	NoConflicts bool
	DeltaSrc    string
	ReplacedRev string
	ErrorStatus int // a rev carrying an "error" property is a norev in disguise
	Body        []byte
	// RevTree (CBMobile_4 only, property "revTree") is the rev-tree ID of the revision
	// sent by version, then its rev-tree ancestors, newest first: Sync Gateway's form for
	// peers that keep a revision tree next to the version vector (see versions.go).
	RevTree []string
}

// Props returns the properties (without Profile and collection).
func (r Rev) Props() []Prop {
	p := make([]Prop, 0, 7)
	p = append(p, Prop{"id", r.DocID}, Prop{"rev", r.RevID})
	if len(r.History) > 0 {
		p = append(p, Prop{"history", strings.Join(r.History, ",")})
	}
	if r.Deleted {
		p = append(p, Prop{"deleted", DeletedValue})
	}
	if r.Sequence != "" {
		p = append(p, Prop{"sequence", string(r.Sequence)})
	}
	if r.NoConflicts {
		p = append(p, Prop{"noconflicts", True})
	}
	if r.DeltaSrc != "" {
		p = append(p, Prop{"deltaSrc", r.DeltaSrc})
	}
	if r.ReplacedRev != "" {
		p = append(p, Prop{"replacedRev", r.ReplacedRev})
	}
	if len(r.RevTree) > 0 {
		p = append(p, Prop{RevTreeProperty, strings.Join(r.RevTree, ",")})
	}
	return p
}

// DecodeRev parses a rev message. History tolerates spaces after commas (§9 item 12).
// A history of more than MaxRevHistory entries, or a revTree of more than MaxRevTree,
// is refused before it is split (an error wrapping ErrTooLong).
func DecodeRev(p Props, body []byte) (Rev, error) {
	var r Rev
	r.DocID, _ = p.Lookup("id")
	r.RevID, _ = p.Lookup("rev")
	if r.DocID == "" || r.RevID == "" {
		return r, badf("rev: missing id or rev")
	}
	if h, ok := p.Lookup("history"); ok && h != "" {
		if strings.Count(h, ",") >= MaxRevHistory {
			return r, tooLongf("rev %q: history has more than %d entries", r.DocID, MaxRevHistory)
		}
		for _, e := range strings.Split(h, ",") {
			if e = strings.TrimSpace(e); e != "" {
				r.History = append(r.History, e)
			}
		}
	}
	if v, ok := p.Lookup("deleted"); ok {
		// SG treats deleted as true unless "0"/"false"; CBL parses it as a boolean.
		r.Deleted = ParseBool(v)
	}
	if v, ok := p.Lookup("sequence"); ok {
		r.Sequence = NormalizeSequence([]byte(v))
	}
	r.NoConflicts = propBool(p, "noconflicts")
	r.DeltaSrc, _ = p.Lookup("deltaSrc")
	r.ReplacedRev, _ = p.Lookup("replacedRev")
	if h, ok := p.Lookup(RevTreeProperty); ok && h != "" {
		if strings.Count(h, ",") >= MaxRevTree {
			return r, tooLongf("rev %q: %d revTree entries (at most %d)", r.DocID, strings.Count(h, ",")+1, MaxRevTree)
		}
		for _, e := range strings.Split(h, ",") {
			if e = strings.TrimSpace(e); e != "" {
				r.RevTree = append(r.RevTree, e)
			}
		}
	}
	if v, ok := p.Lookup("error"); ok && v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n == 0 {
			n = 500
		}
		r.ErrorStatus = n
	}
	r.Body = body
	return r, nil
}

// NoRev tells the puller a promised revision will not come.
type NoRev struct {
	DocID    string
	RevID    string
	Sequence Sequence
	Error    int
	Reason   string
}

// Props returns the properties (without Profile and collection).
func (n NoRev) Props() []Prop {
	p := []Prop{{"id", n.DocID}, {"rev", n.RevID}}
	if n.Sequence != "" {
		p = append(p, Prop{"sequence", string(n.Sequence)})
	}
	if n.Error != 0 {
		p = append(p, Prop{"error", strconv.Itoa(n.Error)})
	}
	if n.Reason != "" {
		p = append(p, Prop{"reason", n.Reason})
	}
	return p
}

// DecodeNoRev parses a norev message (sequence may come as "seq" from older SG).
func DecodeNoRev(p Props) (NoRev, error) {
	var n NoRev
	n.DocID, _ = p.Lookup("id")
	n.RevID, _ = p.Lookup("rev")
	if n.DocID == "" {
		return n, badf("norev: missing id")
	}
	if v, ok := p.Lookup("sequence"); ok {
		n.Sequence = NormalizeSequence([]byte(v))
	} else if v, ok := p.Lookup("seq"); ok {
		n.Sequence = NormalizeSequence([]byte(v))
	}
	if v, ok := p.Lookup("error"); ok {
		n.Error, _ = strconv.Atoi(strings.TrimSpace(v))
	}
	n.Reason, _ = p.Lookup("reason")
	return n, nil
}

// CollectionIndex reads the "collection" property. present is false when it is absent.
func CollectionIndex(p Props) (idx int, present bool, err error) {
	v, ok := p.Lookup("collection")
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, true, fmt.Errorf("%w: bad collection index %q", ErrUnknownCollection, v)
	}
	return n, true, nil
}

// protocolBodyKeys are the top-level "_" keys a peer may put in a rev body, by what the
// receiver does with them (PROTOCOL §3.7, §4.4, §4.5, §9 item 27). They are metadata,
// not document properties: the sender does not count them as part of the body (Sync
// Gateway keeps _id, _rev, _deleted, _revisions, _exp and _attachments out of the body
// it stores; Couchbase Lite strips them), so removing them keeps the body the sender
// has under this revision ID.
//
// _attachments is not among them: the legacy attachment metadata is kept (see
// CleanBody and FoldLegacyAttachments). _exp: an
// expiry set on Sync Gateway is not applied here. _removed: true is an access
// revocation (CleanBody reports it); any other value means nothing and is dropped.
var protocolBodyKeys = map[string]bool{
	"_id": true, "_rev": true, "_deleted": true, "_revisions": true,
	"_exp": true, "_removed": true,
}

// CleanBody prepares a received revision body for storage: it must be a JSON object;
// the top-level keys the protocol defines (protocolBodyKeys) are removed, the others
// kept byte for byte in their order, _attachments included (store.AttachmentsProperty:
// Sync Gateway's attachment stubs, kept until their content is fetched and after). removed reports an SG revocation marker
// "_removed": true. An empty body becomes "{}".
//
// Any other top-level key starting with "_" is refused with an error wrapping
// store.ErrReservedProperty that names it: the store cannot keep it (see
// store.IsReservedProperty), and dropping it would leave this side with another body
// than the sender's under the same revision ID.
func CleanBody(body []byte) (clean []byte, removed bool, err error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || string(b) == "null" {
		return []byte("{}"), false, nil
	}
	if b[0] != '{' {
		return nil, false, badf("revision body is not a JSON object")
	}
	// A key starting with "_" is written `"_` or, escaped, `"\u005f`/`"\u005F`.
	if !jsonscan.ContainsRare(b, []byte(`"_`)) && !jsonscan.ContainsRare(b, []byte(`"\u005`)) {
		return b, false, nil
	}
	members, err := topLevelMembers(b)
	if err != nil {
		return nil, false, badf("revision body: %v", err)
	}
	var keep [][]byte
	for _, m := range members {
		if !store.IsReservedProperty(m.key) || m.key == store.AttachmentsProperty {
			keep = append(keep, m.text)
			continue
		}
		if !protocolBodyKeys[m.key] {
			return nil, false, fmt.Errorf("%w: %q in a received revision body (not a key the sync protocol defines)",
				store.ErrReservedProperty, m.key)
		}
		if m.key == "_removed" && string(m.value) == "true" {
			removed = true
		}
	}
	if len(keep) == len(members) {
		return b, removed, nil
	}
	out := make([]byte, 0, len(b))
	out = append(out, '{')
	out = append(out, bytes.Join(keep, []byte{','})...)
	out = append(out, '}')
	return out, removed, nil
}

// bodyMember is one top-level member of a JSON object: its decoded key, its text
// (`"key":value`, as sent but for the whitespace around it) and its value's text.
type bodyMember struct {
	key         string
	text, value []byte
}

// topLevelMembers splits the JSON object b into its top-level members, in order,
// keeping each member's text as it is in b. It is the store's parser
// (store.ObjectMembers): the one that reads bodies where order and bytes matter.
func topLevelMembers(b []byte) ([]bodyMember, error) {
	ms, err := store.ObjectMembers(b)
	if err != nil {
		return nil, err
	}
	out := make([]bodyMember, len(ms))
	for i, m := range ms {
		out[i] = bodyMember{key: m.Key, text: m.Text, value: m.Value}
	}
	return out, nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		buf.WriteByte('"')
		buf.WriteString(s)
		buf.WriteByte('"')
		return
	}
	b, _ := json.Marshal(s)
	buf.Write(b)
}
