package tlsid

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPKCS12RoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		id       *Identity
		password string
	}{
		{"EC with CA chain", fx.leaf, "correct horse"},
		{"self-signed, empty password", fx.selfSigned, ""},
		{"RSA-3072", rsa3072Identity(t), "p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.id.ExportPKCS12(tt.password)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ImportPKCS12(data, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if back.Fingerprint() != tt.id.Fingerprint() || len(back.Chain()) != len(tt.id.Chain()) {
				t.Fatal("round trip changed the certificate chain")
			}
			for i, c := range back.Chain() {
				if !c.Equal(tt.id.Chain()[i]) {
					t.Fatalf("certificate %d differs", i)
				}
			}
			if !publicKeysEqual(back.PrivateKey().Public(), tt.id.PrivateKey().Public()) {
				t.Fatal("round trip changed the key")
			}
			_, err = ImportPKCS12(data, tt.password+"wrong")
			wantIs(t, err, ErrWrongPassword)
		})
	}
}

func TestImportPKCS12Corrupt(t *testing.T) {
	good, err := fx.leaf.ExportPKCS12("pw")
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, good...)
	flipped[len(flipped)/2] ^= 0xff
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorruptInput},
		{"garbage", []byte("definitely not PKCS#12"), ErrCorruptInput},
		{"truncated", good[:len(good)/2], ErrCorruptInput},
		{"trailing bytes", append(append([]byte{}, good...), 0), ErrCorruptInput},
		{"a certificate, not a PFX", fx.leaf.Certificate().Raw, ErrCorruptInput},
		{"too large", make([]byte, MaxInputSize+1), ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportPKCS12(tt.data, "pw")
			wantIs(t, err, tt.want)
		})
	}
	// A flipped byte either breaks the structure or the MAC; both are refusals, never a panic
	// or a different identity.
	if id, err := ImportPKCS12(flipped, "pw"); err == nil {
		t.Fatalf("flipped byte accepted: %s", id.Fingerprint())
	}
}

// TestImportPKCS12HugeIterations forges a PFX whose MAC asks for a billion KDF iterations:
// it must be refused at once instead of hanging the caller.
func TestImportPKCS12HugeIterations(t *testing.T) {
	good, err := fx.leaf.ExportPKCS12("pw")
	if err != nil {
		t.Fatal(err)
	}
	var pfx struct {
		Version  int
		AuthSafe struct {
			ContentType asn1.ObjectIdentifier
			Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
		}
		MacData struct {
			Mac struct {
				Alg    pkix.AlgorithmIdentifier
				Digest []byte
			}
			Salt       []byte
			Iterations int `asn1:"optional,default:1"`
		}
	}
	if _, err := asn1.Unmarshal(good, &pfx); err != nil {
		t.Fatal(err)
	}
	pfx.MacData.Iterations = 1_000_000_000
	forged, err := asn1.Marshal(pfx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = ImportPKCS12(forged, "pw")
	wantIs(t, err, ErrCorruptInput)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestPKCS12FromOpenSSL imports files made by `openssl pkcs12 -export`: with OpenSSL 3's
// default (PBES2/AES-256, SHA-256 MAC) and with the legacy 3DES/SHA-1 algorithms, both from an
// openssl-generated key and certificate chain.
func TestPKCS12FromOpenSSL(t *testing.T) {
	dir := t.TempDir()
	// A CA and a leaf made entirely by openssl.
	runOpenSSL(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=OpenSSL Test CA", "-days", "30",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	runOpenSSL(t, dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=openssl leaf/O=Interop")
	writeFile(t, filepath.Join(dir, "ext.cnf"), []byte("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"))
	runOpenSSL(t, dir, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "leaf.pem", "-days", "30", "-extfile", "ext.cnf")

	tests := []struct {
		name  string
		extra []string
	}{
		{"OpenSSL 3 defaults", nil},
		{"legacy 3DES with SHA-1 MAC", []string{"-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := strings.ReplaceAll(tt.name, " ", "_") + ".p12"
			args := append([]string{"pkcs12", "-export", "-in", "leaf.pem", "-inkey", "leaf.key", "-certfile", "ca.pem",
				"-name", "interop", "-passout", "pass:open sesame", "-out", out}, tt.extra...)
			runOpenSSL(t, dir, args...)
			id, err := ImportPKCS12(readFile(t, filepath.Join(dir, out)), "open sesame")
			if err != nil {
				t.Fatal(err)
			}
			leafPEM, _ := pem.Decode(readFile(t, filepath.Join(dir, "leaf.pem")))
			if string(id.Certificate().Raw) != string(leafPEM.Bytes) {
				t.Fatal("leaf is not openssl's leaf certificate")
			}
			chain := id.Chain()
			if len(chain) != 2 || chain[1].Subject.CommonName != "OpenSSL Test CA" {
				t.Fatalf("chain %v; want leaf + OpenSSL Test CA", chain)
			}
			roots := x509.NewCertPool()
			roots.AddCert(chain[1])
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
				t.Fatalf("imported chain does not verify: %v", err)
			}
			_, err = ImportPKCS12(readFile(t, filepath.Join(dir, out)), "open sesame!")
			wantIs(t, err, ErrWrongPassword)

			// The imported identity serves TLS to a client trusting openssl's CA.
			cfg, err := ClientTLSConfig(ClientTrust{Mode: TrustRoots, Roots: []*x509.Certificate{chain[1]}})
			if err != nil {
				t.Fatal(err)
			}
			if res := handshake(t, ServerTLSConfig(id, ServerOptions{}), cfg); res.client != nil || res.server != nil {
				t.Fatalf("TLS with the imported identity: client %v, server %v", res.client, res.server)
			}
		})
	}
}

// TestPKCS12ReadByOpenSSL checks that `openssl pkcs12` reads what ExportPKCS12 writes, with
// the key and the full chain, and refuses a wrong password.
func TestPKCS12ReadByOpenSSL(t *testing.T) {
	dir := t.TempDir()
	data, err := fx.leaf.ExportPKCS12("our pass")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "ours.p12"), data)
	runOpenSSL(t, dir, "pkcs12", "-in", "ours.p12", "-passin", "pass:our pass", "-nodes", "-out", "dump.pem")
	dump := readFile(t, filepath.Join(dir, "dump.pem"))
	if n := strings.Count(string(dump), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("openssl found %d certificates; want 2", n)
	}
	back, err := ImportPEM(dump, nil, "")
	if err != nil {
		t.Fatalf("re-import openssl's PEM dump: %v", err)
	}
	if back.Fingerprint() != fx.leaf.Fingerprint() || !publicKeysEqual(back.PrivateKey().Public(), fx.leaf.PrivateKey().Public()) {
		t.Fatal("openssl read a different identity")
	}
	if _, err := tryOpenSSL(t, dir, "pkcs12", "-in", "ours.p12", "-passin", "pass:not ours", "-nodes", "-out", "bad.pem"); err == nil {
		t.Fatal("openssl accepted a wrong password")
	}
}

// TestEncryptedPKCS8FromOpenSSL imports keys written by `openssl pkcs8 -topk8` (encrypted, with
// PBKDF2/AES-256-CBC as the issue asks, and with scrypt) and by openssl's traditional formats.
func TestEncryptedPKCS8FromOpenSSL(t *testing.T) {
	dir := t.TempDir()
	runOpenSSL(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "ec.key", "-out", "ec.pem", "-subj", "/CN=openssl ec", "-days", "30")
	runOpenSSL(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
		"-keyout", "rsa.key", "-out", "rsa.pem", "-subj", "/CN=openssl rsa", "-days", "30")
	runOpenSSL(t, dir, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "ec.key", "-passout", "pass:s3cret", "-out", "ec-aes256.key")
	runOpenSSL(t, dir, "pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-in", "rsa.key", "-passout", "pass:s3cret", "-out", "rsa-aes128-sha1.key")
	runOpenSSL(t, dir, "pkcs8", "-topk8", "-scrypt", "-in", "ec.key", "-passout", "pass:s3cret", "-out", "ec-scrypt.key")
	runOpenSSL(t, dir, "ec", "-in", "ec.key", "-out", "ec-sec1.key")
	runOpenSSL(t, dir, "rsa", "-in", "rsa.key", "-traditional", "-out", "rsa-pkcs1.key")

	tests := []struct {
		name, cert, key, password string
		want                      error
		wantBlock                 string
	}{
		{name: "PKCS#8 aes-256-cbc", cert: "ec.pem", key: "ec-aes256.key", password: "s3cret", wantBlock: "ENCRYPTED PRIVATE KEY"},
		{name: "PKCS#8 aes-128-cbc hmacWithSHA1", cert: "rsa.pem", key: "rsa-aes128-sha1.key", password: "s3cret", wantBlock: "ENCRYPTED PRIVATE KEY"},
		{name: "PKCS#8 scrypt", cert: "ec.pem", key: "ec-scrypt.key", password: "s3cret", wantBlock: "ENCRYPTED PRIVATE KEY"},
		{name: "PKCS#8 unencrypted", cert: "ec.pem", key: "ec.key", wantBlock: "PRIVATE KEY"},
		{name: "SEC1", cert: "ec.pem", key: "ec-sec1.key", wantBlock: "EC PRIVATE KEY"},
		{name: "PKCS#1", cert: "rsa.pem", key: "rsa-pkcs1.key", wantBlock: "RSA PRIVATE KEY"},
		{name: "aes-256-cbc wrong password", cert: "ec.pem", key: "ec-aes256.key", password: "S3cret", want: ErrWrongPassword},
		{name: "aes-256-cbc no password", cert: "ec.pem", key: "ec-aes256.key", want: ErrWrongPassword},
		{name: "key of another certificate", cert: "rsa.pem", key: "ec.key", want: ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyPEM := readFile(t, filepath.Join(dir, tt.key))
			if b, _ := pem.Decode(keyPEM); tt.wantBlock != "" && (b == nil || b.Type != tt.wantBlock) {
				t.Fatalf("openssl wrote %v; the test expects a %s block", b, tt.wantBlock)
			}
			id, err := ImportPEM(readFile(t, filepath.Join(dir, tt.cert)), keyPEM, tt.password)
			if tt.want != nil {
				wantIs(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			certBlock, _ := pem.Decode(readFile(t, filepath.Join(dir, tt.cert)))
			if string(id.Certificate().Raw) != string(certBlock.Bytes) {
				t.Fatal("wrong leaf")
			}
		})
	}
}

// TestExportPEMReadByOpenSSL: openssl decrypts our encrypted PKCS#8 export (production
// iteration count) and prints the same public key and SHA-256 fingerprint we compute.
func TestExportPEMReadByOpenSSL(t *testing.T) {
	dir := t.TempDir()
	certs, key, err := fx.leaf.ExportPEM("export pass")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "chain.pem"), certs)
	writeFile(t, filepath.Join(dir, "key.pem"), key)
	pub := runOpenSSL(t, dir, "pkey", "-in", "key.pem", "-passin", "pass:export pass", "-pubout")
	der, err := x509.MarshalPKIXPublicKey(fx.leaf.PrivateKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	if pub != string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})) {
		t.Fatalf("openssl decrypted a different key:\n%s", pub)
	}
	if _, err := tryOpenSSL(t, dir, "pkey", "-in", "key.pem", "-passin", "pass:wrong", "-pubout"); err == nil {
		t.Fatal("openssl decrypted with a wrong password")
	}
	fp := runOpenSSL(t, dir, "x509", "-in", "chain.pem", "-noout", "-fingerprint", "-sha256")
	want := FingerprintColons(fx.leaf.Fingerprint())
	if got := strings.TrimSpace(fp[strings.Index(fp, "=")+1:]); got != want {
		t.Fatalf("openssl fingerprint %s; we say %s", got, want)
	}
}
