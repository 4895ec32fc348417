package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/p2psync/libp2psync/engine/store"
)

// Full-text search: MATCH(index, terms) and RANK(index) over the FTS5 tables
// of engine/store's full-text indexes.
//
// A MATCH that is the WHERE clause or one of its top-level AND terms joins
// the index's table (the first such MATCH of each index), which RANK of that
// index then reads; any other MATCH (under OR or NOT, a second one on the same
// index, in the results) is a subquery on the index.

// ftsJoin is an index's FTS5 table joined to the documents table.
type ftsJoin struct {
	alias, table string
}

// planMatches finds the MATCH calls among the top-level AND terms of where
// and gives the first of each index a join.
func (c *compiler) planMatches(where expr) {
	switch e := where.(type) {
	case *binaryExpr:
		if e.op == "AND" {
			c.planMatches(e.l)
			c.planMatches(e.r)
		}
	case *callExpr:
		if e.name != "MATCH" || len(e.args) != 2 {
			return
		}
		name := c.indexArg(e)
		if c.ftsByIndex[name] != nil {
			return
		}
		j := &ftsJoin{alias: "_f" + strconv.Itoa(len(c.ftsJoins)+1), table: c.ftsTable(e.args[0].at(), name)}
		c.ftsJoins = append(c.ftsJoins, j)
		c.ftsByIndex[name] = j
		c.ftsJoinOf[e] = j
	}
}

// joinSQL returns the JOIN clauses of the planned MATCHes.
func (c *compiler) joinSQL(table string) string {
	var b strings.Builder
	for _, j := range c.ftsJoins {
		b.WriteString(" JOIN " + j.table + " AS " + j.alias + " ON " + j.alias + ".rowid = " + table + ".seq")
	}
	return b.String()
}

// indexArg reads the index name of MATCH or RANK: name or alias.name.
func (c *compiler) indexArg(e *callExpr) string {
	if len(e.args) > 0 {
		if p, ok := e.args[0].(*pathExpr); ok {
			steps := p.steps
			if len(steps) == 2 && steps[0] == c.alias {
				steps = steps[1:]
			}
			if name, ok := steps[0].(string); ok && len(steps) == 1 {
				return name
			}
		}
	}
	c.fail(e.pos, "%s takes the name of a full-text index first", e.name)
	return ""
}

func (c *compiler) ftsTable(pos int, name string) string {
	if c.fts == nil {
		c.fail(pos, "full-text search is not available here")
	}
	return c.fts(pos, name)
}

// match compiles MATCH(index, terms): true for the documents the index finds
// for terms (FTS5 query syntax).
func (c *compiler) match(e *callExpr) cexpr {
	if c.index {
		c.fail(e.pos, "an index expression cannot use MATCH")
	}
	c.nargs(e, 2, 2)
	name := c.indexArg(e)
	terms := c.value(e.args[1])
	c.fullText = true
	if j := c.ftsJoinOf[e]; j != nil {
		return cexpr{sql: "(" + j.alias + "." + j.table + " MATCH " + terms + ")", kind: kBool}
	}
	t := c.ftsTable(e.args[0].at(), name)
	return cexpr{sql: "(seq IN (SELECT rowid FROM " + t + " WHERE " + t + " MATCH " + terms + "))", kind: kBool}
}

// rank compiles RANK(index): how well the document matches the MATCH of that
// index (BM25, larger is better; ORDER BY RANK(i) DESC lists the best first).
func (c *compiler) rank(e *callExpr) cexpr {
	if c.index {
		c.fail(e.pos, "an index expression cannot use RANK")
	}
	c.nargs(e, 1, 1)
	name := c.indexArg(e)
	j := c.ftsByIndex[name]
	if j == nil {
		c.fail(e.pos, "RANK(%s) needs MATCH(%s, ...) as the WHERE clause or one of its top-level AND terms", name, name)
	}
	return cexpr{sql: "(- " + j.alias + ".rank)"}
}

// fullTextOptions reads the WITH options of a full-text index.
func (c *compiler) fullTextOptions(ix *indexStmt) store.FullTextOptions {
	var o store.FullTextOptions
	for k, v := range ix.with {
		switch strings.ToLower(k) {
		case "language":
			s, ok := v.(string)
			if !ok {
				c.fail(ix.withPos, "option language takes a string")
			}
			o.Language = s
		case "ignoreaccents":
			b, ok := v.(bool)
			if !ok {
				c.fail(ix.withPos, "option ignoreAccents takes true or false")
			}
			o.IgnoreAccents = b
		default:
			c.fail(ix.withPos, "unknown index option %q (language, ignoreAccents)", k)
		}
	}
	if _, err := o.Tokenizer(); err != nil {
		c.fail(ix.withPos, "%v", err)
	}
	return o
}

// runError turns errors SQLite reports while running a query into the
// package's: a full-text index deleted since Prepare is store.ErrNotFound, and
// in a query with MATCH, an SQLITE_ERROR is FTS5 refusing the terms (the
// compiled SQL itself is valid), which is the caller's: ErrInvalidQuery.
func (q *Query) runError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "no such table: qfts_") {
		return fmt.Errorf("%w: a full-text index of the query was deleted: %v", store.ErrNotFound, err)
	}
	var se *store.SQLiteError
	if q.fullText && errors.As(err, &se) && se.Code&0xff == 1 {
		return fmt.Errorf("%w: full-text query: %v", ErrInvalidQuery, err)
	}
	return err
}

// IndexConfig describes an index for CreateIndex, as Couchbase Lite's
// ValueIndexConfiguration and FullTextIndexConfiguration do.
type IndexConfig struct {
	FullText      bool     // a full-text index (MATCH, RANK); else a value index
	Expressions   []string // SQL++ expressions, e.g. "address.city", "LOWER(name)"
	Language      string   // full-text only: "" or "en" (stemming)
	IgnoreAccents bool     // full-text only: "cafe" matches "café"
}

// CreateIndex creates (or replaces, when the definition changed) the index
// name of scope.coll ("" scope = _default; coll "_" = _default).
func CreateIndex(ctx context.Context, src Source, scope, coll, name string, cfg IndexConfig) error {
	if len(cfg.Expressions) == 0 {
		return fmt.Errorf("%w: an index needs at least one expression", ErrInvalidQuery)
	}
	ix := &indexStmt{name: name, scope: scope, coll: coll, fts: cfg.FullText}
	for _, text := range cfg.Expressions {
		e, err := parseExpr(text)
		if err != nil {
			return fmt.Errorf("index expression %q: %w", text, err)
		}
		ix.exprs = append(ix.exprs, e)
	}
	if cfg.FullText {
		ix.with = map[string]any{"language": cfg.Language, "ignoreAccents": cfg.IgnoreAccents}
	} else if cfg.Language != "" || cfg.IgnoreAccents {
		return fmt.Errorf("%w: language and ignoreAccents apply to full-text indexes", ErrInvalidQuery)
	}
	q := &Query{src: src, text: strings.Join(cfg.Expressions, ", ")}
	if err := q.compileIndex(ctx, ix); err != nil {
		return err
	}
	rs, err := q.Execute(ctx, nil)
	if err != nil {
		return err
	}
	return rs.Close()
}

// DeleteIndex drops the index name (value or full-text) of scope.coll;
// store.ErrNotFound if there is none.
func DeleteIndex(ctx context.Context, src Source, scope, coll, name string) error {
	return dropIndex(ctx, src, scope, coll, name)
}

func dropIndex(ctx context.Context, src Source, scope, coll, name string) error {
	scope, coll = (&compiler{}).resolveCollection(0, scope, coll)
	err := src.DeleteValueIndex(ctx, scope, coll, name)
	if errors.Is(err, store.ErrNotFound) {
		if ferr := src.DeleteFullTextIndex(ctx, scope, coll, name); !errors.Is(ferr, store.ErrNotFound) {
			return ferr
		}
	}
	return err
}
