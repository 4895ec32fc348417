package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
)

func openDB(t testing.TB, name string) *store.Database {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir()+"/"+name, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// start runs a plain ws:// listener (the TLS tests use startTLS).
func start(t testing.TB, cfg Config) *Listener {
	t.Helper()
	cfg.DisableTLS = true
	return startAs(t, cfg)
}

// startAs starts a listener configured exactly as cfg, stopped when the test ends.
func startAs(t testing.TB, cfg Config) *Listener {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

func blipURL(l *Listener, db string) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/%s/_blipsync", l.Port(), db)
}

// dial opens a raw BLIP client connection (a CBL-like active peer driven by the test).
func dial(t testing.TB, url string, opts blip.DialOptions) *blip.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := blip.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.Start()
	t.Cleanup(func() { c.Close(blip.CloseNormal, "") })
	return c
}

func TestNewValidation(t *testing.T) {
	db, other := openDB(t, "db"), openDB(t, "other")
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no database", Config{}, ErrInvalidConfig},
		{"bad port", Config{Database: db, Port: 70000}, ErrInvalidConfig},
		{"bad compression level", Config{Database: db, Limits: syncproto.Limits{CompressionLevel: -2}}, ErrInvalidConfig},
		{"foreign collection", Config{Database: db, Collections: []*store.Collection{other.DefaultCollection()}}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	l, err := New(Config{Database: db, NetworkInterface: "no-such-interface0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown interface: %v", err)
	}
}

func TestHTTPRefusals(t *testing.T) {
	db := openDB(t, "db")
	l := start(t, Config{Database: db, Password: StaticPasswords(map[string]string{"alice": "secret"})})
	basic := func(u, p string) http.Header {
		h := http.Header{}
		r := http.Request{Header: h}
		r.SetBasicAuth(u, p)
		return h
	}
	tests := []struct {
		name   string
		url    string
		header http.Header
		protos []string
		status int
	}{
		{"unknown database", blipURL(l, "nope"), basic("alice", "secret"), nil, 404},
		{"no credentials", blipURL(l, "db"), nil, nil, 401},
		{"wrong password", blipURL(l, "db"), basic("alice", "wrong"), nil, 401},
		{"unsupported subprotocol", blipURL(l, "db"), basic("alice", "secret"), []string{"BLIP_3+CBMobile_9"}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := blip.Dial(ctx, tt.url, blip.DialOptions{Header: tt.header, Subprotocols: tt.protos})
			if err == nil {
				c.Close(blip.CloseNormal, "")
				t.Fatal("upgrade accepted")
			}
			var he *blip.HTTPError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("got %v, want HTTP %d", err, tt.status)
			}
			if tt.status == 401 {
				if got := he.Header.Get("WWW-Authenticate"); got != `Basic charset="UTF-8"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
			_ = resp
		})
	}
	// The right credentials upgrade, and CBMobile_3 is preferred.
	c := dial(t, blipURL(l, "db"), blip.DialOptions{Header: basic("alice", "secret")})
	if c.Subprotocol() != blip.SubprotocolCBMobile3 {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	// A plain GET of another path is a 404.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/db/other", l.Port()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /db/other = %d", resp.StatusCode)
	}
}

func TestPortURLsAndStatus(t *testing.T) {
	db := openDB(t, "travel")
	l := start(t, Config{Database: db})
	if l.Port() == 0 {
		t.Fatal("no port after Start")
	}
	urls := l.URLs()
	found := false
	for _, u := range urls {
		if !strings.HasPrefix(u, "ws://") || !strings.HasSuffix(u, fmt.Sprintf(":%d/travel", l.Port())) {
			t.Errorf("bad URL %q", u)
		}
		if u == fmt.Sprintf("ws://127.0.0.1:%d/travel", l.Port()) {
			found = true
		}
	}
	if !found {
		t.Errorf("loopback URL missing from %v", urls)
	}
	if st := l.Status(); st.ConnectionCount != 0 {
		t.Fatalf("status %+v", st)
	}
	c := dial(t, blipURL(l, "travel"), blip.DialOptions{})
	deadline := time.Now().Add(5 * time.Second)
	for l.Status().ConnectionCount != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("connection not counted: %+v", l.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close(blip.CloseNormal, "")
	for l.Status().ConnectionCount != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connection not released: %+v", l.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Bound to one address: only that URL.
	l2 := start(t, Config{Database: db, NetworkInterface: "127.0.0.1"})
	if u := l2.URLs(); len(u) != 1 || u[0] != fmt.Sprintf("ws://127.0.0.1:%d/travel", l2.Port()) {
		t.Errorf("URLs %v", u)
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", l2.Port())); err != nil {
		t.Errorf("dial bound listener: %v", err)
	}
	// An interface name works too.
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback != 0 {
				l3 := start(t, Config{Database: db, NetworkInterface: ifi.Name})
				if len(l3.URLs()) == 0 {
					t.Errorf("no URL for interface %s", ifi.Name)
				}
				break
			}
		}
	}
}

// Stop closes connections with 4001, and a new listener can bind the same port at once
// (SO_REUSEADDR, even with connections in TIME_WAIT).
func TestStopClosesWith4001AndRestartSamePort(t *testing.T) {
	db := openDB(t, "db")
	l := start(t, Config{Database: db})
	port := l.Port()
	var conns []*blip.Conn
	for i := 0; i < 3; i++ {
		conns = append(conns, dial(t, blipURL(l, "db"), blip.DialOptions{}))
	}
	l.Stop()
	for _, c := range conns {
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("connection not closed by Stop")
		}
		var ce *blip.CloseError
		if !errors.As(c.Err(), &ce) || ce.Code != blip.CloseAppTransient {
			t.Fatalf("close error %v, want 4001", c.Err())
		}
	}
	if l.Port() != 0 || l.URLs() != nil {
		t.Error("stopped listener still reports an address")
	}
	l2 := start(t, Config{Database: db, Port: port})
	if l2.Port() != port {
		t.Fatalf("port %d, want %d", l2.Port(), port)
	}
	dial(t, blipURL(l2, "db"), blip.DialOptions{})
	// And the same Listener object can start again.
	l2.Stop()
	if err := l2.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if l2.Port() != port {
		t.Errorf("restart picked port %d, want %d", l2.Port(), port)
	}
}
