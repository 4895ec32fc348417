package replicator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

const (
	childDirEnv  = "P2P_TEST_CHILD_DB"
	childPortEnv = "P2P_TEST_CHILD_PORT"
	childSeedEnv = "P2P_TEST_CHILD_SEED"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(runChildListener(dir))
	}
	os.Exit(m.Run())
}

// runChildListener is the child process: a listener on its own database. It prints
// "PORT <n>" once listening and exits cleanly when stdin closes.
func runChildListener(dir string) int {
	ctx := context.Background()
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		return 2
	}
	if n, _ := strconv.Atoi(os.Getenv(childSeedEnv)); n > 0 {
		if last, _ := db.DefaultCollection().LastSequence(ctx); last == 0 {
			err := db.InBatch(ctx, func(b *store.Batch) error {
				for i := 0; i < n; i++ {
					if _, err := b.Save(db.DefaultCollection(), fmt.Sprintf("child-%04d", i), []byte(`{"child":true}`), store.SaveOptions{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "child: seed:", err)
				return 2
			}
		}
	}
	port, _ := strconv.Atoi(os.Getenv(childPortEnv))
	l, err := listener.New(listener.Config{Database: db, Port: port, NetworkInterface: "127.0.0.1"})
	if err == nil {
		err = l.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: listen:", err)
		return 2
	}
	fmt.Printf("PORT %d\n", l.Port())
	_, _ = io.Copy(io.Discard, os.Stdin)
	l.Stop()
	db.Close()
	return 0
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	port  int
}

func startChild(t *testing.T, dir string, port, seed int) *child {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childPortEnv+"="+strconv.Itoa(port), childSeedEnv+"="+strconv.Itoa(seed))
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
		line, _ := bufio.NewReader(out).ReadString('\n')
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "PORT "); ok {
			n, _ := strconv.Atoi(p)
			return &child{cmd: cmd, stdin: stdin, port: n}
		}
		// The previous child may still hold the database lock for a moment.
		_ = cmd.Wait()
		if time.Now().After(deadline) {
			t.Fatalf("child did not start (last output %q)", line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("child exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		c.kill(t)
		t.Error("child did not exit")
	}
}

// A peer killed with SIGKILL in the middle of a push-and-pull replication and restarted
// on the same port: the replicator retries and both sides converge with nothing lost.
func TestPeerKilledMidReplication(t *testing.T) {
	const localN, childN = 1500, 300
	dir := t.TempDir() + "/child"
	local := openDB(t, "local")
	saveN(t, local.DefaultCollection(), "local-", localN)
	ch := startChild(t, dir, 0, childN)
	port := ch.port
	url := fmt.Sprintf("ws://127.0.0.1:%d/child", port)
	r := newRepl(t, Config{Database: local, URL: url, MaxAttempts: -1,
		Limits: syncproto.Limits{MaxRevsInFlight: 2, ChangesBatch: 100}})
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "partial replication", func() bool { return r.Status().Progress.Completed >= 400 })
	ch.kill(t)
	eventually(t, 10*time.Second, "offline after the kill", func() bool { return r.Status().Activity == Offline })
	ch = startChild(t, dir, port, childN)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := r.Wait(ctx)
	if err != nil || st.Error != nil {
		ch.kill(t)
		t.Fatalf("replication did not complete after the restart: %v %+v", err, st)
	}
	ch.stop(t)
	remote, err := store.Open(context.Background(), dir, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if got := count(t, remote.DefaultCollection()); got != localN+childN {
		t.Errorf("killed peer has %d docs, want %d", got, localN+childN)
	}
	if got := count(t, local.DefaultCollection()); got != localN+childN {
		t.Errorf("local has %d docs, want %d", got, localN+childN)
	}
	if !sameDocs(t, local.DefaultCollection(), remote.DefaultCollection()) {
		t.Error("databases differ")
	}
}
