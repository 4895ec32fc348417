// Command query benchmarks engine/query on workload W1's documents
// (shared/bench/WORKLOAD.md): documents 1..N of the ~1 KB set are saved in
// batches of 1,000, then
//
//   - an equality query on a property (n = $n, one matching document) runs
//     without an index, then with a value index on n: min/median/max per query
//     and the ratio of the medians;
//   - a full-text index on the payload is built, and MATCH queries run for a
//     whole token of one document's payload and for a 3-character prefix;
//   - N/10 more documents are written with both indexes in place, to show
//     what the indexes cost writers.
//
// Each query runs with several parameter values; times are per query,
// including reading every row. Index build times are printed too.
//
//	go run ./tests/bench/query          # full W1 (100,000 docs)
//	go run ./tests/bench/query -n 5000  # quick smoke run
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/p2psync/libp2psync/engine/query"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/tests/bench/workload"
)

func main() {
	n := flag.Int("n", 100000, "number of documents")
	scans := flag.Int("scans", 5, "runs of the unindexed query")
	lookups := flag.Int("lookups", 500, "runs of each indexed query")
	flag.Parse()
	if err := run(*n, *scans, *lookups); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n, scans, lookups int) error {
	if n < 10 || scans <= 0 || lookups <= 0 {
		return fmt.Errorf("-n must be at least 10, -scans and -lookups positive")
	}
	dir, err := os.MkdirTemp("", "bench-query-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "w1"), store.Config{})
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	if err := load(ctx, db, 1, n); err != nil {
		return err
	}
	loadRate := float64(n) / time.Since(start).Seconds()
	fmt.Printf("query benchmark on W1: %d docs (~1 KB) loaded at %.0f docs/s\n", n, loadRate)
	src := query.StoreSource{DB: db}

	eq, err := query.Prepare(ctx, src, `SELECT meta().id, score FROM _ WHERE n = $n`)
	if err != nil {
		return err
	}
	params := func(k int) []byte { return []byte(fmt.Sprintf(`{"n": %d}`, 1+(k*7919)%n)) }
	scan, err := timeQuery(ctx, eq, scans, params, 1)
	if err != nil {
		return err
	}
	report("equality, no index", scan)
	t0 := time.Now()
	if err := query.CreateIndex(ctx, src, "", "_", "byN", query.IndexConfig{Expressions: []string{"n"}}); err != nil {
		return err
	}
	fmt.Printf("value index on n built in %.2f s\n", time.Since(t0).Seconds())
	indexed, err := timeQuery(ctx, eq, lookups, params, 1)
	if err != nil {
		return err
	}
	report("equality, value index", indexed)
	fmt.Printf("ratio no index / index (medians): %.0fx  (target >= 100x)\n", median(scan)/median(indexed))

	t0 = time.Now()
	if err := query.CreateIndex(ctx, src, "", "_", "payloadFTS", query.IndexConfig{FullText: true, Expressions: []string{"payload"}}); err != nil {
		return err
	}
	fmt.Printf("full-text index on payload built in %.2f s\n", time.Since(t0).Seconds())
	fts, err := query.Prepare(ctx, src, `SELECT meta().id FROM _ WHERE MATCH(payloadFTS, $t) ORDER BY RANK(payloadFTS) DESC LIMIT 20`)
	if err != nil {
		return err
	}
	// a whole token of document k's payload (tokens are split at - and _)
	token := func(k int) string {
		p := workload.Payload(1+(k*7919)%n, workload.SmallPayload)
		best := ""
		for _, t := range strings.FieldsFunc(p, func(r rune) bool { return r == '-' || r == '_' }) {
			if len(t) > len(best) {
				best = t
			}
		}
		return best
	}
	word, err := timeQuery(ctx, fts, lookups, func(k int) []byte { return []byte(fmt.Sprintf(`{"t": %q}`, token(k))) }, 1)
	if err != nil {
		return err
	}
	report("full-text, whole token", word)
	prefix, err := timeQuery(ctx, fts, lookups, func(k int) []byte { return []byte(fmt.Sprintf(`{"t": "%s*"}`, token(k)[:3])) }, 0)
	if err != nil {
		return err
	}
	report("full-text, 3-char prefix", prefix)
	// what the two indexes cost writers: documents n+1..n+n/10, as in W1
	extra := n / 10
	t0 = time.Now()
	if err := load(ctx, db, n+1, n+extra); err != nil {
		return err
	}
	rate := float64(extra) / time.Since(t0).Seconds()
	fmt.Printf("writes with both indexes: %.0f docs/s (%.2f of the load rate without)\n", rate, rate/loadRate)
	return nil
}

// load saves documents first..last of the ~1 KB set in batches of 1,000.
func load(ctx context.Context, db *store.Database, first, n int) error {
	coll := db.DefaultCollection()
	for lo := first; lo <= n; lo += 1000 {
		err := db.InBatch(ctx, func(b *store.Batch) error {
			for i := lo; i < lo+1000 && i <= n; i++ {
				id, body := workload.Doc("doc-", i, workload.SmallPayload)
				if _, err := b.Save(coll, id, body, store.SaveOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// timeQuery runs q runs times with params(k) and returns the seconds of each
// run; every run must return at least minRows rows.
func timeQuery(ctx context.Context, q *query.Query, runs int, params func(int) []byte, minRows int) ([]float64, error) {
	var out []float64
	for k := 0; k < runs; k++ {
		p := params(k)
		t0 := time.Now()
		rs, err := q.Execute(ctx, p)
		if err != nil {
			return nil, err
		}
		rows := 0
		for rs.Next() {
			rows++
		}
		err = rs.Err()
		rs.Close()
		out = append(out, time.Since(t0).Seconds())
		if err != nil {
			return nil, err
		}
		if rows < minRows {
			return nil, fmt.Errorf("%s with %s: %d rows, want at least %d", q.SQL(), p, rows, minRows)
		}
	}
	sort.Float64s(out)
	return out, nil
}

func median(s []float64) float64 { return s[len(s)/2] }

func report(name string, s []float64) {
	fmt.Printf("%-26s ms/query  min %8.3f  median %8.3f  max %8.3f  (%d runs)\n",
		name, s[0]*1e3, median(s)*1e3, s[len(s)-1]*1e3, len(s))
}
