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
	DROP INDEX name ON collection

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

# Not yet

Full-text search (FTS5 is compiled into the SQLite used), live queries
(re-running on changes), joins, UNNEST, subqueries, and the remaining SQL++
functions (dates, regular expressions, math beyond the list above).
*/
package query
