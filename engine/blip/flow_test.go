package blip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A 50 MB message to a slow reader: the sender is paused by flow control, the receiver
// never buffers more than a few hundred KB, and the heap does not grow with the message.
func TestLargeMessageSlowReader(t *testing.T) {
	const size = 50 << 20
	pattern := make([]byte, 65521) // prime length: frames never line up with it
	for i := range pattern {
		pattern[i] = byte(i*7 + i>>8)
	}
	body := bytes.Repeat(pattern, size/len(pattern)+1)[:size]
	want := sha256.Sum256(body)

	var peakBuffered atomic.Int64
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.Handle("big", func(ctx context.Context, req *Message) (*Message, error) {
			h := sha256.New()
			buf := make([]byte, 32<<10)
			r := req.BodyReader()
			n := 0
			for reads := 1; ; reads++ {
				k, err := r.Read(buf)
				h.Write(buf[:k])
				n += k
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, err
				}
				if reads%4 == 0 {
					time.Sleep(time.Millisecond) // ~100 MB/s at most: slower than loopback
				}
			}
			peakBuffered.Store(int64(req.in.peakBuffered()))
			return &Message{Properties: Properties{{"n", fmt.Sprint(n)}}, Body: h.Sum(nil)}, nil
		})
	})

	// Keep garbage from hiding the signal: collect when the heap grows 10%.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
		}
	}()

	req := NewRequest("big")
	req.Body = body
	start := time.Now()
	resp, err := p.client.Send(context.Background(), req)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	got, _ := resp.ReadBody()
	if !bytes.Equal(got, want[:]) || resp.Properties.Get("n") != fmt.Sprint(size) {
		t.Fatalf("body corrupted: n=%s", resp.Properties.Get("n"))
	}
	growth := int64(peakHeap.Load()) - int64(base.HeapInuse)
	t.Logf("50 MB in %v; heap growth %.1f MB; receiver peak buffered %d bytes; sender peak unacked %d, paused %d times",
		time.Since(start).Round(time.Millisecond), float64(growth)/1e6, peakBuffered.Load(),
		p.client.peakUnacked.Load(), p.client.freezes.Load())

	// Receiver side: what sits unread is bounded by the credit limit plus one send window.
	if max := int64(creditSoftLimit + sendWindow + 2*defaultFrameSize); peakBuffered.Load() > max {
		t.Errorf("receiver buffered up to %d bytes, want <= %d", peakBuffered.Load(), max)
	}
	// Sender side: never more than a window (plus the frame that crossed it) unacknowledged,
	// and it did have to wait for the slow reader.
	if max := uint64(sendWindow + defaultFrameSize); p.client.peakUnacked.Load() > max {
		t.Errorf("sender had %d bytes unacknowledged, want <= %d", p.client.peakUnacked.Load(), max)
	}
	if p.client.freezes.Load() == 0 {
		t.Error("sender never paused for the slow reader")
	}
	// The heap never came near the message size (buffering it would add 50 MB).
	if growth > 20<<20 {
		t.Errorf("heap grew by %d bytes while streaming 50 MB", growth)
	}
}

// rawServer runs a test-controlled WebSocket peer speaking raw frames (one connection).
func rawServer(t *testing.T, script func(ws *websocket.Conn)) *httptest.Server {
	t.Helper()
	finished := make(chan struct{})
	var started atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !started.CompareAndSwap(false, true) {
			http.Error(w, "one connection only", http.StatusConflict)
			return
		}
		defer close(finished)
		up := websocket.Upgrader{Subprotocols: []string{SubprotocolCBMobile3}}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("raw upgrade: %v", err)
			return
		}
		defer ws.Close()
		script(ws)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		if started.Load() {
			<-finished
		}
		srv.Close()
	})
	return srv
}

func dialClient(t *testing.T, srv *httptest.Server, cfg Config, setup func(*Conn)) *Conn {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	c, _, err := Dial(context.Background(), wsURL(srv), DialOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(c)
	}
	c.Start()
	t.Cleanup(func() {
		_ = c.Close(CloseNormal, "")
		waitDone(t, c)
	})
	return c
}

// The sender stops after 128,000 unacknowledged bytes of a message and resumes on ACK.
func TestSendWindowWaitsForAck(t *testing.T) {
	type report struct {
		before, after int
	}
	done := make(chan report, 1)
	srv := rawServer(t, func(ws *websocket.Conn) {
		var dec decoder
		received := 0
		readUntilQuiet := func() error {
			for {
				_ = ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				_, b, err := ws.ReadMessage()
				if err != nil {
					var ne interface{ Timeout() bool }
					if errors.As(err, &ne) && ne.Timeout() {
						return nil
					}
					return err
				}
				f, err := dec.decode(b)
				if err != nil {
					return err
				}
				received += f.raw
				if !f.more() {
					return nil
				}
			}
		}
		if err := readUntilQuiet(); err != nil {
			t.Error(err)
			return
		}
		before := received
		// Acknowledge everything: the rest must follow. (gorilla can't read after a
		// timeout, so a second connection state is not needed: the deadline only fired
		// if the client stalled, which is the point.)
		ack := appendAck(nil, 1, TypeRequest, uint64(received))
		if err := ws.WriteMessage(websocket.BinaryMessage, ack); err != nil {
			t.Error(err)
			return
		}
		done <- report{before, received}
	})
	c := dialClient(t, srv, Config{}, nil)
	req := NewRequest("bulk")
	req.NoReply = true
	req.Body = make([]byte, 1<<20)
	if _, err := c.Send(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.before < sendWindow || r.before > sendWindow+defaultFrameSize {
		t.Errorf("sender sent %d bytes before waiting for an ACK, want %d..%d", r.before, sendWindow, sendWindow+defaultFrameSize)
	}
	if c.freezes.Load() == 0 {
		t.Error("message never paused")
	}
}

// Incoming multi-frame messages are acknowledged every 50,000 bytes with the byte count of
// frames received (after the header, checksum included), as ACKMSG #n with Urgent|NoReply.
func TestAcksForIncomingMessage(t *testing.T) {
	type result struct {
		prefix []uint64 // cumulative raw bytes after each frame
		acks   []uint64
	}
	res := make(chan result, 1)
	srv := rawServer(t, func(ws *websocket.Conn) {
		var e encoder
		var out result
		head, _ := appendProperties(nil, Properties{{"Profile", "bulk"}})
		chunk := make([]byte, 12000)
		total := 0
		for i := 0; i < 20; i++ {
			parts := [][]byte{chunk}
			if i == 0 {
				parts = [][]byte{head, chunk}
			}
			flags := byte(TypeRequest)
			if i < 19 {
				flags |= flagMoreComing
			}
			b, _ := e.encode(1, flags, parts...)
			total += len(b) - 2
			out.prefix = append(out.prefix, uint64(total))
			if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
				t.Error(err)
				return
			}
		}
		var dec decoder
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Error(err)
				return
			}
			if len(b) < 2 || b[1] != 0x34 {
				f, err := dec.decode(b)
				if err != nil || f.typ() != TypeResponse || f.num != 1 {
					t.Errorf("expected RPY #1, got %x (%v)", b, err)
				}
				res <- out
				return
			}
			n, k := binary.Uvarint(b[2:])
			if b[0] != 1 || k != len(b)-2 {
				t.Errorf("bad ACK % x", b)
			}
			out.acks = append(out.acks, n)
		}
	})
	dialClient(t, srv, Config{}, func(c *Conn) {
		c.Handle("bulk", func(ctx context.Context, req *Message) (*Message, error) {
			_, err := req.ReadBody()
			return nil, err
		})
	})
	r := <-res
	// ACKs still queued when a newer count comes along are merged, so count coverage, not ACKs.
	total := r.prefix[len(r.prefix)-1]
	if len(r.acks) == 0 || r.acks[len(r.acks)-1] < total-ackInterval-12100 {
		t.Fatalf("ACKs %v for %d bytes: the last 50,000-byte step was not acknowledged", r.acks, total)
	}
	var prev uint64
	for _, a := range r.acks {
		found := false
		for _, p := range r.prefix {
			found = found || p == a
		}
		if !found || a < prev+ackInterval {
			t.Errorf("ACK %d (previous %d) is not a frame boundary >= 50,000 bytes later; boundaries %v", a, prev, r.prefix)
		}
		prev = a
	}
}

// A peer that ignores flow control cannot make the receiver buffer without bound: past the
// hard limit the reader stops reading the socket until the handler catches up.
func TestReaderPausesAtHardLimit(t *testing.T) {
	const frames = 1500 // ~24 MB, beyond the 16 MiB in-flight limit
	release := make(chan struct{})
	serverCh := make(chan *Conn, 1)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, UpgradeOptions{Config: Config{Logger: testLogger(t), HeartbeatInterval: 250 * time.Millisecond}})
		if err != nil {
			t.Error(err)
			return
		}
		serverCh <- c
		c.Handle("flood", func(ctx context.Context, req *Message) (*Message, error) {
			<-release
			n, err := io.Copy(io.Discard, req.BodyReader())
			got.Store(n)
			return nil, err
		})
		c.Start()
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(srv), http.Header{"Sec-WebSocket-Protocol": {SubprotocolCBMobile3}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// A reader that answers the server's pings (gorilla does so only while reading) and
	// passes on the response; ACKs are read and dropped. Without it, a receive gap under
	// load before the pause would make the server's heartbeat declare this peer dead.
	responded := make(chan error, 1)
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				responded <- err
				return
			}
			if len(b) > 1 && b[1]&flagTypeMask == byte(TypeResponse) {
				responded <- nil
				return
			}
		}
	}()
	writeErr := make(chan error, 1)
	go func() { // ignore ACKs: just write
		var e encoder
		head, _ := appendProperties(nil, Properties{{"Profile", "flood"}})
		chunk := bytes.Repeat([]byte("x"), 16000)
		for i := 0; i < frames; i++ {
			parts := [][]byte{chunk}
			if i == 0 {
				parts = [][]byte{head, chunk}
			}
			flags := byte(TypeRequest) | flagMoreComing
			if i == frames-1 {
				flags = byte(TypeRequest)
			}
			b, _ := e.encode(1, flags, parts...)
			if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	// Wait until the server stopped reading (the writer blocks), then check the bound.
	server := <-serverCh
	deadline := time.Now().Add(20 * time.Second)
	for !server.readerPaused.Load() {
		if time.Now().After(deadline) {
			t.Fatal("reader never paused")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(800 * time.Millisecond) // several heartbeat intervals: pausing must not look like a dead peer
	if peak := server.peakInflight.Load(); peak > defaultMaxBuffered+maxIncomingFrame {
		t.Errorf("buffered %d bytes, hard limit %d", peak, defaultMaxBuffered)
	}
	close(release)
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if err := <-responded; err != nil {
		t.Fatal(err)
	}
	if got.Load() != frames*16000 {
		t.Errorf("handler read %d bytes, want %d", got.Load(), frames*16000)
	}
	if server.Err() != nil {
		t.Errorf("server ended: %v", server.Err())
	}
	_ = server.Close(CloseNormal, "")
	waitDone(t, server)
}

// The outbox keeps requests' first frames in number order and lets urgent messages ahead.
func TestOutboxScheduling(t *testing.T) {
	c := &Conn{}
	var order []string
	mk := func(num uint64, resp, urgent bool, frames int) *outMsg {
		m := &outMsg{key: outKey{num, resp}, body: make([]byte, frames)}
		if urgent {
			m.flags |= flagUrgent
		}
		return m
	}
	step := func() {
		m, _ := c.popLocked()
		if m == nil {
			return
		}
		name := fmt.Sprintf("%d", m.key.num)
		if m.key.response {
			name = "r" + name
		}
		if m.urgent() {
			name += "u"
		}
		order = append(order, name)
		m.off++
		if m.off < m.size() {
			c.insertLocked(m)
		}
	}
	// Three long normal requests in progress; an urgent one jumps right behind the head.
	c.insertLocked(mk(1, false, false, 3))
	c.insertLocked(mk(2, false, false, 3))
	step()
	step() // 1 and 2 started
	c.insertLocked(mk(3, false, true, 1))
	for len(c.outbox) > 0 {
		step()
	}
	if got := fmt.Sprint(order); got != "[1 2 1 3u 2 1 2]" {
		t.Errorf("urgent after head: %s", got)
	}

	// An urgent new request never passes an unstarted earlier request; an urgent response
	// goes after the last urgent message.
	order = nil
	c.insertLocked(mk(4, false, false, 2))
	c.insertLocked(mk(5, false, false, 2))
	c.insertLocked(mk(6, false, true, 1))
	c.insertLocked(mk(9, true, true, 1)) // an urgent response may pass them
	for len(c.outbox) > 0 {
		step()
	}
	if got := fmt.Sprint(order); got != "[4 5 6u r9u 4 5]" {
		t.Errorf("first-frame order: %s", got)
	}

	// Urgent messages queue behind earlier urgent ones, one normal message in between.
	order = nil
	c.insertLocked(mk(10, false, false, 4))
	step()
	c.insertLocked(mk(11, false, false, 4))
	step()
	step()
	c.insertLocked(mk(12, false, true, 2))
	c.insertLocked(mk(13, false, true, 2))
	for len(c.outbox) > 0 {
		step()
	}
	if got := fmt.Sprint(order); got != "[10 10 11 10 12u 11 13u 10 12u 11 13u 11]" {
		t.Errorf("urgent interleaving: %s", got)
	}
}

// Both peers push many large messages at each other at once, through handlers that read
// slowly: socket buffers fill in both directions and most messages sit paused for ACKs.
// Everything must still arrive intact (no deadlock between the two readers and writers).
func TestBidirectionalBulk(t *testing.T) {
	const perSide, size = 24, 2 << 20
	sink := func(ctx context.Context, req *Message) (*Message, error) {
		h := sha256.New()
		buf := make([]byte, 8<<10)
		r := req.BodyReader()
		for i := 0; ; i++ {
			n, err := r.Read(buf)
			h.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if i%16 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		return &Message{Body: h.Sum(nil)}, nil
	}
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		client.Handle("sink", sink)
		server.Handle("sink", sink)
	})
	errs := make(chan error, 2*perSide)
	for side, c := range []*Conn{p.client, p.server} {
		for i := 0; i < perSide; i++ {
			go func() {
				body := bytes.Repeat([]byte{byte(side*perSide + i)}, size)
				want := sha256.Sum256(body)
				req := NewRequest("sink")
				req.Body = body
				resp, err := c.Send(context.Background(), req)
				if err == nil {
					var got []byte
					if got, err = resp.ReadBody(); err == nil && !bytes.Equal(got, want[:]) {
						err = fmt.Errorf("side %d message %d corrupted", side, i)
					}
				}
				errs <- err
			}()
		}
	}
	timeout := time.After(45 * time.Second)
	for i := 0; i < 2*perSide; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-timeout:
			t.Fatalf("stuck after %d of %d messages", i, 2*perSide)
		}
	}
}
