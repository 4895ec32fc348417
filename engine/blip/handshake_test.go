package blip

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestRefusedUpgrade(t *testing.T) {
	tests := []struct{ status int }{
		{http.StatusUnauthorized},
		{http.StatusForbidden},
		{http.StatusNotFound},
		{http.StatusServiceUnavailable},
		{http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Basic charset="UTF-8"`)
				}
				http.Error(w, "go away", tt.status)
			}))
			defer srv.Close()
			_, resp, err := Dial(context.Background(), wsURL(srv), DialOptions{})
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("err = %v, want HTTPError{%d}", err, tt.status)
			}
			if !strings.Contains(he.Body, "go away") || resp == nil || resp.StatusCode != tt.status {
				t.Errorf("body %q, resp %v", he.Body, resp)
			}
			if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "go away") {
				t.Errorf("response body no longer readable: %q", b)
			}
			if tt.status == http.StatusUnauthorized && he.Header.Get("WWW-Authenticate") == "" {
				t.Error("WWW-Authenticate header lost")
			}
		})
	}
}

func TestSubprotocolNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		offered  []string
		accepted []string
		want     string // "" => no common subprotocol
	}{
		{"defaults", nil, nil, SubprotocolCBMobile3},
		{"client order wins", []string{SubprotocolCBMobile2, SubprotocolCBMobile3}, []string{SubprotocolCBMobile3, SubprotocolCBMobile2}, SubprotocolCBMobile2},
		{"first client entry accepted", []string{SubprotocolCBMobile4, SubprotocolCBMobile3}, nil, SubprotocolCBMobile3},
		{"v4 only when accepted", []string{SubprotocolCBMobile4}, []string{SubprotocolCBMobile4}, SubprotocolCBMobile4},
		{"v4 not accepted by default", []string{SubprotocolCBMobile4}, nil, ""},
		{"nothing in common", []string{"BLIP_3+CBMobile_9"}, []string{SubprotocolCBMobile3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upErr := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Upgrade(w, r, UpgradeOptions{Subprotocols: tt.accepted})
				upErr <- err
				if err == nil {
					if c.Subprotocol() != tt.want {
						t.Errorf("server chose %q, want %q", c.Subprotocol(), tt.want)
					}
					c.Start()
					_ = c.Close(CloseNormal, "")
				}
			}))
			defer srv.Close()
			c, _, err := Dial(context.Background(), wsURL(srv), DialOptions{Subprotocols: tt.offered})
			if tt.want == "" {
				var he *HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusInternalServerError || !strings.Contains(he.Body, "I only speak") {
					t.Errorf("dial err = %v, want HTTP 500 'I only speak...'", err)
				}
				if err := <-upErr; !errors.Is(err, ErrNoSubprotocol) {
					t.Errorf("upgrade err = %v, want ErrNoSubprotocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subprotocol() != tt.want {
				t.Errorf("client got %q, want %q", c.Subprotocol(), tt.want)
			}
			if err := <-upErr; err != nil {
				t.Error(err)
			}
			c.Start()
			waitDone(t, c)
		})
	}
}

// The client refuses a 101 without a subprotocol, or with one it did not offer.
func TestClientChecksSubprotocol(t *testing.T) {
	for _, answer := range []string{"", "BLIP_3+CBMobile_9"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			up := websocket.Upgrader{}
			h := http.Header{}
			if answer != "" {
				h.Set("Sec-WebSocket-Protocol", answer)
			}
			ws, err := up.Upgrade(w, r, h)
			if err == nil {
				_, _, _ = ws.ReadMessage()
				ws.Close()
			}
		}))
		_, _, err := Dial(context.Background(), wsURL(srv), DialOptions{})
		if !errors.Is(err, ErrNoSubprotocol) {
			t.Errorf("answer %q: err = %v, want ErrNoSubprotocol", answer, err)
		}
		srv.Close()
	}
}

// Request headers reach the server; response headers (cookies) reach the client; TLS works.
func TestDialHeadersAndTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "alice" || pass != "secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		c, err := Upgrade(w, r, UpgradeOptions{ResponseHeader: http.Header{"Set-Cookie": {"SyncGatewaySession=abc"}}})
		if err != nil {
			t.Error(err)
			return
		}
		if c.TLSState() == nil {
			t.Error("server TLSState nil over TLS")
		}
		c.Handle("whoami", func(ctx context.Context, req *Message) (*Message, error) {
			return &Message{Body: []byte(r.Header.Get("User-Agent"))}, nil
		})
		c.Start()
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("Authorization", "Basic YWxpY2U6c2VjcmV0") // alice:secret
	h.Set("User-Agent", "libp2psync-test")
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/db/_blipsync"
	c, resp, err := Dial(context.Background(), url, DialOptions{Header: h, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer waitDone(t, c)
	defer c.Close(CloseNormal, "")
	if resp.Header.Get("Set-Cookie") != "SyncGatewaySession=abc" {
		t.Errorf("Set-Cookie = %q", resp.Header.Get("Set-Cookie"))
	}
	if c.TLSState() == nil || !c.TLSState().HandshakeComplete {
		t.Error("client TLSState missing")
	}
	c.Start()
	m, err := c.Send(context.Background(), NewRequest("whoami"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := m.ReadBody(); string(b) != "libp2psync-test" {
		t.Errorf("User-Agent seen by server: %q", b)
	}
}

// A server that accepts TCP but never answers the upgrade: Dial gives up with ErrTimeout.
func TestDialHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	start := time.Now()
	_, _, err = Dial(context.Background(), "ws://"+ln.Addr().String()+"/db/_blipsync", DialOptions{HandshakeTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	// Connection refused keeps its errno (which the replicator retries).
	addr := ln.Addr().String()
	ln.Close()
	if _, _, err := Dial(context.Background(), "ws://"+addr+"/x", DialOptions{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refused: %v does not wrap ECONNREFUSED", err)
	}
}

// A connection cut in the middle of the server's handshake response (seen under the
// fault proxy: "malformed MIME header: missing colon") is worth a retry, like one cut
// before the response: the server is not at fault, the network is.
func TestDialCutMidResponseIsTransient(t *testing.T) {
	for name, partial := range map[string]string{
		"mid header":      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnec",
		"mid status line": "HTTP/1.1 10",
		"before headers":  "HTTP/1.1 101 Switching Protocols\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 4096)
				_, _ = c.Read(buf) // the request
				_, _ = io.WriteString(c, partial)
				c.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, err = Dial(ctx, "ws://"+ln.Addr().String()+"/db/_blipsync", DialOptions{})
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrHandshakeCut) {
				t.Errorf("Dial = %v, want ErrHandshakeCut", err)
			}
		})
	}
}

// An HTTP refusal's body is shown on one line: a server's trailing newline or a
// multi-line page does not reach the error message (the C, Python and Kotlin messages).
func TestHTTPErrorMessageIsOneLine(t *testing.T) {
	e := &HTTPError{Status: 401, Body: "unauthorized\n"}
	if got, want := e.Error(), "blip: websocket upgrade refused: HTTP 401 Unauthorized: unauthorized"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	e = &HTTPError{Status: 503, Body: "<html>\r\n  <body>down\tfor now</body>\n</html>\n"}
	if got, want := e.Error(), "blip: websocket upgrade refused: HTTP 503 Service Unavailable: <html> <body>down for now</body> </html>"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := (&HTTPError{Status: 404, Body: " \n "}).Error(); got != "blip: websocket upgrade refused: HTTP 404 Not Found" {
		t.Fatalf("Error() = %q", got)
	}
	if e.Body != "<html>\r\n  <body>down\tfor now</body>\n</html>\n" {
		t.Fatal("Body must keep what the server sent")
	}
}
