// Command delta runs workload W4 of shared/bench/WORKLOAD.md: 1,000 documents of the
// ~100 KB set are pushed once from one database to another over loopback through a
// listener; then "kind" changes from "bench" to "edit1" in every document and the edits
// are pushed, once with delta sync and once without (each mode starts from its own pair
// of databases, in the same process). For the edit push it reports bytes on the wire
// (WebSocket payloads both ways, from the replicator's TransferStats), rev body bytes
// (the replicator's Stats) and wall time, and the delta/full ratio of wire bytes
// (target: <= 5%). Each measurement runs 3 times; min / median / max are printed.
//
// With -mbit R (W4-shaped, tests/bench/WORKLOAD.md) both pushes go through a proxy
// inside the benchmark (one remote URL, so the edit push knows the delta bases the
// first one left), which passes the edit push at most R Mbit/s each way; the time
// ratio full/delta is to be set against the byte ratio. A delta mode that sent no
// delta fails the benchmark.
//
// -cbmobile 3|4 chooses the subprotocol of the listener and the replicator (default 4,
// the engine's: under CBMobile_4 a delta's base is named by version; 3 sets
// DisableCBMobile4 on both); each push prints the subprotocol the listener agreed.
//
//	go run ./tests/bench/delta                   # 1,000 documents
//	go run ./tests/bench/delta -cbmobile 3       # the same over CBMobile_3
//	go run ./tests/bench/delta -quick            # smoke run (100 documents)
//	go run ./tests/bench/delta -mbit 10 -n 200   # W4-shaped
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"syscall"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/tests/bench/workload"
)

type result struct {
	wire      uint64 // WebSocket bytes both ways during the edit push
	body      uint64 // rev body bytes sent
	fullBody  uint64 // full body bytes of the same revisions
	deltas    uint64 // revisions sent as deltas
	revs      uint64
	wall      time.Duration
	cpu       time.Duration // user + system time of the process during the edit push
	converged bool
	retries   uint64 // of the edit push (the peer refused something for now, or the connection dropped)
	proto     string // the subprotocol the listener agreed for the edit push
}

func main() {
	n := flag.Int("n", 1000, "number of ~100 KB documents")
	runs := flag.Int("runs", 3, "runs of each mode")
	quick := flag.Bool("quick", false, "smoke run: 100 documents")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the edit pushes to the file")
	traceFile := flag.String("trace", "", "write an execution trace of the first edit push to the file")
	only := flag.String("mode", "", "run only this mode: full or delta (default both)")
	mbit := flag.Float64("mbit", 0, "W4-shaped: push the edits through a proxy limited to this many Mbit/s each way (0 = direct)")
	cbmobile := flag.Int("cbmobile", 4, "subprotocol of the listener and the replicator: 4 = BLIP_3+CBMobile_4 (version vectors, the engine's default), 3 = BLIP_3+CBMobile_3 (DisableCBMobile4 on both sides)")
	flag.Parse()
	if *cbmobile != 3 && *cbmobile != 4 {
		fmt.Fprintln(os.Stderr, "bench: -cbmobile must be 3 or 4")
		os.Exit(2)
	}
	disableCBMobile4 = *cbmobile == 3
	linkRate = *mbit * 1e6 / 8
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		profile = f
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		traceOut = f
	}
	if *quick {
		*n = 100
	}
	ctx := context.Background()
	link := "loopback"
	if linkRate > 0 {
		link = fmt.Sprintf("a %g Mbit/s shaped link (W4-shaped)", *mbit)
	}
	fmt.Printf("W4: %d documents of ~%d KB, edits pushed over %s, %d runs, CBMobile_%d requested\n", *n, workload.LargePayload/1000, link, *runs, *cbmobile)
	var full, delta []result
	for run := 0; run < *runs; run++ {
		for _, deltas := range []bool{false, true} {
			if (*only == "full" && deltas) || (*only == "delta" && !deltas) {
				continue
			}
			r, err := once(ctx, *n, deltas)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
			if !r.converged {
				fmt.Fprintln(os.Stderr, "bench: the databases differ after the edit push")
				os.Exit(1)
			}
			if deltas && r.deltas == 0 {
				// Nothing to compare then (the W4-shaped edit push once went to another
				// URL than the first push, so the replicator knew no delta base).
				fmt.Fprintln(os.Stderr, "bench: delta mode sent no revision as a delta")
				os.Exit(1)
			}
			mode := "full "
			if deltas {
				mode = "delta"
				delta = append(delta, r)
			} else {
				full = append(full, r)
			}
			fmt.Printf("  run %d %s: %s, wire %d B, rev bodies %d B of %d B full, %d/%d revs as deltas, %v (CPU %v)\n",
				run+1, mode, r.proto, r.wire, r.body, r.fullBody, r.deltas, r.revs, r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond))
			if r.retries > 0 {
				fmt.Printf("    (the edit push reconnected %d times)\n", r.retries)
			}
		}
	}
	report := func(name string, rs []result, f func(result) float64, unit string) {
		if len(rs) == 0 {
			return
		}
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		fmt.Printf("%-28s min %10.1f  median %10.1f  max %10.1f %s\n", name, v[0], v[len(v)/2], v[len(v)-1], unit)
	}
	wire := func(r result) float64 { return float64(r.wire) / 1e3 }
	wall := func(r result) float64 { return float64(r.wall) / float64(time.Millisecond) }
	report("edit push wire, full", full, wire, "KB")
	report("edit push wire, delta", delta, wire, "KB")
	report("edit push time, full", full, wall, "ms")
	report("edit push time, delta", delta, wall, "ms")
	cpu := func(r result) float64 { return float64(r.cpu) / float64(time.Millisecond) }
	report("edit push CPU, full", full, cpu, "ms")
	report("edit push CPU, delta", delta, cpu, "ms")
	// Per revision: what one update costs both processes' worth of work (the listener
	// and the replicator run in this process), the figure least disturbed by other load.
	perRev := func(r result) float64 { return float64(r.cpu) / float64(time.Microsecond) / float64(max(r.revs, 1)) }
	report("edit push CPU/rev, full", full, perRev, "us")
	report("edit push CPU/rev, delta", delta, perRev, "us")
	if len(full) == 0 || len(delta) == 0 {
		return
	}
	ratios := make([]result, len(full))
	for i := range full {
		ratios[i] = result{wire: delta[i].wire * 1e6 / full[i].wire} // parts per million
	}
	report("wire ratio delta/full", ratios, func(r result) float64 { return float64(r.wire) / 1e4 }, "% (target <= 5%)")
	speedups := make([]result, len(full))
	for i := range full {
		speedups[i] = result{wall: full[i].wall * 1000 / delta[i].wall} // per mille
	}
	report("time ratio full/delta", speedups, func(r result) float64 { return float64(r.wall) / 1000 }, "x faster with deltas (target >= 2)")
	cpuRatios := make([]result, len(full))
	for i := range full {
		cpuRatios[i] = result{cpu: full[i].cpu * 1000 / max(delta[i].cpu, 1)}
	}
	report("CPU ratio full/delta", cpuRatios, func(r result) float64 { return float64(r.cpu) / 1000 }, "x less CPU with deltas")
	fmt.Printf("%-28s %.1fx fewer bytes with deltas (medians)\n", "byte ratio full/delta", median(full, wire)/median(delta, wire))
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// cpuTime returns the user + system CPU time this process has used so far (the
// listener and the replicator both run in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// linkRate: bytes per second each way of the shaped link the edits are pushed over
// (-mbit; 0 = straight to the listener).
var linkRate float64

// disableCBMobile4 keeps the listener and the replicator on CBMobile_3 (-cbmobile 3).
var disableCBMobile4 bool

// profile receives a CPU profile of the edit push (-cpuprofile; the first run's only).
var profile *os.File

// traceOut receives an execution trace of the edit push (-trace; the first run's only).
var traceOut *os.File

// once builds a source and a destination database, pushes the documents, edits them and
// measures the push of the edits.
func once(ctx context.Context, n int, deltas bool) (result, error) {
	dir, err := os.MkdirTemp("", "p2p-bench-delta-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	src, err := store.Open(ctx, filepath.Join(dir, "src"), store.Config{})
	if err != nil {
		return result{}, err
	}
	defer src.Close()
	dst, err := store.Open(ctx, filepath.Join(dir, "dst"), store.Config{})
	if err != nil {
		return result{}, err
	}
	defer dst.Close()
	sc := src.DefaultCollection()
	write := func(edit bool) error {
		return src.InBatch(ctx, func(b *store.Batch) error {
			for i := 1; i <= n; i++ {
				id, body := workload.Doc("big-", i, workload.LargePayload)
				if edit {
					body = bytes.Replace(body, []byte(`"kind":"bench"`), []byte(`"kind":"edit1"`), 1)
				}
				if _, err := b.Save(sc, id, body, store.SaveOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := write(false); err != nil {
		return result{}, fmt.Errorf("write documents: %w", err)
	}
	l, err := listener.New(listener.Config{Database: dst, NetworkInterface: "127.0.0.1", EnableDeltaSync: deltas, DisableTLS: true,
		DisableCBMobile4: disableCBMobile4})
	if err != nil {
		return result{}, err
	}
	if err := l.Start(); err != nil {
		return result{}, err
	}
	defer l.Stop()
	url := fmt.Sprintf("ws://127.0.0.1:%d/%s", l.Port(), dst.Name())
	push := func(url string) (result, error) {
		r, err := replicator.New(replicator.Config{Database: src, URL: url, Type: replicator.Push, EnableDeltaSync: deltas,
			DisableCBMobile4: disableCBMobile4})
		if err != nil {
			return result{}, err
		}
		defer r.Stop()
		start, cpu0 := time.Now(), cpuTime()
		if err := r.Start(false); err != nil {
			return result{}, err
		}
		proto := watchSubprotocol(l)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		st, err := r.Wait(wctx)
		if err != nil {
			return result{}, err
		}
		if st.Error != nil {
			return result{}, fmt.Errorf("push: %w", st.Error)
		}
		wall, cpu := time.Since(start), cpuTime()-cpu0
		ts, rs := r.TransferStats(), r.Stats()
		return result{wire: ts.BytesSent + ts.BytesReceived, body: rs.BytesSent, fullBody: rs.FullBytesSent,
			deltas: rs.DeltasSent, revs: rs.RevsSent, wall: wall, cpu: cpu, proto: proto(), retries: r.Counters().Retries}, nil
	}
	var sh *shaper
	if linkRate > 0 {
		// W4-shaped: both pushes go through the proxy, so that the replicator sees one
		// remote (its record of what the peer has, the delta bases, is kept per URL),
		// but only the edit push is slowed down.
		if sh, err = newShaper(fmt.Sprintf("127.0.0.1:%d", l.Port()), 0); err != nil {
			return result{}, err
		}
		defer sh.Close()
		url = fmt.Sprintf("ws://127.0.0.1:%d/%s", sh.Port(), dst.Name())
	}
	if _, err := push(url); err != nil {
		return result{}, fmt.Errorf("first push: %w", err)
	}
	if sh != nil {
		sh.SetRate(linkRate)
	}
	if err := write(true); err != nil {
		return result{}, fmt.Errorf("edit documents: %w", err)
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err == nil {
			defer pprof.StopCPUProfile()
		}
		profile = nil
	}
	if traceOut != nil {
		if err := trace.Start(traceOut); err == nil {
			defer trace.Stop()
		}
		traceOut = nil
	}
	res, err := push(url)
	if err != nil {
		return result{}, fmt.Errorf("edit push: %w", err)
	}
	res.converged = true
	dc := dst.DefaultCollection()
	if same, err := sameRevisions(ctx, sc, dc, n); err != nil || !same {
		res.converged = false
	}
	for _, i := range []int{1, n / 2, n} {
		id, body := workload.Doc("big-", i, workload.LargePayload)
		want := bytes.Replace(body, []byte(`"kind":"bench"`), []byte(`"kind":"edit1"`), 1)
		d, err := dc.Get(ctx, id)
		if err != nil || !bytes.Equal(d.Body, want) {
			res.converged = false
		}
	}
	if c, err := dc.Count(ctx); err != nil || c != uint64(n) {
		res.converged = false
	}
	return res, nil
}

// sameRevisions reports whether every one of the n documents has the same current
// revision in both collections: revision ID and deletion flag, and under CBMobile_4 the
// version too (a revision pushed over CBMobile_3 arrives without the version it has here).
func sameRevisions(ctx context.Context, a, b *store.Collection, n int) (bool, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i], _ = workload.Doc("big-", i+1, 0)
	}
	ra, err := a.CurrentRevisions(ctx, ids)
	if err != nil {
		return false, err
	}
	rb, err := b.CurrentRevisions(ctx, ids)
	if err != nil {
		return false, err
	}
	for i := range ids {
		if ra[i].RevID == "" || ra[i].RevID != rb[i].RevID || ra[i].Deleted != rb[i].Deleted ||
			(!disableCBMobile4 && ra[i].Version != rb[i].Version) {
			return false, nil
		}
	}
	return true, nil
}

// watchSubprotocol samples the listener's connections (every millisecond, outside the
// measured work's path) until one appears, and returns a function giving the
// subprotocol it was agreed on ("unseen" if the push ended before one was seen).
func watchSubprotocol(l *listener.Listener) func() string {
	done, seen := make(chan struct{}), make(chan string, 1)
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			for _, c := range l.Status().Connections {
				if c.Subprotocol != "" {
					seen <- c.Subprotocol
					return
				}
			}
			select {
			case <-done:
				seen <- "unseen"
				return
			case <-t.C:
			}
		}
	}()
	return func() string {
		close(done)
		return <-seen
	}
}
