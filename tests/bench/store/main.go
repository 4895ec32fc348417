// Command store runs benchmark workload W1 (shared/bench/WORKLOAD.md):
// documents 1..N of the ~1 KB set saved into an empty database in batches of
// 1,000, then read back, through engine/store; and, in the same run, the same
// rows inserted into a plain modernc.org/sqlite table as a baseline. Each is
// run several times; it prints min/median/max docs/s and the ratio
// store/plain of the medians. The store writes twice per run: one Batch.Save per
// document (as an application saving documents one at a time inside a batch does), and
// one Batch.SaveMany per batch with SaveOptions.NoBody (a bulk save, which inserts new
// documents several to a statement and hands no bodies back).
//
// Each write is also reported per CPU-second of the process (user+system time), which the
// other processes of a shared machine disturb less than the wall clock.
//
// With -engine-only it runs just the store's batched write (no plain baseline, no read
// back) and prints one line "engine-write <docs/s>" per run: the binding benchmarks
// (tests/python/bench_batch.py, tests/kotlin/BatchBench.kt) run it between their own runs
// as the engine's rate on the same documents, measured in the same run. -plain-only is the
// same for the plain baseline (see runPlainOnly).
//
//	go run ./tests/bench/store          # full W1 (100,000 docs, 3 runs)
//	go run ./tests/bench/store -n 5000  # quick smoke run
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"syscall"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/tests/bench/benchproc"
	"github.com/p2psync/libp2psync/tests/bench/workload"
	_ "modernc.org/sqlite"
)

func main() {
	n := flag.Int("n", 100000, "number of documents")
	runs := flag.Int("runs", 3, "runs of each variant")
	batch := flag.Int("batch", 1000, "documents per transaction")
	dir := flag.String("dir", "", "scratch directory (default: a new temporary directory)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	engineOnly := flag.Bool("engine-only", false, "run only the store's batched write; print \"engine-write <docs/s>\" per run")
	plainOnly := flag.Bool("plain-only", false, "run only the plain baseline's batched write; print \"plain-write <docs/s>\" per run")
	flag.BoolVar(&noBody, "nobody", false, "save with store.SaveOptions.NoBody (the returned documents carry no copy of the body)")
	flag.BoolVar(&saveMany, "many", false, "save each batch with one Batch.SaveMany instead of one Batch.Save per document")
	flag.Parse()
	benchproc.StartCPUProfile(*cpuProfile)
	defer pprof.StopCPUProfile()
	runFn := run
	if *engineOnly {
		runFn = runEngineOnly
	}
	if *plainOnly {
		runFn = runPlainOnly
	}
	if err := runFn(*n, *runs, *batch, *dir); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// noBody is -nobody, saveMany -many: how the store's write (-engine-only, and the first
// store write of a full run) saves.
var noBody, saveMany bool

type doc struct {
	id   string
	body []byte
}

func run(n, runs, batch int, dir string) error {
	if n <= 0 || runs <= 0 || batch <= 0 {
		return fmt.Errorf("-n, -runs and -batch must be positive")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "bench-store-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	docs := w1Docs(n)
	fmt.Printf("W1 local write: %d docs (~1 KB), batches of %d, %d runs each\n", n, batch, runs)
	var sw, sr, pw, pr, swc, pwc, mw, mwc []float64
	for r := 0; r < runs; r++ {
		w, rd, wc, err := runStore(filepath.Join(dir, fmt.Sprintf("store-%d", r)), docs, batch, true, saveMany, noBody)
		if err != nil {
			return fmt.Errorf("store run %d: %w", r+1, err)
		}
		sw, sr, swc = append(sw, w), append(sr, rd), append(swc, wc)
		// The bulk variant: one SaveMany per batch, no bodies handed back (what a bulk
		// save such as the C API's p2p_batch_save_documents needs).
		w, _, wc, err = runStore(filepath.Join(dir, fmt.Sprintf("many-%d", r)), docs, batch, false, true, true)
		if err != nil {
			return fmt.Errorf("store SaveMany run %d: %w", r+1, err)
		}
		mw, mwc = append(mw, w), append(mwc, wc)
		w, rd, wc, err = runPlain(filepath.Join(dir, fmt.Sprintf("plain-%d.sqlite3", r)), docs, batch, true)
		if err != nil {
			return fmt.Errorf("plain run %d: %w", r+1, err)
		}
		pw, pr, pwc = append(pw, w), append(pr, rd), append(pwc, wc)
		fmt.Printf("  run %d: store write %.0f/s (%.0f per CPU-s) read %.0f/s | plain write %.0f/s (%.0f per CPU-s) read %.0f/s | store SaveMany write %.0f/s (%.0f per CPU-s)\n",
			r+1, sw[r], swc[r], sr[r], pw[r], pwc[r], pr[r], mw[r], mwc[r])
	}
	report := func(name string, xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		med := median(s)
		fmt.Printf("%-19s docs/s  min %8.0f  median %8.0f  max %8.0f\n", name, s[0], med, s[len(s)-1])
		return med
	}
	msw := report("store write", sw)
	mmw := report("store SaveMany", mw)
	mpw := report("plain write", pw)
	msr := report("store read", sr)
	mpr := report("plain read", pr)
	mswc := report("store write/CPU-s", swc)
	mmwc := report("SaveMany/CPU-s", mwc)
	mpwc := report("plain write/CPU-s", pwc)
	fmt.Printf("ratio store/plain (medians): write %.2f  read %.2f  write per CPU-second %.2f\n", msw/mpw, msr/mpr, mswc/mpwc)
	fmt.Printf("ratio SaveMany/plain (medians): write %.2f  write per CPU-second %.2f\n", mmw/mpw, mmwc/mpwc)
	// The writes of one run follow each other, so the ratio of each pair suffers less
	// from the load of a shared machine than the ratio of two medians.
	byRun := func(name string, xs []float64) {
		var pairs []float64
		for r := range xs {
			if pwc[r] > 0 {
				pairs = append(pairs, xs[r]/pwc[r])
			}
		}
		if len(pairs) > 0 {
			sort.Float64s(pairs)
			fmt.Printf("ratio %s/plain write per CPU-second, run by run: min %.2f  median %.2f  max %.2f\n",
				name, pairs[0], median(pairs), pairs[len(pairs)-1])
		}
	}
	byRun("store", swc)
	byRun("SaveMany", mwc)
	return nil
}

// median returns the median of s, sorted and not empty.
func median(s []float64) float64 {
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// w1Docs returns documents 1..n of the ~1 KB set.
func w1Docs(n int) []doc {
	docs := make([]doc, n)
	for i := range docs {
		id, body := workload.Doc("doc-", i+1, workload.SmallPayload)
		docs[i] = doc{id, body}
	}
	return docs
}

// runEngineOnly is -engine-only: the store's batched write alone, one line per run.
func runEngineOnly(n, runs, batch int, dir string) error {
	return runOneSide(n, runs, batch, dir, "engine-write", func(dir string, r int, docs []doc) (float64, error) {
		w, _, _, err := runStore(filepath.Join(dir, fmt.Sprintf("engine-%d", r)), docs, batch, false, saveMany, noBody)
		return w, err
	})
}

// runPlainOnly is -plain-only: the baseline's batched write alone, one line per run. With
// -engine-only it lets a tool that counts a whole process's work (valgrind
// --tool=callgrind, perf stat) compare the two writes: the difference between a run of n
// documents and one of 1 is the work of n-1 writes, free of the load of a shared machine.
func runPlainOnly(n, runs, batch int, dir string) error {
	return runOneSide(n, runs, batch, dir, "plain-write", func(dir string, r int, docs []doc) (float64, error) {
		w, _, _, err := runPlain(filepath.Join(dir, fmt.Sprintf("plain-%d.sqlite3", r)), docs, batch, false)
		return w, err
	})
}

// runOneSide runs write (one side's batched write of W1's documents, into dir) runs
// times and prints its rate on a line starting with label.
func runOneSide(n, runs, batch int, dir, label string, write func(dir string, r int, docs []doc) (float64, error)) error {
	if n <= 0 || runs <= 0 || batch <= 0 {
		return fmt.Errorf("-n, -runs and -batch must be positive")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "bench-store-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	docs := w1Docs(n)
	for r := 0; r < runs; r++ {
		w, err := write(dir, r, docs)
		if err != nil {
			return fmt.Errorf("%s run %d: %w", label, r+1, err)
		}
		fmt.Printf("%s %.0f\n", label, w)
	}
	return nil
}

// cpuTime is the user+system CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perCPU is n over the CPU time used since c0 (0 if none was measured).
func perCPU(n int, c0 time.Duration) float64 {
	d := cpuTime() - c0
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// runStore saves docs through engine/store, one Batch.Save per document or, if many, one
// Batch.SaveMany per batch (with SaveOptions.NoBody if noBody), and, if read, reads them
// back with Get.
func runStore(dir string, docs []doc, batch int, read, many, noBody bool) (writeRate, readRate, writeCPURate float64, err error) {
	ctx := context.Background()
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		store.Delete(dir)
	}()
	coll := db.DefaultCollection()
	var items []store.SaveItem
	start, c0 := time.Now(), cpuTime()
	for lo := 0; lo < len(docs); lo += batch {
		hi := min(lo+batch, len(docs))
		err := db.InBatch(ctx, func(b *store.Batch) error {
			if many {
				items = items[:0]
				for _, d := range docs[lo:hi] {
					items = append(items, store.SaveItem{ID: d.id, Body: d.body})
				}
				_, err := b.SaveMany(coll, items, store.SaveOptions{NoBody: noBody})
				return err
			}
			for _, d := range docs[lo:hi] {
				if _, err := b.Save(coll, d.id, d.body, store.SaveOptions{NoBody: noBody}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, 0, err
		}
	}
	writeRate, writeCPURate = float64(len(docs))/time.Since(start).Seconds(), perCPU(len(docs), c0)
	if c, err := coll.Count(ctx); err != nil || c != uint64(len(docs)) {
		return 0, 0, 0, fmt.Errorf("count after write = %d (%v), want %d", c, err, len(docs))
	}
	if !read {
		return writeRate, 0, writeCPURate, nil
	}
	start = time.Now()
	for _, d := range docs {
		got, err := coll.Get(ctx, d.id)
		if err != nil {
			return 0, 0, 0, err
		}
		if !bytes.Equal(got.Body, d.body) {
			return 0, 0, 0, fmt.Errorf("document %s read back differently", d.id)
		}
	}
	readRate = float64(len(docs)) / time.Since(start).Seconds()
	return writeRate, readRate, writeCPURate, nil
}

// runPlain is the baseline: one table (id TEXT PRIMARY KEY, body TEXT),
// transactions of batch rows, with the same journal and sync settings as the
// store's writer.
func runPlain(path string, docs []doc, batch int, read bool) (writeRate, readRate, writeCPURate float64, err error) {
	ctx := context.Background()
	u := url.URL{Scheme: "file", Path: path}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-16000)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", u.String()+"?"+q.Encode())
	if err != nil {
		return 0, 0, 0, err
	}
	db.SetMaxOpenConns(1)
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
	}()
	if _, err := db.ExecContext(ctx, `CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT)`); err != nil {
		return 0, 0, 0, err
	}
	ins, err := db.PrepareContext(ctx, `INSERT INTO docs (id, body) VALUES (?, ?)`)
	if err != nil {
		return 0, 0, 0, err
	}
	defer ins.Close()
	start, c0 := time.Now(), cpuTime()
	for lo := 0; lo < len(docs); lo += batch {
		hi := min(lo+batch, len(docs))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		st := tx.StmtContext(ctx, ins)
		for _, d := range docs[lo:hi] {
			if _, err := st.ExecContext(ctx, d.id, string(d.body)); err != nil {
				tx.Rollback()
				return 0, 0, 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, 0, err
		}
	}
	writeRate, writeCPURate = float64(len(docs))/time.Since(start).Seconds(), perCPU(len(docs), c0)
	if !read {
		return writeRate, 0, writeCPURate, nil
	}
	sel, err := db.PrepareContext(ctx, `SELECT body FROM docs WHERE id = ?`)
	if err != nil {
		return 0, 0, 0, err
	}
	defer sel.Close()
	start = time.Now()
	for _, d := range docs {
		var body string
		if err := sel.QueryRowContext(ctx, d.id).Scan(&body); err != nil {
			return 0, 0, 0, err
		}
		if body != string(d.body) {
			return 0, 0, 0, fmt.Errorf("row %s read back differently", d.id)
		}
	}
	readRate = float64(len(docs)) / time.Since(start).Seconds()
	return writeRate, readRate, writeCPURate, nil
}
