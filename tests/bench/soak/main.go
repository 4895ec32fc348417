// Command soak runs continuous two-way replication with churn for a long time and prints
// the resources of both sides, to show that they stay flat.
//
// Two processes on loopback: this one holds database A, writes into it and runs a
// continuous push-and-pull replicator; the other (this binary re-executed with -serve)
// holds database B behind a listener and writes into it too. Both write a random mix of
// inserts, updates, deletions and re-creations of their own documents and concurrent
// edits of shared documents (conflicts, resolved by the default resolver), at -interval
// between writes on each side.
//
// At the start, every -every and at the end it prints, for each side, the resident set
// (VmRSS), the Go heap in use, the live heap (what a forced collection leaves), the open
// file descriptors and the goroutines, and the
// document throughput: writes on each side and revisions replicated each way. After
// -duration the writers stop, replication is given time to catch up, both processes
// close their databases, and the two databases are compared (storetest.Diff); A's own
// documents are checked against what its writer last committed (Churn.CheckOwn). It
// exits 1 if the databases differ in any way (a document deleted on both sides by
// different tombstones included) or a write of A was lost.
//
//	go run ./tests/bench/soak                       # 10 minutes
//	go run ./tests/bench/soak -duration 3m -every 15s
//	go run ./tests/bench/soak -duration 4m -every 1m -heapprofile /tmp/prof
//	go tool pprof -top -inuse_space -base /tmp/prof/A-60s.pprof /tmp/prof/A-240s.pprof
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
	"github.com/p2psync/libp2psync/tests/bench/benchproc"
)

var (
	interval = flag.Duration("interval", 5*time.Millisecond, "pause between two writes on each side")
	own      = flag.Int("own", 1000, "own document IDs per side")
	shared   = flag.Int("shared", 50, "shared document IDs (edited by both sides)")
	seed     = flag.Int64("seed", 0, "seed of the writers (0 = from the clock)")
	heapDir  = flag.String("heapprofile", "", "directory: at each report, each process writes a pprof heap profile there (A-<secs>s.pprof, B-<secs>s.pprof), after a GC; compare two with go tool pprof -top -inuse_space -base")
)

// writeHeapProfile collects garbage and writes the in-use heap profile to dir/name.
func writeHeapProfile(name string) error {
	runtime.GC()
	f, err := os.Create(filepath.Join(*heapDir, name))
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	serve := flag.String("serve", "", "internal: run as the listener process on this database directory")
	duration := flag.Duration("duration", 10*time.Minute, "how long to churn")
	every := flag.Duration("every", 30*time.Second, "print the resources this often")
	flag.Parse()
	if *seed == 0 {
		*seed = time.Now().UnixNano()
	}
	if *heapDir != "" {
		// Sample finely enough to see small retained objects (the default is every 512 KiB).
		runtime.MemProfileRate = 4096
	}
	var err error
	if *serve != "" {
		err = serveChild(*serve)
	} else {
		err = run(*duration, *every)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// ---- resources ----

type usage struct {
	rss, heap, live   uint64
	fds, goroutines   int
	ops, docs, errors int64
}

// selfUsage reads the resources of this process. heap is the heap in use as it stands
// (live objects plus garbage not yet collected, so it swings with the collector's
// cycle); live is the heap still allocated right after a forced collection: the
// objects actually retained, the number that shows a leak.
func selfUsage() usage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u := usage{rss: procStatus("self", "VmRSS:"), heap: ms.HeapInuse, fds: openFDs(), goroutines: runtime.NumGoroutine()}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	u.live = ms.HeapAlloc
	return u
}

// procStatus reads a size field (kB) of /proc/<pid>/status, in bytes.
func procStatus(pid, field string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func (u usage) String() string {
	return fmt.Sprintf("rss %6.1f MiB  heap %6.1f MiB  live %6.2f MiB  fds %3d  goroutines %4d", mib(u.rss), mib(u.heap), mib(u.live), u.fds, u.goroutines)
}

func (u usage) encode() string {
	return fmt.Sprintf("%d %d %d %d %d %d %d %d", u.rss, u.heap, u.live, u.fds, u.goroutines, u.ops, u.docs, u.errors)
}

func decodeUsage(s string) (usage, error) {
	var u usage
	_, err := fmt.Sscanf(s, "%d %d %d %d %d %d %d %d", &u.rss, &u.heap, &u.live, &u.fds, &u.goroutines, &u.ops, &u.docs, &u.errors)
	return u, err
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// ---- writers ----

// writer runs a storetest.Churn until stopped.
type writer struct {
	churn  *storetest.Churn
	stop   chan struct{}
	done   chan struct{}
	errors atomic.Int64
	last   atomic.Value // string: the last write error
}

func startWriter(c *store.Collection, side string, seed int64) *writer {
	ch := storetest.NewChurn(c, side, seed)
	ch.Own, ch.Shared = *own, *shared
	w := &writer{churn: ch, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ctx := context.Background()
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(*interval):
			}
			if err := ch.Step(ctx); err != nil {
				w.errors.Add(1)
				w.last.Store(err.Error())
			}
		}
	}()
	return w
}

func (w *writer) halt() {
	close(w.stop)
	<-w.done
}

// ---- listener process ----

// serveChild serves database B and writes into it. Commands on stdin: "stats" prints
// "stats <usage>", "stop" stops the writer ("stopped"), "quit" (or EOF) closes and exits.
func serveChild(dir string) error {
	ctx := context.Background()
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return err
	}
	defer db.Close()
	var received atomic.Int64
	db.DefaultCollection().AddChangeListener(func(ch store.CollectionChange) {
		for _, c := range ch.Changes {
			if !strings.HasPrefix(c.DocID, "b-") {
				received.Add(1)
			}
		}
	})
	l, err := listener.New(listener.Config{Database: db, NetworkInterface: "127.0.0.1", DisableTLS: true})
	if err != nil {
		return err
	}
	if err := l.Start(); err != nil {
		return err
	}
	defer l.Stop()
	w := startWriter(db.DefaultCollection(), "b", *seed+1)
	stopped := false
	fmt.Printf("port %d\n", l.Port())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if name, ok := strings.CutPrefix(strings.TrimSpace(in.Text()), "profile "); ok {
			if err := writeHeapProfile(name); err != nil {
				fmt.Fprintln(os.Stderr, "soak: heap profile:", err)
			}
			fmt.Println("profiled")
			continue
		}
		switch strings.TrimSpace(in.Text()) {
		case "stats":
			u := selfUsage()
			u.ops, u.docs, u.errors = int64(w.churn.Ops()), received.Load(), w.errors.Load()
			fmt.Printf("stats %s\n", u.encode())
		case "stop":
			if !stopped {
				w.halt()
				stopped = true
			}
			fmt.Println("stopped")
		case "quit":
			if !stopped {
				w.halt()
			}
			return nil
		}
	}
	if !stopped {
		w.halt()
	}
	return nil
}

type child struct {
	*benchproc.Child
	port int
}

func startChild(dir string) (*child, error) {
	bc, err := benchproc.Start("-serve", dir, "-seed", strconv.FormatInt(*seed, 10),
		"-interval", interval.String(), "-own", strconv.Itoa(*own), "-shared", strconv.Itoa(*shared), "-heapprofile", *heapDir)
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

func (c *child) stats() (usage, error) {
	c.Send("stats")
	line, err := c.Expect("stats ")
	if err != nil {
		return usage{}, err
	}
	return decodeUsage(line)
}

// ---- the soak ----

func run(duration, every time.Duration) error {
	ctx := context.Background()
	scratch, err := os.MkdirTemp("", "p2p-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	dirA, dirB := filepath.Join(scratch, "a"), filepath.Join(scratch, "b")
	fmt.Printf("soak: %v of continuous push-and-pull with churn (a write every %v on each side, %d own + %d shared document IDs), seed %d\n",
		duration, *interval, *own, *shared, *seed)
	db, err := store.Open(ctx, dirA, store.Config{})
	if err != nil {
		return err
	}
	dbClosed := false
	defer func() {
		if !dbClosed {
			db.Close()
		}
	}()
	ch, err := startChild(dirB)
	if err != nil {
		return err
	}
	childDone := false
	defer func() {
		if !childDone {
			_ = ch.Quit()
		}
	}()
	r, err := replicator.New(replicator.Config{Database: db, URL: fmt.Sprintf("ws://127.0.0.1:%d/b", ch.port), Continuous: true})
	if err != nil {
		return err
	}
	var pushed, pulled, docErrors atomic.Int64
	var errMu sync.Mutex
	var lastDocErr string
	r.AddDocumentListener(func(dr replicator.DocumentReplication) {
		for _, d := range dr.Documents {
			switch {
			case d.Error != nil:
				docErrors.Add(1)
				errMu.Lock()
				lastDocErr = d.ID + ": " + d.Error.Error()
				errMu.Unlock()
			case dr.Direction == replicator.DirectionPush:
				pushed.Add(1)
			default:
				pulled.Add(1)
			}
		}
	})
	var lastStatusErr atomic.Value
	r.AddChangeListener(func(s replicator.Status) {
		if s.Error != nil {
			lastStatusErr.Store(s.Error.Error())
		}
	})
	if err := r.Start(false); err != nil {
		return err
	}
	defer r.Stop()
	w := startWriter(db.DefaultCollection(), "a", *seed)

	began := time.Now()
	var prevOps, prevDocs int64
	prevAt := began
	report := func(label string) (usage, usage, error) {
		a := selfUsage()
		a.ops, a.docs, a.errors = int64(w.churn.Ops()), pushed.Load()+pulled.Load(), w.errors.Load()
		b, err := ch.stats()
		if err != nil {
			return a, b, err
		}
		now := time.Now()
		if *heapDir != "" {
			secs := int(now.Sub(began).Round(time.Second).Seconds())
			if err := writeHeapProfile(fmt.Sprintf("A-%ds.pprof", secs)); err != nil {
				return a, b, err
			}
			ch.Send(fmt.Sprintf("profile B-%ds.pprof", secs))
			if _, err := ch.Expect("profiled"); err != nil {
				return a, b, err
			}
		}
		ops, docs := a.ops+b.ops, a.docs
		if label == "end" { // rates over the whole run
			prevOps, prevDocs, prevAt = 0, 0, began
		}
		secs := now.Sub(prevAt).Seconds()
		fmt.Printf("%-6s t=%-7v A: %s | B: %s | writes a=%d b=%d (%.0f/s) replicated push=%d pull=%d (%.0f/s) errors: writes %d/%d, documents %d\n",
			label, now.Sub(began).Round(time.Second), a, b, a.ops, b.ops, float64(ops-prevOps)/secs,
			pushed.Load(), pulled.Load(), float64(docs-prevDocs)/secs, a.errors, b.errors, docErrors.Load())
		prevOps, prevDocs, prevAt = ops, docs, now
		return a, b, nil
	}
	startA, startB, err := report("start")
	if err != nil {
		return err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	end := time.After(duration)
	var peakA, peakB usage
loop:
	for {
		select {
		case <-tick.C:
			a, b, err := report("")
			if err != nil {
				return err
			}
			peakA.rss, peakB.rss = max(peakA.rss, a.rss), max(peakB.rss, b.rss)
			peakA.fds, peakB.fds = max(peakA.fds, a.fds), max(peakB.fds, b.fds)
			peakA.goroutines, peakB.goroutines = max(peakA.goroutines, a.goroutines), max(peakB.goroutines, b.goroutines)
		case <-end:
			break loop
		}
	}
	endA, endB, err := report("end")
	if err != nil {
		return err
	}
	fmt.Printf("flatness (start -> end, peak): A rss %.1f -> %.1f (%.1f) MiB, fds %d -> %d (%d), goroutines %d -> %d (%d); B rss %.1f -> %.1f (%.1f) MiB, fds %d -> %d (%d), goroutines %d -> %d (%d)\n",
		mib(startA.rss), mib(endA.rss), mib(max(peakA.rss, endA.rss)), startA.fds, endA.fds, max(peakA.fds, endA.fds), startA.goroutines, endA.goroutines, max(peakA.goroutines, endA.goroutines),
		mib(startB.rss), mib(endB.rss), mib(max(peakB.rss, endB.rss)), startB.fds, endB.fds, max(peakB.fds, endB.fds), startB.goroutines, endB.goroutines, max(peakB.goroutines, endB.goroutines))
	if v := lastStatusErr.Load(); v != nil {
		fmt.Printf("last replicator error: %v\n", v)
	}
	errMu.Lock()
	if lastDocErr != "" {
		fmt.Printf("last document error: %s\n", lastDocErr)
	}
	errMu.Unlock()
	if v := w.last.Load(); v != nil {
		fmt.Printf("last write error on A: %v\n", v)
	}

	// Stop writing; wait until nothing has been replicated for 3 s; compare.
	w.halt()
	ch.Send("stop")
	if _, err := ch.Expect("stopped"); err != nil {
		return err
	}
	settle := time.Now()
	last, quietSince := pushed.Load()+pulled.Load(), time.Now()
	for time.Since(quietSince) < 3*time.Second && time.Since(settle) < 2*time.Minute {
		time.Sleep(200 * time.Millisecond)
		if n := pushed.Load() + pulled.Load(); n != last {
			last, quietSince = n, time.Now()
		}
	}
	fmt.Printf("replication settled %v after the writers stopped (status %+v)\n", time.Since(settle).Round(100*time.Millisecond), r.Status())
	r.Stop()
	_ = ch.Quit()
	childDone = true
	dbB, err := store.Open(ctx, dirB, store.Config{NoCreate: true})
	if err != nil {
		return err
	}
	defer dbB.Close()
	diff, err := storetest.Diff(ctx, db.DefaultCollection(), dbB.DefaultCollection())
	if err != nil {
		return err
	}
	// Every difference is a divergence; tombstones are counted apart only to be named in
	// the summary (they were the known divergence of issue 12).
	tombstones := 0
	var diffs []string
	for _, d := range diff {
		if d.Kind == storetest.DiffTombstone {
			tombstones++
		}
		diffs = append(diffs, d.Text)
	}
	n, _ := db.DefaultCollection().Count(ctx)
	lost, err := w.churn.CheckOwn(ctx, db.DefaultCollection())
	if err != nil {
		return err
	}
	fmt.Printf("convergence: %d live documents; %d differences (%d of them documents deleted on both sides by different tombstones), %d lost writes of A\n",
		n, len(diffs), tombstones, len(lost))
	for _, line := range append(diffs, lost...)[:min(len(diffs)+len(lost), 20)] {
		fmt.Println("  ", line)
	}
	if len(diffs) > 0 || len(lost) > 0 {
		return errors.New("the databases did not converge")
	}
	return nil
}
