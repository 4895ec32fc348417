package query

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuotedIdent // `name`: never a keyword
	tString
	tNumber
	tParam // $name
	tOp    // punctuation and operators
)

type token struct {
	kind tokKind
	text string // identifier, string value, number text, operator, param name
	pos  int    // byte offset in the query
}

// maxQueryLen bounds the text accepted, so the parser's work and memory stay
// bounded whatever a caller sends.
const maxQueryLen = 64 << 10

func lex(src string) ([]token, error) {
	if len(src) > maxQueryLen {
		return nil, errAt(src, 0, "query is longer than %d bytes", maxQueryLen)
	}
	if !utf8.ValidString(src) {
		return nil, errAt(src, 0, "query is not valid UTF-8")
	}
	var toks []token
	i := 0
	for {
		var err error
		if i, err = skipSpace(src, i); err != nil {
			return nil, err
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tEOF, pos: i})
			return toks, nil
		}
		var t token
		if t, i, err = lexToken(src, i); err != nil {
			return nil, err
		}
		toks = append(toks, t)
	}
}

// skipSpace skips whitespace and comments from i.
func skipSpace(src string, i int) (int, error) {
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return i, errAt(src, i, "unterminated comment")
			}
			i += end + 4
		default:
			return i, nil
		}
	}
	return i, nil
}

// lexToken reads the token starting at src[i] and returns it with the offset after it.
func lexToken(src string, i int) (token, int, error) {
	start := i
	c := src[i]
	switch {
	case isIdentStart(c):
		for i < len(src) && isIdentChar(src[i]) {
			i++
		}
		return token{tIdent, src[start:i], start}, i, nil
	case c == '`':
		return lexQuotedIdent(src, i)
	case c == '\'' || c == '"':
		return lexString(src, i)
	case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
		return lexNumber(src, i)
	case c == '$':
		i++
		for i < len(src) && isIdentChar(src[i]) {
			i++
		}
		if i == start+1 {
			return token{}, i, errAt(src, start, "expected a parameter name after $")
		}
		return token{tParam, src[start+1 : i], start}, i, nil
	}
	op := ""
	for _, o := range []string{"<=", ">=", "!=", "<>", "==", "||"} {
		if strings.HasPrefix(src[i:], o) {
			op = o
			break
		}
	}
	if op == "" && strings.ContainsRune("=<>+-*/%(),.[]:;{}", rune(c)) {
		op = string(c)
	}
	if op == "" {
		r, _ := utf8.DecodeRuneInString(src[i:])
		return token{}, i, errAt(src, i, "unexpected character %q", r)
	}
	return token{tOp, op, start}, i + len(op), nil
}

// lexQuotedIdent reads a `quoted identifier` (a doubled backquote stands for one).
func lexQuotedIdent(src string, i int) (token, int, error) {
	start := i
	i++
	var b strings.Builder
	for {
		if i >= len(src) {
			return token{}, i, errAt(src, start, "unterminated `quoted identifier`")
		}
		if src[i] == '`' {
			if i+1 < len(src) && src[i+1] == '`' {
				b.WriteByte('`')
				i += 2
				continue
			}
			i++
			break
		}
		b.WriteByte(src[i])
		i++
	}
	if b.Len() == 0 {
		return token{}, i, errAt(src, start, "empty quoted identifier")
	}
	return token{tQuotedIdent, b.String(), start}, i, nil
}

// lexString reads a string in single or double quotes, with the quote doubled
// or backslash escapes inside.
func lexString(src string, i int) (token, int, error) {
	start := i
	q := src[i]
	i++
	var b strings.Builder
	for {
		if i >= len(src) {
			return token{}, i, errAt(src, start, "unterminated string")
		}
		ch := src[i]
		if ch == q {
			if i+1 < len(src) && src[i+1] == q {
				b.WriteByte(q)
				i += 2
				continue
			}
			return token{tString, b.String(), start}, i + 1, nil
		}
		if ch == '\\' && i+1 < len(src) {
			switch e := src[i+1]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"', '/':
				b.WriteByte(e)
			default:
				return token{}, i, errAt(src, i, "unknown escape \\%c in string", e)
			}
			i += 2
			continue
		}
		b.WriteByte(ch)
		i++
	}
}

func skipDigits(src string, i int) int {
	for i < len(src) && src[i] >= '0' && src[i] <= '9' {
		i++
	}
	return i
}

// lexNumber reads digits, an optional fraction and an optional exponent.
func lexNumber(src string, i int) (token, int, error) {
	start := i
	i = skipDigits(src, i)
	if i < len(src) && src[i] == '.' {
		i = skipDigits(src, i+1)
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && src[j] >= '0' && src[j] <= '9' {
			i = skipDigits(src, j)
		}
	}
	if i < len(src) && isIdentChar(src[i]) {
		return token{}, i, errAt(src, start, "malformed number")
	}
	return token{tNumber, src[start:i], start}, i, nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// Error is a query that cannot be parsed or compiled: Msg, at Offset (bytes
// from the start of the text; Line and Column count from 1, Column in
// characters). It wraps ErrInvalidQuery.
type Error struct {
	Offset, Line, Column int
	Msg                  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid query at line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalidQuery) true.
func (e *Error) Unwrap() error { return ErrInvalidQuery }

func errAt(src string, off int, format string, args ...any) *Error {
	if off > len(src) {
		off = len(src)
	}
	line, col := 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}
