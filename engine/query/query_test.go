package query

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

var testDocs = []struct{ id, body string }{
	{"a", `{"name":"Ada","age":36,"address":{"city":"London","zip":"N1"},"tags":["math","poet"],"active":true,"score":9.5,"nick":null}`},
	{"b", `{"name":"Bob","age":25,"address":{"city":"Paris"},"tags":["x"],"active":false,"items":[{"sku":"p1","qty":2},{"sku":"p2","qty":0}]}`},
	{"c", `{"name":"carol","age":null,"tags":[],"address":{"city":"London"}}`},
	{"d", `{"name":"Dan","age":41,"items":[{"sku":"p2","qty":5}]}`},
	{"e", `{"name":"Eve","age":30,"address":{"city":"London"},"tags":["math"]}`}, // deleted below
	{"f", `{"name":"Ad_x%","age":"36","key with space":1}`},
}

func openTestDB(t testing.TB) (*store.Database, Source) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "q.p2pdb"), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	coll := db.DefaultCollection()
	for _, d := range testDocs {
		if _, err := coll.Save(ctx, d.id, []byte(d.body), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.Delete(ctx, "e", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateCollection(ctx, "inv", "parts")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ id, body string }{{"p1", `{"n":1}`}, {"p2", `{"n":2}`}} {
		if _, err := other.Save(ctx, d.id, []byte(d.body), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return db, StoreSource{db}
}

func run(t *testing.T, src Source, text, params string) []string {
	t.Helper()
	q, err := Prepare(context.Background(), src, text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	rs, err := q.Execute(context.Background(), []byte(params))
	if err != nil {
		t.Fatalf("%s: %v\nSQL: %s", text, err, q.SQL())
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		out = append(out, string(rs.Row()))
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("%s: %v\nSQL: %s", text, err, q.SQL())
	}
	return out
}

func TestQueries(t *testing.T) {
	_, src := openTestDB(t)
	cases := []struct {
		q, params string
		want      []string
	}{
		// projections: properties, nested paths, array index, meta, missing keys omitted, null kept
		{`SELECT name, address.city, tags[1], nick FROM _ WHERE meta().id IN ["a", "c"] ORDER BY meta().id`, ``,
			[]string{`{"name":"Ada","city":"London","tags":"poet","nick":null}`, `{"name":"carol","city":"London"}`}},
		{`SELECT meta().id, active, address FROM _default WHERE meta().id = 'a'`, ``,
			[]string{`{"id":"a","active":true,"address":{"city":"London","zip":"N1"}}`}},
		{`SELECT * FROM _ WHERE meta().id = 'd'`, ``, []string{`{"_":{"name":"Dan","age":41,"items":[{"sku":"p2","qty":5}]}}`}},
		{`SELECT p.* , p.n AS num FROM inv.parts AS p WHERE p.n = 2`, ``, []string{`{"p":{"n":2},"num":2}`}},
		{`SELECT p FROM inv.parts p ORDER BY p.n LIMIT 1`, ``, []string{`{"p":{"n":1}}`}},
		// deleted documents never match
		{`SELECT meta().id FROM _ ORDER BY meta().id`, ``, []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`, `{"id":"d"}`, `{"id":"f"}`}},
		{`SELECT COUNT(*) FROM _`, ``, []string{`{"$1":5}`}},
		// comparisons and logic
		{`SELECT meta().id FROM _ WHERE age > 30 AND NOT active = false ORDER BY meta().id`, ``, []string{`{"id":"a"}`}}, // MISSING = false is not true
		{`SELECT meta().id FROM _ WHERE NOT (active = false) OR active IS MISSING ORDER BY meta().id`, ``, []string{`{"id":"a"}`, `{"id":"c"}`, `{"id":"d"}`, `{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE age >= 25 AND age < 40 OR name = 'Dan' ORDER BY meta().id`, ``, []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"d"}`}}, // "36" (a string) sorts after numbers
		{`SELECT meta().id FROM _ WHERE age BETWEEN 30 AND 40 ORDER BY meta().id`, ``, []string{`{"id":"a"}`}},
		{`SELECT meta().id FROM _ WHERE age NOT BETWEEN 30 AND 40 ORDER BY meta().id`, ``, []string{`{"id":"b"}`, `{"id":"d"}`, `{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE address.city IN ('Paris', 'Rome')`, ``, []string{`{"id":"b"}`}},
		{`SELECT meta().id FROM _ WHERE name NOT IN ["Ada", "Bob"] ORDER BY meta().id`, ``, []string{`{"id":"c"}`, `{"id":"d"}`, `{"id":"f"}`}},
		// LIKE is case-sensitive, % and _ wildcards, backslash escapes
		{`SELECT meta().id FROM _ WHERE name LIKE 'A%' ORDER BY meta().id`, ``, []string{`{"id":"a"}`, `{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE name LIKE 'c_rol'`, ``, []string{`{"id":"c"}`}},
		{`SELECT meta().id FROM _ WHERE name LIKE 'C%'`, ``, nil},
		{`SELECT meta().id FROM _ WHERE name LIKE 'Ad\\_x\\%'`, ``, []string{`{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE name NOT LIKE '%a%' ORDER BY meta().id`, ``, []string{`{"id":"b"}`, `{"id":"f"}`}},
		// NULL / MISSING / VALUED
		{`SELECT meta().id FROM _ WHERE age IS NULL`, ``, []string{`{"id":"c"}`}},
		{`SELECT meta().id FROM _ WHERE nick IS NULL`, ``, []string{`{"id":"a"}`}},
		{`SELECT meta().id FROM _ WHERE nick IS MISSING ORDER BY meta().id`, ``, []string{`{"id":"b"}`, `{"id":"c"}`, `{"id":"d"}`, `{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE nick IS NOT MISSING`, ``, []string{`{"id":"a"}`}},
		{`SELECT meta().id FROM _ WHERE age IS VALUED ORDER BY meta().id`, ``, []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"d"}`, `{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE address IS NOT VALUED ORDER BY meta().id`, ``, []string{`{"id":"d"}`, `{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE age IS NOT NULL ORDER BY meta().id`, ``, []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"d"}`, `{"id":"f"}`}},
		// arithmetic and string functions
		{`SELECT name, age * 2 + 1 AS x, age / 2 FROM _ WHERE meta().id = 'b'`, ``, []string{`{"name":"Bob","x":51,"$1":12.5}`}},
		{`SELECT LOWER(name), UPPER(name) AS up, LENGTH(name) FROM _ WHERE meta().id = 'c'`, ``, []string{`{"$1":"carol","up":"CAROL","$2":5}`}},
		{`SELECT meta().id FROM _ WHERE LOWER(name) = 'ada'`, ``, []string{`{"id":"a"}`}},
		{`SELECT meta().id FROM _ WHERE CONTAINS(name, 'aro')`, ``, []string{`{"id":"c"}`}},
		// array functions
		{`SELECT meta().id FROM _ WHERE ARRAY_CONTAINS(tags, 'math')`, ``, []string{`{"id":"a"}`}},
		{`SELECT meta().id, ARRAY_LENGTH(tags) AS n FROM _ WHERE tags IS VALUED ORDER BY meta().id`, ``, []string{`{"id":"a","n":2}`, `{"id":"b","n":1}`, `{"id":"c","n":0}`}},
		{`SELECT ARRAY_SUM(tags), ARRAY_COUNT(tags) AS n, ARRAY_MAX(tags) AS m FROM _ WHERE meta().id = 'a'`, ``, []string{`{"$1":0,"n":2,"m":"poet"}`}},
		{`SELECT ARRAY_AVG(v), ARRAY_MIN(v) FROM _ WHERE meta().id = 'a'`, ``, []string{`{"$1":null,"$2":null}`}},
		{`SELECT TYPE(age) AS t FROM _ ORDER BY meta().id`, ``, []string{`{"t":"number"}`, `{"t":"number"}`, `{"t":"null"}`, `{"t":"number"}`, `{"t":"string"}`}},
		{`SELECT [name, active, 1 + 1] AS arr FROM _ WHERE meta().id = 'a'`, ``, []string{`{"arr":["Ada",true,2]}`}},
		// ANY / EVERY
		{`SELECT meta().id FROM _ WHERE ANY i IN items SATISFIES i.sku = 'p2' AND i.qty > 1 END`, ``, []string{`{"id":"d"}`}},
		{`SELECT meta().id FROM _ WHERE ANY t IN tags SATISFIES t = 'x' END`, ``, []string{`{"id":"b"}`}},
		{`SELECT meta().id FROM _ WHERE EVERY i IN items SATISFIES i.qty > 1 END`, ``, []string{`{"id":"d"}`}},
		// GROUP BY / HAVING and aggregates
		{`SELECT address.city, COUNT(*) AS n, AVG(age) AS a, MIN(age), MAX(name) FROM _ WHERE address.city IS VALUED GROUP BY address.city ORDER BY address.city`, ``,
			[]string{`{"city":"London","n":2,"a":36,"$1":36,"$2":"carol"}`, `{"city":"Paris","n":1,"a":25,"$1":25,"$2":"Bob"}`}},
		{`SELECT address.city, SUM(age) AS s FROM _ WHERE ISNUMBER(age) OR age IS NULL GROUP BY address.city HAVING COUNT(*) > 1`, ``, []string{`{"city":"London","s":36}`}},
		// ORDER BY with SQL++ type order: missing, null, numbers, strings
		{`SELECT meta().id, age FROM _ ORDER BY age, meta().id`, ``, []string{`{"id":"c","age":null}`, `{"id":"b","age":25}`, `{"id":"a","age":36}`, `{"id":"d","age":41}`, `{"id":"f","age":"36"}`}},
		{`SELECT meta().id FROM _ ORDER BY nick DESC, meta().id DESC LIMIT 2`, ``, []string{`{"id":"a"}`, `{"id":"f"}`}},
		{`SELECT meta().id AS k FROM _ ORDER BY k LIMIT 2 OFFSET 1`, ``, []string{`{"k":"b"}`, `{"k":"c"}`}},
		{`SELECT DISTINCT address.city FROM _ WHERE address.city IS VALUED ORDER BY address.city`, ``, []string{`{"city":"London"}`, `{"city":"Paris"}`}},
		// parameters
		{`SELECT meta().id FROM _ WHERE age > $min AND name LIKE $pat ORDER BY meta().id LIMIT $n`, `{"min":20,"pat":"%a%","n":5}`, []string{`{"id":"a"}`, `{"id":"d"}`}},
		{`SELECT meta().id FROM _ WHERE name LIKE $pat`, `{"pat":"Ad\\_%"}`, []string{`{"id":"f"}`}},
		{`SELECT meta().id FROM _ WHERE name IN $names ORDER BY meta().id`, `{"names":["Bob","Dan","Zed"]}`, []string{`{"id":"b"}`, `{"id":"d"}`}},
		{`SELECT meta().id FROM _ WHERE active = $t`, `{"t":true}`, []string{`{"id":"a"}`}},
		// quoted identifiers, CASE, meta().revisionID
		{"SELECT `key with space` AS k FROM _ WHERE `key with space` = 1", ``, []string{`{"k":1}`}},
		{`SELECT CASE WHEN age > 30 THEN 'old' ELSE 'young' END AS g FROM _ WHERE meta().id = 'b'`, ``, []string{`{"g":"young"}`}},
		{`SELECT meta().id FROM _ WHERE meta().revisionID LIKE '1-%' AND meta().id = 'a'`, ``, []string{`{"id":"a"}`}},
	}
	for _, c := range cases {
		got := run(t, src, c.q, c.params)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s\n got: %v\nwant: %v", c.q, got, c.want)
		}
	}
}

func TestRevisionIDAndSequence(t *testing.T) {
	db, src := openTestDB(t)
	doc, err := db.DefaultCollection().Get(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, src, `SELECT meta().revisionID, meta().sequence FROM _ WHERE meta().id = 'b'`, ``)
	want := `{"revisionID":"` + doc.RevID + `","sequence":` + strconv.FormatUint(doc.Sequence, 10) + `}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

func TestInvalidQueries(t *testing.T) {
	_, src := openTestDB(t)
	cases := []struct {
		q         string
		line, col int
		msg       string
	}{
		{`SELEC name FROM _`, 1, 1, "expected SELECT"},
		{`SELECT name FROM _ WHERE`, 1, 25, "expected an expression, found end of query"},
		{"SELECT name\nFROM _\nWHERE age >> 3", 3, 12, "expected an expression"},
		{`SELECT name FROM _ WHERE name = 'abc`, 1, 33, "unterminated string"},
		{`SELECT name FROM nosuch`, 1, 18, "collection _default.nosuch"},
		{`SELECT name FROM _ JOIN x ON a = b`, 1, 20, "JOIN is not supported"},
		{`SELECT FOO(name) FROM _`, 1, 8, "unknown function FOO"},
		{`SELECT name FROM _ WHERE COUNT(*) > 1`, 1, 26, "aggregate COUNT is not allowed here"},
		{`SELECT name FROM _ WHERE LOWER(name) IS MISSING`, 1, 38, "IS MISSING applies to a property path"},
		{`SELECT meta().rev FROM _`, 1, 8, "unknown meta() property"},
		{`SELECT name, other.name FROM _`, 1, 14, `two result columns are named "name"`},
		{`SELECT name FROM _ WHERE name LIKE name`, 1, 36, "LIKE pattern must be a string literal or a parameter"},
		{`SELECT name FROM _ LIMIT -1`, 1, 26, "LIMIT takes a non-negative integer"},
		{`SELECT name FROM _ WHERE x IN 3`, 1, 31, "IN needs an array"},
		{`SELECT name FROM _ WHERE a = 1 garbage`, 1, 32, `unexpected "garbage"`},
		{`SELECT name FROM _ WHERE ` + strings.Repeat("(", 500) + `1` + strings.Repeat(")", 500), 1, 0, "nested more than"},
	}
	for _, c := range cases {
		_, err := Prepare(context.Background(), src, c.q)
		var qe *Error
		if !errors.As(err, &qe) || !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%s: got %v, want a query error", c.q, err)
			continue
		}
		if !strings.Contains(qe.Msg, c.msg) || qe.Line != c.line || (c.col != 0 && qe.Column != c.col) {
			t.Errorf("%s: got %d:%d %q, want %d:%d containing %q", c.q, qe.Line, qe.Column, qe.Msg, c.line, c.col, c.msg)
		}
	}
	// parameter errors
	q, err := Prepare(context.Background(), src, `SELECT name FROM _ WHERE age > $min`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute(context.Background(), nil); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "$min") {
		t.Errorf("missing parameter: %v", err)
	}
	if _, err := q.Execute(context.Background(), []byte(`[1]`)); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("parameters not an object: %v", err)
	}
	if got := q.Parameters(); len(got) != 1 || got[0] != "min" {
		t.Errorf("Parameters = %v", got)
	}
}

// The compiled SQL never embeds text from the query unquoted: a string with
// quotes and SQL in it is only ever a value.
func TestInjection(t *testing.T) {
	_, src := openTestDB(t)
	got := run(t, src, `SELECT meta().id FROM _ WHERE name = 'x'' OR 1=1 --'`, ``)
	if len(got) != 0 {
		t.Fatalf("got %v", got)
	}
	got = run(t, src, "SELECT `a'b` FROM _ WHERE meta().id = 'a'", ``)
	if len(got) != 1 || got[0] != `{}` {
		t.Fatalf("got %v", got)
	}
	if _, err := Prepare(context.Background(), src, "SELECT `a\"b` FROM _"); !errors.Is(err, ErrInvalidQuery) {
		t.Fatalf("a property name with a double quote: %v", err)
	}
}

func TestMoreConstructs(t *testing.T) {
	_, src := openTestDB(t)
	for _, c := range []struct{ q, want string }{
		{"SELECT meta(d).id FROM _ AS d -- comment\n WHERE SOME t IN d.tags SATISFIES t = \"poet\" END /* block */", `{"id":"a"}`},
		{`SELECT ROUND(score), FLOOR(score) AS f, CEIL(score) AS c, ABS(-2) AS a, SQRT(16) AS s, POWER(2, 3) AS p FROM _ WHERE meta().id = 'a'`, `{"$1":10,"f":9,"c":10,"a":2,"s":4,"p":8}`},
		{`SELECT IFNULL(nick, name) AS n, TRIM('  x ') AS t, name || '!' AS e FROM _ WHERE meta().id = 'a'`, `{"n":"Ada","t":"x","e":"Ada!"}`},
		{`SELECT address.city, COUNT(DISTINCT name) AS n FROM _ WHERE address.city IS VALUED GROUP BY address.city ORDER BY COUNT(*) DESC LIMIT 1`, `{"city":"London","n":2}`},
		{`SELECT ISARRAY(tags) AS a, ISOBJECT(address) AS o, ISSTRING(name) AS s, ISBOOLEAN(active) AS b, ISNUMBER(score) AS n FROM _ WHERE meta().id = 'a'`, `{"a":true,"o":true,"s":true,"b":true,"n":true}`},
		{`SELECT meta().deleted, meta().expiration FROM _ WHERE meta().id = 'a'`, `{"deleted":false,"expiration":null}`},
		{`SELECT MISSING IS MISSING AS m, NULL IS NULL AS n, 1 IS VALUED AS v FROM _ WHERE meta().id = 'a'`, `{"m":true,"n":true,"v":true}`},
	} {
		got := run(t, src, c.q, ``)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s\n got %v\nwant %s", c.q, got, c.want)
		}
	}
}
