package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// Sentinel errors.
var (
	// ErrInvalidConfig: the configuration cannot work.
	ErrInvalidConfig = errors.New("listener: invalid configuration")
	// ErrUnsupported: an option this version does not provide.
	ErrUnsupported = errors.New("listener: unsupported option")
	// ErrRunning: Start on a running listener.
	ErrRunning = errors.New("listener: already running")
	// ErrNotRunning: a query that needs a running listener.
	ErrNotRunning = errors.New("listener: not running")
)

// Config configures a Listener. The zero value of every optional field is its default.
type Config struct {
	// Database served (required). Clients reach it at /<Database.Name()>/_blipsync.
	Database *store.Database
	// Collections served (all from Database); empty = the default collection.
	Collections []*store.Collection
	// Port to listen on; 0 lets the OS pick (read it with Port after Start).
	Port int
	// NetworkInterface restricts listening to an interface name ("lo", "eth0") or an IP
	// address; "" = every interface, IPv4 and IPv6.
	NetworkInterface string
	// ReadOnly refuses pushes from clients (HTTP/403); pulls are served.
	ReadOnly bool
	// EnableDeltaSync offers delta sync (PROTOCOL §6) to clients: the listener accepts
	// deltas and sends them to clients that accept them, if the database permits it too
	// (store.Config.DisableDeltaSync). Default off.
	EnableDeltaSync bool
	// DisableCBMobile4 accepts only CBMobile_3 and CBMobile_2 (revision trees), as before
	// version vectors; by default a client offering CBMobile_4 gets it.
	DisableCBMobile4 bool
	// Limits tune batching, pipelining, the compression level and the resource limits of
	// every connection: the largest incoming message (MaxMessageSize, default 20 MiB) and
	// the incoming bytes one connection may hold (MaxBufferedBytes, default 16 MiB).
	// Zero = defaults.
	Limits syncproto.Limits
	// MaxConnections caps the connections served at once: an upgrade request beyond it is
	// answered HTTP 503 before the WebSocket upgrade (and logged). 0 = DefaultMaxConnections
	// (256); negative = no cap.
	MaxConnections int
	// Logger receives diagnostics, including every refused replicator (nil = the library
	// log, engine/logging, domain Listener).
	Logger *slog.Logger

	// DisableTLS serves plain ws:// instead of wss://. Identity and ClientCertificate need
	// TLS and are refused with it.
	DisableTLS bool
	// Identity is the server certificate and key. nil (with TLS on) = the anonymous
	// identity of the database directory: created at the first Start and reused by every
	// later one, so its fingerprint stays the same across restarts and peers can pin it
	// (tlsid.LoadOrCreateAnonymous).
	Identity *tlsid.Identity
	// AnonymousIdentity tunes how the anonymous identity is kept (password of its file,
	// validity, renewal); ignored when Identity is set. Its Logger defaults to Logger.
	AnonymousIdentity tlsid.AnonymousOptions
	// Password, when set, requires HTTP Basic credentials on the WebSocket upgrade;
	// refused or missing ones are answered 401 with a Basic challenge.
	Password PasswordAuthenticator
	// ClientCertificate, when set, requires a client certificate in the TLS handshake
	// (TLS must be on). With Password too, a replicator must pass both.
	ClientCertificate *CertificateAuthenticator
}

// DefaultMaxConnections is the default of Config.MaxConnections.
const DefaultMaxConnections = 256

// Status counts connections and describes each one.
type Status struct {
	ConnectionCount       int // connected replicators
	ActiveConnectionCount int // of which currently transferring documents
	// TotalConnections counts the connections served since New (WebSocket upgrades that
	// became sessions), across Start and Stop.
	TotalConnections uint64
	// Connections describes each connected replicator, oldest first.
	Connections []Connection
}

// Connection describes one connected replicator.
type Connection struct {
	Peer        string    // remote address, "host:port"
	User        string    // HTTP Basic user name, else the client certificate's common name, else ""
	Subprotocol string    // negotiated WebSocket subprotocol, e.g. "BLIP_3+CBMobile_3"
	Collections []string  // "scope.name" of the collections the peer replicates (empty until it asks)
	Started     time.Time // when the connection was opened
	Active      bool      // transferring documents now
	// BytesSent and BytesReceived count BLIP frame bytes (see syncproto.ConnStats);
	// DocsSent and DocsReceived the revisions the peer acknowledged or this side saved.
	BytesSent, BytesReceived uint64
	DocsSent, DocsReceived   uint64
}

// Listener accepts replicators (Couchbase Lite peers and our own) and serves them the
// database over BLIP/CBMobile (the passive side of replication).
type Listener struct {
	cfg   Config
	log   *slog.Logger
	colls []*store.Collection
	auth  func(*http.Request) bool // the password check of every upgrade; nil = none
	// reads is shared by every session's pusher: many replicators following the
	// database read the same documents after each commit (syncproto.SharedReads).
	reads *syncproto.SharedReads

	lifecycle sync.Mutex // serialises Start and Stop

	mu       sync.Mutex
	running  bool
	identity *tlsid.Identity // served while running with TLS
	tlsConf  *tls.Config     // of the current run; nil without TLS
	server   *http.Server
	lns      []net.Listener
	port     int
	conns    map[*session]struct{}
	total    uint64 // connections served since New
	admitted int    // connections counted against MaxConnections (upgrading or served)
	heavy    bool   // a connection that ended since the last release of memory held a lot
	wg       sync.WaitGroup
	stopping bool
}

type session struct {
	sess        *syncproto.Session
	peer, user  string
	subprotocol string
	started     time.Time
}

// info describes s now.
func (s *session) info() Connection {
	bs, rs := s.sess.ConnStats(), s.sess.Stats()
	return Connection{Peer: s.peer, User: s.user, Subprotocol: s.subprotocol, Collections: s.sess.Collections(),
		Started: s.started, Active: s.sess.Busy(), BytesSent: bs.BytesSent, BytesReceived: bs.BytesReceived,
		DocsSent: rs.RevsSent, DocsReceived: rs.RevsReceived}
}

// userOf names the authenticated peer of r: its HTTP Basic user name, else the common
// name of its client certificate, else "".
func userOf(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates[0].Subject.CommonName
	}
	return ""
}

// New validates cfg and returns a stopped listener.
func New(cfg Config) (*Listener, error) {
	if cfg.Database == nil {
		return nil, fmt.Errorf("%w: no database", ErrInvalidConfig)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d out of range", ErrInvalidConfig, cfg.Port)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	colls := cfg.Collections
	if len(colls) == 0 {
		colls = []*store.Collection{cfg.Database.DefaultCollection()}
	}
	for _, c := range colls {
		if c == nil || c.Database() != cfg.Database {
			return nil, fmt.Errorf("%w: collections must belong to the served database", ErrInvalidConfig)
		}
	}
	if err := validateSecurity(&cfg); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = logging.Logger(logging.Listener)
	}
	l := &Listener{cfg: cfg, log: log, colls: colls, conns: map[*session]struct{}{}, reads: syncproto.NewSharedReads()}
	if cfg.Password != nil {
		l.auth = passwordCheck(cfg.Password, log)
	}
	return l, nil
}

// bindAddresses resolves NetworkInterface into host addresses ("" = all).
func bindAddresses(iface string) ([]string, error) {
	if iface == "" {
		return []string{""}, nil
	}
	if ip := net.ParseIP(iface); ip != nil {
		return []string{ip.String()}, nil
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("%w: network interface %q: %v", ErrInvalidConfig, iface, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("%w: addresses of %q: %v", ErrInvalidConfig, iface, err)
	}
	var out []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, ipn.IP.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: network interface %q has no usable address", ErrInvalidConfig, iface)
	}
	return out, nil
}

// Start resolves the TLS identity (loading or creating the anonymous one if needed) and
// begins listening. The port is fixed after Start (see Port). Errors: ErrRunning, tlsid
// errors from the anonymous identity file (ErrWrongPassword, ErrCorruptInput: the file is
// left alone, delete it to start over), ErrInvalidConfig for an unknown network interface,
// and listen errors (port in use).
func (l *Listener) Start() error {
	l.lifecycle.Lock()
	defer l.lifecycle.Unlock()
	l.mu.Lock()
	running := l.running
	l.mu.Unlock()
	if running {
		return fmt.Errorf("start listener: %w", ErrRunning)
	}
	tlsConf, id, err := l.serverTLS()
	if err != nil {
		return fmt.Errorf("start listener: %w", err)
	}
	if err := l.listen(tlsConf, id); err != nil {
		return fmt.Errorf("start listener: %w", err)
	}
	if id != nil {
		l.log.Info("listener started", "port", l.Port(), "fingerprint", id.Fingerprint())
	} else {
		l.log.Info("listener started without TLS", "port", l.Port())
	}
	return nil
}

// listen opens the sockets and starts serving them.
func (l *Listener) listen(tlsConf *tls.Config, id *tlsid.Identity) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	hosts, err := bindAddresses(l.cfg.NetworkInterface)
	if err != nil {
		return err
	}
	port := l.cfg.Port
	var lns []net.Listener
	for _, h := range hosts {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("listen on %s: %w", net.JoinHostPort(h, strconv.Itoa(port)), err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		if tlsConf != nil {
			ln = tls.NewListener(ln, tlsConf)
		}
		lns = append(lns, ln)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", l.serveHTTP)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 15 * time.Second, ErrorLog: log.New(serverLog{l.log}, "", 0)}
	l.server, l.lns, l.port, l.running, l.stopping = srv, lns, port, true, false
	l.tlsConf, l.identity = tlsConf, id
	for _, ln := range lns {
		l.wg.Add(1)
		go func(ln net.Listener) {
			defer l.wg.Done()
			_ = srv.Serve(ln)
		}(ln)
	}
	return nil
}

// Port returns the TCP port after Start (0 when stopped).
func (l *Listener) Port() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.running {
		return 0
	}
	return l.port
}

// URLs returns ws[s]://<address>:<port>/<dbname> for each address the listener can be
// reached at (nil when stopped).
func (l *Listener) URLs() []string {
	l.mu.Lock()
	running, port, secure := l.running, l.port, l.tlsConf != nil
	l.mu.Unlock()
	if !running {
		return nil
	}
	scheme := "ws"
	if secure {
		scheme = "wss"
	}
	hosts, _ := bindAddresses(l.cfg.NetworkInterface)
	var ips []string
	if len(hosts) == 1 && hosts[0] == "" {
		addrs, err := net.InterfaceAddrs()
		if err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() && !ipn.IP.IsMulticast() {
					ips = append(ips, ipn.IP.String())
				}
			}
		}
	} else {
		ips = hosts
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, fmt.Sprintf("%s://%s/%s", scheme, net.JoinHostPort(ip, strconv.Itoa(port)), l.cfg.Database.Name()))
	}
	return out
}

// Status returns the connection counts.
func (l *Listener) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Status{ConnectionCount: len(l.conns), TotalConnections: l.total}
	for s := range l.conns {
		c := s.info()
		if c.Active {
			st.ActiveConnectionCount++
		}
		st.Connections = append(st.Connections, c)
	}
	sort.Slice(st.Connections, func(i, j int) bool { return st.Connections[i].Started.Before(st.Connections[j].Started) })
	return st
}

// Stop closes the listening sockets and every connection. Connected replicators are
// told with close code 4001 (transient), so they retry with backoff and resume when a
// listener is back. Stop waits for every session to end. Stopping a stopped listener does
// nothing; a stopped listener can be started again (it then serves the same anonymous
// identity).
func (l *Listener) Stop() {
	l.lifecycle.Lock()
	defer l.lifecycle.Unlock()
	l.mu.Lock()
	if !l.running {
		l.mu.Unlock()
		return
	}
	l.stopping = true
	srv := l.server
	conns := make([]*session, 0, len(l.conns))
	for s := range l.conns {
		conns = append(conns, s)
	}
	l.mu.Unlock()
	_ = srv.Close()
	var cwg sync.WaitGroup
	for _, s := range conns {
		cwg.Add(1)
		go func(s *session) {
			defer cwg.Done()
			_ = s.sess.Disconnect(syncproto.CloseAppTransient, "listener stopped")
		}(s)
	}
	cwg.Wait()
	l.wg.Wait()
	l.mu.Lock()
	l.running, l.server, l.lns, l.port = false, nil, nil, 0
	l.tlsConf, l.identity = nil, nil
	l.mu.Unlock()
}

func (l *Listener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.admit(w, r) {
		return
	}
	served := false
	defer func() {
		if !served {
			l.release()
		}
	}()
	s, err := l.accept(w, r)
	if err != nil {
		l.log.Warn("connection refused: WebSocket upgrade failed", "peer", r.RemoteAddr, "err", err)
		return
	}
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		s.sess.Close()
		s.sess.Disconnect(syncproto.CloseAppTransient, "listener stopped")
		return
	}
	l.conns[s] = struct{}{}
	l.total++
	l.wg.Add(1)
	l.mu.Unlock()
	served = true
	opened := []any{"peer", s.peer, "user", s.user, "subprotocol", s.subprotocol}
	if s.sess.Legacy() {
		opened = append(opened, "collections", "_default._default") // no getCollections in this protocol
	}
	l.log.Info("connection opened", opened...)
	s.sess.Start()
	go l.serve(s)
}

// admit answers a request that is not a replication the listener accepts now (wrong
// path, database or method, failed authentication, listener stopping, MaxConnections
// reached) and returns false; otherwise it counts the connection against
// MaxConnections (the caller releases it) and returns true.
func (l *Listener) admit(w http.ResponseWriter, r *http.Request) bool {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	if len(parts) != 2 || parts[1] != "_blipsync" {
		http.Error(w, "not found", http.StatusNotFound)
		return false
	}
	if parts[0] != l.cfg.Database.Name() {
		http.Error(w, "no such database", http.StatusNotFound)
		return false
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	if l.auth != nil && !l.auth(r) {
		w.Header().Set("WWW-Authenticate", `Basic charset="UTF-8"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	l.mu.Lock()
	stopping := l.stopping
	full := !stopping && l.maxConnections() > 0 && l.admitted >= l.maxConnections()
	if !stopping && !full {
		l.admitted++
	}
	l.mu.Unlock()
	if stopping {
		http.Error(w, "listener stopping", http.StatusServiceUnavailable)
		return false
	}
	if full {
		l.log.Warn("connection refused: too many connections", "peer", r.RemoteAddr, "max_connections", l.maxConnections())
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// accept upgrades the request and sets up the passive session serving the database,
// not started yet.
func (l *Listener) accept(w http.ResponseWriter, r *http.Request) (*session, error) {
	peer := r.RemoteAddr
	sess, err := syncproto.Accept(w, r, syncproto.SessionConfig{
		Role: syncproto.RolePassive, Database: l.cfg.Database, Limits: l.cfg.Limits, Logger: l.log.With("peer", peer),
		DeltaSync: l.cfg.EnableDeltaSync, DisableCBMobile4: l.cfg.DisableCBMobile4,
	})
	if err != nil {
		return nil, err
	}
	s := &session{sess: sess, peer: peer, user: userOf(r), subprotocol: sess.Subprotocol(), started: time.Now()}
	sess.ServePassive(syncproto.PassiveConfig{Collections: l.colls, AllowPush: !l.cfg.ReadOnly, AllowPull: true, Reads: l.reads})
	return s, nil
}

// serve waits for the end of a started connection, then ends its session and releases
// its place.
func (l *Listener) serve(s *session) {
	defer l.wg.Done()
	<-s.sess.Done()
	s.sess.Close()
	l.mu.Lock()
	delete(l.conns, s)
	if s.sess.ConnStats().PeakBufferedBytes >= heavyConnection {
		l.heavy = true
	}
	l.mu.Unlock()
	l.release()
	l.logClosed(s)
}

// logClosed logs the end of a connection: Info when it closed normally or the listener
// closed it, Warning when the peer caused it (a protocol error, an abnormal close).
func (l *Listener) logClosed(s *session) {
	c := s.info()
	level, reason := slog.LevelInfo, "closed"
	var ce *syncproto.CloseError
	if err := s.sess.ConnErr(); errors.As(err, &ce) {
		reason = fmt.Sprintf("code %d", ce.Code)
		if ce.Reason != "" {
			reason += " " + ce.Reason
		}
		if ce.Err != nil {
			reason += ": " + ce.Err.Error()
		}
		if ce.Remote {
			reason = "by peer, " + reason
		}
		if !cleanClose(ce) {
			level = slog.LevelWarn
		}
	}
	l.log.Log(context.Background(), level, "connection closed", "peer", c.Peer, "user", c.User, "reason", reason,
		"duration", time.Since(c.Started).Round(time.Millisecond), "collections", strings.Join(c.Collections, ","),
		"docs_sent", c.DocsSent, "docs_received", c.DocsReceived, "bytes_sent", c.BytesSent, "bytes_received", c.BytesReceived)
}

// cleanClose: the peer closed normally or went away, or this side closed without a
// fault of the peer (stopping).
func cleanClose(ce *syncproto.CloseError) bool {
	switch ce.Code {
	case syncproto.CloseNormal, syncproto.CloseGoingAway:
		return true
	case syncproto.CloseAppTransient, syncproto.CloseAppPermanent:
		return !ce.Remote
	}
	return false
}

// serverLog carries the HTTP server's messages into the log: a failed TLS handshake is
// an error the peer caused (Warning, domain TLS); anything else goes to Network at Info.
type serverLog struct{ log *slog.Logger }

func (w serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		w.log.With(logging.DomainAttr(logging.TLS)).Warn("TLS handshake failed", "detail", msg)
	} else {
		w.log.With(logging.DomainAttr(logging.Network)).Info("http server", "detail", msg)
	}
	return len(p), nil
}

func (l *Listener) maxConnections() int {
	switch n := l.cfg.MaxConnections; {
	case n == 0:
		return DefaultMaxConnections
	case n < 0:
		return 0
	default:
		return n
	}
}

// release ends a connection's claim on MaxConnections. When the last connection is gone,
// the memory the connections used is handed back to the system at once (the Go runtime
// would otherwise keep freed pages for minutes, and a burst of large messages leaves
// many).
func (l *Listener) release() {
	l.mu.Lock()
	l.admitted--
	free := l.admitted == 0 && l.heavy
	if free {
		l.heavy = false
	}
	l.mu.Unlock()
	if free {
		debug.FreeOSMemory()
	}
}

// heavyConnection: release gives memory back (a full garbage collection) only after a
// connection that held at least this many incoming bytes at once.
const heavyConnection = 4 << 20

// Database returns the served database.
func (l *Listener) Database() *store.Database { return l.cfg.Database }
