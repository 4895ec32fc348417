// Command fanout runs benchmark W7 of tests/bench/WORKLOAD.md: many concurrent continuous
// pull replicators against one listener, each receiving the same stream of documents.
//
// The benchmark re-executes itself as one listener process (which serves one database
// over TLS on 127.0.0.1 and also writes the stream into it) and as one or a few replica
// processes, each running a share of the replicators, every replicator into a database
// of its own. For each count of the ramp (e.g. 10, 100, 300, 1000) it starts everything
// afresh, waits until every replicator is connected and idle (connection setup time),
// writes the stream (K documents of W2's ~1 KB set saved in one transaction every
// interval), waits until every replica holds every document, checks each replica's
// database, and reports propagation latency (save to arrival in each replica's database)
// over every (replica, document) pair, the listener's peak RSS and CPU, the replica
// processes' RSS and CPU. A count whose replicas do not all end with every document
// fails the benchmark and ends the ramp, saying what stopped it.
//
//	go run ./tests/bench/fanout                         # make bench's size: 10, 100 replicators
//	go run ./tests/bench/fanout -full                   # the full W7 ramp: 10, 100, 300, 1000
//	go run ./tests/bench/fanout -counts 1000 -cpuprofile /tmp/l.prof -memprofile /tmp/l.heap
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
	"github.com/p2psync/libp2psync/tests/bench/benchproc"
	"github.com/p2psync/libp2psync/tests/bench/workload"
)

const docPrefix = "w7-"

type options struct {
	counts         []int
	perProc        int
	docs           int
	batch          int
	every          time.Duration
	useTLS         bool
	cpuProfile     string
	replicaProfile string
	memProfile     string
	keep           bool
}

func main() {
	serve := flag.String("serve", "", "internal: run as the listener process on this database directory")
	replicas := flag.String("replicas", "", "internal: run as a replica process with databases under this directory")
	k := flag.Int("k", 0, "internal: replicators in this replica process")
	url := flag.String("url", "", "internal: the listener's URL")
	fp := flag.String("fp", "", "internal: the listener's certificate fingerprint")
	maxConn := flag.Int("maxconn", 0, "internal: the listener's MaxConnections")
	countsFlag := flag.String("counts", "10,100", "replicator counts of the ramp, comma separated")
	full := flag.Bool("full", false, "the full W7 ramp: -counts 10,100,300,1000")
	perProc := flag.Int("perproc", 250, "replicators per replica process at most")
	docs := flag.Int("docs", 20, "documents written by each count's stream")
	batch := flag.Int("batch", 1, "documents saved per interval, in one transaction")
	every := flag.Duration("every", time.Second, "interval between the writer's transactions")
	useTLS := flag.Bool("tls", true, "wss:// with a self-signed certificate pinned by fingerprint (false: ws://)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the listener process to FILE.<count> (or of this process with -serve)")
	replicaProfile := flag.String("replicaprofile", "", "write a CPU profile of the first replica process to FILE.<count>")
	memProfile := flag.String("memprofile", "", "write heap profiles of the listener process to FILE.<count>.setup (all connected) and FILE.<count> (after the stream)")
	keep := flag.Bool("keep", false, "keep the scratch directory (printed)")
	flag.Parse()

	switch {
	case *serve != "":
		benchproc.StartCPUProfile(*cpuProfile)
		err := serveChild(*serve, *maxConn, *useTLS)
		pprof.StopCPUProfile()
		exitOn("listener process", err)
	case *replicas != "":
		benchproc.StartCPUProfile(*cpuProfile)
		err := replicaChild(*replicas, *k, *docs, *url, *fp)
		pprof.StopCPUProfile()
		exitOn("replica process", err)
	}
	o := options{perProc: *perProc, docs: *docs, batch: *batch, every: *every, useTLS: *useTLS,
		cpuProfile: *cpuProfile, replicaProfile: *replicaProfile, memProfile: *memProfile, keep: *keep}
	if *full {
		*countsFlag = "10,100,300,1000"
	}
	for _, f := range strings.Split(*countsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: bad -counts %q\n", *countsFlag)
			os.Exit(2)
		}
		o.counts = append(o.counts, n)
	}
	if o.perProc < 1 || o.docs < 1 || o.batch < 1 || o.every <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -perproc, -docs, -batch and -every must be positive")
		os.Exit(2)
	}
	exitOn("bench", run(o))
}

func exitOn(who string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", who, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// raiseFDLimit raises the soft limit on open files to the hard limit and returns both.
func raiseFDLimit() (soft, hard uint64) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0, 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur, rl.Max
}

// vmRSS reads the current resident set size (bytes) of a process from /proc.
func vmRSS(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// ---- listener process ----

// serveChild serves a database and writes the stream into it. It prints "port <n>",
// "fingerprint <hex>" ("-" without TLS) and "fds <soft> <hard>", then answers on stdin:
// "write D K MS" saves documents 1..D, K per transaction every MS milliseconds, printing
// "saved <i> <unixnano>" for each (the time taken just before its transaction) and
// "written" at the end; "heap FILE" writes a heap profile; "conns" prints "conns <n>"
// (connections served now); "quit" exits.
func serveChild(dir string, maxConn int, useTLS bool) error {
	ctx := context.Background()
	soft, hard := raiseFDLimit()
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := listener.Config{Database: db, NetworkInterface: "127.0.0.1", MaxConnections: maxConn, DisableTLS: !useTLS}
	fingerprint := "-"
	if useTLS {
		id, err := tlsid.CreateIdentity(tlsid.CreateOptions{
			Subject:     tlsid.Subject{CommonName: "bench-listener"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		})
		if err != nil {
			return err
		}
		cfg.Identity, fingerprint = id, id.Fingerprint()
	}
	l, err := listener.New(cfg)
	if err != nil {
		return err
	}
	if err := l.Start(); err != nil {
		return err
	}
	defer l.Stop()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "port %d\nfingerprint %s\nfds %d %d\n", l.Port(), fingerprint, soft, hard)
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "write":
			if len(f) != 4 {
				return fmt.Errorf("bad command %q", in.Text())
			}
			d, _ := strconv.Atoi(f[1])
			k, _ := strconv.Atoi(f[2])
			ms, _ := strconv.Atoi(f[3])
			if err := writeStream(ctx, db, out, d, k, time.Duration(ms)*time.Millisecond); err != nil {
				return err
			}
			fmt.Fprintln(out, "written")
		case "heap":
			if len(f) == 2 {
				runtime.GC()
				if file, err := os.Create(f[1]); err == nil {
					_ = pprof.WriteHeapProfile(file)
					file.Close()
				}
			}
			fmt.Fprintln(out, "heaped")
		case "conns":
			fmt.Fprintf(out, "conns %d\n", l.Status().ConnectionCount)
		case "quit":
			return nil
		}
		out.Flush()
	}
	return in.Err()
}

// writeStream saves documents 1..d of W2's set (prefix "w7-"), k per transaction, one
// transaction every interval.
func writeStream(ctx context.Context, db *store.Database, out *bufio.Writer, d, k int, interval time.Duration) error {
	c := db.DefaultCollection()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for start := 1; start <= d; start += k {
		<-tick.C
		t0 := time.Now().UnixNano()
		err := db.InBatch(ctx, func(b *store.Batch) error {
			for i := start; i < start+k && i <= d; i++ {
				id, body := workload.Doc(docPrefix, i, workload.SmallPayload)
				if _, err := b.Save(c, id, body, store.SaveOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := start; i < start+k && i <= d; i++ {
			fmt.Fprintf(out, "saved %d %d\n", i, t0)
		}
		out.Flush()
	}
	return nil
}

// ---- replica process ----

// replica is one continuous pull replicator and its database; arrived[i-1] is when
// document i reached the database (unix ns, 0 = not yet).
type replica struct {
	db      *store.Database
	r       *replicator.Replicator
	arrived []atomic.Int64
	setup   atomic.Int64 // ns from Start to the first Idle, 0 = not yet
}

// replicaChild runs k continuous pull replicators from url, each into a database of its
// own under dir. It prints "fds <soft> <hard>", then "ready <seconds>" once every one is
// idle (or "failed <reason>"), then answers: "setup" prints "setup <ms> ..." (each
// replicator's time to idle); "wait D SECONDS" waits until every replica holds documents
// 1..D (by their arrival), checks every database and prints one "arr <replica> <ns> ..."
// line per replica then "checked <complete replicas> <first problem or none>"; "quit".
func replicaChild(dir string, k, d int, url, fp string) error {
	ctx := context.Background()
	soft, hard := raiseFDLimit()
	fmt.Printf("fds %d %d\n", soft, hard)
	reps := make([]*replica, k)
	var total atomic.Int64 // stream documents arrived, over all replicas
	for j := range reps {
		rep, err := openReplica(ctx, filepath.Join(dir, fmt.Sprintf("r%04d", j)), d, url, fp, &total)
		if err != nil {
			fmt.Printf("failed replica %d of %d: %v\n", j+1, k, err)
			return closeAll(reps)
		}
		reps[j] = rep
	}
	if err := startAll(reps); err != nil {
		fmt.Printf("failed starting a replicator: %v\n", err)
		return closeAll(reps)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "setup":
			var b strings.Builder
			b.WriteString("setup")
			for _, rep := range reps {
				fmt.Fprintf(&b, " %.3f", float64(rep.setup.Load())/1e6)
			}
			fmt.Println(b.String())
		case "wait":
			if len(f) == 3 {
				d, _ := strconv.Atoi(f[1])
				secs, _ := strconv.Atoi(f[2])
				reportArrivals(ctx, reps, d, time.Duration(secs)*time.Second, &total)
			}
		case "quit":
			return closeAll(reps)
		}
	}
	return closeAll(reps)
}

// openReplica opens one replica database, records the arrival of stream documents 1..d
// in it, and creates its continuous pull replicator (not started).
func openReplica(ctx context.Context, dir string, d int, url, fp string, total *atomic.Int64) (*replica, error) {
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return nil, err
	}
	rep := &replica{db: db, arrived: make([]atomic.Int64, d)}
	db.DefaultCollection().AddChangeListener(func(ch store.CollectionChange) {
		now := time.Now().UnixNano()
		for _, c := range ch.Changes {
			i, err := strconv.Atoi(strings.TrimPrefix(c.DocID, docPrefix))
			if err == nil && i >= 1 && i <= len(rep.arrived) && rep.arrived[i-1].CompareAndSwap(0, now) {
				total.Add(1)
			}
		}
	})
	cfg := replicator.Config{Database: db, URL: url, Type: replicator.Pull, Continuous: true}
	if fp != "-" {
		cfg.TrustMode, cfg.PinnedFingerprint = tlsid.TrustPinned, fp
	}
	if rep.r, err = replicator.New(cfg); err != nil {
		db.Close()
		return nil, err
	}
	return rep, nil
}

// startAll starts every replicator and prints "ready <seconds>" once all are idle, or
// "failed ..." when some are not after 180 s.
func startAll(reps []*replica) error {
	begin := time.Now()
	var idle sync.WaitGroup
	idle.Add(len(reps))
	for _, rep := range reps {
		rep, start := rep, time.Now()
		rep.r.AddChangeListener(func(s replicator.Status) {
			if s.Activity == replicator.Idle && rep.setup.CompareAndSwap(0, int64(time.Since(start))) {
				idle.Done()
			}
		})
		if err := rep.r.Start(false); err != nil {
			return err
		}
	}
	allIdle := make(chan struct{})
	go func() { idle.Wait(); close(allIdle) }()
	select {
	case <-allIdle:
		fmt.Printf("ready %.3f\n", time.Since(begin).Seconds())
	case <-time.After(180 * time.Second):
		n, firstErr := 0, "none"
		for _, rep := range reps {
			if rep.setup.Load() == 0 {
				n++
				if st := rep.r.Status(); st.Error != nil && firstErr == "none" {
					firstErr = st.Error.Error()
				}
			}
		}
		fmt.Printf("failed %d of %d replicators not idle after 180 s; first error: %s\n", n, len(reps), firstErr)
	}
	return nil
}

// reportArrivals waits (at most timeout) until every replica holds documents 1..d,
// checks the databases and prints one "arr" line per replica, then "checked".
func reportArrivals(ctx context.Context, reps []*replica, d int, timeout time.Duration, total *atomic.Int64) {
	deadline := time.Now().Add(timeout)
	for total.Load() < int64(d*len(reps)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	complete, problem := checkReplicas(ctx, reps, d)
	out := bufio.NewWriter(os.Stdout)
	for j, rep := range reps {
		fmt.Fprintf(out, "arr %d", j)
		for i := 0; i < d && i < len(rep.arrived); i++ {
			fmt.Fprintf(out, " %d", rep.arrived[i].Load())
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "checked %d %s\n", complete, problem)
	out.Flush()
}

// checkReplicas counts the replicas whose database holds exactly documents 1..d of the
// stream, document d byte for byte, and describes the first that does not.
func checkReplicas(ctx context.Context, reps []*replica, d int) (complete int, problem string) {
	problem = "none"
	note := func(format string, args ...any) {
		if problem == "none" {
			problem = fmt.Sprintf(format, args...)
		}
	}
	lastID, lastBody := workload.Doc(docPrefix, d, workload.SmallPayload)
	for j, rep := range reps {
		ch, err := rep.db.DefaultCollection().ChangesSince(ctx, 0, 0)
		if err != nil {
			note("replica %d: %v", j, err)
			continue
		}
		if len(ch) != d {
			st := rep.r.Status()
			note("replica %d holds %d of %d documents (replicator activity %v, error %v)", j, len(ch), d, st.Activity, st.Error)
			continue
		}
		doc, err := rep.db.DefaultCollection().Get(ctx, lastID)
		if err != nil || string(doc.Body) != string(lastBody) {
			note("replica %d: document %s missing or different (%v)", j, lastID, err)
			continue
		}
		complete++
	}
	return complete, problem
}

func closeAll(reps []*replica) error {
	var wg sync.WaitGroup
	for _, rep := range reps {
		if rep == nil {
			continue
		}
		wg.Add(1)
		go func(rep *replica) {
			defer wg.Done()
			if rep.r != nil {
				rep.r.Stop()
			}
			rep.db.Close()
		}(rep)
	}
	wg.Wait()
	return nil
}

// ---- orchestrator ----

type stepResult struct {
	n, procs                int
	setupAll                float64   // s from a process's first Start to all its replicators idle, the largest
	setupEach               []float64 // ms per replicator
	p50, p99, max           float64   // ms over (replica, document) pairs
	cpuListenerSetup        float64
	cpuListenerStream       float64
	cpuReplicasStream       float64
	rssListenerPeak         uint64
	rssListenerSetup        uint64 // VmRSS once every replicator is idle
	rssReplicasPeak         uint64 // sum over the replica processes
	complete                int
	fdSoft, fdHard          uint64
	listenerFdSoft, fdHardL uint64
}

func run(o options) error {
	scratch, err := os.MkdirTemp("", "p2p-bench-fanout-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("scratch directory", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	transport := "wss:// (TLS, certificate pinned by fingerprint)"
	if !o.useTLS {
		transport = "ws:// (no TLS)"
	}
	fmt.Printf("W7 fan-out: continuous pull replicators against one listener over %s, 127.0.0.1\n", transport)
	fmt.Printf("stream: %d documents of ~1 KB, %d per transaction every %v (%.0f docs/s); at most %d replicators per replica process\n",
		o.docs, o.batch, o.every, float64(o.batch)/o.every.Seconds(), o.perProc)
	var results []stepResult
	var stopped error
	for _, n := range o.counts {
		dir := filepath.Join(scratch, fmt.Sprintf("n%d", n))
		r, err := runStep(dir, n, o)
		if !o.keep {
			_ = os.RemoveAll(dir)
		}
		if r.n > 0 {
			printStep(r, o)
			results = append(results, r)
		}
		if err != nil {
			stopped = fmt.Errorf("%d replicators: %w", n, err)
			break
		}
	}
	fmt.Println("W7 summary:")
	fmt.Println("  replicators | procs | setup s | latency p50 / p99 / max ms | listener peak RSS MiB | listener CPU s (stream) | replica procs RSS MiB | complete")
	for _, r := range results {
		fmt.Printf("  %11d | %5d | %7.2f | %8.1f / %6.1f / %6.1f | %21.0f | %23.2f | %21.0f | %d/%d\n",
			r.n, r.procs, r.setupAll, r.p50, r.p99, r.max, benchproc.MiB(r.rssListenerPeak), r.cpuListenerStream,
			benchproc.MiB(r.rssReplicasPeak), r.complete, r.n)
	}
	if stopped != nil {
		fmt.Printf("  stopped at %v\n", stopped)
		return stopped
	}
	return nil
}

func printStep(r stepResult, o options) {
	pairs := float64(r.n * o.docs)
	fmt.Printf("  %d replicators in %d replica processes (fd limit %d/%d there, %d/%d in the listener):\n",
		r.n, r.procs, r.fdSoft, r.fdHard, r.listenerFdSoft, r.fdHardL)
	fmt.Printf("    setup: all idle after %.2f s; listener CPU %.2f s; listener RSS %.0f MiB once all connected (%.0f KiB per connection)\n",
		r.setupAll, r.cpuListenerSetup, benchproc.MiB(r.rssListenerSetup), float64(r.rssListenerSetup)/1024/float64(r.n))
	benchproc.Report("    time to idle per replicator ms (min / median / max)", r.setupEach, "%.0f")
	if r.p50 > 0 {
		verdict := func(ok bool) string { return map[bool]string{true: "met", false: "MISSED"}[ok] }
		fmt.Printf("    propagation over %d (replica, document) pairs: p50 %.1f ms, p99 %.1f ms (target < 100: %s), max %.1f ms\n",
			r.n*o.docs, r.p50, r.p99, verdict(r.p99 < 100), r.max)
		fmt.Printf("    listener: peak RSS %.0f MiB (target < 1024: %s), CPU during the stream %.2f s (%.0f µs per delivered document)\n",
			benchproc.MiB(r.rssListenerPeak), verdict(benchproc.MiB(r.rssListenerPeak) < 1024), r.cpuListenerStream, r.cpuListenerStream*1e6/pairs)
		fmt.Printf("    replica processes: peak RSS %.0f MiB in all (%.0f KiB per replica), CPU during the stream %.2f s (%.0f µs per received document)\n",
			benchproc.MiB(r.rssReplicasPeak), float64(r.rssReplicasPeak)/1024/float64(r.n), r.cpuReplicasStream, r.cpuReplicasStream*1e6/pairs)
	}
	fmt.Printf("    replicas complete: %d of %d\n", r.complete, r.n)
}

// runStep runs one count of the ramp with fresh processes and databases.
func runStep(dir string, n int, o options) (stepResult, error) {
	res := stepResult{n: n}
	l, url, fp, err := startListener(dir, n, o, &res)
	if err != nil {
		return res, err
	}
	defer l.Quit()
	lpid := l.Cmd.Process.Pid
	cpu0 := benchproc.ProcCPU(lpid)
	procs, err := startReplicas(dir, n, url, fp, o, &res)
	defer func() {
		for _, p := range procs {
			_ = p.Quit()
		}
	}()
	if err != nil {
		return res, err
	}
	res.cpuListenerSetup = benchproc.ProcCPU(lpid) - cpu0
	res.rssListenerSetup = vmRSS(lpid)
	if o.memProfile != "" {
		l.Send(fmt.Sprintf("heap %s.%d.setup", o.memProfile, n))
		if _, err := l.Expect("heaped"); err != nil {
			return res, err
		}
	}

	// The stream, then the check.
	cpuL, cpuR := benchproc.ProcCPU(lpid), 0.0
	for _, c := range procs {
		cpuR -= benchproc.ProcCPU(c.Cmd.Process.Pid)
	}
	saved, err := writeAndCollect(l, o)
	if err != nil {
		return res, err
	}
	lat, problems, err := collectArrivals(procs, saved, o, &res)
	if err != nil {
		return res, err
	}
	res.cpuListenerStream = benchproc.ProcCPU(lpid) - cpuL
	for _, c := range procs {
		cpuR += benchproc.ProcCPU(c.Cmd.Process.Pid)
		res.rssReplicasPeak += benchproc.VmHWM(strconv.Itoa(c.Cmd.Process.Pid))
	}
	res.cpuReplicasStream = cpuR
	res.rssListenerPeak = benchproc.VmHWM(strconv.Itoa(lpid))
	if len(lat) > 0 {
		sort.Float64s(lat)
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[int(math.Ceil(float64(len(lat))*0.99))-1]
		res.max = lat[len(lat)-1]
	}
	if o.memProfile != "" {
		l.Send(fmt.Sprintf("heap %s.%d", o.memProfile, n))
		_, _ = l.Expect("heaped")
	}
	if res.complete != n {
		return res, fmt.Errorf("%d of %d replicas incomplete after the stream and 60 s more (%d of %d documents arrived); first problem: %s",
			n-res.complete, n, len(lat), n*o.docs, strings.Join(problems, "; "))
	}
	return res, nil
}

// startListener starts the listener process for n replicators and returns it with the
// URL to replicate from and its certificate's fingerprint ("-" without TLS).
func startListener(dir string, n int, o options, res *stepResult) (l *benchproc.Child, url, fp string, err error) {
	args := []string{"-serve", filepath.Join(dir, "source"), "-maxconn", strconv.Itoa(n), "-tls=" + strconv.FormatBool(o.useTLS)}
	if o.cpuProfile != "" {
		args = append(args, "-cpuprofile", fmt.Sprintf("%s.%d", o.cpuProfile, n))
	}
	if l, err = benchproc.Start(args...); err != nil {
		return nil, "", "", err
	}
	var port, fds string
	for _, v := range []struct {
		prefix string
		to     *string
	}{{"port ", &port}, {"fingerprint ", &fp}, {"fds ", &fds}} {
		if *v.to, err = l.Expect(v.prefix); err != nil {
			_ = l.Quit()
			return nil, "", "", err
		}
	}
	fmt.Sscan(fds, &res.listenerFdSoft, &res.fdHardL)
	scheme := "wss"
	if !o.useTLS {
		scheme = "ws"
	}
	return l, fmt.Sprintf("%s://127.0.0.1:%s/source", scheme, port), fp, nil
}

// startReplicas starts the replica processes, each with its share of the n replicators,
// and waits until every replicator is idle (connection setup).
func startReplicas(dir string, n int, url, fp string, o options, res *stepResult) ([]*benchproc.Child, error) {
	res.procs = (n + o.perProc - 1) / o.perProc
	var procs []*benchproc.Child
	for p := 0; p < res.procs; p++ {
		k := n / res.procs
		if p < n%res.procs {
			k++
		}
		args := []string{"-replicas", filepath.Join(dir, fmt.Sprintf("p%d", p)), "-k", strconv.Itoa(k), "-docs", strconv.Itoa(o.docs), "-url", url, "-fp", fp}
		if p == 0 && o.replicaProfile != "" {
			args = append(args, "-cpuprofile", fmt.Sprintf("%s.%d", o.replicaProfile, n))
		}
		c, err := benchproc.Start(args...)
		if err != nil {
			return procs, err
		}
		c.Timeout = 240 * time.Second
		procs = append(procs, c)
	}
	for _, c := range procs {
		fds, err := c.Expect("fds ")
		if err != nil {
			return procs, err
		}
		fmt.Sscan(fds, &res.fdSoft, &res.fdHard)
	}
	for _, c := range procs {
		line, err := c.ExpectAny("ready ", "failed ")
		if err != nil {
			return procs, err
		}
		if strings.HasPrefix(line, "failed ") {
			return procs, fmt.Errorf("connection setup: %s", strings.TrimPrefix(line, "failed "))
		}
		var secs float64
		fmt.Sscan(strings.TrimPrefix(line, "ready "), &secs)
		res.setupAll = max(res.setupAll, secs)
	}
	for _, c := range procs {
		c.Send("setup")
		line, err := c.Expect("setup")
		if err != nil {
			return procs, err
		}
		for _, f := range strings.Fields(line) {
			v, _ := strconv.ParseFloat(f, 64)
			res.setupEach = append(res.setupEach, v)
		}
	}
	return procs, nil
}

// writeAndCollect has the listener process write the stream and returns each
// document's save time (unix ns, by document number - 1).
func writeAndCollect(l *benchproc.Child, o options) ([]int64, error) {
	saved := make([]int64, o.docs)
	l.Timeout = 10*time.Second + time.Duration(o.docs/o.batch+1)*o.every*2
	l.Send(fmt.Sprintf("write %d %d %d", o.docs, o.batch, o.every.Milliseconds()))
	for got := 0; got < o.docs; {
		line, err := l.ExpectAny("saved ", "written")
		if err != nil {
			return nil, err
		}
		var i int
		var t int64
		if _, err := fmt.Sscan(strings.TrimPrefix(line, "saved "), &i, &t); err == nil && i >= 1 && i <= o.docs {
			saved[i-1] = t
			got++
		}
	}
	_, err := l.Expect("written")
	return saved, err
}

// collectArrivals waits for every replica process to hold the stream and check its
// databases; it returns the latency (ms) of every (replica, document) pair that arrived
// and the problems reported, and counts the complete replicas in res.
func collectArrivals(procs []*benchproc.Child, saved []int64, o options, res *stepResult) (lat []float64, problems []string, err error) {
	for _, c := range procs {
		c.Send(fmt.Sprintf("wait %d %d", o.docs, 60))
	}
	for _, c := range procs {
		for {
			line, err := c.ExpectAny("arr ", "checked ")
			if err != nil {
				return nil, nil, err
			}
			f := strings.Fields(line)
			if f[0] == "checked" {
				k, _ := strconv.Atoi(f[1])
				res.complete += k
				if p := strings.Join(f[2:], " "); p != "none" {
					problems = append(problems, p)
				}
				break
			}
			for i, s := range f[2:] {
				if i >= o.docs {
					break
				}
				if at, _ := strconv.ParseInt(s, 10, 64); at > 0 {
					lat = append(lat, float64(at-saved[i])/1e6)
				}
			}
		}
	}
	return lat, problems, nil
}
