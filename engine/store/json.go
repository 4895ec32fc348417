package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/internal/jsonscan"
)

// maxJSONDepth bounds nesting, as encoding/json does, so hostile input
// cannot exhaust memory through the explicit stack.
const maxJSONDepth = 10000

// compactObject validates that body is a UTF-8 JSON object (RFC 8259) and
// returns its compact form — insignificant whitespace removed, everything
// else byte for byte, key order kept — in a new slice. It is a single pass
// over the input: the save path runs it on every document, and
// encoding/json.Compact was a quarter of the cost of a save. FuzzCompactObject
// checks it against encoding/json.
func compactObject(body []byte) ([]byte, error) {
	return compact(body, keysAny)
}

// compactDocument is compactObject for a document body: it also refuses
// (ErrReservedProperty) a top-level key starting with "_" (see IsReservedProperty).
// A merged conflict resolution passes here.
func compactDocument(body []byte) ([]byte, error) {
	return compact(body, keysNoReserved)
}

// compactWithAttachments is compactDocument that lets a top-level "_attachments"
// through: a received revision (the legacy attachment metadata a peer sent is kept),
// and a local save, which then checks that the value is carried over unchanged
// (checkAttachmentsCarried).
func compactWithAttachments(body []byte) ([]byte, error) {
	return compact(body, keysAttachmentsAllowed)
}

// AttachmentsProperty is the one reserved top-level key a stored body may hold: the
// legacy attachment metadata of Sync Gateway and CouchDB ("_attachments": {name:
// {"digest","length","revpos","content_type","stub":true}}). It is kept as a peer sent
// it, and a local save may carry it over unchanged from the revision it replaces, but
// never introduce or change it (see "Documents and revisions" in the package doc).
const AttachmentsProperty = "_attachments"

// IsReservedProperty reports whether name, a top-level key of a document body,
// is reserved: every name starting with "_". The sync protocol carries its
// metadata in such keys (_id, _rev, _deleted, _revisions, _removed, _exp,
// _attachments) and receivers strip or act on them, so a document saved with
// one would arrive at a peer with another body under the same revision ID, or
// as an access revocation (_removed). Sync Gateway refuses every such key that
// it does not consume itself; Couchbase Lite refuses _id, _rev and _deleted on
// save and strips the others when receiving. The store refuses them all but
// one: _attachments (AttachmentsProperty), which is kept when received and may
// be carried over unchanged by a local save.
func IsReservedProperty(name string) bool {
	return len(name) > 0 && name[0] == '_'
}

// CheckDocumentBody returns nil if body, a stored document body, has no reserved
// top-level key other than _attachments, else an error wrapping
// ErrReservedProperty that names the first one. Databases written before the
// store refused such keys may hold them; a pusher checks each body with this
// before sending it. Most bodies contain no `"_` at all and cost one scan for it.
func CheckDocumentBody(body []byte) error {
	if !jsonscan.ContainsRare(body, []byte(`"_`)) && !jsonscan.ContainsRare(body, []byte(`"\u005`)) {
		return nil
	}
	_, err := compactWithAttachments(body)
	return err
}

// keyRule says which top-level keys compact refuses.
type keyRule uint8

const (
	keysAny                keyRule = iota // a plain JSON object
	keysNoReserved                        // refuse every reserved key
	keysAttachmentsAllowed                // refuse every reserved key but _attachments
)

func compact(body []byte, rule keyRule) ([]byte, error) {
	out, _, err := compactInfo(body, rule)
	return out, err
}

// bodyInfo is what a compaction pass noticed about a body, so that the save path need
// not scan it again for the blob pre-checks (blobstore.MayReference,
// hasTopLevelAttachments). Each flag is conservative: false means certainly absent.
type bodyInfo struct {
	uEscape     bool // some string (key or value) holds a \u escape
	atTypeKey   bool // some object, at any depth, has the key "@type" written literally
	attachments bool // some object, at any depth, has the key "_attachments" written literally
	inPlace     bool // the compact result is a slice of the input (see compactInfo)
}

// mayReference is blobstore.MayReference of the compacted body: a blob reference needs
// a key "@type" or "_attachments", literal or spelt with \u escapes.
func (bi bodyInfo) mayReference() bool { return bi.uEscape || bi.atTypeKey || bi.attachments }

// mayHaveTopLevelAttachments is false when the body certainly has no top-level
// "_attachments" key (hasTopLevelAttachments would then be false).
func (bi bodyInfo) mayHaveTopLevelAttachments() bool { return bi.uEscape || bi.attachments }

// merge adds what o noticed to bi.
func (bi *bodyInfo) merge(o bodyInfo) {
	bi.uEscape = bi.uEscape || o.uEscape
	bi.atTypeKey = bi.atTypeKey || o.atTypeKey
	bi.attachments = bi.attachments || o.attachments
}

// compactInfo is compact that also reports what it noticed (bodyInfo). When body is
// already compact (no whitespace outside strings, other than around the object) the
// result is a slice of body itself, which is then only validated, never copied: a
// caller that keeps the result past the call, or hands it to its own caller, must copy
// it (ownBody).
func compactInfo(body []byte, rule keyRule) ([]byte, bodyInfo, error) {
	var info bodyInfo
	if !utf8.Valid(body) {
		return nil, info, fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidJSON)
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, info, fmt.Errorf("%w: body must be a JSON object", ErrInvalidJSON)
	}
	c := compactor{b: body, base: i, rule: rule}
	end, err := c.value(i)
	info = c.info
	if err != nil {
		return nil, info, err
	}
	if j := skipSpace(body, end); j != len(body) {
		return nil, info, syntaxError(j, "data after the top-level value")
	}
	if !c.copying {
		// Already compact (the usual case): the value's own bytes, not copied.
		info.inPlace = true
		return body[i:end:end], info, nil
	}
	return c.out, info, nil
}

func syntaxError(at int, what string) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalidJSON, at, what)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// compactValue parses the value starting at b[i] (not whitespace) and
// appends its compact form. Containers use an explicit stack of open
// brackets instead of recursion. rule says which keys of the outermost object
// are refused.
func compactValue(b []byte, i int, out []byte, rule keyRule, info *bodyInfo) ([]byte, int, error) {
	c := compactor{b: b, out: out, base: i, copying: true, rule: rule}
	i, err := c.value(i)
	info.merge(c.info)
	if err != nil {
		return nil, i, err
	}
	return c.out, i, nil
}

// compactor is the state of one compaction: the input, the output so far, the open
// containers ('{' or '[' each), the key rule of the outermost object and what the pass
// notices about the body (bodyInfo).
//
// Until copying is set, the output is not written: everything read so far from base on
// is compact, so the output would be b[base:i] exactly. The first whitespace to drop
// (skip) copies that prefix into out and sets copying; from then on each token is
// appended. An input that is compact throughout is thus only validated.
//
// The open containers are kept in small while they fit, deeper ones in deep: a compactor
// lives on its caller's stack, and a slice of a local array would not (escape analysis
// would move it to the heap, one allocation per body).
type compactor struct {
	b, out  []byte
	base    int
	copying bool
	rule    keyRule
	info    bodyInfo
	depth   int      // open containers
	small   [32]byte // the first len(small) of them, outermost first
	deep    []byte   // the others
}

// push opens a container ('{' or '[').
func (c *compactor) push(ch byte) {
	if c.depth < len(c.small) {
		c.small[c.depth] = ch
	} else {
		c.deep = append(c.deep, ch)
	}
	c.depth++
}

// top returns the innermost open container (depth > 0).
func (c *compactor) top() byte {
	if c.depth <= len(c.small) {
		return c.small[c.depth-1]
	}
	return c.deep[c.depth-1-len(c.small)]
}

// pop closes the innermost open container (depth > 0).
func (c *compactor) pop() {
	c.depth--
	if c.depth >= len(c.small) {
		c.deep = c.deep[:c.depth-len(c.small)]
	}
}

// skip returns the index of the first non-whitespace byte at or after i, starting the
// copy at the first whitespace it drops.
func (c *compactor) skip(i int) int {
	j := skipSpace(c.b, i)
	if j != i && !c.copying {
		if c.out == nil {
			c.out = make([]byte, 0, len(c.b)-c.base)
		}
		c.out = append(c.out, c.b[c.base:i]...)
		c.copying = true
	}
	return j
}

// emit appends b[from:to], which the input holds in compact form, to the output.
func (c *compactor) emit(from, to int) {
	if c.copying {
		c.out = append(c.out, c.b[from:to]...)
	}
}

// value runs the parse: each turn reads one value (or opens a container, whose first
// member's value comes next), then closes what that value completes.
func (c *compactor) value(i int) (int, error) {
	for {
		// A value is expected at b[i].
		i = c.skip(i)
		if i >= len(c.b) {
			return i, syntaxError(i, "unexpected end of input")
		}
		var err error
		if ch := c.b[i]; ch == '{' || ch == '[' {
			var opened bool
			if i, opened, err = c.open(i); err != nil {
				return i, err
			} else if opened {
				continue // parse the first member's value
			}
		} else if i, err = c.scalar(i); err != nil {
			return i, err
		}
		var done bool
		if i, done, err = c.afterValue(i); err != nil || done {
			return i, err
		}
	}
}

// open appends the container starting at b[i]. An empty one is a complete value
// (opened false); otherwise it is pushed, and an object's first key is read.
func (c *compactor) open(i int) (next int, opened bool, err error) {
	ch := c.b[i]
	if c.depth >= maxJSONDepth {
		return i, false, syntaxError(i, "nesting too deep")
	}
	c.emit(i, i+1)
	i = c.skip(i + 1)
	closer := byte('}')
	if ch == '[' {
		closer = ']'
	}
	if i < len(c.b) && c.b[i] == closer {
		c.emit(i, i+1)
		return i + 1, false, nil
	}
	c.push(ch)
	if ch == '{' {
		if i, err = c.key(i); err != nil {
			return i, false, err
		}
	}
	return i, true, nil
}

// scalar appends the string, number or literal at b[i].
func (c *compactor) scalar(i int) (int, error) {
	b := c.b
	switch ch := b[i]; {
	case ch == '"':
		end, err := scanString(b, i, &c.info)
		if err != nil {
			return i, err
		}
		c.emit(i, end)
		return end, nil
	case ch == '-' || (ch >= '0' && ch <= '9'):
		end, err := scanNumber(b, i)
		if err != nil {
			return i, err
		}
		c.emit(i, end)
		return end, nil
	case ch == 't' || ch == 'f' || ch == 'n':
		lit := "null"
		if ch == 't' {
			lit = "true"
		} else if ch == 'f' {
			lit = "false"
		}
		if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
			return i, syntaxError(i, "invalid literal")
		}
		c.emit(i, i+len(lit))
		return i + len(lit), nil
	default:
		return i, syntaxError(i, fmt.Sprintf("unexpected character %q", ch))
	}
}

// afterValue follows a complete value: it closes the containers it completes, and
// either reaches the end of the outermost value (done) or moves past a ',' (and an
// object's next key) to where the next value starts.
func (c *compactor) afterValue(i int) (next int, done bool, err error) {
	b := c.b
	for {
		if c.depth == 0 {
			return i, true, nil
		}
		i = c.skip(i)
		if i >= len(b) {
			return i, false, syntaxError(i, "unexpected end of input")
		}
		top := c.top()
		ch := b[i]
		if ch == ',' {
			c.emit(i, i+1)
			i++
			if top == '{' {
				if i, err = c.key(c.skip(i)); err != nil {
					return i, false, err
				}
			}
			return i, false, nil // parse the next value
		}
		if (top == '{' && ch == '}') || (top == '[' && ch == ']') {
			c.emit(i, i+1)
			i++
			c.pop()
			continue
		}
		return i, false, syntaxError(i, fmt.Sprintf("unexpected character %q after a value", ch))
	}
}

// Member is one member of a JSON object as it stands in the object's text.
type Member struct {
	Key   string // the key, decoded
	Text  []byte // `"key":value` exactly as written (spacing inside kept), a slice of the input
	Value []byte // the value exactly as written, a slice of the input
}

// ObjectMembers splits the JSON object body into its top-level members, in the order and
// with the bytes they have in body (repeated keys are all returned). It is the store's
// parser, so a body it accepts is one the store accepts as JSON; anything else, including
// invalid UTF-8 and data after the object, is ErrInvalidJSON. Code that must change a
// received body (remove a key, edit one value) rebuilds it from these texts, so the
// members it does not touch keep their order and bytes.
func ObjectMembers(body []byte) ([]Member, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidJSON)
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, fmt.Errorf("%w: body must be a JSON object", ErrInvalidJSON)
	}
	i = skipSpace(body, i+1)
	var out []Member
	var scratch []byte // compactValue's output: only its validation is wanted
	for closed := i < len(body) && body[i] == '}'; !closed; {
		m, next, err := objectMember(body, i, scratch[:0])
		if err != nil {
			return nil, err
		}
		out, i = append(out, m), skipSpace(body, next)
		switch {
		case i < len(body) && body[i] == ',':
			i = skipSpace(body, i+1)
		case i < len(body) && body[i] == '}':
			closed = true
		default:
			return nil, syntaxError(i, "expected ',' or '}' after an object member")
		}
	}
	if i = skipSpace(body, i+1); i != len(body) {
		return nil, syntaxError(i, "data after the top-level value")
	}
	return out, nil
}

// objectMember reads the member `"key" : value` starting at b[i] and returns it and the
// index just past its value.
func objectMember(b []byte, i int, scratch []byte) (Member, int, error) {
	if i >= len(b) || b[i] != '"' {
		return Member{}, i, syntaxError(i, "expected a string key")
	}
	start := i
	var info bodyInfo // what the compaction notices is not needed here
	end, err := scanString(b, i, &info)
	if err != nil {
		return Member{}, i, err
	}
	key := string(b[i+1 : end-1])
	if bytes.IndexByte(b[i:end], '\\') >= 0 {
		if err := json.Unmarshal(b[i:end], &key); err != nil {
			return Member{}, i, fmt.Errorf("%w: key %s: %v", ErrInvalidJSON, b[i:end], err)
		}
	}
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return Member{}, i, syntaxError(i, "expected ':' after a key")
	}
	valueStart := skipSpace(b, i+1)
	if _, i, err = compactValue(b, valueStart, scratch, keysAny, &info); err != nil {
		return Member{}, i, err
	}
	return Member{Key: key, Text: b[start:i], Value: b[valueStart:i]}, i, nil
}

// topRule is the key rule at a nesting depth: only top-level keys are restricted.
func topRule(rule keyRule, depth int) keyRule {
	if depth != 1 {
		return keysAny
	}
	return rule
}

// key parses `"key" :` at b[i] and writes `"key":`. A key refused by the key rule
// of its depth (see checkKey) is an error.
func (c *compactor) key(i int) (int, error) {
	b, info := c.b, &c.info
	if i >= len(b) || b[i] != '"' {
		return i, syntaxError(i, "expected a string key")
	}
	end, err := scanString(b, i, info)
	if err != nil {
		return i, err
	}
	switch string(b[i:end]) {
	case `"@type"`:
		info.atTypeKey = true
	case `"_attachments"`:
		info.attachments = true
	}
	if rule := topRule(c.rule, c.depth); rule != keysAny {
		if err := checkKey(b[i:end], rule); err != nil {
			return i, err
		}
	}
	c.emit(i, end)
	i = c.skip(end)
	if i >= len(b) || b[i] != ':' {
		return i, syntaxError(i, "expected ':' after a key")
	}
	c.emit(i, i+1)
	return i + 1, nil
}

// checkKey refuses the top-level key raw (a valid JSON string with its quotes)
// if it is reserved. An escaped first character ("\u005fid") is decoded, so
// that it cannot slip past.
func checkKey(raw []byte, rule keyRule) error {
	if len(raw) < 3 || (raw[1] != '_' && raw[1] != '\\') {
		return nil
	}
	name := string(raw[1 : len(raw)-1])
	if raw[1] == '\\' {
		if err := json.Unmarshal(raw, &name); err != nil {
			return fmt.Errorf("%w: key %s: %v", ErrInvalidJSON, raw, err)
		}
	}
	if !IsReservedProperty(name) || (rule == keysAttachmentsAllowed && name == AttachmentsProperty) {
		return nil
	}
	return fmt.Errorf("%w: %q (top-level keys starting with \"_\" are reserved for the sync protocol)", ErrReservedProperty, name)
}

// scanString returns the index just past the string starting at b[i] == '"', and
// records a \u escape in info. UTF-8 validity was checked for the whole body already.
func scanString(b []byte, i int, info *bodyInfo) (int, error) {
	start := i
	i++
	q := -1 // the next quote at or after i (len(b): none), kept while it is ahead of i
	for i < len(b) {
		// Most of a string is plain characters: find the next quote, then check the run
		// before it for a backslash and control characters (see jsonscan.PlainRunEndBefore).
		if q < i {
			q = jsonscan.NextQuote(b, i)
		}
		i = jsonscan.PlainRunEndBefore(b, i, q)
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, syntaxError(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, syntaxError(i, `invalid \u escape`)
				}
				info.uEscape = true
				i += 6
			default:
				return 0, syntaxError(i, "invalid escape")
			}
		default: // c < 0x20
			return 0, syntaxError(i, "control character in string")
		}
	}
	return 0, syntaxError(start, "unterminated string")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// scanNumber returns the index just past the number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return 0, syntaxError(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0, syntaxError(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, syntaxError(start, "invalid number")
		}
	}
	return i, nil
}
