package blip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A peer that stops answering (never reads, so never pongs) is detected by the heartbeat.
func TestHeartbeatDetectsSilentPeer(t *testing.T) {
	quit := make(chan struct{})
	srv := rawServer(t, func(ws *websocket.Conn) { <-quit })
	defer close(quit)
	start := time.Now()
	c := dialClient(t, srv, Config{HeartbeatInterval: 100 * time.Millisecond, PongTimeout: 200 * time.Millisecond}, nil)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("silent peer not detected")
	}
	err := c.Err()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseAbnormal || !errors.Is(err, ErrTimeout) {
		t.Errorf("Err = %v, want a 1006 CloseError wrapping ErrTimeout", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("detected after %v, want about 300 ms", d)
	}
}

// A responsive peer is pinged after each silent interval and the connection stays up.
func TestHeartbeatKeepsLivePeer(t *testing.T) {
	var pings atomic.Int32
	srv := rawServer(t, func(ws *websocket.Conn) {
		ws.SetPingHandler(func(data string) error {
			pings.Add(1)
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	c := dialClient(t, srv, Config{HeartbeatInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for pings.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d pings", pings.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
	// Two Conns with short heartbeats stay up while idle.
	p := newPair(t, Config{HeartbeatInterval: 30 * time.Millisecond}, Config{HeartbeatInterval: 30 * time.Millisecond},
		func(client, server *Conn) { server.Handle("echo", echo) })
	time.Sleep(300 * time.Millisecond)
	if _, err := p.client.Send(context.Background(), NewRequest("echo")); err != nil {
		t.Fatalf("after idle period: %v", err)
	}
}

// The peer's TCP connection drops in the middle of our message: pending requests fail with
// ErrClosed, and Err is a transient 1006 CloseError.
func TestPeerDropsWhileSending(t *testing.T) {
	srv := rawServer(t, func(ws *websocket.Conn) {
		_, _, _ = ws.ReadMessage() // first frame of the big request
		_ = ws.NetConn().Close()   // no close frame
	})
	c := dialClient(t, srv, Config{}, nil)
	req := NewRequest("big")
	req.Body = make([]byte, 4<<20)
	_, err := c.Send(context.Background(), req)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Send = %v, want ErrClosed", err)
	}
	waitDone(t, c)
	var ce *CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != CloseAbnormal || !ce.Remote {
		t.Errorf("Err = %#v, want remote 1006", c.Err())
	}
	if !errors.As(err, &ce) || ce.Code != CloseAbnormal {
		t.Errorf("the failed Send's error %v should carry the 1006 close too", err)
	}
}

// The peer drops in the middle of sending us a request: the handler's body read fails.
func TestPeerDropsWhileReceiving(t *testing.T) {
	srv := rawServer(t, func(ws *websocket.Conn) {
		var e encoder
		head, _ := appendProperties(nil, Properties{{"Profile", "rev"}})
		b, _ := e.encode(1, byte(TypeRequest)|flagMoreComing, head, []byte(`{"partial":`))
		_ = ws.WriteMessage(websocket.BinaryMessage, b)
		time.Sleep(50 * time.Millisecond)
		_ = ws.NetConn().Close()
	})
	readErr := make(chan error, 1)
	c := dialClient(t, srv, Config{}, func(c *Conn) {
		c.Handle("rev", func(ctx context.Context, req *Message) (*Message, error) {
			_, err := io.ReadAll(req.BodyReader())
			readErr <- err
			return nil, err
		})
	})
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("body read error = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler still reading")
	}
	waitDone(t, c)
	if ce := (*CloseError)(nil); !errors.As(c.Err(), &ce) || ce.Code != CloseAbnormal {
		t.Errorf("Err = %v, want an abnormal close (1006)", c.Err())
	}
}

// badInputServer starts a server Conn; the test talks to it with a raw WebSocket.
func badInputServer(t *testing.T, cfg Config, setup func(*Conn)) (*websocket.Conn, <-chan *Conn) {
	t.Helper()
	cfg.Logger = testLogger(t)
	conns := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, UpgradeOptions{Config: cfg})
		if err != nil {
			t.Error(err)
			return
		}
		c.Handle("echo", echo)
		if setup != nil {
			setup(c)
		}
		c.Start()
		conns <- c
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(srv), http.Header{"Sec-WebSocket-Protocol": {SubprotocolCBMobile3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws, conns
}

// frames builds a frame sequence with one running checksum, as a peer would.
type frameBuilder struct{ e encoder }

func (fb *frameBuilder) msg(num uint64, flags byte, parts ...[]byte) []byte {
	fb.e.level = 9
	b, _ := fb.e.encode(num, flags, parts...)
	return bytes.Clone(b)
}

func props(kv ...string) []byte {
	var p Properties
	for i := 0; i+1 < len(kv); i += 2 {
		p = append(p, Property{kv[i], kv[i+1]})
	}
	b, _ := appendProperties(nil, p)
	return b
}

func TestBadInputClosesWith1002(t *testing.T) {
	uvarint := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	zeros := make([]byte, 600<<10)
	tests := []struct {
		name     string
		cfg      Config
		frames   func(fb *frameBuilder) [][]byte
		text     bool
		tooLarge bool
	}{
		{name: "empty frame", frames: func(fb *frameBuilder) [][]byte { return [][]byte{{}} }},
		{name: "truncated varint", frames: func(fb *frameBuilder) [][]byte { return [][]byte{{0x81}} }},
		{name: "bogus varint", frames: func(fb *frameBuilder) [][]byte { return [][]byte{bytes.Repeat([]byte{0xff}, 12)} }},
		{name: "unknown flag bit", frames: func(fb *frameBuilder) [][]byte { return [][]byte{{0x01, 0x80, 0x01, 0x00, 0, 0, 0, 0}} }},
		{name: "missing checksum", frames: func(fb *frameBuilder) [][]byte { return [][]byte{{0x01, 0x00, 0x00}} }},
		{name: "checksum mismatch", frames: func(fb *frameBuilder) [][]byte {
			b := fb.msg(1, 0, props("Profile", "echo"))
			b[len(b)-1] ^= 0x55
			return [][]byte{b}
		}},
		{name: "checksum not running", frames: func(fb *frameBuilder) [][]byte {
			first := fb.msg(1, 0, props("Profile", "echo"))
			var fresh frameBuilder
			return [][]byte{first, fresh.msg(2, 0, props("Profile", "echo"))}
		}},
		{name: "oversized properties", tooLarge: true, frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, flagMoreComing, uvarint(200_000), []byte("Profile\x00"))}
		}},
		{name: "properties not terminated", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, 0, uvarint(4), []byte("ab\x00c"))}
		}},
		{name: "property without value", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, 0, uvarint(2), []byte("a\x00"))}
		}},
		{name: "duplicate property", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, 0, uvarint(8), []byte("a\x001\x00a\x002\x00"))}
		}},
		{name: "ends inside properties", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, 0, uvarint(10), []byte("abc"))}
		}},
		{name: "no properties length", frames: func(fb *frameBuilder) [][]byte { return [][]byte{fb.msg(1, 0)} }},
		{name: "reply to unknown request", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, byte(TypeResponse), props())}
		}},
		{name: "error reply to unknown request", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(7, byte(TypeError), props("Error-Code", "1"))}
		}},
		{name: "request number skips", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(2, 0, props("Profile", "echo"))}
		}},
		{name: "request number reused", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, flagNoReply, props("Profile", "echo")), fb.msg(1, flagNoReply, props("Profile", "echo"))}
		}},
		{name: "text message", text: true},
		{name: "bad deflate data", frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{{0x01, flagCompressed, 0xff, 0xfe, 0xfd, 0xfc, 0, 0, 0, 0}}
		}},
		{name: "malformed ack", frames: func(fb *frameBuilder) [][]byte { return [][]byte{{0x01, 0x34, 0x80}} }},
		{name: "frame too large", tooLarge: true, frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{append([]byte{0x01, 0x00}, make([]byte, maxIncomingFrame+10)...)}
		}},
		{name: "decompression bomb (frame)", tooLarge: true, frames: func(fb *frameBuilder) [][]byte {
			return [][]byte{fb.msg(1, flagCompressed, props("Profile", "echo"), zeros)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, conns := badInputServer(t, tt.cfg, func(c *Conn) {
				c.recv.dec.maxInflate = 512 << 10 // keep the bomb test fast under -race
			})
			var fb frameBuilder
			if tt.text {
				if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, f := range tt.frames(&fb) {
					if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The raw peer sees a close frame with 1002.
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			var closeErr *websocket.CloseError
			for {
				_, _, err := ws.ReadMessage()
				if err != nil {
					if !errors.As(err, &closeErr) {
						t.Fatalf("raw peer read: %v, want a close frame", err)
					}
					break
				}
			}
			if closeErr.Code != CloseProtocolError {
				t.Errorf("close code %d (%q), want 1002", closeErr.Code, closeErr.Text)
			}
			c := <-conns
			waitDone(t, c)
			var ce *CloseError
			if !errors.As(c.Err(), &ce) || ce.Code != CloseProtocolError || !errors.Is(c.Err(), ErrProtocol) || ce.Remote {
				t.Errorf("server Err = %v, want local 1002 wrapping ErrProtocol", c.Err())
			}
			if tt.tooLarge && !errors.Is(c.Err(), ErrTooLarge) {
				t.Errorf("server Err = %v, want ErrTooLarge too", c.Err())
			}
		})
	}
}

// Frames of unknown type are dropped; ACKs for unknown messages are ignored.
func TestIgnoredFrames(t *testing.T) {
	ws, conns := badInputServer(t, Config{}, nil)
	var fb frameBuilder
	frames := [][]byte{
		{0x01, 0x03, 0xde, 0xad}, // type 3
		{0x09, 0x34, 0x05},       // ACK of a request never sent
		fb.msg(1, 0, props("Profile", "echo", "x", "y"), []byte("hi")),
	}
	for _, f := range frames {
		if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
			t.Fatal(err)
		}
	}
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var dec decoder
	f, err := dec.decode(b)
	if err != nil || f.typ() != TypeResponse || f.num != 1 || !bytes.HasSuffix(f.data, []byte("hi")) {
		t.Errorf("reply %+v, %v", f, err)
	}
	c := <-conns
	if c.Err() != nil {
		t.Errorf("connection ended: %v", c.Err())
	}
	go func() { // answer the close handshake
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	_ = c.Close(CloseNormal, "")
}

// ReadBody stops at MaxBodySize without breaking the connection.
func TestReadBodyCap(t *testing.T) {
	result := make(chan error, 1)
	p := newPair(t, Config{}, Config{MaxBodySize: 100_000}, func(client, server *Conn) {
		server.Handle("put", func(ctx context.Context, req *Message) (*Message, error) {
			_, err := req.ReadBody()
			result <- err
			return nil, err
		})
		server.Handle("echo", echo)
	})
	req := NewRequest("put")
	req.Body = make([]byte, 1<<20)
	if _, err := p.client.Send(context.Background(), req); err == nil {
		t.Error("oversized body accepted")
	}
	if err := <-result; !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadBody = %v, want ErrTooLarge", err)
	}
	small := NewRequest("echo")
	small.Body = []byte("still fine")
	m, err := p.client.Send(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := m.ReadBody(); string(b) != "still fine" {
		t.Errorf("after cap: %q", b)
	}
}

type rawReply struct {
	typ   MessageType
	props Properties
}

// readReplies reads frames from a raw peer until it has the replies (RPY or ERR) to n
// requests, and returns them by request number.
func readReplies(t *testing.T, ws *websocket.Conn, n int) map[uint64]rawReply {
	t.Helper()
	var dec decoder
	out := map[uint64]rawReply{}
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(out) < n {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for replies (have %v): %v", out, err)
		}
		f, err := dec.decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if f.typ() == TypeResponse || f.typ() == TypeError {
			if _, seen := out[f.num]; seen {
				continue // a later frame of the same reply
			}
			l, k := binary.Uvarint(f.data)
			p, err := decodeProperties(f.data[k : k+int(l)])
			if err != nil {
				t.Fatal(err)
			}
			out[f.num] = rawReply{f.typ(), p}
		}
	}
	return out
}

// A message inflating past MaxMessageSize is refused with HTTP/413; the rest of it is
// dropped without being buffered, and the connection goes on.
func TestOversizedMessageRefused(t *testing.T) {
	var server *Conn
	ws, conns := badInputServer(t, Config{MaxMessageSize: 1 << 20}, nil)
	zeros := make([]byte, 400<<10)
	var fb frameBuilder
	frames := [][]byte{fb.msg(1, flagCompressed|flagMoreComing, props("Profile", "echo"))}
	for i := 0; i < 8; i++ { // 3.2 MB inflated, about 3 KB on the wire
		frames = append(frames, fb.msg(1, flagCompressed|flagMoreComing, zeros))
	}
	frames = append(frames, fb.msg(1, flagCompressed, zeros[:10]))
	frames = append(frames, fb.msg(2, 0, props("Profile", "echo"), []byte("still here")))
	for _, f := range frames {
		if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
			t.Fatal(err)
		}
	}
	replies := readReplies(t, ws, 2)
	if r := replies[1]; r.typ != TypeError || r.props.Get("Error-Domain") != "HTTP" || r.props.Get("Error-Code") != "413" {
		t.Errorf("reply to the oversized message: %v %v, want ERR HTTP/413", r.typ, r.props)
	}
	if r := replies[2]; r.typ != TypeResponse {
		t.Errorf("reply to the next message: %v, want RPY", r.typ)
	}
	server = <-conns
	if err := server.Err(); err != nil {
		t.Errorf("connection ended: %v", err)
	}
	if peak := server.peakInflight.Load(); peak > 1<<20+inflatePiece {
		t.Errorf("held %d bytes of a message capped at %d", peak, 1<<20)
	}
	if server.refusals.Load() != 1 {
		t.Errorf("%d refusals, want 1", server.refusals.Load())
	}
}

// When incomplete messages whose handlers wait for more hold more than MaxBufferedBytes,
// the newest is refused with HTTP/503 and the oldest completes.
func TestBufferLimitRefusesNewest(t *testing.T) {
	const limit = 1 << 20
	ws, conns := badInputServer(t, Config{MaxBufferedBytes: limit}, func(c *Conn) {
		c.Handle("sink", func(ctx context.Context, req *Message) (*Message, error) {
			body, err := req.ReadBody()
			if err != nil {
				return nil, err
			}
			return &Message{Body: []byte(strconv.Itoa(len(body)))}, nil
		})
	})
	zeros := make([]byte, 256<<10)
	var fb frameBuilder
	// Four requests, interleaved, each of 8 compressed frames of 256 KiB (2 MiB each).
	var frames [][]byte
	for num := uint64(1); num <= 4; num++ {
		frames = append(frames, fb.msg(num, flagCompressed|flagMoreComing, props("Profile", "sink")))
	}
	for i := 0; i < 8; i++ {
		for num := uint64(1); num <= 4; num++ {
			flags := byte(flagCompressed | flagMoreComing)
			if i == 7 {
				flags = flagCompressed
			}
			frames = append(frames, fb.msg(num, flags, zeros))
		}
	}
	go func() {
		for _, f := range frames {
			if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
				return
			}
		}
	}()
	server := <-conns
	got := map[string]int{}
	for _, r := range readReplies(t, ws, 4) {
		if r.typ == TypeResponse {
			got["RPY"]++
		} else {
			got[r.props.Get("Error-Domain")+"/"+r.props.Get("Error-Code")]++
		}
	}
	if got["RPY"] == 0 || got["HTTP/503"] == 0 || got["RPY"]+got["HTTP/503"] != 4 {
		t.Errorf("replies %v, want some RPY and the rest HTTP/503", got)
	}
	if peak := server.peakInflight.Load(); peak > limit+2<<20+2*inflatePiece {
		t.Errorf("held %d bytes with a limit of %d and 2 MiB messages", peak, limit)
	}
	if err := server.Err(); err != nil {
		t.Errorf("connection ended: %v", err)
	}
}
