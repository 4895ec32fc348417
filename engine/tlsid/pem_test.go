package tlsid

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

// testPEMIterations keeps encrypted-key tests fast under the race detector (PBKDF2 at the
// production 600,000 iterations takes seconds there); TestExportPEMReadByOpenSSL covers the
// production count.
const testPEMIterations = 1000

func pemOf(t *testing.T, blockType string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func certsPEM(ids ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range ids {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func TestImportPEM(t *testing.T) {
	rsaID, err := CreateIdentity(CreateOptions{Key: KeyRSA2048})
	if err != nil {
		t.Fatal(err)
	}
	leafChain, leafKey, err := fx.leaf.ExportPEM("")
	if err != nil {
		t.Fatal(err)
	}
	_, encKey, err := fx.leaf.exportPEM("s3cret", testPEMIterations)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(fx.leaf.PrivateKey().(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaID.PrivateKey().(*rsa.PrivateKey))
	legacy := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{
		"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: pkcs1})
	reversed := certsPEM(fx.ca.Certificate(), fx.leaf.Certificate())
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")

	tests := []struct {
		name     string
		certs    []byte
		key      []byte
		password string
		want     error
		wantFP   string
		chainLen int
	}{
		{name: "PKCS#8", certs: leafChain, key: leafKey, wantFP: fx.leaf.Fingerprint(), chainLen: 2},
		{name: "encrypted PKCS#8", certs: leafChain, key: encKey, password: "s3cret", wantFP: fx.leaf.Fingerprint(), chainLen: 2},
		{name: "SEC1 EC key with EC PARAMETERS block", certs: leafChain, key: append(ecParams, pemOf(t, "EC PRIVATE KEY", sec1)...), wantFP: fx.leaf.Fingerprint(), chainLen: 2},
		{name: "PKCS#1 RSA key", certs: certsPEM(rsaID.Certificate()), key: pemOf(t, "RSA PRIVATE KEY", pkcs1), wantFP: rsaID.Fingerprint(), chainLen: 1},
		{name: "key inside the certificate text", certs: append(append([]byte{}, leafChain...), leafKey...), wantFP: fx.leaf.Fingerprint(), chainLen: 2},
		{name: "chain given root first", certs: reversed, key: leafKey, wantFP: fx.leaf.Fingerprint(), chainLen: 2},

		{name: "encrypted key, wrong password", certs: leafChain, key: encKey, password: "nope", want: ErrWrongPassword},
		{name: "encrypted key, no password", certs: leafChain, key: encKey, want: ErrWrongPassword},
		{name: "no certificate", key: leafKey, want: ErrInvalidArgument},
		{name: "no key", certs: leafChain, want: ErrInvalidArgument},
		{name: "key matches no certificate", certs: certsPEM(fx.ca.Certificate()), key: leafKey, want: ErrInvalidArgument},
		{name: "two keys", certs: leafChain, key: append(append([]byte{}, leafKey...), leafKey...), want: ErrInvalidArgument},
		{name: "legacy PEM encryption", certs: certsPEM(rsaID.Certificate()), key: legacy, want: ErrInvalidArgument},
		{name: "garbage certificate", certs: pemOf(t, "CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}), key: leafKey, want: ErrCorruptInput},
		{name: "garbage PKCS#8 key", certs: leafChain, key: pemOf(t, "PRIVATE KEY", []byte("junk")), want: ErrCorruptInput},
		{name: "garbage SEC1 key", certs: leafChain, key: pemOf(t, "EC PRIVATE KEY", []byte("junk")), want: ErrCorruptInput},
		{name: "garbage encrypted key", certs: leafChain, key: pemOf(t, "ENCRYPTED PRIVATE KEY", []byte("junk")), password: "x", want: ErrCorruptInput},
		{name: "not PEM at all", certs: []byte("hello"), key: []byte("world"), want: ErrInvalidArgument},
		{name: "too large", certs: make([]byte, MaxInputSize+1), want: ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ImportPEM(tt.certs, tt.key, tt.password)
			if tt.want != nil {
				if id != nil {
					t.Fatal("got an identity")
				}
				wantIs(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Fingerprint() != tt.wantFP || len(id.Chain()) != tt.chainLen {
				t.Fatalf("fingerprint %s chain %d; want %s chain %d", id.Fingerprint(), len(id.Chain()), tt.wantFP, tt.chainLen)
			}
		})
	}
}

func TestImportPEMTooManyBlocks(t *testing.T) {
	block := certsPEM(fx.ca.Certificate())
	_, err := ImportPEM(bytes.Repeat(block, maxPEMBlocks+1), nil, "")
	wantIs(t, err, ErrInvalidArgument)
}

// rewriteEncryptedKey re-encodes an EncryptedPrivateKeyInfo after edit has changed its
// PBES2 parameters, to forge hostile inputs.
type pbes2Forge struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Forge struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

type encryptedKeyForge struct {
	Alg  pkix.AlgorithmIdentifier
	Data []byte
}

func forgeEncryptedKey(t *testing.T, der []byte, edit func(info *encryptedKeyForge, p *pbes2Forge, kdf *pbkdf2Forge)) []byte {
	t.Helper()
	var info encryptedKeyForge
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		t.Fatal(err)
	}
	var p pbes2Forge
	if _, err := asn1.Unmarshal(info.Alg.Parameters.FullBytes, &p); err != nil {
		t.Fatal(err)
	}
	var kdf pbkdf2Forge
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kdf); err != nil {
		t.Fatal(err)
	}
	edit(&info, &p, &kdf)
	kdfDER, err := asn1.Marshal(kdf)
	if err != nil {
		t.Fatal(err)
	}
	p.KDF.Parameters = asn1.RawValue{FullBytes: kdfDER}
	pDER, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	info.Alg.Parameters = asn1.RawValue{FullBytes: pDER}
	out, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportPEMHostileEncryptedKey feeds encrypted keys whose parameters would hang the KDF
// or panic youmark/pkcs8; each must fail fast with ErrCorruptInput.
func TestImportPEMHostileEncryptedKey(t *testing.T) {
	certs, key, err := fx.leaf.exportPEM("pw", testPEMIterations)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(key)
	tests := []struct {
		name string
		edit func(info *encryptedKeyForge, p *pbes2Forge, kdf *pbkdf2Forge)
	}{
		{"two billion iterations", func(_ *encryptedKeyForge, _ *pbes2Forge, kdf *pbkdf2Forge) { kdf.Iterations = 2_000_000_000 }},
		{"zero iterations", func(_ *encryptedKeyForge, _ *pbes2Forge, kdf *pbkdf2Forge) { kdf.Iterations = 0 }},
		{"short IV", func(_ *encryptedKeyForge, p *pbes2Forge, _ *pbkdf2Forge) {
			iv, _ := asn1.Marshal([]byte{1, 2, 3})
			p.Enc.Parameters = asn1.RawValue{FullBytes: iv}
		}},
		{"ciphertext not whole blocks", func(info *encryptedKeyForge, _ *pbes2Forge, _ *pbkdf2Forge) { info.Data = info.Data[:len(info.Data)-3] }},
		{"empty ciphertext", func(info *encryptedKeyForge, _ *pbes2Forge, _ *pbkdf2Forge) { info.Data = nil }},
		{"unknown cipher", func(_ *encryptedKeyForge, p *pbes2Forge, _ *pbkdf2Forge) {
			p.Enc.Algorithm = asn1.ObjectIdentifier{1, 2, 3, 4}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forged := pemOf(t, "ENCRYPTED PRIVATE KEY", forgeEncryptedKey(t, block.Bytes, tt.edit))
			start := time.Now()
			_, err := ImportPEM(certs, forged, "pw")
			wantIs(t, err, ErrCorruptInput)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestExportPEMRoundTrip(t *testing.T) {
	for _, password := range []string{"", "pässwörd"} {
		certs, key, err := fx.leaf.exportPEM(password, testPEMIterations)
		if err != nil {
			t.Fatal(err)
		}
		wantType := "PRIVATE KEY"
		if password != "" {
			wantType = "ENCRYPTED PRIVATE KEY"
		}
		if b, _ := pem.Decode(key); b == nil || b.Type != wantType {
			t.Fatalf("password %q: key block %v; want %s", password, b, wantType)
		}
		if n := strings.Count(string(certs), "BEGIN CERTIFICATE"); n != 2 {
			t.Fatalf("%d certificates; want 2", n)
		}
		back, err := ImportPEM(certs, key, password)
		if err != nil {
			t.Fatal(err)
		}
		if back.Fingerprint() != fx.leaf.Fingerprint() || !back.PrivateKey().(*ecdsa.PrivateKey).Equal(fx.leaf.PrivateKey()) {
			t.Fatal("round trip changed the identity")
		}
	}
}

type opaqueSigner struct{ *ecdsa.PrivateKey }

func TestExportUnexportableKey(t *testing.T) {
	id, err := NewIdentity(opaqueSigner{fx.leaf.PrivateKey().(*ecdsa.PrivateKey)}, fx.leaf.Chain())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = id.ExportPEM("")
	wantIs(t, err, ErrInvalidArgument)
	_, err = id.ExportPKCS12("x")
	wantIs(t, err, ErrInvalidArgument)
}

func TestParseCertificates(t *testing.T) {
	bundle := certsPEM(fx.ca.Certificate(), fx.otherCA.Certificate())
	der := append(append([]byte{}, fx.ca.Certificate().Raw...), fx.otherCA.Certificate().Raw...)
	tests := []struct {
		name string
		in   []byte
		n    int
		want error
	}{
		{"PEM bundle", bundle, 2, nil},
		{"PEM with other blocks", append(pemOf(t, "PRIVATE KEY", []byte("x")), bundle...), 2, nil},
		{"concatenated DER", der, 2, nil},
		{"single DER", fx.ca.Certificate().Raw, 1, nil},
		{"garbage DER", []byte{0x30, 0x82, 0xff}, 0, ErrCorruptInput},
		{"garbage PEM certificate", pemOf(t, "CERTIFICATE", []byte("x")), 0, ErrCorruptInput},
		{"empty", nil, 0, ErrInvalidArgument},
		{"PEM without certificates", pemOf(t, "PRIVATE KEY", []byte("x")), 0, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := ParseCertificates(tt.in)
			if tt.want != nil {
				wantIs(t, err, tt.want)
				return
			}
			if err != nil || len(certs) != tt.n {
				t.Fatalf("%d certificates, error %v; want %d", len(certs), err, tt.n)
			}
		})
	}
}

func TestOrderChainKeepsStrays(t *testing.T) {
	chain, err := orderChain(fx.leaf.PrivateKey(), []*x509.Certificate{fx.otherCA.Certificate(), fx.ca.Certificate(), fx.leaf.Certificate()})
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || chain[0] != fx.leaf.Certificate() || chain[1] != fx.ca.Certificate() || chain[2] != fx.otherCA.Certificate() {
		t.Fatal("want leaf, its issuer, then the unrelated certificate")
	}
	if _, err := orderChain(fx.leaf.PrivateKey(), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty chain: %v", err)
	}
}

// EncodeCertificatesPEM writes what ParseCertificates reads back, in order, skipping nils.
func TestEncodeCertificatesPEMRoundTrip(t *testing.T) {
	chain := fx.leaf.Chain()
	out := EncodeCertificatesPEM(append([]*x509.Certificate{nil}, chain...))
	got, err := ParseCertificates(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chain) {
		t.Fatalf("%d certificates back, want %d", len(got), len(chain))
	}
	for i := range chain {
		if !got[i].Equal(chain[i]) {
			t.Errorf("certificate %d differs", i)
		}
	}
	if EncodeCertificatesPEM(nil) != nil {
		t.Error("no certificates gave some output")
	}
}
