package query

import (
	"regexp"
	"strconv"
	"strings"
)

// How a compiled expression's SQL value is to be read.
type kind int

const (
	kAny  kind = iota // an SQL value: NULL, integer, real or text
	kPath             // a JSON value at src/path: json_type tells MISSING, null, booleans, containers
	kBool             // 0/1 (or NULL): a boolean
	kJSON             // JSON text of an array
	kDoc              // the whole document (JSON object text)
)

type cexpr struct {
	sql  string
	kind kind
	src  string // kPath: the JSON text expression
	path string // kPath: the SQL expression of the JSON path
}

func (c cexpr) typ() string { return "json_type(" + c.src + ", " + c.path + ")" }

// bodySQL is how a document body is read: as text (the column holds JSON text
// in a BLOB, which SQLite's JSON functions could otherwise take for JSONB).
const bodySQL = "CAST(body AS TEXT)"

type argSpec struct {
	name string
	glob bool // LIKE pattern: bound converted to a GLOB pattern
}

type compiler struct {
	src     string
	alias   string
	coll    string
	vars    []anyVar // ANY variables in scope, innermost last
	nvar    int
	args    []argSpec
	index   bool // compiling an index expression: no parameters, variables or aggregates
	aggOK   bool
	sawAgg  bool            // an aggregate was compiled
	aliases map[string]expr // result aliases usable in ORDER BY

	fts        func(pos int, name string) string // the FTS5 table of a full-text index, or fails
	ftsJoins   []*ftsJoin
	ftsByIndex map[string]*ftsJoin
	ftsJoinOf  map[*callExpr]*ftsJoin
	fullText   bool // a MATCH was compiled
}

type anyVar struct{ name, src, path string }

func (c *compiler) fail(pos int, format string, a ...any) {
	panic(errAt(c.src, pos, format, a...))
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// jsonPath renders steps as a JSON path suffix (without the leading $).
func (c *compiler) jsonPath(pos int, steps []any) string {
	var b strings.Builder
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			if plainKey.MatchString(s) {
				b.WriteString("." + s)
			} else {
				if strings.ContainsAny(s, `"\`) {
					c.fail(pos, "property name %q cannot be queried (contains a quote or backslash)", s)
				}
				b.WriteString(`."` + s + `"`)
			}
		case int:
			b.WriteString("[" + strconv.Itoa(s) + "]")
		}
	}
	return b.String()
}

func (c *compiler) param(name string, glob bool) string {
	if c.index {
		c.fail(0, "an index expression cannot use parameters")
	}
	for i, a := range c.args {
		if a.name == name && a.glob == glob {
			return "?" + strconv.Itoa(i+1)
		}
	}
	c.args = append(c.args, argSpec{name, glob})
	return "?" + strconv.Itoa(len(c.args))
}

func (c *compiler) path(e *pathExpr) cexpr {
	first, _ := e.steps[0].(string)
	for i := len(c.vars) - 1; i >= 0; i-- {
		v := c.vars[i]
		if v.name == first {
			p := v.path
			if len(e.steps) > 1 {
				p = "(" + v.path + " || " + sqlString(c.jsonPath(e.pos, e.steps[1:])) + ")"
			}
			return c.pathValue(v.src, p)
		}
	}
	steps := e.steps
	if first == c.alias {
		if len(steps) == 1 {
			return cexpr{sql: bodySQL, kind: kDoc}
		}
		steps = steps[1:]
	}
	return c.pathValue(bodySQL, sqlString("$"+c.jsonPath(e.pos, steps)))
}

func (c *compiler) pathValue(src, path string) cexpr {
	return cexpr{sql: "json_extract(" + src + ", " + path + ")", kind: kPath, src: src, path: path}
}

// jsonSource returns a JSON text and path addressing an array operand (for
// json_each), or fails.
func (c *compiler) jsonSource(e expr, what string) (src, path string, typ string) {
	x := c.expr(e)
	switch x.kind {
	case kPath:
		return x.src, x.path, x.typ()
	case kJSON:
		return x.sql, "'$'", "json_type(" + x.sql + ")"
	}
	if _, ok := e.(*paramExpr); ok {
		return x.sql, "'$'", "json_type(" + x.sql + ")"
	}
	c.fail(e.at(), "%s needs an array: a property path, an array literal or a parameter", what)
	return
}

func (c *compiler) bool(e expr) string {
	x := c.expr(e)
	if x.kind == kDoc {
		c.fail(e.at(), "a whole document is not a condition")
	}
	return x.sql
}

func (c *compiler) value(e expr) string {
	x := c.expr(e)
	return x.sql
}

func (c *compiler) expr(e expr) cexpr {
	switch e := e.(type) {
	case *litExpr:
		return c.literal(e)
	case *paramExpr:
		return cexpr{sql: c.param(e.name, false)}
	case *pathExpr:
		return c.path(e)
	case *metaExpr:
		return c.meta(e)
	case *unaryExpr:
		if e.op == "NOT" {
			return cexpr{sql: "(NOT " + c.bool(e.x) + ")", kind: kBool}
		}
		return cexpr{sql: "(- " + c.value(e.x) + ")"}
	case *binaryExpr:
		return c.binary(e)
	case *likeExpr:
		return c.like(e)
	case *inExpr:
		return c.in(e)
	case *betweenExpr:
		return cexpr{sql: "(" + c.value(e.x) + " " + notSQL(e.not) + "BETWEEN " + c.value(e.lo) + " AND " + c.value(e.hi) + ")", kind: kBool}
	case *isExpr:
		return c.is(e)
	case *callExpr:
		return c.call(e)
	case *anyExpr:
		return c.anyEvery(e)
	case *caseExpr:
		return c.caseWhen(e)
	case *arrayExpr:
		return c.array(e)
	}
	c.fail(e.at(), "unsupported expression")
	return cexpr{}
}

func notSQL(not bool) string {
	if not {
		return "NOT "
	}
	return ""
}

func (c *compiler) literal(e *litExpr) cexpr {
	switch v := e.val.(type) {
	case bool:
		if v {
			return cexpr{sql: "1", kind: kBool}
		}
		return cexpr{sql: "0", kind: kBool}
	case int64:
		return cexpr{sql: strconv.FormatInt(v, 10)}
	case float64:
		return cexpr{sql: strconv.FormatFloat(v, 'g', -1, 64)}
	case string:
		return cexpr{sql: sqlString(v)}
	}
	return cexpr{sql: "NULL"} // NULL and MISSING
}

func (c *compiler) meta(e *metaExpr) cexpr {
	if e.alias != "" && e.alias != c.alias {
		c.fail(e.pos, "meta(%s): unknown alias (the collection is %q)", e.alias, c.alias)
	}
	switch e.field {
	case "id":
		return cexpr{sql: "docid"}
	case "revisionID":
		return cexpr{sql: "revid"}
	case "sequence":
		return cexpr{sql: "seq"}
	case "deleted":
		return cexpr{sql: "deleted", kind: kBool}
	case "expiration":
		return cexpr{sql: "expiration"}
	}
	c.fail(e.pos, "unknown meta() property %q (id, revisionID, sequence, deleted, expiration)", e.field)
	return cexpr{}
}

func (c *compiler) binary(e *binaryExpr) cexpr {
	switch e.op {
	case "AND", "OR":
		return cexpr{sql: "(" + c.bool(e.l) + " " + e.op + " " + c.bool(e.r) + ")", kind: kBool}
	case "=", "!=", "<", "<=", ">", ">=":
		return cexpr{sql: "(" + c.value(e.l) + " " + e.op + " " + c.value(e.r) + ")", kind: kBool}
	case "/":
		return cexpr{sql: "(CAST(" + c.value(e.l) + " AS REAL) / " + c.value(e.r) + ")"}
	}
	return cexpr{sql: "(" + c.value(e.l) + " " + e.op + " " + c.value(e.r) + ")"}
}

func (c *compiler) like(e *likeExpr) cexpr {
	var pat string
	switch p := e.pat.(type) {
	case *litExpr:
		s, ok := p.val.(string)
		if !ok {
			c.fail(p.pos, "a LIKE pattern must be a string")
		}
		pat = sqlString(likeToGlob(s))
	case *paramExpr:
		pat = c.param(p.name, true)
	default:
		c.fail(e.pat.at(), "a LIKE pattern must be a string literal or a parameter")
	}
	return cexpr{sql: "(" + c.value(e.x) + " " + notSQL(e.not) + "GLOB " + pat + ")", kind: kBool}
}

func (c *compiler) in(e *inExpr) cexpr {
	not := notSQL(e.not)
	x := c.value(e.x)
	if e.list != nil {
		var items []string
		for _, it := range e.list {
			items = append(items, c.value(it))
		}
		return cexpr{sql: "(" + x + " " + not + "IN (" + strings.Join(items, ", ") + "))", kind: kBool}
	}
	src, path, _ := c.jsonSource(e.arr, "IN")
	return cexpr{sql: "(" + x + " " + not + "IN (SELECT value FROM json_each(" + src + ", " + path + ")))", kind: kBool}
}

func boolSQL(b bool) cexpr {
	if b {
		return cexpr{sql: "1", kind: kBool}
	}
	return cexpr{sql: "0", kind: kBool}
}

// is compiles IS [NOT] NULL / MISSING / VALUED.
func (c *compiler) is(e *isExpr) cexpr {
	x := c.expr(e.x)
	if lit, ok := e.x.(*litExpr); ok {
		// literals: MISSING is missing, NULL is null, everything else valued
		isMissing, isNull := lit.val == missing, lit.val == nil
		var r bool
		switch e.what {
		case "MISSING":
			r = isMissing
		case "NULL":
			r = isNull
		case "VALUED":
			r = !isMissing && !isNull
		}
		return boolSQL(r != e.not)
	}
	if x.kind == kPath {
		return c.isPath(e, x)
	}
	switch e.what {
	case "MISSING":
		c.fail(e.pos, "IS MISSING applies to a property path (other expressions do not tell MISSING from NULL here)")
	case "NULL":
		if e.not {
			return cexpr{sql: "(" + x.sql + " IS NOT NULL)", kind: kBool}
		}
		return cexpr{sql: "(" + x.sql + " IS NULL)", kind: kBool}
	}
	// VALUED
	if e.not {
		return cexpr{sql: "(" + x.sql + " IS NULL)", kind: kBool}
	}
	return cexpr{sql: "(" + x.sql + " IS NOT NULL)", kind: kBool}
}

// isPath compiles IS on a property path, which tells MISSING from null by json_type.
func (c *compiler) isPath(e *isExpr, x cexpr) cexpr {
	t := x.typ()
	var s string
	switch e.what {
	case "NULL":
		s = t + " = 'null'"
		if e.not {
			s = t + " != 'null'"
		}
	case "MISSING":
		s = t + " IS NULL"
		if e.not {
			s = t + " IS NOT NULL"
		}
	case "VALUED":
		s = "coalesce(" + t + " != 'null', 0)"
		if e.not {
			s = "NOT " + s
		}
	}
	return cexpr{sql: "(" + s + ")", kind: kBool}
}

func (c *compiler) anyEvery(e *anyExpr) cexpr {
	if c.index {
		c.fail(e.pos, "an index expression cannot use ANY/EVERY")
	}
	src, path, typ := c.jsonSource(e.arr, "ANY/EVERY")
	c.nvar++
	v := "_v" + strconv.Itoa(c.nvar)
	c.vars = append(c.vars, anyVar{name: e.v, src: src, path: v + ".fullkey"})
	cond := c.bool(e.cond)
	c.vars = c.vars[:len(c.vars)-1]
	each := "json_each(" + src + ", " + path + ") AS " + v
	if e.every {
		return cexpr{sql: "(" + typ + " = 'array' AND NOT EXISTS (SELECT 1 FROM " + each + " WHERE NOT coalesce(" + cond + ", 0)))", kind: kBool}
	}
	return cexpr{sql: "(" + typ + " = 'array' AND EXISTS (SELECT 1 FROM " + each + " WHERE " + cond + "))", kind: kBool}
}

func (c *compiler) caseWhen(e *caseExpr) cexpr {
	var b strings.Builder
	b.WriteString("(CASE")
	if e.subject != nil {
		b.WriteString(" " + c.value(e.subject))
	}
	for i := range e.whens {
		b.WriteString(" WHEN " + c.value(e.whens[i]) + " THEN " + c.value(e.thens[i]))
	}
	if e.els != nil {
		b.WriteString(" ELSE " + c.value(e.els))
	}
	b.WriteString(" END)")
	return cexpr{sql: b.String()}
}

func (c *compiler) array(e *arrayExpr) cexpr {
	var items []string
	for _, it := range e.elems {
		x := c.expr(it)
		s := x.sql
		switch x.kind {
		case kPath:
			// keep containers and booleans as JSON
			s = "(CASE " + x.typ() + " WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') WHEN 'object' THEN json(" + x.sql + ") WHEN 'array' THEN json(" + x.sql + ") ELSE " + x.sql + " END)"
		case kBool:
			s = "(CASE " + x.sql + " WHEN 1 THEN json('true') WHEN 0 THEN json('false') END)"
		case kJSON, kDoc:
			s = "json(" + x.sql + ")"
		}
		items = append(items, s)
	}
	return cexpr{sql: "json_array(" + strings.Join(items, ", ") + ")", kind: kJSON}
}

// likeToGlob converts an SQL++ LIKE pattern (% any run, _ one character, \
// escapes the next character; case-sensitive) to an SQLite GLOB pattern.
func likeToGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch ch {
		case '\\':
			if i+1 < len(s) {
				i++
				ch = s[i]
				switch ch {
				case '*', '?', '[':
					b.WriteString("[" + string(ch) + "]")
				default:
					b.WriteByte(ch)
				}
				continue
			}
			b.WriteByte(ch)
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[':
			b.WriteString("[" + string(ch) + "]")
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

var aggregates = map[string]bool{"COUNT": true, "SUM": true, "AVG": true, "MIN": true, "MAX": true}

func (c *compiler) nargs(e *callExpr, lo, hi int) {
	if len(e.args) < lo || len(e.args) > hi {
		if lo == hi {
			c.fail(e.pos, "%s takes %d argument(s), got %d", e.name, lo, len(e.args))
		}
		c.fail(e.pos, "%s takes %d to %d arguments, got %d", e.name, lo, hi, len(e.args))
	}
}

func (c *compiler) call(e *callExpr) cexpr {
	if e.star && e.name != "COUNT" {
		c.fail(e.pos, "only COUNT takes *")
	}
	if e.distinct && !aggregates[e.name] {
		c.fail(e.pos, "DISTINCT only applies to aggregate functions")
	}
	if aggregates[e.name] {
		return c.aggregate(e)
	}
	switch e.name {
	case "LOWER", "UPPER", "LENGTH", "ABS", "SIGN":
		return c.simpleCall(e, strings.ToLower(e.name), 1, 1)
	case "TRIM", "LTRIM", "RTRIM", "ROUND":
		return c.simpleCall(e, strings.ToLower(e.name), 1, 2)
	case "FLOOR", "CEIL", "SQRT":
		return c.simpleCall(e, strings.ToLower(e.name), 1, 1)
	case "POWER":
		return c.simpleCall(e, "pow", 2, 2)
	case "IFNULL", "IFMISSINGORNULL":
		return c.simpleCall(e, "coalesce", 2, 16)
	case "CONTAINS":
		c.nargs(e, 2, 2)
		return cexpr{sql: "(instr(" + c.value(e.args[0]) + ", " + c.value(e.args[1]) + ") > 0)", kind: kBool}
	case "ARRAY_LENGTH", "ARRAY_COUNT", "ARRAY_SUM", "ARRAY_AVG", "ARRAY_MIN", "ARRAY_MAX", "ARRAY_CONTAINS":
		return c.arrayCall(e)
	case "ISARRAY", "ISOBJECT", "ISSTRING", "ISNUMBER", "ISBOOLEAN", "TYPE":
		return c.typeCall(e)
	case "MATCH":
		return c.match(e)
	case "RANK":
		return c.rank(e)
	}
	c.fail(e.pos, "unknown function %s", e.name)
	return cexpr{}
}

// simpleCall maps a function to the SQLite function fn of the same arguments.
func (c *compiler) simpleCall(e *callExpr, fn string, lo, hi int) cexpr {
	c.nargs(e, lo, hi)
	var a []string
	for _, x := range e.args {
		a = append(a, c.value(x))
	}
	return cexpr{sql: fn + "(" + strings.Join(a, ", ") + ")"}
}

func (c *compiler) aggregate(e *callExpr) cexpr {
	if !c.aggOK {
		c.fail(e.pos, "aggregate %s is not allowed here", e.name)
	}
	c.sawAgg = true
	if e.star {
		return cexpr{sql: "count(*)"}
	}
	c.nargs(e, 1, 1)
	c.aggOK = false
	x := c.value(e.args[0])
	c.aggOK = true
	d := ""
	if e.distinct {
		d = "DISTINCT "
	}
	return cexpr{sql: strings.ToLower(e.name) + "(" + d + x + ")"}
}

// arrayCall compiles the ARRAY_* functions over a JSON array operand.
func (c *compiler) arrayCall(e *callExpr) cexpr {
	if e.name == "ARRAY_CONTAINS" {
		c.nargs(e, 2, 2)
	} else {
		c.nargs(e, 1, 1)
	}
	src, path, typ := c.jsonSource(e.args[0], e.name)
	each := "json_each(" + src + ", " + path + ")"
	var s string
	k := kAny
	switch e.name {
	case "ARRAY_LENGTH":
		s = "json_array_length(" + src + ", " + path + ")"
	case "ARRAY_COUNT":
		s = "(SELECT count(*) FROM " + each + " WHERE type != 'null')"
	case "ARRAY_SUM":
		s = "(SELECT total(value) FROM " + each + " WHERE type IN ('integer', 'real'))"
	case "ARRAY_AVG":
		s = "(SELECT avg(value) FROM " + each + " WHERE type IN ('integer', 'real'))"
	case "ARRAY_MIN":
		s = "(SELECT min(value) FROM " + each + " WHERE type != 'null')"
	case "ARRAY_MAX":
		s = "(SELECT max(value) FROM " + each + " WHERE type != 'null')"
	case "ARRAY_CONTAINS":
		s = "EXISTS (SELECT 1 FROM " + each + " WHERE value = " + c.value(e.args[1]) + ")"
		k = kBool
	}
	return cexpr{sql: "(CASE WHEN " + typ + " = 'array' THEN " + s + " END)", kind: k}
}

// typeCall compiles the type tests (ISARRAY ... TYPE) of a property path.
func (c *compiler) typeCall(e *callExpr) cexpr {
	c.nargs(e, 1, 1)
	x := c.expr(e.args[0])
	if x.kind != kPath {
		c.fail(e.pos, "%s applies to a property path", e.name)
	}
	t := x.typ()
	switch e.name {
	case "ISARRAY":
		return cexpr{sql: "(" + t + " = 'array')", kind: kBool}
	case "ISOBJECT":
		return cexpr{sql: "(" + t + " = 'object')", kind: kBool}
	case "ISSTRING":
		return cexpr{sql: "(" + t + " = 'text')", kind: kBool}
	case "ISNUMBER":
		return cexpr{sql: "(" + t + " IN ('integer', 'real'))", kind: kBool}
	case "ISBOOLEAN":
		return cexpr{sql: "(" + t + " IN ('true', 'false'))", kind: kBool}
	}
	return cexpr{sql: "(CASE " + t + " WHEN 'null' THEN 'null' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' WHEN 'array' THEN 'array' WHEN 'object' THEN 'object' ELSE 'missing' END)"}
}

// orderTerms: a JSON value sorts by SQL++ type order (MISSING, null, booleans,
// numbers, strings, arrays, objects) and then by value.
func (c *compiler) orderTerms(x cexpr, desc bool) []string {
	d := ""
	if desc {
		d = " DESC"
	}
	if x.kind == kPath {
		rank := "(CASE " + x.typ() + " WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 2 WHEN 'integer' THEN 3 WHEN 'real' THEN 3 WHEN 'text' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 ELSE 0 END)"
		return []string{rank + d, x.sql + d}
	}
	return []string{x.sql + d}
}

func (c *compiler) resolveCollection(pos int, scope, coll string) (string, string) {
	if coll == "_" {
		coll = "_default"
	}
	if scope == "" {
		scope = "_default"
	}
	return scope, coll
}
