package tlsid

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/youmark/pkcs8"
)

// maxPEMBlocks bounds the number of PEM blocks ImportPEM and ParseCertificates accept.
const maxPEMBlocks = 64

// pemKDFIterations is the PBKDF2 iteration count ExportPEM uses for an encrypted key
// (OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256).
const pemKDFIterations = 600_000

// ImportPEM builds an identity from PEM text: certPEM holds the certificate chain (any order;
// the certificate matching the key becomes the leaf), keyPEM the private key. keyPEM may be nil
// when certPEM also contains the key. Accepted key blocks:
//
//	ENCRYPTED PRIVATE KEY  PKCS#8 with PBES2 (PBKDF2 or scrypt; AES-CBC or 3DES), needs password
//	PRIVATE KEY            PKCS#8
//	RSA PRIVATE KEY        PKCS#1
//	EC PRIVATE KEY         SEC 1
//
// Other block types (such as EC PARAMETERS) are ignored. Legacy OpenSSL PEM encryption
// ("Proc-Type: 4,ENCRYPTED") is refused with ErrInvalidArgument: convert the key with
// `openssl pkcs8 -topk8`.
//
// Errors: ErrWrongPassword (wrong or missing password for an encrypted key), ErrCorruptInput
// (undecodable block, certificate or key), ErrInvalidArgument (no certificate, no key, several
// keys, key matching no certificate, input too large).
func ImportPEM(certPEM, keyPEM []byte, password string) (*Identity, error) {
	id, err := importPEM(certPEM, keyPEM, password)
	if err != nil {
		return nil, fmt.Errorf("import pem: %w", err)
	}
	return id, nil
}

func importPEM(certPEM, keyPEM []byte, password string) (*Identity, error) {
	if len(certPEM)+len(keyPEM) > MaxInputSize {
		return nil, fmt.Errorf("%w: input exceeds the %d-byte limit", ErrInvalidArgument, MaxInputSize)
	}
	var (
		certs []*x509.Certificate
		key   crypto.Signer
	)
	nblocks := 0
	for _, input := range [][]byte{certPEM, keyPEM} {
		rest := input
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if nblocks++; nblocks > maxPEMBlocks {
				return nil, fmt.Errorf("%w: more than %d PEM blocks", ErrInvalidArgument, maxPEMBlocks)
			}
			switch block.Type {
			case "CERTIFICATE":
				cert, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("%w: certificate %d: %v", ErrCorruptInput, len(certs)+1, err)
				}
				certs = append(certs, cert)
			case "ENCRYPTED PRIVATE KEY", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
				if key != nil {
					return nil, fmt.Errorf("%w: more than one private key", ErrInvalidArgument)
				}
				k, err := parsePrivateKeyBlock(block, password)
				if err != nil {
					return nil, err
				}
				key = k
			}
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrInvalidArgument)
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no private key block", ErrInvalidArgument)
	}
	chain, err := orderChain(key, certs)
	if err != nil {
		return nil, err
	}
	return &Identity{key: key, chain: chain}, nil
}

func parsePrivateKeyBlock(block *pem.Block, password string) (crypto.Signer, error) {
	if _, legacy := block.Headers["Proc-Type"]; legacy {
		return nil, fmt.Errorf("%w: legacy PEM encryption is not supported; convert with openssl pkcs8 -topk8", ErrInvalidArgument)
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if password == "" {
			return nil, fmt.Errorf("%w: the private key is encrypted and no password was given", ErrWrongPassword)
		}
		if err := checkPKCS8Encrypted(block.Bytes); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptInput, err)
		}
		err = guardDecoder(func() (err error) {
			key, _, err = pkcs8.ParsePrivateKey(block.Bytes, []byte(password))
			return err
		})
		if err != nil {
			// The structure was checked above, so a failure here means the decrypted bytes
			// are not a key: the password is wrong.
			return nil, fmt.Errorf("%w: %v", ErrWrongPassword, err)
		}
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptInput, strings.ToLower(block.Type), err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrCorruptInput, key)
	}
	return signer, nil
}

// ExportPEM encodes the chain as CERTIFICATE blocks (leaf first) and the key as PKCS#8:
// "PRIVATE KEY" when password is empty, otherwise "ENCRYPTED PRIVATE KEY" with PBES2,
// PBKDF2-HMAC-SHA-256 (600,000 iterations) and AES-256-CBC, which
// `openssl pkey -in key.pem -passin pass:...` reads.
func (id *Identity) ExportPEM(password string) (certPEM, keyPEM []byte, err error) {
	return id.exportPEM(password, pemKDFIterations)
}

func (id *Identity) exportPEM(password string, iterations int) (certPEM, keyPEM []byte, err error) {
	if err := id.usable(); err != nil {
		return nil, nil, fmt.Errorf("export pem: %w", err)
	}
	if err := checkExportableKey(id.key); err != nil {
		return nil, nil, fmt.Errorf("export pem: %w", err)
	}
	certPEM = EncodeCertificatesPEM(id.chain)
	if password == "" {
		der, err := x509.MarshalPKCS8PrivateKey(id.key)
		if err != nil {
			return nil, nil, fmt.Errorf("export pem: %w", err)
		}
		return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	opts := &pkcs8.Opts{
		Cipher: pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{
			SaltSize:       16,
			IterationCount: iterations,
			HMACHash:       crypto.SHA256,
		},
	}
	der, err := pkcs8.MarshalPrivateKey(id.key, []byte(password), opts)
	if err != nil {
		return nil, nil, fmt.Errorf("export pem: encrypt key: %w", err)
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}

// EncodeCertificatesPEM encodes certs as consecutive PEM CERTIFICATE blocks, in order
// (nil entries are skipped): the form ParseCertificates reads back.
func EncodeCertificatesPEM(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		if c != nil {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
	}
	return out
}

// ParseCertificates reads certificates from PEM text (CERTIFICATE blocks; other blocks are
// ignored) or, if data is not PEM, from concatenated DER. It is the way to turn an
// app-supplied trusted-root bundle or pinned certificate into x509 values.
//
// Errors: ErrCorruptInput (undecodable), ErrInvalidArgument (no certificate, too large).
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("parse certificates: %w: input exceeds the %d-byte limit", ErrInvalidArgument, MaxInputSize)
	}
	var certs []*x509.Certificate
	rest, sawPEM := data, false
	for n := 0; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		if n >= maxPEMBlocks {
			return nil, fmt.Errorf("parse certificates: %w: more than %d PEM blocks", ErrInvalidArgument, maxPEMBlocks)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificates: %w: %v", ErrCorruptInput, err)
		}
		certs = append(certs, c)
	}
	if !sawPEM && len(data) > 0 {
		var err error
		if certs, err = x509.ParseCertificates(data); err != nil {
			return nil, fmt.Errorf("parse certificates: %w: %v", ErrCorruptInput, err)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("parse certificates: %w: no certificate found", ErrInvalidArgument)
	}
	return certs, nil
}

// PEMFingerprint is the fingerprint (CertificateFingerprint: SHA-256 of the DER, lowercase
// hex) of the first certificate in data, PEM or DER as ParseCertificates reads it: for
// showing which certificate a peer presented or a file holds.
func PEMFingerprint(data []byte) (string, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return "", err
	}
	return CertificateFingerprint(certs[0]), nil
}
