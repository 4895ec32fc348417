package replicator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// The test binary re-executes itself as a peer process (see runChild): a listener or a
// continuous push-and-pull replicator on its own database, writing documents all along.
const (
	childModeEnv  = "P2P_TEST_CHILD_MODE" // "listener" or "replicator"
	childDirEnv   = "P2P_TEST_CHILD_DB"
	childPortEnv  = "P2P_TEST_CHILD_PORT"  // listener: port to listen on (0 = any); replicator: the listener's
	childStartEnv = "P2P_TEST_CHILD_START" // index of the first document this life writes
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		if strings.HasPrefix(mode, "blob-") {
			os.Exit(runBlobChild(mode, os.Getenv(childDirEnv))) // blob_process_test.go
		}
		os.Exit(runChild(mode, os.Getenv(childDirEnv)))
	}
	cleanup, err := setupSecurityFixtures() // security_helpers_test.go
	if err != nil {
		fmt.Fprintln(os.Stderr, "build fixtures:", err)
		os.Exit(2)
	}
	code := m.Run()
	cleanup()
	if code == 0 {
		if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// runChild is a peer process. It writes documents "<db name>-NNNNN" from $START on, ten
// per transaction, printing "committed N" after each commit (documents below N are
// durable), and "busy" once it has seen replication traffic from the other side in this
// life (listener: a pushed document arrived; replicator: a document was pushed). The
// listener prints "PORT n" when listening. On stdin, "stop" ends the writing ("stopped
// N"); "finish" (replicator) also stops the continuous replicator and runs a one-shot
// push-and-pull with the same checkpoints, printing "done" or "error …". EOF closes
// everything and exits 0.
func runChild(mode, dir string) int {
	ctx := context.Background()
	fail := func(what string, err error) int {
		fmt.Printf("error %s: %v\n", what, err)
		return 2
	}
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return fail("open", err)
	}
	defer db.Close()
	coll := db.DefaultCollection()
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		fmt.Printf(format+"\n", args...)
		outMu.Unlock()
	}
	var busyOnce sync.Once
	busy := func() { busyOnce.Do(func() { say("busy") }) }
	port, _ := strconv.Atoi(os.Getenv(childPortEnv))
	var r *Replicator
	var rcfg Config
	switch mode {
	case "listener":
		coll.AddChangeListener(func(ch store.CollectionChange) {
			for _, c := range ch.Changes {
				if !strings.HasPrefix(c.DocID, db.Name()+"-") {
					busy()
				}
			}
		})
		l, err := listener.New(listener.Config{Database: db, Port: port, NetworkInterface: "127.0.0.1", DisableTLS: true})
		if err == nil {
			err = l.Start()
		}
		if err != nil {
			return fail("listen", err)
		}
		defer l.Stop()
		say("PORT %d", l.Port())
	case "replicator":
		rcfg = Config{Database: db, URL: fmt.Sprintf("ws://127.0.0.1:%d/listener", port), Continuous: true,
			MaxAttempts: -1, RetryBase: 20 * time.Millisecond, MaxAttemptWait: 200 * time.Millisecond,
			CheckpointInterval: 50 * time.Millisecond, Limits: syncproto.Limits{ChangesBatch: 50}}
		if r, err = New(rcfg); err != nil {
			return fail("replicator", err)
		}
		r.AddDocumentListener(func(dr DocumentReplication) {
			if dr.Direction == DirectionPush {
				busy()
			}
		})
		if err := r.Start(false); err != nil {
			return fail("start", err)
		}
		defer r.Stop()
	default:
		return fail("mode", fmt.Errorf("unknown mode %q", mode))
	}

	stop := make(chan struct{})
	stopped := make(chan int)
	go func() {
		n, _ := strconv.Atoi(os.Getenv(childStartEnv))
		for {
			select {
			case <-stop:
				stopped <- n
				return
			case <-time.After(5 * time.Millisecond):
			}
			err := db.InBatch(ctx, func(b *store.Batch) error {
				for i := n; i < n+10; i++ {
					body := fmt.Sprintf(`{"by":%q,"i":%d,"pid":%d}`, db.Name(), i, os.Getpid())
					if _, err := b.Save(coll, fmt.Sprintf("%s-%05d", db.Name(), i), []byte(body), store.SaveOptions{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				say("error write: %v", err)
				<-stop
				stopped <- n
				return
			}
			n += 10
			say("committed %d", n)
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	writing := true
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case "stop", "finish":
			if writing {
				close(stop)
				say("stopped %d", <-stopped)
				writing = false
			}
			if strings.TrimSpace(in.Text()) == "stop" || r == nil {
				continue
			}
			r.Stop()
			if err := finalOneShot(ctx, rcfg, 60*time.Second, nil); err != nil {
				say("error one-shot: %v", err)
				continue
			}
			say("done")
		}
	}
	if writing {
		close(stop)
		<-stopped
	}
	return 0
}

// peerProcess is a running child.
type peerProcess struct {
	mode      string
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	lines     chan string   // every line but "committed N"
	committed *atomic.Int64 // the highest "committed N" of the side, over all its lives
	port      int
}

// startPeer starts a child on dir, writing from document start on. A listener restarted
// on its previous port may have to wait for the killed one's socket and database lock.
func startPeer(t *testing.T, mode, dir string, port int, committed *atomic.Int64) *peerProcess {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childDirEnv+"="+dir,
			childPortEnv+"="+strconv.Itoa(port), childStartEnv+"="+strconv.FormatInt(committed.Load(), 10))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &peerProcess{mode: mode, cmd: cmd, stdin: stdin, lines: make(chan string, 64), committed: committed}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
					n, _ := strconv.ParseInt(rest, 10, 64)
					for cur := committed.Load(); n > cur && !committed.CompareAndSwap(cur, n); cur = committed.Load() {
					}
					continue
				}
				p.lines <- sc.Text()
			}
			close(p.lines)
		}()
		if mode != "listener" {
			return p
		}
		line, ok := <-p.lines
		if rest, found := strings.CutPrefix(line, "PORT "); ok && found {
			p.port, _ = strconv.Atoi(rest)
			return p
		}
		_ = cmd.Wait()
		if time.Now().After(deadline) {
			t.Fatalf("listener process did not start (last output %q)", line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// await reads lines until one starts with prefix; it fails on "error" lines and on
// timeout.
func (p *peerProcess) await(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	timer := time.After(timeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s process exited while waiting for %q", p.mode, prefix)
			}
			if strings.HasPrefix(line, "error") {
				t.Fatalf("%s process: %s", p.mode, line)
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return strings.TrimSpace(rest)
			}
		case <-timer:
			t.Fatalf("%s process: no %q within %v", p.mode, prefix, timeout)
		}
	}
}

// kill sends SIGKILL and waits until everything it printed has been read.
func (p *peerProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	for range p.lines {
	}
	_ = p.cmd.Wait()
}

// close ends the process cleanly (stdin EOF).
func (p *peerProcess) close(t *testing.T) {
	t.Helper()
	_ = p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s process exit: %v", p.mode, err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Errorf("%s process did not exit", p.mode)
	}
}

// Two processes replicate continuously (push and pull) while both write; in turn the
// listener's process and the replicator's process are killed with SIGKILL in the middle
// of a push, and restarted on the same database (the listener on the same port). At the
// end both databases are identical and hold every document either process reported
// committed.
func TestPeersKilledMidPush(t *testing.T) {
	const rounds = 6
	rng := rand.New(rand.NewSource(faultSeed(t)))
	base := t.TempDir()
	dirL, dirR := filepath.Join(base, "listener"), filepath.Join(base, "replicator")
	var committedL, committedR atomic.Int64
	lp := startPeer(t, "listener", dirL, 0, &committedL)
	port := lp.port
	rp := startPeer(t, "replicator", dirR, port, &committedR)
	defer func() {
		if t.Failed() {
			lp.kill()
			rp.kill()
		}
	}()
	for round := 0; round < rounds; round++ {
		victim, committed, dir, mode := lp, &committedL, dirL, "listener"
		if round%2 == 1 {
			victim, committed, dir, mode = rp, &committedR, dirR, "replicator"
		}
		// The victim is in the middle of a push: it has pushed, or received pushed,
		// documents in this life, and both sides keep writing.
		victim.await(t, "busy", 60*time.Second)
		time.Sleep(time.Duration(rng.Intn(250)) * time.Millisecond)
		victim.kill()
		t.Logf("round %d: killed the %s process (listener committed %d, replicator %d)", round+1, mode, committedL.Load(), committedR.Load())
		// Restarting from the last reported count rewrites documents the killed process may
		// have committed without reporting: a second revision of them, not a conflict.
		restarted := startPeer(t, mode, dir, port, committed)
		if mode == "listener" {
			lp = restarted
		} else {
			rp = restarted
		}
	}
	// Stop writing, then let the replicator finish with a one-shot run from the
	// checkpoints the kills left behind.
	_, _ = fmt.Fprintln(lp.stdin, "stop")
	lp.await(t, "stopped ", 30*time.Second)
	_, _ = fmt.Fprintln(rp.stdin, "finish")
	rp.await(t, "stopped ", 30*time.Second)
	rp.await(t, "done", 90*time.Second)
	rp.close(t)
	lp.close(t)

	ctx := context.Background()
	var colls []*store.Collection
	for _, dir := range []string{dirL, dirR} {
		db, err := store.Open(ctx, dir, store.Config{NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		colls = append(colls, db.DefaultCollection())
	}
	diff, err := storetest.Diff(ctx, colls[0], colls[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diff[:min(len(diff), 40)] {
		t.Errorf("listener (A) and replicator (B) databases differ: %s", d)
	}
	// Diff accepts one version under two rev-tree IDs; over CBMobile_4 the revTree property
	// makes them one (else a later CBMobile_3 session would see a conflict).
	for _, d := range revIDDiffs(t, colls[0], colls[1]) {
		t.Errorf("rev-tree IDs differ: %s", d)
	}
	for i, c := range colls {
		for _, w := range []struct {
			prefix string
			n      int64
		}{{"listener", committedL.Load()}, {"replicator", committedR.Load()}} {
			for k := int64(0); k < w.n; k++ {
				id := fmt.Sprintf("%s-%05d", w.prefix, k)
				if _, err := c.Get(ctx, id); err != nil {
					t.Errorf("%s database: %s, committed by the %s process, is missing: %v", []string{"listener", "replicator"}[i], id, w.prefix, err)
					break
				}
			}
		}
	}
	t.Logf("listener committed %d documents, replicator %d; %d documents on each side", committedL.Load(), committedR.Load(), count(t, colls[0]))
}

// finalOneShot runs cfg once more as a one-shot replication without retries, until it
// completes or timeout passes, and stops it; onDoc (nil = none) hears its documents.
// The child processes end with it, so that everything they hold reaches the peer.
func finalOneShot(ctx context.Context, cfg Config, timeout time.Duration, onDoc func(DocumentReplication)) error {
	cfg.Continuous, cfg.MaxAttempts = false, 0
	r, err := New(cfg)
	if err != nil {
		return err
	}
	defer r.Stop()
	if onDoc != nil {
		r.AddDocumentListener(onDoc)
	}
	if err := r.Start(false); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := r.Wait(wctx)
	if err == nil {
		err = st.Error
	}
	return err
}

// revIDDiffs lists the documents (at most 40) whose current rev-tree IDs differ between a and b.
func revIDDiffs(t testing.TB, a, b *store.Collection) []string {
	t.Helper()
	ctx := context.Background()
	chs, err := a.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range chs {
		db, err := b.GetWithDeleted(ctx, ch.DocID)
		if err == nil && db.RevID != ch.RevID && len(out) < 40 {
			out = append(out, fmt.Sprintf("%q: A %s, B %s (version %s)", ch.DocID, ch.RevID, db.RevID, db.Version))
		}
	}
	return out
}
