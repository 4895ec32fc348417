package replicator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

// Peers that do not speak the protocol give a clear, permanent error (no endless retry).
func TestBadPeers(t *testing.T) {
	rawTCP := func(reply string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					buf := make([]byte, 4096)
					_, _ = c.Read(buf)
					_, _ = c.Write([]byte(reply))
					time.Sleep(50 * time.Millisecond)
					c.Close()
				}()
			}
		}()
		return "ws://" + ln.Addr().String() + "/db"
	}
	wsServer := func(proto string, after func(c *websocket.Conn)) string {
		up := websocket.Upgrader{Subprotocols: []string{proto}}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := http.Header{}
			h.Set("Sec-WebSocket-Protocol", proto)
			up.Subprotocols = nil
			c, err := up.Upgrade(w, r, h)
			if err != nil {
				return
			}
			defer c.Close()
			after(c)
		}))
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http") + "/db"
	}
	status := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, body, code)
		}))
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http") + "/db"
	}
	tests := []struct {
		name  string
		url   string
		check func(err error) bool
	}{
		{"garbage instead of HTTP", rawTCP("HELLO THERE\r\n\r\n"), func(err error) bool { return err != nil }},
		{"unsupported subprotocol echoed", wsServer("BLIP_3+CBMobile_9", func(c *websocket.Conn) { time.Sleep(time.Second) }),
			func(err error) bool { return errors.Is(err, blip.ErrNoSubprotocol) }},
		{"garbage frames", wsServer(blip.SubprotocolCBMobile3, func(c *websocket.Conn) {
			_ = c.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			_, _, _ = c.ReadMessage()
			time.Sleep(time.Second)
		}), func(err error) bool { return errors.Is(err, blip.ErrProtocol) || strings.Contains(err.Error(), "1002") }},
		{"text message", wsServer(blip.SubprotocolCBMobile3, func(c *websocket.Conn) {
			_ = c.WriteMessage(websocket.TextMessage, []byte("hello"))
			_, _, _ = c.ReadMessage()
			time.Sleep(time.Second)
		}), func(err error) bool { return errors.Is(err, blip.ErrProtocol) || strings.Contains(err.Error(), "1002") }},
		{"SG without a common subprotocol (HTTP 500)", status(500, "I only speak BLIP_3+CBMobile_4"), func(err error) bool {
			var he *blip.HTTPError
			return errors.As(err, &he) && he.Status == 500
		}},
		{"unknown database (HTTP 404)", status(404, "no such database"), func(err error) bool {
			var he *blip.HTTPError
			return errors.As(err, &he) && he.Status == 404
		}},
		{"unauthorized (HTTP 401)", status(401, "login required"), func(err error) bool {
			var he *blip.HTTPError
			return errors.As(err, &he) && he.Status == 401
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := openDB(t, "local")
			r := newRepl(t, Config{Database: local, URL: tt.url, MaxAttempts: 5})
			st := runOneShot(t, r)
			if st.Error == nil || st.Activity != Stopped {
				t.Fatalf("status %+v", st)
			}
			if IsTransient(st.Error) || !tt.check(st.Error) {
				t.Fatalf("unexpected error %v (transient=%v)", st.Error, IsTransient(st.Error))
			}
		})
	}
}

// Transient failures are retried with backoff up to MaxAttempts, then reported.
func TestRetryUpToMaxAttempts(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	local := openDB(t, "local")
	r := newRepl(t, Config{Database: local, URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/db", MaxAttempts: 3,
		RetryBase: 10 * time.Millisecond})
	begin := time.Now()
	st := runOneShot(t, r)
	var he *blip.HTTPError
	if !errors.As(st.Error, &he) || he.Status != 503 || !IsTransient(st.Error) {
		t.Fatalf("final error %v", st.Error)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	// Waits of 20 ms and 40 ms (RetryBase·2^k).
	if d := time.Since(begin); d < 60*time.Millisecond {
		t.Errorf("retries did not back off (%v)", d)
	}
}

func TestBackoffAndClassifier(t *testing.T) {
	r := &Replicator{cfg: Config{}}
	want := []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for k, w := range want {
		if got := r.backoff(k + 1); got != w*time.Second {
			t.Errorf("backoff(%d) = %v, want %v", k+1, got, w*time.Second)
		}
	}
	r.cfg.Continuous = true
	if r.maxAttempts() != 0 {
		t.Error("continuous should retry forever")
	}
	r.cfg.Continuous = false
	if r.maxAttempts() != 10 {
		t.Error("one-shot default is 10 attempts")
	}
	tests := []struct {
		err       error
		transient bool
	}{
		{&blip.CloseError{Code: 4001}, true},
		{&blip.CloseError{Code: 1006}, true},
		{&blip.CloseError{Code: 1008}, false},
		{&blip.HTTPError{Status: 503}, true},
		{&blip.HTTPError{Status: 429}, true},
		{&blip.HTTPError{Status: 401}, false},
		{&blip.HTTPError{Status: 403}, false},
		{&blip.HTTPError{Status: 404}, false},
		{ErrTLS, false},
		{ErrPeerClosed, false},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("%w: rev refused: %w", syncproto.ErrRetryLater, &blip.Error{Domain: "HTTP", Code: 503}), true},
		{&blip.Error{Domain: "HTTP", Code: 500}, false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.transient {
			t.Errorf("IsTransient(%v) = %v", tt.err, got)
		}
	}
}
