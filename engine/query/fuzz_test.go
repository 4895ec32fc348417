package query

import (
	"context"
	"errors"
	"testing"
)

// FuzzPrepare: any text either compiles or fails with an *Error; no panic,
// and what compiles runs on SQLite without an SQL syntax error.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		`SELECT name, address.city, tags[1] FROM _ WHERE age > 3 AND name LIKE 'A%' ORDER BY age DESC LIMIT 2`,
		`SELECT COUNT(*), address.city FROM inv.parts p GROUP BY address.city HAVING COUNT(*) > 1`,
		`SELECT meta().id FROM _ WHERE ANY i IN items SATISFIES i.qty > $q END OFFSET 1`,
		`SELECT * FROM _ WHERE x IS NOT MISSING OR y IN [1, 'a', $p] OR z BETWEEN 1 AND 2`,
		`SELECT CASE WHEN a THEN 1 ELSE 2 END, -x * 2 / 3 % 4 || 'a' FROM _`,
		`CREATE INDEX i ON _(a.b, LOWER(c))`, "EXPLAIN SELECT `q` FROM `_default`",
		`SELECT meta().id, RANK(ft) FROM _ WHERE MATCH(ft, 'ada') AND (MATCH(ft, $t) OR NOT MATCH(_.ft, 'x')) ORDER BY RANK(ft) DESC`,
		`CREATE INDEX f ON _(name, address.city) USING FTS WITH {"language": "en", "ignoreAccents": true}`,
	} {
		f.Add(s)
	}
	_, src := openTestDB(f)
	if err := CreateIndex(context.Background(), src, "", "_", "ft", IndexConfig{FullText: true, Expressions: []string{"name"}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := Prepare(context.Background(), src, text)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("%q: error %v is not a query error", text, err)
			}
			return
		}
		if q.index != nil {
			return
		}
		// the compiled SQL must be valid for SQLite
		if _, err := q.Explain(context.Background()); err != nil {
			t.Fatalf("%q: compiled SQL %s does not prepare: %v", text, q.SQL(), err)
		}
	})
}
