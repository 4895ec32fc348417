// Command replication runs the replication benchmarks of shared/bench/WORKLOAD.md between
// two processes over loopback (the benchmark re-executes itself as the listener process):
//
//   - W2: one-shot push of N ~1 KB documents into an empty database in the other
//     process: wall time, docs/s, and the ratio to the store's own batched insert rate of
//     the same documents measured in the same run (target >= 0.6); CPU of both processes
//     (target <= 100 µs per document); peak RSS of both processes (VmHWM; the pusher's
//     over the push alone); bytes on the wire each way. With -n 1000000 this is W6
//     (tests/bench/WORKLOAD.md): peak RSS < 100 MiB in each process.
//   - W3: continuous replication; 200 documents saved one every 20 ms; latency from just
//     before the save to the document's arrival in the other process (p50, p99).
//
// Each workload runs 3 times (-runs); min / median / max are printed. -level and
// -cbmobile choose the deflate level and subprotocol of both processes; -revs-in-flight,
// -insert-batch, -changes-batch and -changes-in-flight set the syncproto.Limits of both
// (tuning experiments; 0 = default); -cpuprofile/-childprofile and
// -memprofile/-childmemprofile profile the pusher and the listener process.
//
//	go run ./tests/bench/replication          # full (100,000 docs)
//	go run ./tests/bench/replication -quick   # smoke run (10,000 docs, 50 live docs)
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/tests/bench/benchproc"
	"github.com/p2psync/libp2psync/tests/bench/workload"
)

func main() {
	serve := flag.String("serve", "", "internal: run as the listener process on this database directory")
	n := flag.Int("n", 100000, "W2: number of documents")
	live := flag.Int("live", 200, "W3: number of documents (0 = skip W3)")
	runs := flag.Int("runs", 3, "runs of each workload")
	quick := flag.Bool("quick", false, "smoke run: 10,000 documents, 50 live documents")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process to the file")
	childProfile := flag.String("childprofile", "", "write a CPU profile of the listener process to the file")
	flag.StringVar(&childMemProfilePath, "childmemprofile", "", "write a heap profile (allocations since start included) of the listener process to the file when it quits")
	memProfile := flag.String("memprofile", "", "write a heap profile of this process to the file after each W2 push (the last run's is kept)")
	level := flag.Int("level", 0, "deflate level of both processes (syncproto.Limits.CompressionLevel; 0 = default)")
	flag.IntVar(&limits.MaxRevsInFlight, "revs-in-flight", 0, "tuning: syncproto.Limits.MaxRevsInFlight of both processes (0 = default)")
	flag.IntVar(&limits.InsertBatch, "insert-batch", 0, "tuning: syncproto.Limits.InsertBatch of both processes (0 = default)")
	flag.IntVar(&limits.ChangesBatch, "changes-batch", 0, "tuning: syncproto.Limits.ChangesBatch of both processes (0 = default)")
	flag.IntVar(&limits.MaxChangesInFlight, "changes-in-flight", 0, "tuning: syncproto.Limits.MaxChangesInFlight of both processes (0 = default)")
	cbmobile := flag.Int("cbmobile", 4, "subprotocol of both processes: 4 = BLIP_3+CBMobile_4 (version vectors, the library's default), 3 = BLIP_3+CBMobile_3 (DisableCBMobile4 on both sides)")
	flag.Parse()
	switch *cbmobile {
	case 3, 4:
		disableCBMobile4 = *cbmobile == 3
	default:
		fmt.Fprintln(os.Stderr, "bench: -cbmobile must be 3 or 4")
		os.Exit(2)
	}
	childProfilePath = *childProfile
	memProfilePath = *memProfile
	limits.CompressionLevel = *level
	benchproc.StartCPUProfile(*cpuProfile)
	defer pprof.StopCPUProfile()
	if *serve != "" {
		err := serveChild(*serve)
		pprof.StopCPUProfile()
		if err != nil {
			fmt.Fprintln(os.Stderr, "listener process:", err)
			os.Exit(1)
		}
		return
	}
	if *quick {
		*n = 10000
		if *live > 50 {
			*live = 50
		}
	}
	if err := run(*n, *live, *runs); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// memProfilePath receives a heap profile of the pusher process after each W2 push.
var memProfilePath string

// childMemProfilePath is passed to listener processes as -memprofile: the listener writes
// a heap profile when it quits (its alloc_space shows what a received revision allocates).
var childMemProfilePath string

// childProfilePath is passed to listener processes (-childprofile).
var childProfilePath string

// limits configure both processes (-level is passed on to the listener process).
var limits syncproto.Limits

// disableCBMobile4 keeps both processes on CBMobile_3 (-cbmobile 3, passed on to the
// listener process).
var disableCBMobile4 bool

// ---- listener process ----

// serveChild serves a database and answers commands on stdin: "rss" prints VmHWM,
// "watch" starts printing "arrived <id> <unixnano>" for every new document, "version <id>"
// prints that document's version ("-" if none), "quit" exits.
func serveChild(dir string) error {
	ctx := context.Background()
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return err
	}
	defer db.Close()
	l, err := listener.New(listener.Config{Database: db, NetworkInterface: "127.0.0.1", Limits: limits, DisableTLS: true, DisableCBMobile4: disableCBMobile4})
	if err != nil {
		return err
	}
	if err := l.Start(); err != nil {
		return err
	}
	defer l.Stop()
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		outMu.Unlock()
	}
	say("port %d", l.Port())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd := strings.TrimSpace(in.Text())
		if id, ok := strings.CutPrefix(cmd, "version "); ok {
			// The version a received document holds: non-empty only if it came over CBMobile_4.
			v := "-"
			if d, err := db.DefaultCollection().Get(ctx, id); err == nil && d.Version != "" {
				v = d.Version
			}
			say("version %s", v)
			continue
		}
		switch cmd {
		case "rss":
			say("rss %d", benchproc.VmHWM("self"))
		case "watch":
			db.DefaultCollection().AddChangeListener(func(ch store.CollectionChange) {
				now := time.Now().UnixNano()
				for _, c := range ch.Changes {
					say("arrived %s %d", c.DocID, now)
				}
			})
			say("watching")
		case "quit":
			if memProfilePath != "" {
				writeHeapProfile(memProfilePath)
			}
			return nil
		}
	}
	return nil
}

type child struct {
	*benchproc.Child
	port int
}

func startChild(dir string) (*child, error) {
	args := []string{"-serve", dir, "-level", strconv.Itoa(limits.CompressionLevel),
		"-revs-in-flight", strconv.Itoa(limits.MaxRevsInFlight), "-insert-batch", strconv.Itoa(limits.InsertBatch),
		"-changes-batch", strconv.Itoa(limits.ChangesBatch), "-changes-in-flight", strconv.Itoa(limits.MaxChangesInFlight),
		"-cbmobile", "4"}
	if disableCBMobile4 {
		args[len(args)-1] = "3"
	}
	if childProfilePath != "" {
		args = append(args, "-cpuprofile", childProfilePath)
	}
	if childMemProfilePath != "" {
		args = append(args, "-memprofile", childMemProfilePath)
	}
	bc, err := benchproc.Start(args...)
	if err != nil {
		return nil, err
	}
	c := &child{Child: bc}
	line, err := c.Expect("port ")
	if err != nil {
		return nil, err
	}
	c.port, _ = strconv.Atoi(line)
	return c, nil
}

// checkSubprotocol confirms that the received document id came over the chosen
// subprotocol: with a version under CBMobile_4, without one under CBMobile_3.
func (c *child) checkSubprotocol(id string) error {
	c.Send("version " + id)
	v, err := c.Expect("version ")
	if err != nil {
		return err
	}
	if (v == "-") != disableCBMobile4 {
		return fmt.Errorf("document %s arrived with version %q: not over the chosen subprotocol", id, v)
	}
	return nil
}

// ---- workloads ----

type w2Result struct {
	insertRate, pushRate, seconds float64
	cpuParent, cpuChild           float64 // CPU seconds spent during the push
	rssParent, rssChild           uint64
	rssInsert                     uint64 // pusher process's peak RSS during the local insert
	sent, received                uint64
}

func run(n, live, runs int) error {
	scratch, err := os.MkdirTemp("", "p2p-bench-repl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	proto := "BLIP_3+CBMobile_4"
	if disableCBMobile4 {
		proto = "BLIP_3+CBMobile_3"
	}
	fmt.Printf("subprotocol %s\n", proto)
	fmt.Printf("W2 one-shot push, %d docs of ~1 KB, %d runs\n", n, runs)
	var w2 []w2Result
	for i := 0; i < runs; i++ {
		r, err := runW2(filepath.Join(scratch, fmt.Sprintf("w2-%d", i)), n)
		if err != nil {
			return fmt.Errorf("W2 run %d: %w", i+1, err)
		}
		fmt.Printf("  run %d: insert %.0f docs/s, push %.0f docs/s (%.2fs), ratio %.2f, CPU pusher %.2fs listener %.2fs, RSS pusher %.0f MiB listener %.0f MiB, wire sent %.1f MB received %.1f MB\n",
			i+1, r.insertRate, r.pushRate, r.seconds, r.pushRate/r.insertRate, r.cpuParent, r.cpuChild, benchproc.MiB(r.rssParent), benchproc.MiB(r.rssChild), benchproc.MB(r.sent), benchproc.MB(r.received))
		w2 = append(w2, r)
	}
	pick := func(f func(w2Result) float64) []float64 { return benchproc.Pick(w2, f) }
	fmt.Println("W2 summary (min / median / max):")
	benchproc.Report("  local batched insert docs/s", pick(func(r w2Result) float64 { return r.insertRate }), "%.0f")
	benchproc.Report("  push docs/s", pick(func(r w2Result) float64 { return r.pushRate }), "%.0f")
	benchproc.Report("  push wall time s", pick(func(r w2Result) float64 { return r.seconds }), "%.2f")
	benchproc.Report("  ratio push/insert (target >= 0.6)", pick(func(r w2Result) float64 { return r.pushRate / r.insertRate }), "%.2f")
	benchproc.Report("  CPU s pusher+listener during the push", pick(func(r w2Result) float64 { return r.cpuParent + r.cpuChild }), "%.2f")
	benchproc.Report("  CPU us per document, pusher+listener (target <= 100)", pick(func(r w2Result) float64 { return (r.cpuParent + r.cpuChild) * 1e6 / float64(n) }), "%.0f")
	benchproc.Report("  CPU us per document, pusher", pick(func(r w2Result) float64 { return r.cpuParent * 1e6 / float64(n) }), "%.0f")
	benchproc.Report("  CPU us per document, listener", pick(func(r w2Result) float64 { return r.cpuChild * 1e6 / float64(n) }), "%.0f")
	benchproc.Report("  peak RSS pusher process during the insert MiB", pick(func(r w2Result) float64 { return benchproc.MiB(r.rssInsert) }), "%.0f")
	benchproc.Report("  peak RSS pusher MiB", pick(func(r w2Result) float64 { return benchproc.MiB(r.rssParent) }), "%.0f")
	benchproc.Report("  peak RSS listener MiB", pick(func(r w2Result) float64 { return benchproc.MiB(r.rssChild) }), "%.0f")
	benchproc.Report("  wire bytes pusher->listener MB", pick(func(r w2Result) float64 { return benchproc.MB(r.sent) }), "%.2f")
	benchproc.Report("  wire bytes listener->pusher MB", pick(func(r w2Result) float64 { return benchproc.MB(r.received) }), "%.2f")

	if live <= 0 {
		return nil
	}
	fmt.Printf("W3 continuous propagation latency, %d docs one every 20 ms, %d runs\n", live, runs)
	var p50s, p99s []float64
	for i := 0; i < runs; i++ {
		p50, p99, err := runW3(filepath.Join(scratch, fmt.Sprintf("w3-%d", i)), live)
		if err != nil {
			return fmt.Errorf("W3 run %d: %w", i+1, err)
		}
		fmt.Printf("  run %d: p50 %.2f ms, p99 %.2f ms\n", i+1, p50, p99)
		p50s, p99s = append(p50s, p50), append(p99s, p99)
	}
	fmt.Println("W3 summary (min / median / max):")
	benchproc.Report("  p50 ms (target < 1)", p50s, "%.2f")
	benchproc.Report("  p99 ms (target < 5)", p99s, "%.2f")
	return nil
}

func runW2(dir string, n int) (w2Result, error) {
	ctx := context.Background()
	var res w2Result
	benchproc.ResetHWM()
	src, err := store.Open(ctx, filepath.Join(dir, "source"), store.Config{})
	if err != nil {
		return res, err
	}
	defer src.Close()
	// Baseline: the store's own batched insert of the same documents (batches of 1,000).
	begin := time.Now()
	c := src.DefaultCollection()
	for start := 1; start <= n; start += 1000 {
		err := src.InBatch(ctx, func(b *store.Batch) error {
			for i := start; i < start+1000 && i <= n; i++ {
				id, body := workload.Doc("doc-", i, workload.SmallPayload)
				if _, err := b.Save(c, id, body, store.SaveOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	res.insertRate = float64(n) / time.Since(begin).Seconds()
	// The pusher's peak RSS is measured over the push alone (the insert's is reported apart).
	res.rssInsert = benchproc.VmHWM("self")
	benchproc.ResetHWM()

	ch, err := startChild(filepath.Join(dir, "target"))
	if err != nil {
		return res, err
	}
	defer ch.Quit()
	r, err := replicator.New(replicator.Config{Database: src, URL: fmt.Sprintf("ws://127.0.0.1:%d/target", ch.port), Type: replicator.Push, Limits: limits, DisableCBMobile4: disableCBMobile4})
	if err != nil {
		return res, err
	}
	begin = time.Now()
	cpu0 := benchproc.SelfCPU()
	if err := r.Start(false); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if memProfilePath != "" {
		go heapProfileAt(wctx, r, uint64(n)*9/10)
	}
	st, err := r.Wait(wctx)
	if err != nil {
		return res, err
	}
	if st.Error != nil {
		return res, st.Error
	}
	res.seconds = time.Since(begin).Seconds()
	res.cpuParent = benchproc.SelfCPU() - cpu0
	res.cpuChild = benchproc.ProcCPU(ch.Cmd.Process.Pid)
	res.pushRate = float64(n) / res.seconds
	ts := r.TransferStats()
	res.sent, res.received = ts.BytesSent, ts.BytesReceived
	res.rssChild = ch.RSS()
	res.rssParent = benchproc.VmHWM("self")
	id, _ := workload.Doc("doc-", n, workload.SmallPayload)
	return res, ch.checkSubprotocol(id)
}

// heapProfileAt writes a heap profile (-memprofile) once the push has completed done
// documents: what the session keeps per change is in it.
func heapProfileAt(ctx context.Context, r *replicator.Replicator, done uint64) {
	for ctx.Err() == nil && r.Status().Progress.Completed < done {
		time.Sleep(50 * time.Millisecond)
	}
	writeHeapProfile(memProfilePath)
}

// writeHeapProfile writes a heap profile of this process to path.
func writeHeapProfile(path string) {
	if f, err := os.Create(path); err == nil {
		runtime.GC()
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
}

func runW3(dir string, live int) (p50, p99 float64, err error) {
	ctx := context.Background()
	src, err := store.Open(ctx, filepath.Join(dir, "source"), store.Config{})
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	ch, err := startChild(filepath.Join(dir, "target"))
	if err != nil {
		return 0, 0, err
	}
	defer ch.Quit()
	ch.Send("watch")
	if _, err := ch.Expect("watching"); err != nil {
		return 0, 0, err
	}
	r, err := replicator.New(replicator.Config{Database: src, URL: fmt.Sprintf("ws://127.0.0.1:%d/target", ch.port), Continuous: true, Limits: limits, DisableCBMobile4: disableCBMobile4})
	if err != nil {
		return 0, 0, err
	}
	if err := r.Start(false); err != nil {
		return 0, 0, err
	}
	defer r.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for r.Status().Activity != replicator.Idle {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("replicator not idle: %+v", r.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	saved := make(map[string]int64, live)
	c := src.DefaultCollection()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i <= live; i++ {
		<-tick.C
		id, body := workload.Doc("live-", i, workload.SmallPayload)
		saved[id] = time.Now().UnixNano()
		if _, err := c.Save(ctx, id, body, store.SaveOptions{}); err != nil {
			return 0, 0, err
		}
	}
	var lat []float64
	for len(lat) < live {
		line, err := ch.Expect("arrived ")
		if err != nil {
			return 0, 0, err
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		at, _ := strconv.ParseInt(f[1], 10, 64)
		if t0, ok := saved[f[0]]; ok {
			lat = append(lat, float64(at-t0)/1e6)
			delete(saved, f[0])
		}
	}
	sort.Float64s(lat)
	id, _ := workload.Doc("live-", live, workload.SmallPayload)
	if err := ch.checkSubprotocol(id); err != nil {
		return 0, 0, err
	}
	return lat[len(lat)/2], lat[(len(lat)*99)/100], nil
}
