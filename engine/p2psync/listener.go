package p2psync

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// ListenerConfig configures a Listener: the plain fields of listener.Config, plus its
// security. The zero value of every optional field is its default: TLS on with the
// database's anonymous identity, no authentication.
type ListenerConfig struct {
	// Database served (required). Replicators reach it at wss://host:port/<Database.Name()>.
	Database *store.Database
	// Collections served (all from Database); empty = the default collection.
	Collections []*store.Collection
	// Port to listen on; 0 lets the system pick one (read it with Port after Start).
	Port int
	// NetworkInterface restricts listening to an interface name ("lo") or an IP address;
	// "" = every interface.
	NetworkInterface string
	// ReadOnly refuses pushes (HTTP/403); pulls are served.
	ReadOnly bool
	// EnableDeltaSync offers delta sync to clients where the database permits it too
	// (see listener.Config.EnableDeltaSync). Default off.
	EnableDeltaSync bool
	// Limits tune batching and pipelining of every session and the resource limits of
	// every connection: MaxMessageSize (largest incoming message, default 20 MiB) and
	// MaxBufferedBytes (incoming bytes one connection may hold, default 8 MiB). Zero =
	// defaults.
	Limits syncproto.Limits
	// MaxConnections caps the connections served at once (0 = 256, negative = no cap);
	// more are answered HTTP 503 (see listener.Config.MaxConnections).
	MaxConnections int
	// Logger receives diagnostics, including every refused replicator (nil = the library
	// log, engine/logging, domain Listener).
	Logger *slog.Logger

	// DisableTLS serves plain ws:// instead of wss://. Identity and the client-certificate
	// authenticator need TLS and are refused with it.
	DisableTLS bool
	// Identity is the server certificate and key. nil (with TLS on) = the anonymous
	// identity of the database directory: created at the first Start and reused by every
	// later one, so its fingerprint stays the same across restarts and peers can pin it.
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

// Listener is the passive peer: it serves a database to replicators over wss:// (or ws://
// with DisableTLS). Its methods are safe for concurrent use.
type Listener struct {
	cfg ListenerConfig
	log *slog.Logger

	lifecycle sync.Mutex // serialises Start and Stop

	mu       sync.Mutex // guards the fields below
	eng      *listener.Listener
	identity *tlsid.Identity
}

// NewListener validates cfg and returns a stopped listener. Configuration errors wrap
// listener.ErrInvalidConfig (or listener.ErrUnsupported) and say what to change.
func NewListener(cfg ListenerConfig) (*Listener, error) {
	if err := validateListener(&cfg); err != nil {
		return nil, fmt.Errorf("new listener: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = logging.Logger(logging.Listener)
	}
	l := &Listener{cfg: cfg, log: log}
	// The engine validates the plain fields; the listener it returns is only a dry run
	// (nothing is opened until Start).
	if _, err := listener.New(l.engineConfig(nil)); err != nil {
		return nil, fmt.Errorf("new listener: %w", err)
	}
	return l, nil
}

func validateListener(cfg *ListenerConfig) error {
	if cfg.DisableTLS {
		if cfg.ClientCertificate != nil {
			return fmt.Errorf("%w: client-certificate authentication requires TLS: remove DisableTLS or the ClientCertificate authenticator", listener.ErrInvalidConfig)
		}
		if cfg.Identity != nil {
			return fmt.Errorf("%w: a TLS identity was given but TLS is disabled: remove DisableTLS or the Identity", listener.ErrInvalidConfig)
		}
	}
	if cfg.Identity != nil && len(cfg.Identity.Chain()) == 0 {
		return fmt.Errorf("%w: the TLS identity is empty (create it with the tlsid package)", listener.ErrInvalidConfig)
	}
	if cc := cfg.ClientCertificate; cc != nil {
		if len(cc.Roots) == 0 && cc.Verify == nil {
			return fmt.Errorf("%w: the client-certificate authenticator needs trusted roots, a verify callback, or both", listener.ErrInvalidConfig)
		}
		for i, c := range cc.Roots {
			if c == nil {
				return fmt.Errorf("%w: client-certificate root %d is nil", listener.ErrInvalidConfig, i)
			}
		}
		// Keep our own copy: the application may reuse its slice.
		cfg.ClientCertificate = &CertificateAuthenticator{Roots: append([]*x509.Certificate(nil), cc.Roots...), Verify: cc.Verify}
	}
	return nil
}

// engineConfig is the engine listener's configuration with the given TLS settings.
func (l *Listener) engineConfig(tlsCfg *tls.Config) listener.Config {
	cfg := listener.Config{
		Database:         l.cfg.Database,
		Collections:      l.cfg.Collections,
		Port:             l.cfg.Port,
		NetworkInterface: l.cfg.NetworkInterface,
		ReadOnly:         l.cfg.ReadOnly,
		TLSConfig:        tlsCfg,
		EnableDeltaSync:  l.cfg.EnableDeltaSync,
		Limits:           l.cfg.Limits,
		MaxConnections:   l.cfg.MaxConnections,
		Logger:           l.log,
	}
	if l.cfg.Password != nil {
		cfg.Authenticate = passwordCheck(l.cfg.Password, l.log)
	}
	return cfg
}

// Start resolves the TLS identity (loading or creating the anonymous one if needed) and
// begins listening. Errors: listener.ErrRunning, tlsid errors from the anonymous identity
// file (ErrWrongPassword, ErrCorruptInput: the file is left alone, delete it to start
// over), and listen errors (port in use).
func (l *Listener) Start() error {
	l.lifecycle.Lock()
	defer l.lifecycle.Unlock()
	l.mu.Lock()
	running := l.eng != nil
	l.mu.Unlock()
	if running {
		return fmt.Errorf("start listener: %w", listener.ErrRunning)
	}
	var (
		tlsCfg *tls.Config
		id     *tlsid.Identity
	)
	if !l.cfg.DisableTLS {
		var err error
		if id, err = l.resolveIdentity(); err != nil {
			return fmt.Errorf("start listener: %w", err)
		}
		tlsCfg = tlsid.ServerTLSConfig(id, l.serverOptions())
	}
	eng, err := listener.New(l.engineConfig(tlsCfg))
	if err != nil {
		return fmt.Errorf("start listener: %w", err)
	}
	if err := eng.Start(); err != nil {
		return fmt.Errorf("start listener: %w", err)
	}
	l.mu.Lock()
	l.eng, l.identity = eng, id
	l.mu.Unlock()
	if id != nil {
		l.log.Info("listener started", "port", eng.Port(), "fingerprint", id.Fingerprint())
	} else {
		l.log.Info("listener started without TLS", "port", eng.Port())
	}
	return nil
}

func (l *Listener) resolveIdentity() (*tlsid.Identity, error) {
	if l.cfg.Identity != nil {
		return l.cfg.Identity, nil
	}
	opts := l.cfg.AnonymousIdentity
	if opts.Logger == nil {
		opts.Logger = l.log.With(logging.DomainAttr(logging.TLS))
	}
	return tlsid.LoadOrCreateAnonymous(l.cfg.Database.Path(), opts)
}

// errRefusedByApp is what the certificate callback's "no" becomes; tlsid wraps it with
// tlsid.ErrClientCertUntrusted.
var errRefusedByApp = errors.New("refused by the application's certificate authenticator")

func (l *Listener) serverOptions() tlsid.ServerOptions {
	cc := l.cfg.ClientCertificate
	if cc == nil {
		return tlsid.ServerOptions{}
	}
	opts := tlsid.ServerOptions{ClientRoots: cc.Roots}
	if verify := cc.Verify; verify != nil {
		opts.VerifyClient = func(chain []*x509.Certificate, _ [][]*x509.Certificate) error {
			if !callSafely(l.log, "certificate authenticator", func() bool { return verify(chain) }) {
				l.log.With(logging.DomainAttr(logging.TLS)).Warn("connection refused: client certificate not accepted", "subject", chain[0].Subject.String(),
					"fingerprint", tlsid.CertificateFingerprint(chain[0]))
				return errRefusedByApp
			}
			return nil
		}
	}
	return opts
}

// Stop closes the listening sockets and every connection (replicators are told to come
// back later, close code 4001) and waits for every session to end. Stopping a stopped
// listener does nothing. A stopped listener can be started again; it then serves the same
// anonymous identity.
func (l *Listener) Stop() {
	l.lifecycle.Lock()
	defer l.lifecycle.Unlock()
	l.mu.Lock()
	eng := l.eng
	l.mu.Unlock()
	if eng == nil {
		return
	}
	eng.Stop()
	l.mu.Lock()
	l.eng, l.identity = nil, nil
	l.mu.Unlock()
}

func (l *Listener) engine() *listener.Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.eng
}

// TLSIdentity returns the identity the running listener serves (its certificate, whose
// Fingerprint a replicator may pin), or nil when stopped or with TLS disabled.
func (l *Listener) TLSIdentity() *tlsid.Identity {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.identity
}

// Port returns the TCP port while running, 0 when stopped.
func (l *Listener) Port() int {
	if eng := l.engine(); eng != nil {
		return eng.Port()
	}
	return 0
}

// URLs returns wss://<address>:<port>/<db> (ws:// with TLS disabled) for every address the
// running listener can be reached at; nil when stopped.
func (l *Listener) URLs() []string {
	if eng := l.engine(); eng != nil {
		return eng.URLs()
	}
	return nil
}

// Status returns the connection counts (zero when stopped).
func (l *Listener) Status() listener.Status {
	if eng := l.engine(); eng != nil {
		return eng.Status()
	}
	return listener.Status{}
}

// Database returns the served database.
func (l *Listener) Database() *store.Database { return l.cfg.Database }
