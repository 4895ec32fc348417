package tlsid

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestKDFBounds(t *testing.T) {
	alg := func(oid asn1.ObjectIdentifier, params any) pkix.AlgorithmIdentifier {
		der, err := asn1.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.RawValue{FullBytes: der}}
	}
	type scrypt struct {
		Salt    []byte
		N, R, P int
	}
	type pbkdf2 struct {
		Salt       []byte
		Iterations int
	}
	type pbe struct {
		Salt       []byte
		Iterations int
	}
	pbes2 := func(kdf pkix.AlgorithmIdentifier) pkix.AlgorithmIdentifier {
		return alg(oidPBES2, struct{ KDF, Enc pkix.AlgorithmIdentifier }{kdf, pkix.AlgorithmIdentifier{Algorithm: oidAESPrefix}})
	}
	salt := []byte("saltsalt")
	tests := []struct {
		name string
		alg  pkix.AlgorithmIdentifier
		ok   bool
	}{
		{"PBKDF2 2048", pbes2(alg(oidPBKDF2, pbkdf2{salt, 2048})), true},
		{"PBKDF2 at the bound", pbes2(alg(oidPBKDF2, pbkdf2{salt, MaxKDFIterations})), true},
		{"PBKDF2 over the bound", pbes2(alg(oidPBKDF2, pbkdf2{salt, MaxKDFIterations + 1})), false},
		{"PBKDF2 zero", pbes2(alg(oidPBKDF2, pbkdf2{salt, 0})), false},
		{"scrypt openssl default", pbes2(alg(oidScrypt, scrypt{salt, 16384, 8, 1})), true},
		{"scrypt 1 GiB", pbes2(alg(oidScrypt, scrypt{salt, 1 << 20, 8, 1})), false},
		{"scrypt huge N", pbes2(alg(oidScrypt, scrypt{salt, 1 << 40, 1, 1})), false},
		{"scrypt huge p", pbes2(alg(oidScrypt, scrypt{salt, 1024, 8, 1 << 20})), false},
		{"PKCS#12 PBE 2048", alg(append(append(asn1.ObjectIdentifier{}, oidPKCS12PBEPrefix...), 3), pbe{salt, 2048}), true},
		{"PKCS#12 PBE huge", alg(append(append(asn1.ObjectIdentifier{}, oidPKCS12PBEPrefix...), 3), pbe{salt, 1 << 30}), false},
		{"PBES2 garbage params", pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: []byte{1, 2, 3}}}, false},
		{"unknown algorithm passes through", pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 3}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkEncryptionAlgorithm(tt.alg)
			if (err == nil) != tt.ok {
				t.Fatalf("checkEncryptionAlgorithm = %v; want ok=%v", err, tt.ok)
			}
		})
	}
}
