/*
Package query finds documents by their content: it parses a subset of SQL++
for mobile (Couchbase Lite's query language), compiles it to one SQLite
statement over a collection's documents table using SQLite's JSON functions,
and runs it through a Source (engine/store's *Database, wrapped by
StoreSource). The SQL text is generated here; the store only runs it on a
read-only connection (Database.Query) and creates the indexes asked for.

# Use

	q, err := query.Prepare(ctx, query.StoreSource{DB: db},
		`SELECT name, address.city FROM _ WHERE age > $min ORDER BY name LIMIT 10`)
	if err != nil {
		// *query.Error: errors.Is(err, query.ErrInvalidQuery), with Line/Column/Offset
	}
	rs, err := q.Execute(ctx, []byte(`{"min": 30}`)) // parameters: a JSON object
	if err != nil { ... }
	defer rs.Close() // Database.Close waits for open results
	for rs.Next() {
		fmt.Println(string(rs.Row())) // {"name":"Ada","city":"London"}
	}
	err = rs.Err()

A Query may be executed many times, with different parameters; each Execute
reads the last committed state. Results are streamed from SQLite.

# Statements

	SELECT [DISTINCT] results FROM collection [[AS] alias]
	       [WHERE cond] [GROUP BY exprs [HAVING cond]]
	       [ORDER BY expr [ASC|DESC], ...] [LIMIT n] [OFFSET n]
	EXPLAIN SELECT ...                         one row {"plan": "..."}
	CREATE INDEX name ON collection(expr, ...)
	CREATE INDEX name ON collection(expr, ...) USING FTS [WITH {"language": "en", "ignoreAccents": true}]
	DROP INDEX name ON collection              (either kind)

Keywords are case-insensitive; identifiers are case-sensitive, and an
identifier that is a keyword or holds other characters is written in
backquotes (`key with space`). Strings are in single or double quotes (the
quote doubled, or \' \" \\ \n \t \r \/ inside). Comments: -- to the end of the
line, and C-style block comments.

collection is _ or _default (the default collection), name (a collection of
scope _default) or scope.name. A query reads one collection: JOIN, UNNEST,
NEST, UNION and subqueries are refused with an error.

Results are a comma-separated list of:

  - * or alias.*: the whole document, under the key alias (the alias, or the
    collection name as written, e.g. "_");
  - a property path: name, address.city, tags[0], `odd key`.x (optionally
    prefixed by the alias: p.name);
  - meta().id, meta().revisionID (the current revision ID), meta().sequence,
    meta().deleted (always false: see below), meta().expiration (Unix ms or
    null); meta(alias).id likewise;
  - any other expression.

Each row is a JSON object whose keys follow Couchbase Lite's naming: the
alias given with AS; else the last property name of a path ("city" for
address.city, "tags" for tags[0]); else the meta() property ("id",
"revisionID"); else $1, $2, ... numbering the unnamed columns in order. Two
columns with the same name are an error (give one an alias). A property that
is MISSING in a document is left out of that row; a JSON null is kept as null.

# Expressions

	literals     1  2.5  'text'  "text"  TRUE  FALSE  NULL  MISSING  [a, b, ...]
	parameters   $name (values from the JSON object given to Execute)
	comparison   =  ==  !=  <>  <  <=  >  >=   [NOT] BETWEEN a AND b
	             [NOT] IN [a, b] / (a, b) / array property / $param
	             [NOT] LIKE 'pattern' or $param (% any run, _ one character,
	             \ escapes; case-sensitive)
	             IS [NOT] NULL, IS [NOT] MISSING, IS [NOT] VALUED
	logic        AND  OR  NOT
	arithmetic   +  -  *  /  %  unary -; string concatenation ||
	             (/ always divides as real: 5 / 2 = 2.5)
	conditional  CASE [x] WHEN ... THEN ... [ELSE ...] END
	arrays       ANY v IN arr SATISFIES cond END (SOME is a synonym)
	             EVERY v IN arr SATISFIES cond END (true for an empty array)
	             v and v.path inside cond refer to each element
	functions    LOWER UPPER LENGTH TRIM LTRIM RTRIM CONTAINS
	             ABS SIGN ROUND FLOOR CEIL SQRT POWER
	             IFNULL IFMISSINGORNULL
	             ARRAY_CONTAINS ARRAY_LENGTH ARRAY_COUNT ARRAY_SUM ARRAY_AVG
	             ARRAY_MIN ARRAY_MAX
	             ISARRAY ISOBJECT ISSTRING ISNUMBER ISBOOLEAN TYPE
	aggregates   COUNT(*) COUNT SUM AVG MIN MAX (with DISTINCT), in results,
	             HAVING and ORDER BY
	full text    MATCH(index, terms), RANK(index): see "Full-text search"

# Semantics

Deleted documents never match: every statement reads only live documents
(the current revision of each; a conflicted document shows its winning
revision).

MISSING and NULL follow SQL++: a path that is absent is MISSING, a JSON null
is NULL. IS NULL is true only for null, IS MISSING only for an absent path,
IS VALUED for anything else; a comparison with either is not true, so
WHERE x = 1 and WHERE NOT x = 1 both skip a document without x. ORDER BY a
property sorts by SQL++ type order first (MISSING, null, booleans, numbers,
strings, arrays, objects), then by value.

Where this differs from Couchbase Lite (values go through SQLite):

  - JSON booleans are compared as 1 and 0 (true = 1 matches the number 1);
  - strings sort after all numbers (as in SQL++), but arrays and objects are
    compared as their JSON text, not element by element;
  - IS MISSING applies to property paths (and ANY variables); on other
    expressions MISSING and NULL are not told apart, and it is an error;
  - SUM and AVG convert numeric strings the way SQLite does;
  - an unbound parameter is an error (ErrInvalidQuery), not MISSING;
  - string functions count characters as SQLite does (UTF-8 code points).

# Errors

A text that does not parse or compile is an *Error with the byte Offset,
Line and Column (from 1) of the problem and a message ("expected FROM ...,
found ..."); it wraps ErrInvalidQuery. An unknown collection is an *Error at
the FROM clause that also wraps store.ErrNotFound. Missing or malformed
parameters are ErrInvalidQuery. Failures while running are the store's errors.
Texts are limited to 64 KiB and expressions to 100 levels of nesting.

# Indexes and EXPLAIN

CREATE INDEX name ON collection(expr, ...) creates an SQLite expression
index on exactly the SQL the compiler generates for those expressions, limited
to live documents (a partial index WHERE deleted = 0). A WHERE comparing the
same expression (=, <, >, BETWEEN, IN) can then search the index instead of
scanning the table:

	CREATE INDEX byCity ON _(address.city)
	EXPLAIN SELECT meta().id FROM _ WHERE address.city = 'London'
	-- SEARCH docs_1 USING INDEX qidx_1_byCity (<expr>=?)

Index names are 1-64 characters of A-Z a-z 0-9 _ starting with a letter
(store.ErrIndexName). Creating an index that exists with the same
expressions does nothing; with other expressions it is replaced. DROP INDEX
of a missing index is store.ErrNotFound. Deleting a collection drops its
indexes. Parameters, ANY/EVERY and aggregates cannot be indexed.

Query.Explain (and the EXPLAIN statement) returns the compiled SQL followed by
SQLite's EXPLAIN QUERY PLAN, one step a line, indented by depth.

CreateIndex and DeleteIndex do the same from Go with SQL++ expression texts,
shaped like Couchbase Lite's createIndex(name, ValueIndexConfiguration /
FullTextIndexConfiguration) and deleteIndex(name).

# Full-text search

CREATE INDEX name ON collection(expr, ...) USING FTS creates an SQLite FTS5
index of the expressions' values (strings as they are; numbers, booleans,
arrays and objects as their text), one FTS5 column per expression. WITH
takes Couchbase Lite's FullTextIndexConfiguration options: "language" ("" by
default: no stemming; "en" or "english": the Porter stemmer, so "run" finds
"running") and "ignoreAccents" (false by default; true folds diacritics, so
"cafe" finds "café"). Other languages are refused (store.ErrIndexDefinition);
there are no stop words. A value index and a full-text index cannot share a
name: creating one replaces the other.

The index lives in engine/store (see its fulltext.go): triggers on the
documents table keep it equal to the live documents in every write
transaction, whichever path wrote (saves, batches, replicated revisions,
deletions, purges, expiry).

MATCH(index, terms) is true for the documents whose indexed text matches
terms, in FTS5 query syntax: words (all must occur), "a phrase", prefix*,
OR, NOT, NEAR(...), and c0: ... to search the first expression only (c1 the
second, and so on). terms is a string or a parameter; a malformed one is
ErrInvalidQuery when the query runs. The index name may be prefixed by the
collection alias (MATCH(h.overviewFTS, ...)); an unknown index is an *Error at
Prepare, an index dropped after Prepare store.ErrNotFound when run.

RANK(index) is the relevance of the match (FTS5's BM25, negated so that
larger is better, as Couchbase Lite's rank is: ORDER BY RANK(i) DESC lists the
best first). It needs a MATCH of the same index that is the WHERE clause or one
of its top-level AND terms: that MATCH joins the index's table. A MATCH under
OR or NOT, or a second one on the same index, is a subquery on the index and
has no rank.

# Live queries

Query.Watch(ctx, params, fn) runs a SELECT now and after every committed
change of its collection (Source.Watch: a store collection change listener,
which hears local writes, batches, replicated revisions, deletions, purges
and expiry), and calls fn(rows, nil) with the rows when they differ from the
last rows fn received, or fn(nil, err) when a run fails (a run that finds all
readers held by open results retries for about two seconds first). The first
call has the current rows.

Calls are serial, on the live query's own goroutine (never a writer's or the
store's notifier goroutine, so fn may run queries and write), and coalesced: a
commit while a run is in progress causes one more run, so fn is called at most
once per commit. Stop ends the live query without waiting (it may be called
from fn); Done is closed when the last call has returned. Stop live queries
before closing the database: a run after Close reports store.ErrClosed.

# Not yet

Joins, UNNEST, subqueries, the remaining SQL++ functions (dates, regular
expressions, math beyond the list above), stop words and non-English stemming.
*/
package query
