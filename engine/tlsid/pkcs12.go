package tlsid

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ImportPKCS12 decodes a PKCS#12 (.p12/.pfx) file holding one private key and its certificate
// chain, as written by `openssl pkcs12 -export`, Java keytool, Windows or ExportPKCS12.
// The certificate matching the key becomes the leaf; the others follow in issuer order.
//
// Errors: ErrWrongPassword, ErrCorruptInput (malformed, unsupported algorithm, no key, or
// absurd KDF parameters), ErrInvalidArgument (input larger than MaxInputSize, or no
// certificate matching the key).
func ImportPKCS12(data []byte, password string) (*Identity, error) {
	id, err := importPKCS12(data, password)
	if err != nil {
		return nil, fmt.Errorf("import pkcs12: %w", err)
	}
	return id, nil
}

func importPKCS12(data []byte, password string) (*Identity, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrInvalidArgument, len(data), MaxInputSize)
	}
	if err := checkPKCS12WorkFactor(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptInput, err)
	}
	var (
		key    any
		leaf   *x509.Certificate
		others []*x509.Certificate
	)
	err := guardDecoder(func() (err error) {
		key, leaf, others, err = pkcs12.DecodeChain(data, password)
		return err
	})
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return nil, fmt.Errorf("%w: %v", ErrWrongPassword, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrCorruptInput, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrCorruptInput, key)
	}
	chain, err := orderChain(signer, append([]*x509.Certificate{leaf}, others...))
	if err != nil {
		return nil, err
	}
	return &Identity{key: signer, chain: chain}, nil
}

// ExportPKCS12 encodes the identity (key and full chain) as a PKCS#12 file with go-pkcs12's
// Modern encoder: PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, HMAC-SHA-256 MAC. OpenSSL
// 1.1.1+ and Java 12+ read it. Its KDF uses few iterations, so use a high-entropy password
// when the file leaves protected storage.
func (id *Identity) ExportPKCS12(password string) ([]byte, error) {
	if err := id.usable(); err != nil {
		return nil, fmt.Errorf("export pkcs12: %w", err)
	}
	if err := checkExportableKey(id.key); err != nil {
		return nil, fmt.Errorf("export pkcs12: %w", err)
	}
	data, err := pkcs12.Modern.Encode(id.key, id.chain[0], id.chain[1:], password)
	if err != nil {
		return nil, fmt.Errorf("export pkcs12: %w", err)
	}
	return data, nil
}

// guardDecoder runs a third-party decoder and turns a panic into ErrCorruptInput. Inputs are
// screened first (see pbe.go); this is the firewall for whatever that screening misses, so a
// bad file can never take the host application down.
func guardDecoder(decode func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panicked: %v", ErrCorruptInput, r)
		}
	}()
	return decode()
}
