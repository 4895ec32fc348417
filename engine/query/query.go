package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/p2psync/libp2psync/engine/store"
)

// ErrInvalidQuery is wrapped by every error about the query text (*Error) or
// its parameters.
var ErrInvalidQuery = errors.New("query: invalid query")

// Rows is what a Source returns for compiled SQL: database/sql rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Source is the database a query runs on (engine/store's *Database).
type Source interface {
	// QueryTable names the table holding scope.collection's documents.
	QueryTable(ctx context.Context, scope, collection string) (string, error)
	// Query runs read-only SQL with positional args.
	Query(ctx context.Context, sqlText string, args ...any) (Rows, error)
	// CreateValueIndex and DeleteValueIndex manage expression indexes.
	CreateValueIndex(ctx context.Context, scope, collection, name string, exprs []string) error
	DeleteValueIndex(ctx context.Context, scope, collection, name string) error
	// CreateFullTextIndex, DeleteFullTextIndex and FullTextTable manage
	// full-text indexes (FTS5 tables, rowid = the documents table's seq).
	CreateFullTextIndex(ctx context.Context, scope, collection, name string, exprs []string, opts store.FullTextOptions) error
	DeleteFullTextIndex(ctx context.Context, scope, collection, name string) error
	FullTextTable(ctx context.Context, scope, collection, name string) (string, error)
	// Watch calls fn after every committed change of scope.collection (on
	// another goroutine, serially) until stop is called.
	Watch(ctx context.Context, scope, collection string, fn func()) (stop func(), err error)
}

// Query is a prepared statement: a SELECT (run with Execute), an EXPLAIN
// SELECT, or a CREATE INDEX / DROP INDEX (run with Execute, no rows).
type Query struct {
	src     Source
	text    string
	sql     string
	args    []argSpec
	cols    []column
	explain bool
	index   *indexStmt
	ixScope string
	ixColl  string
	ixExprs []string
	ixOpts  store.FullTextOptions
	scope   string // the collection a SELECT reads
	coll    string
	// fullText: the SELECT has a MATCH, whose terms SQLite may refuse when run
	fullText bool
}

type column struct {
	name  string
	kind  kind
	nsql  int  // SQL columns read: 2 for kPath (value, json_type), else 1
	meta  bool // meta().deleted: boolean
	omitM bool // omit the key when the value is MISSING
}

// Prepare parses and compiles text against src. Errors about the text are
// *Error (errors.Is ErrInvalidQuery) with the position of the problem.
func Prepare(ctx context.Context, src Source, text string) (*Query, error) {
	st, err := parse(text)
	if err != nil {
		return nil, err
	}
	q := &Query{src: src, text: text, explain: st.explain}
	if st.index != nil {
		return q, q.compileIndex(ctx, st.index)
	}
	return q, q.compileSelect(ctx, st.sel)
}

func catch(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(*Error); ok {
			*err = e
			return
		}
		panic(r)
	}
}

func (q *Query) compileIndex(ctx context.Context, ix *indexStmt) (err error) {
	defer catch(&err)
	c := &compiler{src: q.text, alias: ix.coll, index: true}
	q.index = ix
	q.ixScope, q.ixColl = c.resolveCollection(ix.pos, ix.scope, ix.coll)
	if ix.fts {
		q.ixOpts = c.fullTextOptions(ix)
	} else if ix.with != nil {
		c.fail(ix.withPos, "WITH options apply to a full-text index (USING FTS)")
	}
	for _, e := range ix.exprs {
		x := c.expr(e)
		if x.kind == kDoc {
			c.fail(e.at(), "cannot index a whole document")
		}
		q.ixExprs = append(q.ixExprs, x.sql)
	}
	return nil
}

func (q *Query) compileSelect(ctx context.Context, s *selectStmt) (err error) {
	c := &compiler{src: q.text, alias: s.alias, coll: s.coll}
	scope, coll := c.resolveCollection(s.fromPos, s.scope, s.coll)
	q.scope, q.coll = scope, coll
	table, terr := q.src.QueryTable(ctx, scope, coll)
	if terr != nil {
		return fmt.Errorf("%w: %w", errAt(q.text, s.fromPos, "collection %s.%s: %v", scope, coll, terr), terr)
	}
	defer catch(&err)
	c.fts = func(pos int, name string) string {
		t, err := q.src.FullTextTable(ctx, scope, coll, name)
		if err != nil {
			c.fail(pos, "full-text index %s: %v", name, err)
		}
		return t
	}
	c.ftsByIndex, c.ftsJoinOf = map[string]*ftsJoin{}, map[*callExpr]*ftsJoin{}
	c.planMatches(s.where)
	sel, hasAgg := q.compileResults(c, s)
	var b strings.Builder
	b.WriteString("SELECT ")
	if s.distinct {
		b.WriteString("DISTINCT ")
	}
	b.WriteString(strings.Join(sel, ", "))
	b.WriteString(" FROM " + table + c.joinSQL(table) + " WHERE deleted = 0")
	if s.where != nil {
		b.WriteString(" AND " + c.bool(s.where))
	}
	c.groupClauses(&b, s)
	c.orderClause(&b, s, hasAgg)
	c.limitClauses(&b, s)
	q.sql = b.String()
	q.args = c.args
	q.fullText = c.fullText
	return nil
}

// compileResults compiles the result list into q.cols; it returns the SQL of
// the selected columns and whether an aggregate (or GROUP BY) makes it an
// aggregate query.
func (q *Query) compileResults(c *compiler, s *selectStmt) (sel []string, hasAgg bool) {
	names := map[string]bool{}
	unnamed := 0
	c.aliases = map[string]expr{}
	hasAgg = len(s.groupBy) > 0
	for _, r := range s.results {
		col := column{}
		if r.star {
			if r.alias != "" && r.alias != c.alias {
				c.fail(r.pos, "%s.*: unknown alias (the collection is %q)", r.alias, c.alias)
			}
			col.name, col.kind, col.nsql = c.alias, kDoc, 1
			sel = append(sel, bodySQL)
		} else {
			c.aggOK = true
			x := c.expr(r.x)
			c.aggOK = false
			if c.sawAgg {
				hasAgg = true
			}
			col.kind = x.kind
			col.name = resultName(r, &unnamed)
			if r.alias != "" {
				c.aliases[r.alias] = r.x
			}
			if x.kind == kPath {
				sel = append(sel, x.sql, x.typ())
				col.nsql = 2
			} else {
				sel = append(sel, x.sql)
				col.nsql = 1
			}
		}
		if names[col.name] {
			c.fail(r.pos, "two result columns are named %q: give one an alias with AS", col.name)
		}
		names[col.name] = true
		q.cols = append(q.cols, col)
	}
	return sel, hasAgg
}

// resultName names a result column as Couchbase Lite does: the alias; else
// the last property name of a path; else the meta() property; else $1, $2, ...
// counting the unnamed columns.
func resultName(r resultItem, unnamed *int) string {
	if r.alias != "" {
		return r.alias
	}
	switch e := r.x.(type) {
	case *pathExpr:
		for i := len(e.steps) - 1; i >= 0; i-- {
			if k, ok := e.steps[i].(string); ok {
				return k
			}
		}
	case *metaExpr:
		return e.field
	}
	*unnamed++
	return "$" + strconv.Itoa(*unnamed)
}

func (c *compiler) groupClauses(b *strings.Builder, s *selectStmt) {
	if len(s.groupBy) > 0 {
		var g []string
		for _, e := range s.groupBy {
			g = append(g, c.termSQL(e, c.value(e)))
		}
		b.WriteString(" GROUP BY " + strings.Join(g, ", "))
	}
	if s.having != nil {
		c.aggOK = true
		b.WriteString(" HAVING " + c.bool(s.having))
		c.aggOK = false
	}
}

func (c *compiler) orderClause(b *strings.Builder, s *selectStmt, hasAgg bool) {
	if len(s.orderBy) == 0 {
		return
	}
	var o []string
	for _, oi := range s.orderBy {
		e := oi.x
		if p, ok := e.(*pathExpr); ok && len(p.steps) == 1 {
			if a, ok := c.aliases[p.steps[0].(string)]; ok {
				e = a
			}
		}
		c.aggOK = hasAgg
		x := c.expr(e)
		c.aggOK = false
		x.sql = c.termSQL(e, x.sql)
		o = append(o, c.orderTerms(x, oi.desc)...)
	}
	b.WriteString(" ORDER BY " + strings.Join(o, ", "))
}

func (c *compiler) limitClauses(b *strings.Builder, s *selectStmt) {
	if s.limit == nil && s.offset == nil {
		return
	}
	lim := "-1"
	if s.limit != nil {
		lim = c.limitValue(s.limit, "LIMIT")
	}
	b.WriteString(" LIMIT " + lim)
	if s.offset != nil {
		b.WriteString(" OFFSET " + c.limitValue(s.offset, "OFFSET"))
	}
}

// termSQL keeps a constant integer in GROUP BY or ORDER BY from being read
// by SQLite as a result column number: in SQL++ it is a value.
func (c *compiler) termSQL(e expr, sql string) string {
	if u, ok := e.(*unaryExpr); ok && u.op == "-" {
		e = u.x
	}
	if l, ok := e.(*litExpr); ok {
		if _, ok := l.val.(int64); ok {
			return "CAST(" + sql + " AS INTEGER)"
		}
	}
	return sql
}

func (c *compiler) limitValue(e expr, what string) string {
	switch e := e.(type) {
	case *litExpr:
		if n, ok := e.val.(int64); ok && n >= 0 {
			return strconv.FormatInt(n, 10)
		}
	case *paramExpr:
		return c.param(e.name, false)
	}
	c.fail(e.at(), "%s takes a non-negative integer or a parameter", what)
	return ""
}

// SQL returns the compiled SQLite statement ("" for CREATE/DROP INDEX).
func (q *Query) SQL() string { return q.sql }

// Columns returns the result column names (the keys of each row object).
func (q *Query) Columns() []string {
	if q.explain {
		return []string{"plan"}
	}
	out := make([]string, len(q.cols))
	for i, c := range q.cols {
		out[i] = c.name
	}
	return out
}

// Parameters returns the names of the parameters the query uses, sorted.
func (q *Query) Parameters() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range q.args {
		if !seen[a.name] {
			seen[a.name] = true
			out = append(out, a.name)
		}
	}
	sort.Strings(out)
	return out
}

// IndexExpressions returns the SQL expressions a CREATE INDEX indexes.
func (q *Query) IndexExpressions() []string { return q.ixExprs }

// bind converts the JSON parameters to SQL arguments.
func (q *Query) bind(params map[string]json.RawMessage) ([]any, error) {
	args := make([]any, len(q.args))
	for i, a := range q.args {
		raw, ok := params[a.name]
		if !ok {
			return nil, fmt.Errorf("%w: parameter $%s has no value", ErrInvalidQuery, a.name)
		}
		v, err := sqlArg(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter $%s: %v", ErrInvalidQuery, a.name, err)
		}
		if a.glob {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w: parameter $%s is a LIKE pattern and must be a string", ErrInvalidQuery, a.name)
			}
			v = likeToGlob(s)
		}
		args[i] = v
	}
	return args, nil
}

func parseParams(params []byte) (map[string]json.RawMessage, error) {
	var pm map[string]json.RawMessage
	if len(bytes.TrimSpace(params)) > 0 {
		if err := json.Unmarshal(params, &pm); err != nil || pm == nil {
			return nil, fmt.Errorf("%w: parameters must be a JSON object", ErrInvalidQuery)
		}
	}
	return pm, nil
}

// bindJSON checks and binds the JSON parameters.
func (q *Query) bindJSON(params []byte) ([]any, error) {
	pm, err := parseParams(params)
	if err != nil {
		return nil, err
	}
	return q.bind(pm)
}

// sqlArg maps a JSON value to how the compiled SQL sees JSON values:
// booleans as 1/0, numbers, strings, null as NULL, containers as JSON text.
func sqlArg(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty value")
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't':
		return int64(1), nil
	case 'f':
		return int64(0), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return s, nil
	case '[', '{':
		if !json.Valid(raw) {
			return nil, errors.New("invalid JSON")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		return buf.String(), nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Execute runs the query with params (a JSON object of parameter values, nil
// or empty for none). A CREATE/DROP INDEX is applied and returns no rows.
// The caller must Close the result.
func (q *Query) Execute(ctx context.Context, params []byte) (*ResultSet, error) {
	pm, err := parseParams(params)
	if err != nil {
		return nil, err
	}
	if q.index != nil {
		var err error
		switch {
		case q.index.drop:
			err = dropIndex(ctx, q.src, q.ixScope, q.ixColl, q.index.name)
		case q.index.fts:
			err = q.src.CreateFullTextIndex(ctx, q.ixScope, q.ixColl, q.index.name, q.ixExprs, q.ixOpts)
		default:
			err = q.src.CreateValueIndex(ctx, q.ixScope, q.ixColl, q.index.name, q.ixExprs)
		}
		if err != nil {
			return nil, err
		}
		return &ResultSet{}, nil
	}
	if q.explain {
		plan, err := q.Explain(ctx)
		if err != nil {
			return nil, err
		}
		row, _ := json.Marshal(map[string]string{"plan": plan})
		return &ResultSet{fixed: [][]byte{row}}, nil
	}
	args, err := q.bind(pm)
	if err != nil {
		return nil, err
	}
	rows, err := q.src.Query(ctx, q.sql, args...)
	if err != nil {
		return nil, q.runError(err)
	}
	return &ResultSet{q: q, rows: rows}, nil
}

// Explain returns the compiled SQL followed by SQLite's EXPLAIN QUERY PLAN,
// one step a line, indented by depth.
func (q *Query) Explain(ctx context.Context) (string, error) {
	if q.index != nil {
		return "", fmt.Errorf("%w: only a SELECT can be explained", ErrInvalidQuery)
	}
	args := make([]any, len(q.args)) // NULL for every parameter: the plan does not depend on values
	rows, err := q.src.Query(ctx, "EXPLAIN QUERY PLAN "+q.sql, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString(q.sql + "\n")
	depth := map[int64]int{}
	for rows.Next() {
		var id, parent, unused int64
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		d := depth[parent] + 1
		depth[id] = d
		b.WriteString(strings.Repeat("  ", d-1) + detail + "\n")
	}
	return b.String(), rows.Err()
}

// ResultSet iterates the rows of an executed query, each a JSON object.
type ResultSet struct {
	q     *Query
	rows  Rows
	fixed [][]byte
	cur   []byte
	err   error
}

// Next advances to the next row; false at the end or on error (see Err).
func (r *ResultSet) Next() bool {
	if r.err != nil {
		return false
	}
	if r.rows == nil {
		if len(r.fixed) == 0 {
			r.cur = nil
			return false
		}
		r.cur, r.fixed = r.fixed[0], r.fixed[1:]
		return true
	}
	if !r.rows.Next() {
		r.err = r.q.runError(r.rows.Err())
		r.cur = nil
		return false
	}
	n := 0
	for _, c := range r.q.cols {
		n += c.nsql
	}
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = err
		return false
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	i := 0
	for _, c := range r.q.cols {
		v := vals[i]
		var typ any
		if c.nsql == 2 {
			typ = vals[i+1]
		}
		i += c.nsql
		enc, ok := encodeValue(c.kind, v, typ)
		if !ok {
			continue // MISSING: no key
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(c.name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(enc)
	}
	b.WriteByte('}')
	r.cur = b.Bytes()
	return true
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

// encodeValue renders one result value as JSON; false means MISSING.
func encodeValue(k kind, v, typ any) ([]byte, bool) {
	switch k {
	case kDoc, kJSON:
		if v == nil {
			return []byte("null"), true
		}
		return []byte(asString(v)), true
	case kPath:
		if typ == nil {
			return nil, false
		}
		switch asString(typ) {
		case "null":
			return []byte("null"), true
		case "true":
			return []byte("true"), true
		case "false":
			return []byte("false"), true
		case "object", "array":
			return []byte(asString(v)), true
		}
	case kBool:
		switch n := v.(type) {
		case int64:
			if n != 0 {
				return []byte("true"), true
			}
			return []byte("false"), true
		}
	}
	switch v := v.(type) {
	case nil:
		return []byte("null"), true
	case int64:
		return []byte(strconv.FormatInt(v, 10)), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return []byte("null"), true
		}
		return []byte(strconv.FormatFloat(v, 'g', -1, 64)), true
	case bool:
		return []byte(strconv.FormatBool(v)), true
	}
	s, _ := json.Marshal(asString(v))
	return s, true
}

// Row returns the current row as a JSON object (valid until the next Next).
func (r *ResultSet) Row() []byte { return r.cur }

// Err returns the error that ended iteration, if any.
func (r *ResultSet) Err() error { return r.err }

// Close releases the rows; it may be called more than once.
func (r *ResultSet) Close() error {
	if r.rows != nil {
		err := r.rows.Close()
		r.rows = nil
		return err
	}
	return nil
}
