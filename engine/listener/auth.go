package listener

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// This file is how the listener authenticates replicators: HTTP Basic credentials on the
// WebSocket upgrade (Config.Password) and client certificates in the TLS handshake
// (Config.ClientCertificate).

// PasswordAuthenticator decides whether a replicator's HTTP Basic credentials are accepted.
// The listener calls it once per connection attempt, on that connection's goroutine, with
// the username and password exactly as sent (valid UTF-8, no NUL byte); it may block (for
// example to look the user up). A panic counts as a refusal. Compare secrets with
// crypto/subtle, as StaticPasswords does.
type PasswordAuthenticator func(username, password string) bool

// StaticPasswords returns a PasswordAuthenticator that accepts exactly the given
// username → password pairs. The map is copied. Each attempt compares against every entry
// in constant time (SHA-256 digests through crypto/subtle), so the time taken reveals neither
// which usernames exist nor how much of a password matched.
func StaticPasswords(credentials map[string]string) PasswordAuthenticator {
	type entry struct{ user, pass [sha256.Size]byte }
	entries := make([]entry, 0, len(credentials))
	for u, p := range credentials {
		entries = append(entries, entry{sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))})
	}
	return func(username, password string) bool {
		u, p := sha256.Sum256([]byte(username)), sha256.Sum256([]byte(password))
		match := 0
		for i := range entries {
			match |= subtle.ConstantTimeCompare(u[:], entries[i].user[:]) & subtle.ConstantTimeCompare(p[:], entries[i].pass[:])
		}
		return match == 1
	}
}

// PasswordsOrCallback combines the two ways an application can check passwords: fixed
// credentials (compared as StaticPasswords does) and a callback. A username and password
// listed in credentials are accepted without calling fn; anything else goes to fn. With
// only one of them set it is that one; with neither, nil (no password authentication).
func PasswordsOrCallback(credentials map[string]string, fn PasswordAuthenticator) PasswordAuthenticator {
	if len(credentials) == 0 {
		return fn
	}
	static := StaticPasswords(credentials)
	if fn == nil {
		return static
	}
	return func(username, password string) bool {
		return static(username, password) || fn(username, password)
	}
}

// CertificateAuthenticator makes the listener require a client certificate during the TLS
// handshake (it needs TLS). Set Roots, Verify or both.
type CertificateAuthenticator struct {
	// Roots, when non-empty, are the trusted roots: the client's chain must lead to one of
	// them, be currently valid and allow client authentication.
	Roots []*x509.Certificate
	// Verify, when set, has the final say: it gets the chain the client presented (leaf
	// first; with Roots, only after the chain was verified against them; without, after the
	// leaf's validity period was checked) and returns true to accept. It runs on the
	// handshake's goroutine and may block. A panic counts as a refusal.
	Verify func(chain []*x509.Certificate) bool
}

// maxAuthorizationLen caps the Authorization header we decode: far above any real
// username and password, far below what would cost anything to look at.
const maxAuthorizationLen = 16 << 10

// parseBasicAuth reads HTTP Basic credentials (RFC 7617) from one Authorization header
// value. It accepts any case of "Basic", any run of spaces or tabs around the token, and
// base64 with or without padding. It refuses other schemes, a token that is not base64, a
// decoded value without ':', and credentials that are not valid UTF-8 or contain NUL (they
// could not be handed to a C callback intact).
func parseBasicAuth(header string) (username, password string, ok bool) {
	if len(header) > maxAuthorizationLen {
		return "", "", false
	}
	fields := strings.Fields(header)
	if len(fields) != 2 || !strings.EqualFold(fields[0], "Basic") {
		return "", "", false
	}
	token := fields[1]
	enc := base64.StdEncoding
	if !strings.HasSuffix(token, "=") && len(token)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	raw, err := enc.Strict().DecodeString(token)
	if err != nil {
		return "", "", false
	}
	cred := string(raw)
	if !utf8.ValidString(cred) || strings.IndexByte(cred, 0) >= 0 {
		return "", "", false
	}
	username, password, ok = strings.Cut(cred, ":")
	if !ok {
		return "", "", false
	}
	return username, password, true
}

// passwordCheck turns a PasswordAuthenticator into the listener's per-request hook: exactly
// one well-formed Basic Authorization header, then the application's decision.
func passwordCheck(check PasswordAuthenticator, log *slog.Logger) func(*http.Request) bool {
	return func(r *http.Request) bool {
		values := r.Header.Values("Authorization")
		if len(values) != 1 {
			log.Warn("connection refused: no single Authorization header", "peer", r.RemoteAddr, "headers", len(values))
			return false
		}
		user, pass, ok := parseBasicAuth(values[0])
		if !ok {
			log.Warn("connection refused: malformed Basic credentials", "peer", r.RemoteAddr)
			return false
		}
		if !callSafely(log, "password authenticator", func() bool { return check(user, pass) }) {
			log.Warn("connection refused: credentials not accepted", "peer", r.RemoteAddr, "username", user)
			return false
		}
		return true
	}
}

// callSafely runs an application callback that answers yes or no; a panic is logged and
// means no, so a faulty callback can refuse a peer but never bring the process down.
func callSafely(log *slog.Logger, what string, fn func() bool) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Error(what+" panicked; peer refused", "panic", r)
			ok = false
		}
	}()
	return fn()
}

// errRefusedByApp is what the certificate callback's "no" becomes; tlsid wraps it with
// tlsid.ErrClientCertUntrusted.
var errRefusedByApp = errors.New("refused by the application's certificate authenticator")

// serverOptions turns the client-certificate authenticator into tlsid's server policy; the
// application's Verify callback runs guarded (a panic refuses) and every refusal is logged.
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
