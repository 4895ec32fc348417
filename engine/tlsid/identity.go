package tlsid

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Identity is a private key with its certificate chain: the leaf first, then any
// intermediates and (optionally) the root. It is immutable and safe for concurrent use.
// Obtain identities from this package's constructors; the zero Identity is not usable.
type Identity struct {
	key   crypto.Signer
	chain []*x509.Certificate
}

// NewIdentity builds an Identity from a private key and a certificate chain (leaf first).
// The leaf's public key must match key. The key may be any crypto.Signer (for example one
// backed by hardware); ExportPKCS12 and ExportPEM then work only for RSA, ECDSA and Ed25519
// software keys.
func NewIdentity(key crypto.Signer, chain []*x509.Certificate) (*Identity, error) {
	if key == nil || len(chain) == 0 {
		return nil, fmt.Errorf("new identity: %w: a key and at least one certificate are required", ErrInvalidArgument)
	}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("new identity: %w: certificate %d is nil", ErrInvalidArgument, i)
		}
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("new identity: %w: private key does not match the leaf certificate", ErrInvalidArgument)
	}
	return &Identity{key: key, chain: append([]*x509.Certificate(nil), chain...)}, nil
}

// usable reports whether id came from a constructor (a nil or zero Identity did not).
func (id *Identity) usable() error {
	if id == nil || id.key == nil || len(id.chain) == 0 {
		return fmt.Errorf("%w: identity is nil or empty", ErrInvalidArgument)
	}
	return nil
}

// Certificate returns the leaf certificate. Treat it as read-only.
func (id *Identity) Certificate() *x509.Certificate { return id.chain[0] }

// Chain returns a copy of the certificate chain, leaf first.
func (id *Identity) Chain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), id.chain...)
}

// PrivateKey returns the private key.
func (id *Identity) PrivateKey() crypto.Signer { return id.key }

// NotAfter is the end of the leaf certificate's validity.
func (id *Identity) NotAfter() time.Time { return id.chain[0].NotAfter }

// Fingerprint is the SHA-256 digest of the leaf certificate's DER encoding, as 64 lowercase
// hex digits. It is what a peer pins and what "same certificate" means in this package.
func (id *Identity) Fingerprint() string { return CertificateFingerprint(id.chain[0]) }

// TLSCertificate returns the identity in the form crypto/tls serves or presents.
func (id *Identity) TLSCertificate() tls.Certificate {
	raw := make([][]byte, len(id.chain))
	for i, c := range id.chain {
		raw[i] = c.Raw
	}
	return tls.Certificate{Certificate: raw, PrivateKey: id.key, Leaf: id.chain[0]}
}

// CertificateFingerprint is the SHA-256 digest of cert's DER encoding as lowercase hex.
func CertificateFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// FingerprintColons formats a hex fingerprint (any case) the way `openssl x509 -fingerprint`
// prints it: uppercase byte pairs separated by colons, e.g. "AB:01:...", for comparing with
// such tools. The library itself prints fingerprints as lowercase hex only (see
// CertificateFingerprint); ParseFingerprint reads both. Input that is not an even number of
// hex digits is returned unchanged.
func FingerprintColons(fingerprint string) string {
	b, err := hex.DecodeString(fingerprint)
	if err != nil || len(b) == 0 {
		return fingerprint
	}
	var sb strings.Builder
	for i, x := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", x)
	}
	return sb.String()
}

// KeyType selects the key algorithm of a new identity.
type KeyType uint8

const (
	KeyECDSAP256 KeyType = iota // default: ECDSA on NIST P-256
	KeyRSA2048                  // RSA, 2048-bit modulus
	KeyRSA3072                  // RSA, 3072-bit modulus (generation takes seconds)
)

// Usage selects the extended key usage of a new leaf certificate.
type Usage uint8

const (
	UsageServer          Usage = iota // default: TLS server authentication
	UsageClient                       // TLS client authentication
	UsageServerAndClient              // both
)

// Subject holds the distinguished-name attributes of a new certificate. Empty fields are left out.
type Subject struct {
	CommonName         string // CN
	Organization       string // O
	OrganizationalUnit string // OU
	Country            string // C
	Locality           string // L
	Province           string // ST
}

// DefaultValidity is the validity of a new certificate when CreateOptions.Validity is zero.
const DefaultValidity = 365 * 24 * time.Hour

// clockSkew back-dates NotBefore so that a peer whose clock is slightly behind accepts a
// certificate created a moment ago.
const clockSkew = 5 * time.Minute

// CreateOptions describes a new identity. The zero value is a self-signed ECDSA P-256 server
// identity with an empty subject, valid for DefaultValidity from now.
type CreateOptions struct {
	Key         KeyType
	Subject     Subject
	DNSNames    []string // subject alternative names
	IPAddresses []net.IP // subject alternative names
	Usage       Usage
	// Validity is the length of the validity period; zero means DefaultValidity.
	Validity time.Duration
	// NotBefore is the start of validity; zero means now minus a few minutes of clock skew.
	NotBefore time.Time
	// IsCA makes a certificate authority (key usage certSign/crlSign, no extended key usage)
	// that can be passed as Issuer to create signed leaves.
	IsCA bool
	// Issuer signs the new certificate; nil means self-signed. Its leaf must be a CA. The new
	// identity's chain is the new leaf followed by the issuer's chain.
	Issuer *Identity
}

// SplitSubjectAltNames sorts subject alternative names given as one list into
// CreateOptions' DNSNames and IPAddresses: every entry that parses as an IP address is an IP
// SAN, every other entry a DNS name.
func SplitSubjectAltNames(names []string) (dnsNames []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, n)
		}
	}
	return dnsNames, ips
}

// CreateIdentity generates a key pair and a certificate as described by opts. The serial
// number is 127 random bits.
func CreateIdentity(opts CreateOptions) (*Identity, error) {
	tmpl, err := certificateTemplate(opts)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	key, err := generateKey(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA && !opts.IsCA {
		// TLS 1.2 peers using RSA key exchange need keyEncipherment.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}

	parent, signer, chainTail := tmpl, crypto.Signer(key), []*x509.Certificate(nil)
	if opts.Issuer != nil {
		if err := opts.Issuer.usable(); err != nil {
			return nil, fmt.Errorf("create identity: issuer: %w", err)
		}
		issuerLeaf := opts.Issuer.Certificate()
		if !issuerLeaf.IsCA {
			return nil, fmt.Errorf("create identity: %w: issuer certificate is not a CA", ErrInvalidArgument)
		}
		parent, signer, chainTail = issuerLeaf, opts.Issuer.key, opts.Issuer.chain
		if tmpl.NotAfter.After(issuerLeaf.NotAfter) {
			tmpl.NotAfter = issuerLeaf.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create identity: sign certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create identity: parse new certificate: %w", err)
	}
	return &Identity{key: key, chain: append([]*x509.Certificate{leaf}, chainTail...)}, nil
}

func certificateTemplate(opts CreateOptions) (*x509.Certificate, error) {
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("%w: negative validity %v", ErrInvalidArgument, validity)
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-clockSkew)
	}
	for _, name := range opts.DNSNames {
		if name == "" || strings.ContainsAny(name, " \t\r\n/") {
			return nil, fmt.Errorf("%w: bad DNS name %q", ErrInvalidArgument, name)
		}
	}
	for _, ip := range opts.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("%w: bad IP address %v", ErrInvalidArgument, ip)
		}
	}
	if opts.Key > KeyRSA3072 {
		return nil, fmt.Errorf("%w: unknown key type %d", ErrInvalidArgument, opts.Key)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               opts.Subject.pkixName(),
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validity),
		DNSNames:              append([]string(nil), opts.DNSNames...),
		IPAddresses:           append([]net.IP(nil), opts.IPAddresses...),
		BasicConstraintsValid: true,
		IsCA:                  opts.IsCA,
	}
	if opts.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		return tmpl, nil
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	switch opts.Usage {
	case UsageServer:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case UsageClient:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case UsageServerAndClient:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("%w: unknown usage %d", ErrInvalidArgument, opts.Usage)
	}
	return tmpl, nil
}

func (s Subject) pkixName() pkix.Name {
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	return pkix.Name{
		CommonName:         s.CommonName,
		Organization:       one(s.Organization),
		OrganizationalUnit: one(s.OrganizationalUnit),
		Country:            one(s.Country),
		Locality:           one(s.Locality),
		Province:           one(s.Province),
	}
}

// randomSerial returns a positive serial of at most 127 bits: RFC 5280 allows 20 octets and
// asks for at least 64 bits of randomness.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func generateKey(kt KeyType) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("%w: unknown key type %d", ErrInvalidArgument, kt)
	}
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// isSelfSigned reports whether cert names itself as issuer and its signature verifies with
// its own public key. (x509.Certificate.CheckSignatureFrom would also demand that the
// "parent" be a CA, which a self-signed leaf is not.)
func isSelfSigned(cert *x509.Certificate) bool {
	if !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		return false
	}
	return cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}

// orderChain puts the certificate whose key matches key first, then follows issuer links
// through the others; certificates that are not on that path keep their order at the end.
func orderChain(key crypto.Signer, certs []*x509.Certificate) ([]*x509.Certificate, error) {
	leafIdx := -1
	for i, c := range certs {
		if publicKeysEqual(c.PublicKey, key.Public()) {
			leafIdx = i
			break
		}
	}
	if leafIdx < 0 {
		return nil, fmt.Errorf("%w: no certificate matches the private key", ErrInvalidArgument)
	}
	rest := make([]*x509.Certificate, 0, len(certs)-1)
	rest = append(rest, certs[:leafIdx]...)
	rest = append(rest, certs[leafIdx+1:]...)
	chain := []*x509.Certificate{certs[leafIdx]}
	for cur := certs[leafIdx]; len(rest) > 0 && !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		next := -1
		for i, c := range rest {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		cur = rest[next]
		chain = append(chain, cur)
		rest = append(rest[:next], rest[next+1:]...)
	}
	return append(chain, rest...), nil
}

// checkExportableKey reports whether key can be serialised (PKCS#8 and PKCS#12 need the
// concrete software key types).
func checkExportableKey(key crypto.Signer) error {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return nil
	}
	return fmt.Errorf("%w: private key of type %T cannot be exported", ErrInvalidArgument, key)
}
