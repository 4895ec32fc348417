package query

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

func explain(t *testing.T, src Source, text string) string {
	t.Helper()
	q, err := Prepare(context.Background(), src, text)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := q.Explain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// A value index on the expressions the planner generates is used by WHERE,
// as SQLite's query plan shows; results are the same with and without it.
func TestValueIndexUsedByWhere(t *testing.T) {
	db, src := openTestDB(t)
	ctx := context.Background()
	const sel = `SELECT meta().id FROM _ WHERE address.city = 'London'`
	const selLower = `SELECT meta().id FROM _ WHERE LOWER(name) = $n`
	before := run(t, src, sel, ``)
	plan := explain(t, src, sel)
	if strings.Contains(plan, "INDEX qidx_") || !strings.Contains(plan, "SCAN") {
		t.Fatalf("plan before the index:\n%s", plan)
	}
	run(t, src, `CREATE INDEX byCity ON _default(address.city)`, ``)
	run(t, src, `CREATE INDEX byCity ON _default(address.city)`, ``) // again: no-op
	run(t, src, `CREATE INDEX byLowerName ON _(LOWER(name), age)`, ``)
	plan = explain(t, src, sel)
	if !strings.Contains(plan, "SEARCH docs_1 USING INDEX qidx_1_byCity (<expr>=?)") {
		t.Fatalf("plan with the index:\n%s", plan)
	}
	if plan := explain(t, src, selLower); !strings.Contains(plan, "SEARCH docs_1 USING INDEX qidx_1_byLowerName (<expr>=?)") {
		t.Fatalf("plan with the LOWER(name) index:\n%s", plan)
	}
	if got := run(t, src, sel, ``); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("with the index got %v, without %v", got, before)
	}
	if got := run(t, src, selLower, `{"n":"carol"}`); len(got) != 1 || got[0] != `{"id":"c"}` {
		t.Fatalf("LOWER(name) through the index: %v", got)
	}
	// EXPLAIN as a statement gives one row with the plan
	got := run(t, src, "EXPLAIN "+sel, ``)
	if len(got) != 1 || !strings.Contains(got[0], "USING INDEX qidx_1_byCity") {
		t.Fatalf("EXPLAIN rows: %v", got)
	}
	names, err := db.ValueIndexes(ctx, "", "_default")
	if err != nil || strings.Join(names, ",") != "byCity,byLowerName" {
		t.Fatalf("ValueIndexes = %v, %v", names, err)
	}
	// redefining replaces it; dropping removes it
	run(t, src, `CREATE INDEX byCity ON _(address.zip)`, ``)
	if plan := explain(t, src, sel); strings.Contains(plan, "SEARCH") {
		t.Fatalf("redefined index still used for city:\n%s", plan)
	}
	run(t, src, `DROP INDEX byCity ON _`, ``)
	q, err := Prepare(ctx, src, `DROP INDEX byCity ON _`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute(ctx, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dropping a missing index: %v", err)
	}
	// documents written after the index are found through it
	if _, err := db.DefaultCollection().Save(ctx, "g", []byte(`{"name":"Gil","address":{"city":"London"}}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, src, `CREATE INDEX byCity ON _(address.city)`, ``)
	if got := run(t, src, sel, ``); strings.Join(got, ",") != `{"id":"a"},{"id":"c"},{"id":"g"}` {
		t.Fatalf("after a new save: %v", got)
	}
}

func TestIndexErrors(t *testing.T) {
	_, src := openTestDB(t)
	ctx := context.Background()
	for _, c := range []struct{ q, msg string }{
		{`CREATE INDEX i ON _(a = $p)`, "cannot use parameters"},
		{`CREATE INDEX i ON _(ANY x IN a SATISFIES x = 1 END)`, "cannot use ANY"},
		{`CREATE INDEX i ON _(COUNT(*))`, "aggregate COUNT is not allowed"},
		{`CREATE INDEX i ON _()`, "expected an expression"},
	} {
		if _, err := Prepare(ctx, src, c.q); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v", c.q, err)
		}
	}
	q, err := Prepare(ctx, src, "CREATE INDEX `bad-name` ON _(a)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute(ctx, nil); !errors.Is(err, store.ErrIndexName) {
		t.Errorf("bad index name: %v", err)
	}
	q, err = Prepare(ctx, src, "CREATE INDEX i ON nosuch(a)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute(ctx, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("index on a missing collection: %v", err)
	}
}
