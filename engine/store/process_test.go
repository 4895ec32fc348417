package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests in this file re-execute the test binary as a child process (see
// TestMain) to check what another process sees: the lock, and a crash in
// the middle of a batch.
const (
	childModeEnv = "STORE_TEST_CHILD_MODE"
	childDirEnv  = "STORE_TEST_CHILD_DIR"
)

// Child exit codes.
const (
	childOK    = 0
	childBusy  = 3
	childOther = 4
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode, os.Getenv(childDirEnv)))
	}
	os.Exit(m.Run())
}

func runChild(mode, dir string) int {
	ctx := context.Background()
	switch mode {
	case "open": // try to open, report the outcome, close
		db, err := Open(ctx, dir, Config{})
		if err != nil {
			fmt.Println(err)
			if errors.Is(err, ErrBusy) {
				return childBusy
			}
			return childOther
		}
		db.Close()
		return childOK
	case "hold": // open, announce, hold until stdin closes
		db, err := Open(ctx, dir, Config{})
		if err != nil {
			fmt.Println("error:", err)
			return childOther
		}
		fmt.Println("open")
		io.Copy(io.Discard, os.Stdin)
		if err := db.Close(); err != nil {
			return childOther
		}
		return childOK
	case "writer": // commit rounds of big batches forever, announcing progress
		db, err := Open(ctx, dir, Config{})
		if err != nil {
			fmt.Println("error:", err)
			return childOther
		}
		c := db.DefaultCollection()
		body := []byte(`{"pad":"` + strings.Repeat("x", 12000) + `"}`)
		for round := 1; ; round++ {
			b, err := db.BeginBatch(ctx)
			if err != nil {
				fmt.Println("error:", err)
				return childOther
			}
			for i := 0; i < crashBatch; i++ {
				if _, err := b.Save(c, fmt.Sprintf("r%d-%d", round, i), body, SaveOptions{}); err != nil {
					fmt.Println("error:", err)
					return childOther
				}
				if i == crashBatch/2 {
					fmt.Printf("mid %d\n", round)
				}
			}
			if err := b.Commit(); err != nil {
				fmt.Println("error:", err)
				return childOther
			}
			fmt.Printf("committed %d\n", round)
		}
	}
	return childOther
}

// crashBatch is big enough (≈18 MB of bodies) to spill the page cache into
// the WAL before the commit.
const crashBatch = 1500

func child(t *testing.T, mode, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childDirEnv+"="+dir)
	return cmd
}

func TestSecondOpenerIsBusy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// Another process holds the database.
	holder := child(t, "hold", dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "open\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	_, err = Open(ctx, dir, Config{})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("open while another process holds it: %v", err)
	}
	if err := Delete(dir); !errors.Is(err, ErrBusy) {
		t.Fatalf("delete while another process holds it: %v", err)
	}
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}

	// This process holds it; a child is refused, and so is a second Open here.
	db, err := Open(ctx, dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := child(t, "open", dir).Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != childBusy {
		t.Fatalf("child open while we hold the db: %v, output %q", err, out)
	}
	if !strings.Contains(string(out), "already open") {
		t.Errorf("child's error message is unclear: %q", out)
	}
	if _, err := Open(ctx, dir, Config{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second open in the same process: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := child(t, "open", dir).Output(); err != nil {
		t.Fatalf("child open after close: %v %q", err, out)
	}
}

func TestLockReleasedWhenHolderKilled(t *testing.T) {
	dir := t.TempDir()
	holder := child(t, "hold", dir)
	stdin, _ := holder.StdinPipe() // kept open: the holder would close the db on EOF
	defer stdin.Close()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	db, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatalf("open after the holder was killed: %v", err)
	}
	db.Close()
}

// TestKillMidBatch SIGKILLs a writer in the middle of a big batch and, in a
// second run, at a moment that may fall inside the commit. After reopening,
// every round is entirely present or entirely absent and the file is intact.
func TestKillMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes; skipped with -short")
	}
	tests := []struct {
		name  string
		at    string        // progress line to wait for
		delay time.Duration // then wait this long before the kill
	}{
		{"during saves", "mid 1", 0},
		{"around commit", "mid 2", 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := child(t, "writer", dir)
			stdout, _ := w.StdoutPipe()
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			committed := 0
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "error") {
					t.Fatalf("writer: %s", line)
				}
				if strings.HasPrefix(line, "committed") {
					committed++
				}
				if line == tt.at {
					break
				}
			}
			time.Sleep(tt.delay)
			w.Process.Signal(syscall.SIGKILL)
			w.Wait()
			checkRounds(t, dir, committed)
		})
	}
}

func checkRounds(t *testing.T, dir string, committedBefore int) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, dir, Config{NoCreate: true})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	var integrity string
	if err := db.rdb.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	c := db.DefaultCollection()
	n, _ := c.Count(ctx)
	if n%crashBatch != 0 || n < uint64(committedBefore*crashBatch) {
		t.Fatalf("count after crash = %d: not whole batches (at least %d committed)", n, committedBefore)
	}
	rounds := int(n / crashBatch)
	for r := 1; r <= rounds+1; r++ {
		present := 0
		for _, i := range []int{0, crashBatch / 2, crashBatch - 1} {
			if _, err := c.Get(ctx, fmt.Sprintf("r%d-%d", r, i)); err == nil {
				present++
			}
		}
		if (r <= rounds && present != 3) || (r > rounds && present != 0) {
			t.Fatalf("round %d of %d: %d of 3 probes present", r, rounds, present)
		}
	}
	// The counters agree with the rows, and writing resumes.
	var rows, maxSeq int64
	db.rdb.QueryRowContext(ctx, "SELECT count(*), coalesce(max(seq), 0) FROM "+docsTable(c.id)+" WHERE deleted = 0").Scan(&rows, &maxSeq)
	last, _ := c.LastSequence(ctx)
	if uint64(rows) != n || uint64(maxSeq) != last {
		t.Fatalf("rows %d / count %d, max seq %d / last sequence %d", rows, n, maxSeq, last)
	}
	d, err := c.Save(ctx, "after-crash", []byte(`{}`), SaveOptions{})
	if err != nil || d.Sequence != last+1 {
		t.Fatalf("save after crash: %v %v", d, err)
	}
}
