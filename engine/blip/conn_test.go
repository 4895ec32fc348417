package blip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair is a client and a server Conn talking over loopback.
type pair struct {
	client, server *Conn
	srv            *httptest.Server
}

// newPair connects a client to a server; setup registers handlers on both before Start.
func newPair(t *testing.T, clientCfg, serverCfg Config, setup func(client, server *Conn)) *pair {
	t.Helper()
	if clientCfg.Logger == nil {
		clientCfg.Logger = testLogger(t).With("side", "client")
	}
	if serverCfg.Logger == nil {
		serverCfg.Logger = testLogger(t).With("side", "server")
	}
	serverConn := make(chan *Conn, 1)
	p := &pair{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, UpgradeOptions{Config: serverCfg})
		if err != nil {
			t.Errorf("upgrade: %v", err)
			close(serverConn)
			return
		}
		serverConn <- c
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := Dial(ctx, wsURL(p.srv), DialOptions{Config: clientCfg})
	if err != nil {
		p.srv.Close()
		t.Fatalf("dial: %v", err)
	}
	server := <-serverConn
	if server == nil {
		t.FailNow()
	}
	p.client, p.server = client, server
	if setup != nil {
		setup(client, server)
	}
	server.Start()
	client.Start()
	t.Cleanup(func() {
		_ = p.client.Close(CloseNormal, "")
		_ = p.server.Close(CloseNormal, "")
		waitDone(t, p.client)
		waitDone(t, p.server)
		p.srv.Close()
	})
	return p
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/db/_blipsync"
}

func waitDone(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("connection did not end")
	}
}

func echo(ctx context.Context, req *Message) (*Message, error) {
	body, err := req.ReadBody()
	if err != nil {
		return nil, err
	}
	resp := &Message{Body: body, Compressed: req.Compressed}
	for _, kv := range req.Properties {
		if kv.Key != "Profile" {
			resp.Properties.Set(kv.Key, kv.Value)
		}
	}
	return resp, nil
}

func TestRequestResponse(t *testing.T) {
	release := make(chan struct{})
	noReplySeen := make(chan string, 4)
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.Handle("echo", echo)
		server.Handle("fail", func(ctx context.Context, req *Message) (*Message, error) {
			return nil, &Error{Domain: "HTTP", Code: 409, Message: "conflict"}
		})
		server.Handle("failwrapped", func(ctx context.Context, req *Message) (*Message, error) {
			return nil, fmt.Errorf("saving: %w", &Error{Domain: "HTTP", Code: 403, Message: "forbidden"})
		})
		server.Handle("plainerror", func(ctx context.Context, req *Message) (*Message, error) {
			return nil, errors.New("disk on fire")
		})
		server.Handle("panic", func(ctx context.Context, req *Message) (*Message, error) {
			panic("boom")
		})
		server.Handle("empty", func(ctx context.Context, req *Message) (*Message, error) { return nil, nil })
		server.Handle("errtype", func(ctx context.Context, req *Message) (*Message, error) {
			return &Message{Type: TypeError, Properties: Properties{{"Error-Code", "7"}}, Body: []byte("nope")}, nil
		})
		server.Handle("note", func(ctx context.Context, req *Message) (*Message, error) {
			body, _ := req.ReadBody()
			noReplySeen <- string(body)
			return &Message{Body: []byte("must not be sent")}, nil
		})
		server.Handle("slow", func(ctx context.Context, req *Message) (*Message, error) {
			<-release
			return &Message{Body: []byte("late")}, nil
		})
	})
	ctx := context.Background()

	req := NewRequest("echo")
	req.Properties.Set("id", "doc1")
	req.Body = []byte(`{"hello":"world"}`)
	resp, err := p.client.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := resp.ReadBody()
	if err != nil || string(body) != `{"hello":"world"}` || resp.Properties.Get("id") != "doc1" || resp.Type != TypeResponse {
		t.Fatalf("echo reply: %v %q %v", resp.Properties, body, err)
	}
	if again, err := resp.ReadBody(); err != nil || !bytes.Equal(again, body) {
		t.Errorf("ReadBody not idempotent: %q %v", again, err)
	}
	if req.Number != 1 || resp.Number != 1 {
		t.Errorf("numbers: request %d, reply %d", req.Number, resp.Number)
	}

	errTests := []struct {
		profile string
		domain  string
		code    int
		message string
	}{
		{"fail", "HTTP", 409, "conflict"},
		{"failwrapped", "HTTP", 403, "forbidden"},
		{"plainerror", "BLIP", 501, "disk on fire"},
		{"panic", "BLIP", 501, "handler panicked: boom"},
		{"nosuchprofile", "BLIP", 404, "no handler for message"},
		{"errtype", "BLIP", 7, "nope"},
	}
	for _, tt := range errTests {
		t.Run(tt.profile, func(t *testing.T) {
			m, err := p.client.Send(ctx, NewRequest(tt.profile))
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if be.Domain != tt.domain || be.Code != tt.code || be.Message != tt.message {
				t.Errorf("error = %+v, want %s/%d %q", be, tt.domain, tt.code, tt.message)
			}
			if m == nil || !m.IsError() || m.ErrorDomain() != tt.domain || m.ErrorCode() != tt.code {
				t.Errorf("ERR message = %+v", m)
			}
		})
	}

	m, err := p.client.Send(ctx, NewRequest("empty"))
	if err != nil || len(m.Properties) != 0 {
		t.Fatalf("empty reply: %v %v", m, err)
	}
	if b, _ := m.ReadBody(); len(b) != 0 {
		t.Errorf("empty reply body %q", b)
	}

	// NoReply: the handler runs, nothing comes back, not even for an unknown profile.
	// Replies are counted when their last frame has been handled, a moment after Send
	// returns: let the count of the replies above settle first.
	settled := func() uint64 {
		n := p.client.Stats().MessagesReceived
		for i := 0; i < 100; i++ {
			time.Sleep(10 * time.Millisecond)
			m := p.client.Stats().MessagesReceived
			if m == n {
				break
			}
			n = m
		}
		return n
	}
	before := settled()
	note := NewRequest("note")
	note.NoReply = true
	note.Body = []byte("fyi")
	if m, err := p.client.Send(ctx, note); m != nil || err != nil {
		t.Fatalf("NoReply Send = %v, %v", m, err)
	}
	unknown := NewRequest("nosuchprofile")
	unknown.NoReply = true
	if _, err := p.client.Send(ctx, unknown); err != nil {
		t.Fatal(err)
	}
	if got := <-noReplySeen; got != "fyi" {
		t.Errorf("NoReply body %q", got)
	}
	// A round trip after them proves the connection is fine and nothing else arrived.
	if _, err := p.client.Send(ctx, NewRequest("empty")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500 && p.client.Stats().MessagesReceived == before; i++ {
		time.Sleep(10 * time.Millisecond) // the reply above, counted a moment after Send returned
	}
	if got := settled() - before; got != 1 {
		t.Errorf("client received %d messages for 2 NoReply requests + 1 request, want 1", got)
	}

	// Canceling ctx stops waiting; the late reply is discarded; the connection goes on.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = p.client.Send(cctx, NewRequest("slow"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("canceled Send: %v", err)
	}
	close(release)
	if _, err := p.client.Send(ctx, NewRequest("empty")); err != nil {
		t.Fatal(err)
	}

	// Invalid outgoing messages are refused before anything is sent.
	bad := NewRequest("echo")
	bad.Properties = append(bad.Properties, Property{"Profile", "dup"})
	if _, err := p.client.Send(ctx, bad); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("duplicate property: %v", err)
	}
	if _, err := p.client.Send(ctx, &Message{Type: TypeResponse}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("sending a response: %v", err)
	}
}

// Many concurrent requests in both directions, mixed sizes and flags, each answered with
// exactly its own data.
func TestConcurrentBothDirections(t *testing.T) {
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		client.Handle("echo", echo)
		server.Handle("echo", echo)
	})
	const perSide = 150
	var wg sync.WaitGroup
	errs := make(chan error, 2*perSide)
	for side, c := range []*Conn{p.client, p.server} {
		for i := 0; i < perSide; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(side), uint64(i)))
				size := rng.IntN(4096)
				if i%10 == 0 {
					size = 100_000 + rng.IntN(300_000) // multi-frame, crosses the ACK threshold
				}
				pattern := fmt.Appendf(nil, "<%d:%d:%d>", side, i, rng.Uint32())
				body := bytes.Repeat(pattern, size/len(pattern)+1)[:size]
				req := NewRequest("echo")
				req.Properties.Set("n", strconv.Itoa(i))
				req.Body = body
				req.Urgent = i%3 == 0
				req.Compressed = i%2 == 1 // large ones (i%10 == 0) go uncompressed: deflate is slow under -race
				resp, err := c.Send(context.Background(), req)
				if err != nil {
					errs <- fmt.Errorf("side %d req %d: %w", side, i, err)
					return
				}
				got, err := resp.ReadBody()
				if err != nil || !bytes.Equal(got, body) || resp.Properties.Get("n") != strconv.Itoa(i) || resp.Number != req.Number {
					errs <- fmt.Errorf("side %d req %d: mismatched reply (n=%s, %d bytes, %v)", side, i, resp.Properties.Get("n"), len(got), err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A message counts as sent once its writer is past its last frame, which can be a
	// moment after the peer already holds it: wait (bounded) for the counters to settle.
	for _, c := range []*Conn{p.client, p.server} {
		deadline := time.Now().Add(5 * time.Second)
		st := c.Stats()
		for (st.MessagesSent != 2*perSide || st.MessagesReceived != 2*perSide) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			st = c.Stats()
		}
		if st.MessagesSent != 2*perSide || st.MessagesReceived != 2*perSide {
			t.Errorf("stats %+v, want %d messages each way", st, 2*perSide)
		}
	}
}

func TestCompressionOnOff(t *testing.T) {
	doc := []byte(strings.Repeat(`{"_id":"airline_10","type":"airline","name":"40-Mile Air","iata":"Q5","country":"United States"},`, 3_000))
	tests := []struct {
		name       string
		level      int
		compressed bool
	}{
		{"default level", 0, true},
		{"level 1", 1, true},
		{"level 9", 9, true},
		{"not requested", 0, false},
		{"disabled", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan bool, 1)
			p := newPair(t, Config{CompressionLevel: tt.level}, Config{CompressionLevel: tt.level}, func(client, server *Conn) {
				server.Handle("put", func(ctx context.Context, req *Message) (*Message, error) {
					body, err := req.ReadBody()
					if err != nil {
						return nil, err
					}
					got <- req.Compressed
					return &Message{Body: body, Compressed: true}, nil
				})
			})
			req := NewRequest("put")
			req.Body = doc
			req.Compressed = tt.compressed
			resp, err := p.client.Send(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := resp.ReadBody()
			if err != nil || !bytes.Equal(body, doc) {
				t.Fatalf("round trip: %d bytes, %v", len(body), err)
			}
			wantCompressed := tt.compressed && tt.level >= 0
			if c := <-got; c != wantCompressed {
				t.Errorf("request arrived compressed=%v, want %v", c, wantCompressed)
			}
			sent := p.client.Stats().BytesSent
			if wantCompressed && sent > uint64(len(doc))/10 {
				t.Errorf("compressed: %d wire bytes for %d", sent, len(doc))
			}
			if !wantCompressed && sent < uint64(len(doc)) {
				t.Errorf("uncompressed: %d wire bytes for %d", sent, len(doc))
			}
			t.Logf("%d bytes -> %d on the wire", len(doc), sent)
		})
	}
}

// Frames never exceed MaxFrameSize, compressed or not, even for incompressible data.
func TestFrameSizeLimit(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		var e encoder
		e.level = 6
		c := &Conn{cfg: Config{MaxFrameSize: defaultFrameSize}.withDefaults()}
		_ = c
		rng := rand.New(rand.NewPCG(1, 2))
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		limit := defaultFrameSize - maxFrameHeader - checksumSize
		flags := byte(0)
		if compressed {
			limit -= deflateSlack
			flags = flagCompressed
		}
		for off := 0; off < len(data); off += limit {
			b, err := e.encode(uint64(1<<40), flags, data[off:min(off+limit, len(data))])
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > defaultFrameSize {
				t.Fatalf("compressed=%v: frame of %d bytes", compressed, len(b))
			}
		}
	}
}

// The close handshake carries code and reason both ways; Close is idempotent; Send fails after.
func TestCloseHandshake(t *testing.T) {
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) { server.Handle("echo", echo) })
	if err := p.client.Close(CloseAppTransient, "come back later"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p.server)
	var ce *CloseError
	if !errors.As(p.server.Err(), &ce) || ce.Code != CloseAppTransient || ce.Reason != "come back later" || !ce.Remote {
		t.Errorf("server Err = %#v", p.server.Err())
	}
	if !errors.As(p.client.Err(), &ce) || ce.Code != CloseAppTransient || ce.Remote {
		t.Errorf("client Err = %#v", p.client.Err())
	}
	if err := p.client.Close(CloseNormal, ""); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.client.Send(context.Background(), NewRequest("echo")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after close: %v", err)
	}
	if err := p.client.Close(1006, ""); err == nil {
		t.Error("close code 1006 accepted")
	}
}

// Messages queued before Close are still delivered.
func TestCloseFlushesQueuedMessages(t *testing.T) {
	const n = 20
	got := make(chan string, n)
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.Handle("note", func(ctx context.Context, req *Message) (*Message, error) {
			body, err := req.ReadBody()
			if err == nil {
				got <- string(body)
			}
			return nil, nil
		})
	})
	for i := 0; i < n; i++ {
		req := NewRequest("note")
		req.NoReply = true
		req.Body = bytes.Repeat([]byte{byte('a' + i)}, 40_000)
		if _, err := p.client.SendAsync(req); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.client.Close(CloseNormal, "done"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p.server)
	if len(got) != n {
		t.Errorf("server got %d of %d notes queued before Close", len(got), n)
	}
}

// A peer closing while requests wait for replies fails them with ErrClosed, and a handler's
// ctx is canceled.
func TestPendingFailOnClose(t *testing.T) {
	handlerCtx := make(chan context.Context, 1)
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.Handle("hang", func(ctx context.Context, req *Message) (*Message, error) {
			handlerCtx <- ctx
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	ch, err := p.client.SendAsync(NewRequest("hang"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := <-handlerCtx
	if err := p.server.Close(CloseGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if !errors.Is(r.Err, ErrClosed) {
		t.Errorf("pending reply: %v, want ErrClosed", r.Err)
	}
	var ce *CloseError
	if !errors.As(r.Err, &ce) || ce.Code != CloseGoingAway {
		t.Errorf("pending reply error should carry the close: %v", r.Err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("handler ctx not canceled")
	}
	waitDone(t, p.server)
}

// sha returns a short digest for comparing large bodies.
func sha(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s[:8]) }

var _ = io.EOF

// OnArrival hooks run in request order, each before its request's handler starts, even
// when handlers run out of order: here the first request's handler waits until the
// second one's has returned, and a third request's hook still runs after both hooks.
func TestOnArrivalRunsInRequestOrder(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	note := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	secondDone := make(chan struct{})
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.OnArrival("work", func(req *Message) { note(fmt.Sprintf("arrived %d", req.Number)) })
		server.Handle("work", func(ctx context.Context, req *Message) (*Message, error) {
			if req.Number == 1 {
				select {
				case <-secondDone:
				case <-time.After(10 * time.Second):
					t.Error("the second handler never returned")
				}
			}
			note(fmt.Sprintf("handled %d", req.Number))
			if req.Number == 2 {
				close(secondDone)
			}
			return nil, nil
		})
	})
	var replies []<-chan Reply
	for i := 0; i < 3; i++ {
		req := NewRequest("work")
		req.Body = []byte("x")
		ch, err := p.client.SendAsync(req)
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, ch)
	}
	for _, ch := range replies {
		if r := <-ch; r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	pos := map[string]int{}
	for i, e := range events {
		pos[e] = i
	}
	if len(events) != 6 || pos["arrived 1"] > pos["arrived 2"] || pos["arrived 2"] > pos["arrived 3"] ||
		pos["arrived 1"] > pos["handled 1"] || pos["arrived 2"] > pos["handled 2"] || pos["arrived 3"] > pos["handled 3"] ||
		pos["handled 2"] > pos["handled 1"] {
		t.Fatalf("events %v", events)
	}
}

// With UncompressedOnLoopback, a message sent with Compressed set travels uncompressed
// between two loopback addresses, unless FixedCompression asks for deflate regardless.
func TestUncompressedOnLoopback(t *testing.T) {
	doc := []byte(strings.Repeat(`{"_id":"airline_10","type":"airline","name":"40-Mile Air"},`, 500))
	for _, fixed := range []bool{false, true} {
		got := make(chan bool, 1)
		cfg := Config{UncompressedOnLoopback: true, FixedCompression: fixed}
		p := newPair(t, cfg, cfg, func(client, server *Conn) {
			server.Handle("put", func(ctx context.Context, req *Message) (*Message, error) {
				if _, err := req.ReadBody(); err != nil {
					return nil, err
				}
				got <- req.Compressed
				return &Message{}, nil
			})
		})
		req := NewRequest("put")
		req.Body, req.Compressed = doc, true
		if _, err := p.client.Send(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if c := <-got; c != fixed {
			t.Errorf("FixedCompression %v: request arrived compressed=%v", fixed, c)
		}
	}
	if isLoopback(&net.TCPAddr{IP: net.ParseIP("192.168.1.2")}) || !isLoopback(&net.TCPAddr{IP: net.IPv6loopback}) {
		t.Error("isLoopback misjudges an address")
	}
}

// WaitHandlers returns once the handlers running have returned (and queued their
// replies), so that a Close after it sends those replies before the close frame; it gives
// up after its timeout while a handler still runs.
func TestWaitHandlersThenCloseSendsTheReply(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.Handle("slow", func(ctx context.Context, req *Message) (*Message, error) {
			close(started)
			<-release
			return &Message{Body: []byte("done")}, nil
		})
	})
	replies, err := p.client.SendAsync(NewRequest("slow"))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if p.server.WaitHandlers(20 * time.Millisecond) {
		t.Fatal("WaitHandlers reported no handler running while one was")
	}
	close(release)
	if !p.server.WaitHandlers(10 * time.Second) {
		t.Fatal("WaitHandlers timed out after the handler returned")
	}
	if err := p.server.Close(CloseNormal, "complete"); err != nil {
		t.Fatal(err)
	}
	r := <-replies
	if r.Err != nil || r.Msg == nil {
		t.Fatalf("reply of a handler that returned before Close: %+v", r)
	}
	if body, err := r.Msg.ReadBody(); err != nil || string(body) != "done" {
		t.Fatalf("reply body %q, %v", body, err)
	}
	waitDone(t, p.client)
}
