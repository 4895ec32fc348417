package tlsid

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCreateIdentity(t *testing.T) {
	tests := []struct {
		name  string
		opts  CreateOptions
		check func(t *testing.T, id *Identity)
	}{
		{name: "defaults", opts: CreateOptions{}, check: func(t *testing.T, id *Identity) {
			c := id.Certificate()
			k, ok := id.PrivateKey().(*ecdsa.PrivateKey)
			if !ok || k.Curve != elliptic.P256() {
				t.Fatalf("key %T; want ECDSA P-256", id.PrivateKey())
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || c.IsCA {
				t.Errorf("ExtKeyUsage %v IsCA %v; want server auth leaf", c.ExtKeyUsage, c.IsCA)
			}
			if got := c.NotAfter.Sub(c.NotBefore); got != DefaultValidity {
				t.Errorf("validity %v; want %v", got, DefaultValidity)
			}
			if d := time.Since(c.NotBefore); d < 0 || d > clockSkew+time.Minute {
				t.Errorf("NotBefore %v is not just before now", c.NotBefore)
			}
			if !isSelfSigned(c) || len(id.Chain()) != 1 {
				t.Errorf("want a single self-signed certificate")
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 127 {
				t.Errorf("serial %v out of range", c.SerialNumber)
			}
		}},
		{name: "RSA 2048 client", opts: CreateOptions{Key: KeyRSA2048, Usage: UsageClient}, check: func(t *testing.T, id *Identity) {
			k, ok := id.PrivateKey().(*rsa.PrivateKey)
			if !ok || k.N.BitLen() != 2048 {
				t.Fatalf("key %T; want RSA-2048", id.PrivateKey())
			}
			c := id.Certificate()
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
				t.Errorf("ExtKeyUsage %v; want client auth", c.ExtKeyUsage)
			}
			if c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
				t.Error("RSA leaf lacks keyEncipherment")
			}
		}},
		{name: "subject, SANs, validity, both usages", opts: CreateOptions{
			Subject: Subject{CommonName: "peer-1", Organization: "Acme", OrganizationalUnit: "Sync",
				Country: "FR", Locality: "Lyon", Province: "Rhone"},
			DNSNames:    []string{"peer-1.local", "localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
			Validity:    30 * 24 * time.Hour,
			Usage:       UsageServerAndClient,
		}, check: func(t *testing.T, id *Identity) {
			c := id.Certificate()
			s := c.Subject
			if s.CommonName != "peer-1" || !slices.Equal(s.Organization, []string{"Acme"}) ||
				!slices.Equal(s.OrganizationalUnit, []string{"Sync"}) || !slices.Equal(s.Country, []string{"FR"}) ||
				!slices.Equal(s.Locality, []string{"Lyon"}) || !slices.Equal(s.Province, []string{"Rhone"}) {
				t.Errorf("subject %v", s)
			}
			if !slices.Equal(c.DNSNames, []string{"peer-1.local", "localhost"}) || len(c.IPAddresses) != 2 ||
				!c.IPAddresses[1].Equal(net.ParseIP("::1")) {
				t.Errorf("SANs %v %v", c.DNSNames, c.IPAddresses)
			}
			if err := c.VerifyHostname("peer-1.local"); err != nil {
				t.Error(err)
			}
			if got := c.NotAfter.Sub(c.NotBefore); got != 30*24*time.Hour {
				t.Errorf("validity %v", got)
			}
			if len(c.ExtKeyUsage) != 2 {
				t.Errorf("ExtKeyUsage %v; want server and client", c.ExtKeyUsage)
			}
		}},
		{name: "CA-signed leaf", opts: CreateOptions{Issuer: fx.ca, DNSNames: []string{"x.example"}}, check: func(t *testing.T, id *Identity) {
			chain := id.Chain()
			if len(chain) != 2 || !chain[1].Equal(fx.ca.Certificate()) {
				t.Fatalf("chain of %d; want leaf + CA", len(chain))
			}
			roots := x509.NewCertPool()
			roots.AddCert(fx.ca.Certificate())
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "x.example"}); err != nil {
				t.Fatal(err)
			}
			if isSelfSigned(chain[0]) {
				t.Error("CA-signed leaf reported as self-signed")
			}
		}},
		{name: "explicit NotBefore", opts: CreateOptions{NotBefore: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), Validity: time.Hour},
			check: func(t *testing.T, id *Identity) {
				if !id.NotAfter().Equal(time.Date(2020, 1, 2, 4, 4, 5, 0, time.UTC)) {
					t.Errorf("NotAfter %v", id.NotAfter())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := CreateIdentity(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, id)
		})
	}
}

func TestCreateIdentityRSA3072(t *testing.T) {
	id := rsa3072Identity(t)
	k, ok := id.PrivateKey().(*rsa.PrivateKey)
	if !ok || k.N.BitLen() != 3072 {
		t.Fatalf("key %T; want RSA-3072", id.PrivateKey())
	}
}

func TestCreateIdentityInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts CreateOptions
	}{
		{"negative validity", CreateOptions{Validity: -time.Hour}},
		{"empty DNS name", CreateOptions{DNSNames: []string{""}}},
		{"DNS name with space", CreateOptions{DNSNames: []string{"a b"}}},
		{"bad IP", CreateOptions{IPAddresses: []net.IP{{1, 2, 3}}}},
		{"unknown key type", CreateOptions{Key: KeyRSA3072 + 1}},
		{"unknown usage", CreateOptions{Usage: UsageServerAndClient + 1}},
		{"issuer is not a CA", CreateOptions{Issuer: fx.leaf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := CreateIdentity(tt.opts)
			if id != nil {
				t.Fatal("got an identity")
			}
			wantIs(t, err, ErrInvalidArgument)
		})
	}
}

func TestIdentitiesAreUnique(t *testing.T) {
	a, err := CreateIdentity(CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := CreateIdentity(CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Certificate().SerialNumber.Cmp(b.Certificate().SerialNumber) == 0 || a.Fingerprint() == b.Fingerprint() {
		t.Fatal("two new identities share a serial or a fingerprint")
	}
}

func TestFingerprint(t *testing.T) {
	fp := fx.leaf.Fingerprint()
	sum := sha256.Sum256(fx.leaf.Certificate().Raw)
	if fp != hex.EncodeToString(sum[:]) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q", fp)
	}
	colons := FingerprintColons(fp)
	if len(colons) != 95 || strings.ToLower(strings.ReplaceAll(colons, ":", "")) != fp || colons != strings.ToUpper(colons) {
		t.Fatalf("colon form %q", colons)
	}
	if FingerprintColons("abc") != "abc" || FingerprintColons("zz") != "zz" {
		t.Fatal("malformed input should be returned unchanged")
	}
	if FingerprintColons("0a1B") != "0A:1B" {
		t.Fatalf("FingerprintColons(0a1B) = %q", FingerprintColons("0a1B"))
	}
}

func TestNewIdentity(t *testing.T) {
	id, err := NewIdentity(fx.leaf.PrivateKey(), fx.leaf.Chain())
	if err != nil || id.Fingerprint() != fx.leaf.Fingerprint() {
		t.Fatalf("NewIdentity: %v", err)
	}
	tests := []struct {
		name  string
		key   crypto.Signer
		chain []*x509.Certificate
	}{
		{"key does not match leaf", fx.ca.PrivateKey(), fx.leaf.Chain()},
		{"no certificate", fx.leaf.PrivateKey(), nil},
		{"nil key", nil, fx.leaf.Chain()},
		{"nil certificate", fx.leaf.PrivateKey(), []*x509.Certificate{fx.leaf.Certificate(), nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIdentity(tt.key, tt.chain)
			wantIs(t, err, ErrInvalidArgument)
		})
	}
}

func TestTLSCertificate(t *testing.T) {
	c := fx.leaf.TLSCertificate()
	if len(c.Certificate) != 2 || c.Leaf != fx.leaf.Certificate() || c.PrivateKey != fx.leaf.PrivateKey() {
		t.Fatalf("tls.Certificate %+v", c)
	}
}

func TestZeroIdentityRefused(t *testing.T) {
	zero := &Identity{}
	_, err := zero.ExportPKCS12("x")
	wantIs(t, err, ErrInvalidArgument)
	_, _, err = zero.ExportPEM("")
	wantIs(t, err, ErrInvalidArgument)
	_, err = CreateIdentity(CreateOptions{Issuer: zero})
	wantIs(t, err, ErrInvalidArgument)
	_, err = ClientTLSConfig(ClientTrust{Identity: zero})
	wantIs(t, err, ErrInvalidArgument)
	if cfg := ServerTLSConfig(zero, ServerOptions{}); len(cfg.Certificates) != 0 || cfg.GetCertificate == nil {
		t.Fatal("a zero identity must not be served")
	}
}

func TestSplitSubjectAltNames(t *testing.T) {
	dns, ips := SplitSubjectAltNames([]string{"localhost", "127.0.0.1", "::1", "peer.local"})
	if len(dns) != 2 || dns[0] != "localhost" || dns[1] != "peer.local" {
		t.Fatalf("dns = %v", dns)
	}
	if len(ips) != 2 || ips[0].String() != "127.0.0.1" || ips[1].String() != "::1" {
		t.Fatalf("ips = %v", ips)
	}
}
