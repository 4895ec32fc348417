package tlsid

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAnonymousIdentitySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	first, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, AnonymousIdentityFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %v; want 0600", err, st.Mode())
	}
	c := first.Certificate()
	if !isSelfSigned(c) || c.Subject.CommonName != anonymousCommonName ||
		!slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("anonymous certificate: self-signed %v, subject %v, EKU %v", isSelfSigned(c), c.Subject, c.ExtKeyUsage)
	}
	if !strings.Contains(logs.String(), "created anonymous TLS identity") {
		t.Fatalf("no creation log: %s", logs.String())
	}

	// "Restarts": every later call returns the same certificate.
	for i := range 3 {
		again, err := LoadOrCreateAnonymous(dir, AnonymousOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.Fingerprint() != first.Fingerprint() {
			t.Fatalf("start %d: fingerprint changed", i+2)
		}
	}
	// The file is a standard PKCS#12 under go-pkcs12's default password.
	if id, err := ImportPKCS12(readFile(t, path), "changeit"); err != nil || id.Fingerprint() != first.Fingerprint() {
		t.Fatalf("import the file directly: %v", err)
	}

	// It serves TLS to a Couchbase-Lite-style self-signed-only client and to a pinning one.
	for _, trust := range []ClientTrust{
		{Mode: TrustSelfSignedOnly},
		{Mode: TrustPinned, PinnedCertificate: first.Certificate().Raw},
	} {
		cfg, err := ClientTLSConfig(trust)
		if err != nil {
			t.Fatal(err)
		}
		if res := handshake(t, ServerTLSConfig(first, ServerOptions{}), cfg); res.client != nil || res.server != nil {
			t.Fatalf("mode %d: client %v, server %v", trust.Mode, res.client, res.server)
		}
	}
}

func TestAnonymousIdentityRenewal(t *testing.T) {
	dir := t.TempDir()
	orig, err := LoadOrCreateAnonymous(dir, AnonymousOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

	// 300 days on: 65 days left, more than the 30-day window.
	if id, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Now: at(300 * 24 * time.Hour)}); err != nil || id.Fingerprint() != orig.Fingerprint() {
		t.Fatalf("renewed too early: %v", err)
	}
	// 340 days on with a 1-hour window: still kept.
	if id, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Now: at(340 * 24 * time.Hour), RenewBefore: time.Hour}); err != nil || id.Fingerprint() != orig.Fingerprint() {
		t.Fatalf("custom RenewBefore ignored: %v", err)
	}

	// 340 days on: 25 days left, inside the default window: renewed.
	var logs strings.Builder
	later := at(340 * 24 * time.Hour)
	renewed, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Now: later, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Fingerprint() == orig.Fingerprint() {
		t.Fatal("not renewed 25 days before expiry")
	}
	if !renewed.NotAfter().After(orig.NotAfter().Add(300 * 24 * time.Hour)) {
		t.Fatalf("renewed certificate expires %v; want a fresh year from the (fake) now", renewed.NotAfter())
	}
	if !strings.Contains(logs.String(), "renewed anonymous TLS identity") {
		t.Fatalf("no renewal log: %s", logs.String())
	}
	// And the renewed one is what later starts get.
	again, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Now: later})
	if err != nil || again.Fingerprint() != renewed.Fingerprint() {
		t.Fatalf("after renewal: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, AnonymousIdentityFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("renewed file mode %v, %v", st.Mode(), err)
	}
	assertNoTempFiles(t, dir)
}

func TestAnonymousIdentityPassword(t *testing.T) {
	dir := t.TempDir()
	id, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Password: "from the keychain", Key: KeyRSA2048})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, AnonymousIdentityFile)
	before := readFile(t, path)
	for _, pw := range []string{"", "wrong"} {
		_, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Password: pw})
		wantIs(t, err, ErrWrongPassword)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("a wrong password changed the identity file")
	}
	again, err := LoadOrCreateAnonymous(dir, AnonymousOptions{Password: "from the keychain"})
	if err != nil || again.Fingerprint() != id.Fingerprint() {
		t.Fatalf("right password: %v", err)
	}
}

func TestAnonymousIdentityErrors(t *testing.T) {
	t.Run("corrupt file is reported, not replaced", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, AnonymousIdentityFile)
		writeFile(t, path, []byte("garbage"))
		_, err := LoadOrCreateAnonymous(dir, AnonymousOptions{})
		wantIs(t, err, ErrCorruptInput)
		if string(readFile(t, path)) != "garbage" {
			t.Fatal("corrupt file was overwritten")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := LoadOrCreateAnonymous(filepath.Join(t.TempDir(), "nope"), AnonymousOptions{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error %v; want fs.ErrNotExist", err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		writeFile(t, file, nil)
		_, err := LoadOrCreateAnonymous(file, AnonymousOptions{})
		wantIs(t, err, ErrInvalidArgument)
	})
	for _, opts := range []AnonymousOptions{
		{RenewBefore: DefaultValidity},
		{Validity: 24 * time.Hour},
		{Validity: -time.Hour},
		{RenewBefore: -time.Hour},
	} {
		_, err := LoadOrCreateAnonymous(t.TempDir(), opts)
		wantIs(t, err, ErrInvalidArgument)
	}
}

func TestAnonymousIdentityTightensMode(t *testing.T) {
	dir := t.TempDir()
	id, err := LoadOrCreateAnonymous(dir, AnonymousOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, AnonymousIdentityFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateAnonymous(dir, AnonymousOptions{})
	if err != nil || again.Fingerprint() != id.Fingerprint() {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v; want 0600", st.Mode().Perm())
	}
}

// TestAnonymousIdentityConcurrentFirstStart: racing first starts agree on one identity.
func TestAnonymousIdentityConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	const n = 6
	fps := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := LoadOrCreateAnonymous(dir, AnonymousOptions{})
			errs[i] = err
			if err == nil {
				fps[i] = id.Fingerprint()
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if fps[i] != fps[0] {
			t.Fatalf("caller %d got %s, caller 0 got %s", i, fps[i], fps[0])
		}
	}
	assertNoTempFiles(t, dir)
}
