package tlsid

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/p2psync/libp2psync/engine/logging"
)

// AnonymousIdentityFile is the name of the file LoadOrCreateAnonymous keeps in its directory.
const AnonymousIdentityFile = "p2psync-anonymous-identity.p12"

// DefaultRenewBefore is how long before expiry an anonymous identity is replaced when
// AnonymousOptions.RenewBefore is zero.
const DefaultRenewBefore = 30 * 24 * time.Hour

// anonymousCommonName is the subject CN of anonymous identities.
const anonymousCommonName = "libp2psync anonymous listener"

// AnonymousOptions tunes LoadOrCreateAnonymous. The zero value means defaults.
type AnonymousOptions struct {
	// Password protects the PKCS#12 file. Empty means go-pkcs12's DefaultPassword
	// ("changeit"): the file is then protected by its 0600 mode only, as an unencrypted key
	// file would be. Applications that want the key encrypted at rest pass a secret kept in
	// the platform's secure storage.
	Password string
	// Key is the key type of a newly generated identity (default ECDSA P-256).
	Key KeyType
	// Validity of a new certificate; zero means DefaultValidity (365 days).
	Validity time.Duration
	// RenewBefore: a stored identity expiring within this window is replaced by a new one;
	// zero means DefaultRenewBefore (30 days). Must be shorter than Validity.
	RenewBefore time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one Info record when an identity is created or renewed; nil = the library log (engine/logging), domain TLS.
	Logger *slog.Logger
}

// LoadOrCreateAnonymous returns the listener's anonymous identity for the database directory
// dir: a self-signed server certificate with a random key, created on first use, stored in
// dir/AnonymousIdentityFile (PKCS#12, mode 0600) and returned unchanged — same SHA-256
// fingerprint, so pinning peers keep working — on every later call until it comes within
// RenewBefore of expiry; then a new identity replaces it.
//
// The directory must exist. Concurrent first calls in several processes converge on one
// identity (the file is published with an atomic no-replace link). A damaged file is not
// replaced silently: the error is returned and the caller may delete the file to start over.
//
// Errors: ErrWrongPassword (the file was written with another password), ErrCorruptInput,
// ErrInvalidArgument (bad options), or an *fs.PathError for I/O failures.
func LoadOrCreateAnonymous(dir string, opts AnonymousOptions) (*Identity, error) {
	id, err := loadOrCreateAnonymous(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("anonymous identity in %s: %w", dir, err)
	}
	return id, nil
}

func loadOrCreateAnonymous(dir string, opts AnonymousOptions) (*Identity, error) {
	a, err := newAnonymousFile(dir, opts)
	if err != nil {
		return nil, err
	}
	// At most two rounds: if another process publishes the file between our failed read and
	// our create, the second round loads theirs.
	for range 2 {
		data, err := readFileLimited(a.path, MaxInputSize)
		if errors.Is(err, fs.ErrNotExist) {
			id, err := a.create()
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return id, err
		}
		if err != nil {
			return nil, err
		}
		return a.loadOrRenew(data)
	}
	return nil, fmt.Errorf("%s keeps appearing and disappearing: %w", a.path, fs.ErrNotExist)
}

// anonymousFile is the anonymous identity file of one directory with the options of
// LoadOrCreateAnonymous resolved to their defaults.
type anonymousFile struct {
	path            string
	key             KeyType
	validity, renew time.Duration
	password        string
	now             func() time.Time
	logger          *slog.Logger
}

// newAnonymousFile checks opts and dir (which must be an existing directory).
func newAnonymousFile(dir string, opts AnonymousOptions) (*anonymousFile, error) {
	a := &anonymousFile{path: filepath.Join(dir, AnonymousIdentityFile), key: opts.Key, validity: opts.Validity,
		renew: opts.RenewBefore, password: opts.Password, now: opts.Now, logger: opts.Logger}
	if a.validity == 0 {
		a.validity = DefaultValidity
	}
	if a.renew == 0 {
		a.renew = DefaultRenewBefore
	}
	if a.validity < 0 || a.renew < 0 || a.renew >= a.validity {
		return nil, fmt.Errorf("%w: need 0 < RenewBefore (%v) < Validity (%v)", ErrInvalidArgument, a.renew, a.validity)
	}
	if a.password == "" {
		a.password = pkcs12.DefaultPassword
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.logger == nil {
		a.logger = logging.Logger(logging.TLS)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalidArgument, dir)
	}
	return a, nil
}

// generate makes a new anonymous identity and its PKCS#12 encoding.
func (a *anonymousFile) generate() (*Identity, []byte, error) {
	id, err := CreateIdentity(CreateOptions{
		Key:       a.key,
		Subject:   Subject{CommonName: anonymousCommonName},
		Usage:     UsageServer,
		Validity:  a.validity,
		NotBefore: a.now().Add(-clockSkew),
	})
	if err != nil {
		return nil, nil, err
	}
	data, err := id.ExportPKCS12(a.password)
	if err != nil {
		return nil, nil, err
	}
	return id, data, nil
}

// create publishes a new identity where there was none; fs.ErrExist when another process
// published one first.
func (a *anonymousFile) create() (*Identity, error) {
	id, blob, err := a.generate()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(a.path, blob, true); err != nil {
		return nil, err
	}
	a.logger.Info("created anonymous TLS identity", "path", a.path,
		"fingerprint", id.Fingerprint(), "not_after", id.NotAfter())
	return id, nil
}

// loadOrRenew decodes the stored identity and returns it, or replaces it by a new one when
// it expires within the renewal window.
func (a *anonymousFile) loadOrRenew(data []byte) (*Identity, error) {
	id, err := importPKCS12(data, a.password)
	if err != nil {
		return nil, err
	}
	tightenMode(a.path, a.logger)
	if a.now().Add(a.renew).Before(id.NotAfter()) {
		return id, nil
	}
	fresh, blob, err := a.generate()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(a.path, blob, false); err != nil {
		return nil, err
	}
	a.logger.Info("renewed anonymous TLS identity", "path", a.path,
		"old_fingerprint", id.Fingerprint(), "old_not_after", id.NotAfter(),
		"fingerprint", fresh.Fingerprint(), "not_after", fresh.NotAfter())
	return fresh, nil
}

// tightenMode resets a key file that others can read back to 0600 (for example after a
// restore from a backup that did not keep modes).
func tightenMode(path string, logger *slog.Logger) {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		logger.Warn("anonymous identity file is readable by others and its mode cannot be fixed",
			"path", path, "mode", st.Mode().Perm().String(), "error", err)
		return
	}
	logger.Warn("anonymous identity file was readable by others; mode reset to 0600",
		"path", path, "old_mode", st.Mode().Perm().String())
}
