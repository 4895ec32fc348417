package listener

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/flate"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

func setMaxConnections(cfg *Config, n int) { cfg.MaxConnections = n }

// bomber is a hostile BLIP client: it speaks valid BLIP 3 frames (running CRC, one deflate
// stream for the connection, sync-flushed per frame with the trailer stripped) but stuffs
// each compressed frame with as much inflated data as deflate allows (runs of zeros), so
// that a few KiB on the wire become megabytes in the receiver.
type bomber struct {
	ws        *websocket.Conn
	crc       uint32
	def       *flate.Writer
	out       bytes.Buffer
	nextNum   uint64
	done      chan struct{}
	closeCode int
	closeText string
}

func dialBomber(ctx context.Context, url string) (*bomber, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{blip.SubprotocolCBMobile3}, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, resp, err
	}
	b := &bomber{ws: ws, nextNum: 1, done: make(chan struct{})}
	b.def, _ = flate.NewWriter(&b.out, flate.BestCompression)
	go func() { // drain replies and ACKs so that the listener never blocks writing
		defer close(b.done)
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					b.closeCode, b.closeText = ce.Code, ce.Text
				}
				return
			}
			_, _ = io.Copy(io.Discard, r)
		}
	}()
	return b, resp, nil
}

// frame writes one MSG frame of request num carrying data (compressed).
func (b *bomber) frame(num uint64, data []byte, more bool) error {
	flags := byte(0x08) // MSG, compressed
	if more {
		flags |= 0x40
	}
	b.out.Reset()
	if _, err := b.def.Write(data); err != nil {
		return err
	}
	if err := b.def.Flush(); err != nil {
		return err
	}
	payload := b.out.Bytes()
	payload = payload[:len(payload)-4] // strip 00 00 ff ff
	b.crc = crc32.Update(b.crc, crc32.IEEETable, data)
	msg := binary.AppendUvarint(nil, num)
	msg = append(msg, flags)
	msg = append(msg, payload...)
	msg = binary.BigEndian.AppendUint32(msg, b.crc)
	_ = b.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return b.ws.WriteMessage(websocket.BinaryMessage, msg)
}

// propsPrefix encodes a request's properties with its length prefix.
func propsPrefix(profile string) []byte {
	p := []byte("Profile\x00" + profile + "\x00")
	return append(binary.AppendUvarint(nil, uint64(len(p))), p...)
}

// bomb sends count requests of the given profile, each made of frames frames of
// perFrame zero bytes, interleaving the frames of up to parallel requests at a time.
// It returns the number of wire bytes sent.
func (b *bomber) bomb(profile string, count, frames, perFrame, parallel int) (int, error) {
	zeros := make([]byte, perFrame)
	sent := 0
	type msg struct {
		num  uint64
		left int
	}
	var open []*msg
	started := 0
	for started < count || len(open) > 0 {
		for len(open) < parallel && started < count {
			open = append(open, &msg{num: b.nextNum, left: frames})
			b.nextNum++
			started++
		}
		for i := 0; i < len(open); {
			m := open[i]
			data := zeros
			if m.left == frames {
				data = append(propsPrefix(profile), zeros[len(propsPrefix(profile)):]...)
			}
			m.left--
			before := b.out.Len()
			_ = before
			if err := b.frame(m.num, data, m.left > 0); err != nil {
				return sent, fmt.Errorf("frame of #%d: %w", m.num, err)
			}
			sent += b.out.Len()
			if m.left == 0 {
				open = append(open[:i], open[i+1:]...)
				continue
			}
			i++
		}
	}
	return sent, nil
}

func (b *bomber) close() {
	_ = b.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
	}
	b.ws.Close()
}

// The memory tests run the listener in a child process (this test binary re-executed with
// hostileChildEnv set), so that its memory is measured apart from the attacker's and from
// other tests'. The child prints "PORT <n>", then answers each "stats" line on stdin with
// one line of figures, and exits on "quit" or end of input.
const hostileChildEnv = "P2PSYNC_HOSTILE_LISTENER_CHILD"

type memFigures struct {
	HeapSys, HeapInuse, HeapReleased, Sys uint64 // runtime.MemStats, in bytes
	VmHWM, VmRSS                          uint64 // /proc/self/status, in bytes
	Conns                                 int
}

func readProcStatus() (hwm, rss uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var v uint64
		if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &v); n == 1 {
			hwm = v << 10
		}
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &v); n == 1 {
			rss = v << 10
		}
	}
	return hwm, rss
}

func TestHostileListenerChild(t *testing.T) {
	if os.Getenv(hostileChildEnv) == "" {
		t.Skip("helper process for the hostile-input memory tests")
	}
	db, err := store.Open(context.Background(), t.TempDir()+"/db", store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := Config{Database: db, NetworkInterface: "127.0.0.1", DisableTLS: true}
	if v := os.Getenv(hostileChildEnv + "_MAXCONN"); v != "" {
		n, _ := strconv.Atoi(v)
		setMaxConnections(&cfg, n)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	fmt.Printf("PORT %d\n", l.Port())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "stats":
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			f := memFigures{HeapSys: ms.HeapSys, HeapInuse: ms.HeapInuse, HeapReleased: ms.HeapReleased, Sys: ms.Sys,
				Conns: l.Status().ConnectionCount}
			f.VmHWM, f.VmRSS = readProcStatus()
			b, _ := json.Marshal(f)
			fmt.Printf("STATS %s\n", b)
		case "quit":
			return
		}
	}
}

type hostileChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	port int
}

func startHostileChild(t *testing.T, extraEnv ...string) *hostileChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileListenerChild$", "-test.v")
	cmd.Env = append(append(os.Environ(), hostileChildEnv+"=1"), extraEnv...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
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
	c := &hostileChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for c.out.Scan() {
		if _, err := fmt.Sscanf(c.out.Text(), "PORT %d", &c.port); err == nil {
			return c
		}
	}
	t.Fatalf("child listener did not report its port: %v", c.out.Err())
	return nil
}

func (c *hostileChild) stats(t *testing.T) memFigures {
	t.Helper()
	if _, err := io.WriteString(c.in, "stats\n"); err != nil {
		t.Fatal(err)
	}
	for c.out.Scan() {
		if rest, ok := strings.CutPrefix(c.out.Text(), "STATS "); ok {
			var f memFigures
			if err := json.Unmarshal([]byte(rest), &f); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("child listener gave no stats: %v", c.out.Err())
	return memFigures{}
}

// waitNoConnections waits (up to 20 s) until the child listener has no connection left and
// returns its figures then.
func (c *hostileChild) waitNoConnections(t *testing.T) memFigures {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		f := c.stats(t)
		if f.Conns == 0 || time.Now().After(deadline) {
			return f
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *hostileChild) url() string { return fmt.Sprintf("ws://127.0.0.1:%d/db/_blipsync", c.port) }

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (f memFigures) String() string {
	return fmt.Sprintf("heap sys %s, heap in use %s, released %s, VmHWM %s, VmRSS %s, %d connections",
		mib(f.HeapSys), mib(f.HeapInuse), mib(f.HeapReleased), mib(f.VmHWM), mib(f.VmRSS), f.Conns)
}

// TestHostileInputMemory sends compression bombs over two connections (valid frames
// whose compressed payload inflates about 1000-fold: complete 16 MiB requests, then
// requests of 32 MiB interleaved, which pass the message size limit) to a listener at its
// defaults, and checks that its heap stays bounded and is given back once they close.
// Before the limits, this (about 100 KiB on the wire) took the heap past 256 MiB.
func TestHostileInputMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	child := startHostileChild(t)
	t.Logf("fresh: %v", child.stats(t))
	// "Idle" is a listener that has served: one ordinary connection (two 1 MiB documents,
	// within every limit) comes and goes first, so that code and runtime pages touched on
	// the first connection count as idle, as they do in a running service.
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, _, err := dialBomber(ctx, child.url())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer b.close()
		if _, err := b.bomb("rev", 2, 1, 1<<20, 1); err != nil {
			t.Fatalf("warm-up connection: %v", err)
		}
	}()
	idle := child.waitNoConnections(t)
	t.Logf("idle: %v", idle)
	conns := 2
	if n, err := strconv.Atoi(os.Getenv(hostileChildEnv + "_CONNS")); err == nil && n > 0 {
		conns = n // for measuring (README "Resource limits")
	}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, _, err := dialBomber(ctx, child.url())
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer b.close()
			const frame = 16<<20 - 1024
			wire, err := b.bomb("rev", 4, 1, frame, 1)
			if err == nil {
				var n int
				n, err = b.bomb("changes", 2, 2, frame, 2)
				wire += n
			}
			if err != nil {
				t.Errorf("connection %d: %v", i, err)
			}
			t.Logf("connection %d: sent %d wire bytes", i, wire)
		}(i)
	}
	wg.Wait()
	peak := child.stats(t)
	t.Logf("after the attack: %v", peak)
	// HeapSys only grows: it is the high-water mark of the heap.
	if limit := uint64(64<<20 + conns*(64<<20)); peak.HeapSys > limit {
		t.Errorf("listener heap reached %s under attack, limit %s", mib(peak.HeapSys), mib(limit))
	}
	after := child.waitNoConnections(t)
	// The listener gives memory back when its last connection ends; allow it a moment.
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = child.stats(t)
		if after.HeapSys-after.HeapReleased <= idle.HeapSys-idle.HeapReleased+8<<20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after close: %v", after)
	if after.Conns != 0 {
		t.Fatalf("%d connections still open", after.Conns)
	}
	if after.HeapInuse > idle.HeapInuse+4<<20 {
		t.Errorf("heap in use %s after the connections closed, %s when idle", mib(after.HeapInuse), mib(idle.HeapInuse))
	}
	if held, idleHeld := after.HeapSys-after.HeapReleased, idle.HeapSys-idle.HeapReleased; held > idleHeld+8<<20 {
		t.Errorf("listener keeps %s of heap from the system after the connections closed, %s when idle", mib(held), mib(idleHeld))
	}
	// README "Resource limits": resident size back within 10% of idle once they closed.
	if !raceEnabled && after.VmRSS > idle.VmRSS+idle.VmRSS/10 {
		t.Errorf("listener resident size %s after the connections closed, %s when idle (more than 10%% above)", mib(after.VmRSS), mib(idle.VmRSS))
	}
}

// The listener serves at most MaxConnections at once; more are answered 503 before the
// upgrade, and a slot is free again once a connection ends.
func TestMaxConnections(t *testing.T) {
	db := openDB(t, "db")
	l := start(t, Config{Database: db, NetworkInterface: "127.0.0.1", MaxConnections: 2})
	url := blipURL(l, "db")
	c1 := dial(t, url, blip.DialOptions{})
	dial(t, url, blip.DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := blip.Dial(ctx, url, blip.DialOptions{})
	var he *blip.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, want HTTP 503", err)
	}
	// The slots are taken before the upgrade; the status lists a connection once its
	// session is registered, a moment after the client's Dial returned.
	for deadline := time.Now().Add(5 * time.Second); l.Status().ConnectionCount < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := l.Status().ConnectionCount; n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	_ = c1.Close(blip.CloseNormal, "")
	<-c1.Done()
	deadline := time.Now().Add(10 * time.Second)
	for l.Status().ConnectionCount > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	dial(t, url, blip.DialOptions{}) // fails the test if refused
}
