package query

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

func openFTSDB(t *testing.T) (*store.Database, *store.Collection, Source) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "fts.p2pdb"), store.Config{ExpiryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	coll := db.DefaultCollection()
	for _, d := range []struct{ id, body string }{
		{"h1", `{"name":"Grand Hotel","overview":"A quiet hotel by the lake in Michigan, running water","tags":["lake","quiet"]}`},
		{"h2", `{"name":"Café Michigan","overview":"Michigan michigan: the best coffee in Michigan"}`},
		{"h3", `{"name":"Sea View","overview":"Rooms with a view of the sea"}`},
		{"h4", `{"name":"No overview"}`},
		{"h5", `{"name":"Gone","overview":"michigan lake"}`}, // deleted below
	} {
		if _, err := coll.Save(ctx, d.id, []byte(d.body), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.Delete(ctx, "h5", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return db, coll, StoreSource{db}
}

func ids(t *testing.T, src Source, text, params string) []string {
	t.Helper()
	var out []string
	for _, r := range run(t, src, text, params) {
		i := strings.Index(r, `"id":"`)
		if i < 0 {
			t.Fatalf("row without id: %s", r)
		}
		rest := r[i+6:]
		out = append(out, rest[:strings.IndexByte(rest, '"')])
	}
	return out
}

func TestFullTextMatchAndRank(t *testing.T) {
	_, _, src := openFTSDB(t)
	run(t, src, `CREATE INDEX overviewFTS ON _(overview) USING FTS`, ``)
	run(t, src, `CREATE INDEX overviewFTS ON _(overview) USING FTS`, ``) // same definition: no-op
	cases := []struct {
		q, params string
		want      []string
	}{
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'michigan') ORDER BY meta().id`, ``, []string{"h1", "h2"}},
		// the deleted h5 says "michigan lake" and never matches
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'lake') ORDER BY meta().id`, ``, []string{"h1"}},
		// RANK: larger is better; h2 says michigan four times
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, $t) ORDER BY RANK(overviewFTS) DESC`, `{"t":"michigan"}`, []string{"h2", "h1"}},
		{`SELECT meta().id FROM _ AS h WHERE MATCH(h.overviewFTS, 'michigan') AND name LIKE 'Grand%'`, ``, []string{"h1"}},
		// FTS5 query syntax: phrases, prefixes, OR, NOT
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, '"view of the sea"')`, ``, []string{"h3"}},
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'coff*') `, ``, []string{"h2"}},
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'sea OR lake') ORDER BY meta().id`, ``, []string{"h1", "h3"}},
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'michigan NOT coffee')`, ``, []string{"h1"}},
		// MATCH under OR and NOT: a subquery
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'sea') OR meta().id = 'h4' ORDER BY meta().id`, ``, []string{"h3", "h4"}},
		{`SELECT meta().id FROM _ WHERE NOT MATCH(overviewFTS, 'michigan') ORDER BY meta().id`, ``, []string{"h3", "h4"}},
		// no stemming without a language: "run" does not match "running"
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'run')`, ``, nil},
		// accents are kept by default
		{`SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'cafe')`, ``, nil},
	}
	for _, tc := range cases {
		if got := ids(t, src, tc.q, tc.params); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s\n got %v\nwant %v", tc.q, got, tc.want)
		}
	}
	// RANK as a result value
	rows := run(t, src, `SELECT meta().id, RANK(overviewFTS) AS r FROM _ WHERE MATCH(overviewFTS, 'michigan') ORDER BY r DESC`, ``)
	if len(rows) != 2 || !strings.Contains(rows[0], `"r":`) {
		t.Errorf("rank rows: %v", rows)
	}
	q, err := Prepare(context.Background(), src, `SELECT meta().id FROM _ WHERE MATCH(overviewFTS, 'michigan')`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := q.Explain(context.Background())
	if err != nil || !strings.Contains(plan, "VIRTUAL TABLE") {
		t.Errorf("plan does not use the FTS5 table: %v\n%s", err, plan)
	}
}

func TestFullTextOptions(t *testing.T) {
	_, _, src := openFTSDB(t)
	run(t, src, `CREATE INDEX ft ON _(name, overview) USING FTS WITH {"language": "en", "ignoreAccents": true}`, ``)
	for q, want := range map[string][]string{
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'run')`:          {"h1"}, // stemming
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'cafe')`:         {"h2"}, // accents folded
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'c0:grand')`:     {"h1"}, // first expression only
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'c1:grand')`:     nil,
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'overview')`:     {"h4"}, // "No overview" is a name
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'view AND sea')`: {"h3"},
	} {
		if got := ids(t, src, q, ``); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v want %v", q, got, want)
		}
	}
	// redefining replaces the index: without stemming "run" no longer matches
	run(t, src, `CREATE INDEX ft ON _(overview) USING FTS`, ``)
	if got := ids(t, src, `SELECT meta().id FROM _ WHERE MATCH(ft, 'run')`, ``); got != nil {
		t.Errorf("after redefinition: %v", got)
	}
	// the API call
	ctx := context.Background()
	if err := CreateIndex(ctx, src, "", "_", "byName", IndexConfig{FullText: true, Expressions: []string{"name"}, IgnoreAccents: true}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, src, `SELECT meta().id FROM _ WHERE MATCH(byName, 'cafe')`, ``); !reflect.DeepEqual(got, []string{"h2"}) {
		t.Errorf("CreateIndex full-text: %v", got)
	}
	if err := CreateIndex(ctx, src, "", "_", "byCity", IndexConfig{Expressions: []string{"address.city"}}); err != nil {
		t.Fatal(err)
	}
	if err := CreateIndex(ctx, src, "", "_", "bad", IndexConfig{Expressions: []string{"name ="}}); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("bad expression: %v", err)
	}
	if err := CreateIndex(ctx, src, "", "_", "bad", IndexConfig{Expressions: []string{"name"}, Language: "en"}); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("language on a value index: %v", err)
	}
	if err := DeleteIndex(ctx, src, "", "_", "byName"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteIndex(ctx, src, "", "_", "byCity"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteIndex(ctx, src, "", "_", "byName"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting a deleted index: %v", err)
	}
}

// Every write path keeps the index current: saves, updates, deletions,
// batches, replicated revisions, purges and expiry.
func TestFullTextWritePaths(t *testing.T) {
	db, coll, src := openFTSDB(t)
	ctx := context.Background()
	run(t, src, `CREATE INDEX ov ON _(overview) USING FTS`, ``)
	find := func(term string) []string {
		return ids(t, src, `SELECT meta().id FROM _ WHERE MATCH(ov, $t) ORDER BY meta().id`, `{"t":"`+term+`"}`)
	}
	// update: the old words leave, the new ones come
	if _, err := coll.Save(ctx, "h3", []byte(`{"overview":"mountain chalet"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := find("sea"); got != nil {
		t.Errorf("old text still matches: %v", got)
	}
	if got := find("chalet"); !reflect.DeepEqual(got, []string{"h3"}) {
		t.Errorf("new text: %v", got)
	}
	// a deleted document is gone from the index; recreated, it is back
	if _, err := coll.Delete(ctx, "h3", store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := find("chalet"); got != nil {
		t.Errorf("deleted document matches: %v", got)
	}
	if _, err := coll.Save(ctx, "h3", []byte(`{"overview":"chalet again"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := find("again"); !reflect.DeepEqual(got, []string{"h3"}) {
		t.Errorf("recreated: %v", got)
	}
	// a batch, committed and aborted
	err := db.InBatch(ctx, func(b *store.Batch) error {
		_, err := b.Save(coll, "b1", []byte(`{"overview":"batched words"}`), store.SaveOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.BeginBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Save(coll, "b2", []byte(`{"overview":"batched but aborted"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Rollback()
	if got := find("batched"); !reflect.DeepEqual(got, []string{"b1"}) {
		t.Errorf("batches: %v", got)
	}
	// a replicated revision, then a replicated deletion
	if _, err := coll.PutExistingRevision(ctx, store.RemoteRevision{DocID: "r1", RevID: "1-aa", Body: []byte(`{"overview":"replicated text"}`)}); err != nil {
		t.Fatal(err)
	}
	if got := find("replicated"); !reflect.DeepEqual(got, []string{"r1"}) {
		t.Errorf("replicated: %v", got)
	}
	if _, err := coll.PutExistingRevision(ctx, store.RemoteRevision{DocID: "r1", RevID: "2-bb", History: []string{"1-aa"}, Deleted: true}); err != nil {
		t.Fatal(err)
	}
	if got := find("replicated"); got != nil {
		t.Errorf("replicated deletion: %v", got)
	}
	// purge
	if err := coll.Purge(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if got := find("batched"); got != nil {
		t.Errorf("purged: %v", got)
	}
	// expiry
	if err := coll.SetExpiration(ctx, "h1", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for find("quiet") != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := find("quiet"); got != nil {
		t.Errorf("expired document matches: %v", got)
	}
	// the index holds exactly the live documents: nothing left of updated,
	// deleted, purged or expired ones
	table, err := db.FullTextTable(ctx, "", "_default", "ov")
	if err != nil {
		t.Fatal(err)
	}
	var indexed, live []string
	for _, spec := range []struct {
		sql string
		out *[]string
	}{
		{`SELECT rowid FROM ` + table + ` ORDER BY rowid`, &indexed},
		{`SELECT seq FROM docs_1 WHERE deleted = 0 ORDER BY seq`, &live},
	} {
		r, err := db.Query(ctx, spec.sql)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			r.Scan(&s)
			*spec.out = append(*spec.out, s)
		}
		r.Close()
	}
	if !reflect.DeepEqual(indexed, live) {
		t.Errorf("index rows %v, live documents %v", indexed, live)
	}
	// DROP INDEX drops a full-text index
	run(t, src, `DROP INDEX ov ON _`, ``)
	if _, err := Prepare(ctx, src, `SELECT meta().id FROM _ WHERE MATCH(ov, 'x')`); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "ov") {
		t.Errorf("MATCH on a dropped index: %v", err)
	}
}

func TestFullTextErrors(t *testing.T) {
	db, _, src := openFTSDB(t)
	ctx := context.Background()
	run(t, src, `CREATE INDEX ft ON _(overview) USING FTS`, ``)
	for text, want := range map[string]string{
		`SELECT meta().id FROM _ WHERE MATCH(nope, 'x')`:                      "full-text index nope",
		`SELECT meta().id FROM _ ORDER BY RANK(ft)`:                           "RANK(ft) needs MATCH(ft",
		`SELECT meta().id FROM _ WHERE MATCH(ft, 'x') OR 1 ORDER BY RANK(ft)`: "RANK(ft) needs MATCH(ft",
		`SELECT meta().id FROM _ WHERE MATCH('ft', 'x')`:                      "MATCH takes the name of a full-text index",
		`SELECT meta().id FROM _ WHERE MATCH(ft)`:                             "MATCH takes 2 argument",
		`CREATE INDEX i ON _(MATCH(ft, 'x')) USING FTS`:                       "cannot use MATCH",
		`CREATE INDEX i ON _(name) USING FTS WITH {"language": "fr"}`:         "not supported",
		`CREATE INDEX i ON _(name) USING FTS WITH {"stemming": true}`:         "unknown index option",
		`CREATE INDEX i ON _(name) USING FTS WITH {"ignoreAccents": "yes"}`:   "ignoreAccents takes true or false",
		`CREATE INDEX i ON _(name) WITH {"language": "en"}`:                   "apply to a full-text index",
		`CREATE INDEX i ON _(name) USING GSI`:                                 "expected FTS after USING",
	} {
		_, err := Prepare(ctx, src, text)
		if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an invalid query error with %q", text, err, want)
		}
	}
	// a malformed full-text query is the caller's error, reported when run
	q, err := Prepare(ctx, src, `SELECT meta().id FROM _ WHERE MATCH(ft, $t)`)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := q.Execute(ctx, []byte(`{"t":"michigan AND"}`))
	if err == nil {
		for rs.Next() {
		}
		err = rs.Err()
		rs.Close()
	}
	if !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("malformed terms: %v", err)
	}
	// FTS5's other refusals are the caller's too, whatever their wording
	for _, terms := range []string{`null`, `""`, `"*"`, `"\"unterminated"`, `["a"]`} {
		rs, err := q.Execute(ctx, []byte(`{"t":`+terms+`}`))
		if err == nil {
			for rs.Next() {
			}
			err = rs.Err()
			rs.Close()
		}
		if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "full-text query") {
			t.Errorf("terms %s: %v", terms, err)
		}
	}
	// the index dropped after Prepare: not found
	run(t, src, `DROP INDEX ft ON _`, ``)
	rs, err = q.Execute(ctx, []byte(`{"t":"michigan"}`))
	if err == nil {
		for rs.Next() {
		}
		err = rs.Err()
		rs.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("index dropped after Prepare: %v", err)
	}
	// deleting a collection drops its full-text indexes
	c, err := db.CreateCollection(ctx, "s", "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(ctx, "x", []byte(`{"t":"hello"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, src, `CREATE INDEX ft ON s.c(t) USING FTS`, ``)
	if names, err := db.FullTextIndexes(ctx, "s", "c"); err != nil || !reflect.DeepEqual(names, []string{"ft"}) {
		t.Fatalf("FullTextIndexes: %v %v", names, err)
	}
	if err := db.DeleteCollection(ctx, "s", "c"); err != nil {
		t.Fatal(err)
	}
	rows := run(t, src, `SELECT meta().id FROM _ WHERE meta().id = 'h1'`, ``)
	_ = rows
	r, err := db.Query(ctx, `SELECT count(*) FROM sqlite_master WHERE name LIKE 'qfts%'`)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for r.Next() {
		r.Scan(&n)
	}
	r.Close()
	if n != 0 {
		t.Errorf("%d full-text tables or triggers left after the collections' indexes were dropped", n)
	}
}

// Index names that end like FTS5's own tables (x_data, x_idx, x_config) or
// the triggers (x_ai) do not collide with the tables of index x.
func TestFullTextIndexNamesDoNotCollide(t *testing.T) {
	db, _, src := openFTSDB(t)
	ctx := context.Background()
	names := []string{"x", "x_data", "x_idx", "x_config", "x_docsize", "x_ai", "x_au", "x_ad"}
	for _, n := range names {
		if err := CreateIndex(ctx, src, "", "_", n, IndexConfig{FullText: true, Expressions: []string{"name"}}); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	got, err := db.FullTextIndexes(ctx, "", "_default")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string(nil), names...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("indexes %v, want %v", got, want)
	}
	for _, n := range names {
		if got := ids(t, src, `SELECT meta().id FROM _ WHERE MATCH(`+n+`, 'grand')`, ``); !reflect.DeepEqual(got, []string{"h1"}) {
			t.Errorf("MATCH(%s): %v", n, got)
		}
	}
	if err := DeleteIndex(ctx, src, "", "_", "x"); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, src, `SELECT meta().id FROM _ WHERE MATCH(x_data, 'grand')`, ``); !reflect.DeepEqual(got, []string{"h1"}) {
		t.Errorf("x_data after dropping x: %v", got)
	}
}
