// Package benchproc holds what the two-process benchmarks share: a child process
// (the benchmark re-executed as the listener) driven by text lines, peak RSS and CPU
// time from /proc, and the min / median / max summary line. It is the harness of
// tests/bench/replication, factored out for tests/bench/blobs.
package benchproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// VmHWM reads the peak resident set size (bytes) of a process ("self" or a pid) from
// /proc; 0 if it cannot.
func VmHWM(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// ResetHWM resets this process's peak RSS counter (Linux clear_refs 5), so that VmHWM
// then measures from now on.
func ResetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// SelfCPU returns this process's user+system CPU seconds.
func SelfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// ProcCPU returns a live process's user+system CPU seconds from /proc/<pid>/stat.
func ProcCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // clock ticks (USER_HZ = 100)
}

// Report prints "what: min / median / max" of v with format.
func Report(what string, v []float64, format string) {
	if len(v) == 0 {
		return
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	f := func(x float64) string { return fmt.Sprintf(format, x) }
	fmt.Printf("%s: %s / %s / %s\n", what, f(s[0]), f(s[len(s)/2]), f(s[len(s)-1]))
}

// MiB and MB convert byte counts for printing.
func MiB(b uint64) float64 { return float64(b) / (1 << 20) }
func MB(b uint64) float64  { return float64(b) / 1e6 }

// Child is a benchmark process started by Start: commands go to its standard input one
// per line, its standard output is read line by line, its standard error is ours.
type Child struct {
	Cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	// Timeout bounds each Expect (default 60 s).
	Timeout time.Duration
}

// Start runs this executable again with args.
func Start(args ...string) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{Cmd: cmd, stdin: stdin, lines: make(chan string, 1024), Timeout: 60 * time.Second}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

// Expect waits for a line starting with prefix (skipping others) and returns the rest.
func (c *Child) Expect(prefix string) (string, error) {
	timeout := time.After(c.Timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return "", fmt.Errorf("child process exited before printing %q", prefix)
			}
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return rest, nil
			}
		case <-timeout:
			return "", fmt.Errorf("child process: no %q line within %v", prefix, c.Timeout)
		}
	}
}

// ExpectAny waits for a line starting with one of prefixes (skipping others) and returns
// the whole line.
func (c *Child) ExpectAny(prefixes ...string) (string, error) {
	timeout := time.After(c.Timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return "", fmt.Errorf("child process exited before printing any of %q", prefixes)
			}
			for _, p := range prefixes {
				if strings.HasPrefix(line, p) {
					return line, nil
				}
			}
		case <-timeout:
			return "", fmt.Errorf("child process: none of %q within %v", prefixes, c.Timeout)
		}
	}
}

// Send writes one command line.
func (c *Child) Send(cmd string) { fmt.Fprintln(c.stdin, cmd) }

// RSS asks the child for its VmHWM (it answers "rss <bytes>"; see Serve helpers).
func (c *Child) RSS() uint64 {
	c.Send("rss")
	v, err := c.Expect("rss ")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(v, 10, 64)
	return n
}

// Quit sends "quit" and waits for the process to exit.
func (c *Child) Quit() error {
	c.Send("quit")
	_ = c.stdin.Close()
	return c.Cmd.Wait()
}

// StartCPUProfile starts a CPU profile of this process into the file at path (""
// means none); a failure ends the benchmark. pprof.StopCPUProfile ends the profile.
func StartCPUProfile(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Pick is one figure of every run, in run order, for Report.
func Pick[T any](runs []T, f func(T) float64) []float64 {
	v := make([]float64, 0, len(runs))
	for _, r := range runs {
		v = append(v, f(r))
	}
	return v
}
