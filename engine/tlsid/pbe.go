package tlsid

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// The parsers used for PKCS#12 and encrypted PKCS#8 take key-derivation parameters from the
// input itself. A crafted file could ask for billions of PBKDF2 iterations (a hang) or
// gigabytes of scrypt memory (a crash), and youmark/pkcs8 panics on a wrong-sized IV or a
// ciphertext that is not a whole number of blocks. So before handing any input to them we
// walk the ASN.1 structures ourselves and reject such parameters as ErrCorruptInput.

const (
	// MaxKDFIterations bounds PBKDF2 / PKCS#12-KDF iteration counts read from input
	// (about two seconds of work for one derivation on a laptop core).
	MaxKDFIterations = 5_000_000
	// maxScryptMemory bounds 128·N·r, the memory scrypt needs.
	maxScryptMemory = 256 << 20
	// MaxInputSize bounds PKCS#12, PEM and keystore inputs.
	MaxInputSize = 4 << 20
)

var (
	oidPBES2             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidPBMAC1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPKCS12PBEPrefix   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // pbeWithSHAAnd* family
	oidDataContent       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKeyBag    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidDESEDE3CBC        = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidAESPrefix         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1}
	errUnsupportedCipher = errors.New("unsupported cipher")
)

// checkEncryptionAlgorithm bounds the work factor of one password-based encryption algorithm
// identifier (PBES2 with PBKDF2 or scrypt, or a PKCS#12 PBE). Unknown algorithms pass: the
// decoder then rejects them itself, cheaply.
func checkEncryptionAlgorithm(alg pkix.AlgorithmIdentifier) error {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var params struct {
			KDF pkix.AlgorithmIdentifier
			Enc pkix.AlgorithmIdentifier
		}
		if err := unmarshalAll(alg.Parameters.FullBytes, &params); err != nil {
			return fmt.Errorf("PBES2 parameters: %w", err)
		}
		return checkKDF(params.KDF)
	case hasPrefix(alg.Algorithm, oidPKCS12PBEPrefix):
		var params struct {
			Salt       []byte
			Iterations int
		}
		if err := unmarshalAll(alg.Parameters.FullBytes, &params); err != nil {
			return fmt.Errorf("PBE parameters: %w", err)
		}
		return checkIterations(params.Iterations)
	}
	return nil
}

// checkKDF bounds a PBKDF2 or scrypt algorithm identifier.
func checkKDF(kdf pkix.AlgorithmIdentifier) error {
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var params struct {
			Salt       asn1.RawValue
			Iterations int
			KeyLength  int                      `asn1:"optional"`
			PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
		}
		if err := unmarshalAll(kdf.Parameters.FullBytes, &params); err != nil {
			return fmt.Errorf("PBKDF2 parameters: %w", err)
		}
		return checkIterations(params.Iterations)
	case kdf.Algorithm.Equal(oidScrypt):
		var params struct {
			Salt      []byte
			N         int
			R         int
			P         int
			KeyLength int `asn1:"optional"`
		}
		if err := unmarshalAll(kdf.Parameters.FullBytes, &params); err != nil {
			return fmt.Errorf("scrypt parameters: %w", err)
		}
		if params.N < 2 || params.R < 1 || params.P < 1 || params.P > 16 ||
			params.N > maxScryptMemory/128/params.R {
			return fmt.Errorf("scrypt cost N=%d r=%d p=%d out of bounds", params.N, params.R, params.P)
		}
	}
	return nil
}

func checkIterations(n int) error {
	if n < 1 || n > MaxKDFIterations {
		return fmt.Errorf("KDF iteration count %d out of bounds [1, %d]", n, MaxKDFIterations)
	}
	return nil
}

// checkPKCS8Encrypted validates an EncryptedPrivateKeyInfo before youmark/pkcs8 sees it:
// PBES2 only, bounded KDF, a known cipher with an IV of its block size, and a ciphertext made
// of whole blocks.
func checkPKCS8Encrypted(der []byte) error {
	var info struct {
		Alg  pkix.AlgorithmIdentifier
		Data []byte
	}
	if err := unmarshalAll(der, &info); err != nil {
		return fmt.Errorf("encrypted private key: %w", err)
	}
	if !info.Alg.Algorithm.Equal(oidPBES2) {
		return fmt.Errorf("encrypted private key: only PBES2 is supported, not %v", info.Alg.Algorithm)
	}
	var params struct {
		KDF pkix.AlgorithmIdentifier
		Enc pkix.AlgorithmIdentifier
	}
	if err := unmarshalAll(info.Alg.Parameters.FullBytes, &params); err != nil {
		return fmt.Errorf("PBES2 parameters: %w", err)
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) && !params.KDF.Algorithm.Equal(oidScrypt) {
		return fmt.Errorf("encrypted private key: unsupported KDF %v", params.KDF.Algorithm)
	}
	if err := checkKDF(params.KDF); err != nil {
		return err
	}
	blockSize := 0
	switch {
	case hasPrefix(params.Enc.Algorithm, oidAESPrefix) && len(params.Enc.Algorithm) == len(oidAESPrefix)+1:
		blockSize = 16
	case params.Enc.Algorithm.Equal(oidDESEDE3CBC):
		blockSize = 8
	default:
		return fmt.Errorf("encrypted private key: %w %v", errUnsupportedCipher, params.Enc.Algorithm)
	}
	var iv []byte
	if err := unmarshalAll(params.Enc.Parameters.FullBytes, &iv); err != nil {
		return fmt.Errorf("cipher parameters: %w", err)
	}
	if len(iv) != blockSize {
		return fmt.Errorf("encrypted private key: IV of %d bytes, want %d", len(iv), blockSize)
	}
	if len(info.Data) == 0 || len(info.Data)%blockSize != 0 {
		return fmt.Errorf("encrypted private key: ciphertext of %d bytes is not whole blocks", len(info.Data))
	}
	return nil
}

// checkPKCS12WorkFactor walks a PFX (RFC 7292) far enough to see every KDF parameter that
// decoding would use: the MAC's, each encrypted SafeContents', and each shrouded key bag's.
func checkPKCS12WorkFactor(der []byte) error {
	var pfx struct {
		Version  int
		AuthSafe pkcs12ContentInfo
		MacData  pkcs12MacData `asn1:"optional"`
	}
	if err := unmarshalAll(der, &pfx); err != nil {
		return fmt.Errorf("PFX: %w", err)
	}
	if err := checkMACWorkFactor(pfx.MacData); err != nil {
		return err
	}
	if !pfx.AuthSafe.ContentType.Equal(oidDataContent) {
		return nil // the decoder refuses this itself
	}
	var authSafeBytes []byte
	if err := unmarshalAll(pfx.AuthSafe.Content.Bytes, &authSafeBytes); err != nil {
		return fmt.Errorf("authenticated safe: %w", err)
	}
	var safes []pkcs12ContentInfo
	if err := unmarshalAll(authSafeBytes, &safes); err != nil {
		return fmt.Errorf("authenticated safe: %w", err)
	}
	for _, ci := range safes {
		var err error
		switch {
		case ci.ContentType.Equal(oidEncryptedData):
			err = checkEncryptedSafe(ci)
		case ci.ContentType.Equal(oidDataContent):
			err = checkPlainSafe(ci)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pkcs12ContentInfo is a PKCS#7 ContentInfo as PKCS#12 uses it.
type pkcs12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

// pkcs12MacData is a PFX's MacData.
type pkcs12MacData struct {
	Mac struct {
		Alg    pkix.AlgorithmIdentifier
		Digest []byte
	}
	Salt       []byte
	Iterations int `asn1:"optional,default:1"`
}

// checkMACWorkFactor checks the KDF of the PFX's integrity MAC: PBMAC1's own KDF, or the
// iteration count of the classic PKCS#12 MAC. A PFX without MacData passes.
func checkMACWorkFactor(mac pkcs12MacData) error {
	macAlg := mac.Mac.Alg
	if macAlg.Algorithm == nil {
		return nil
	}
	if !macAlg.Algorithm.Equal(oidPBMAC1) {
		if err := checkIterations(mac.Iterations); err != nil {
			return fmt.Errorf("MAC: %w", err)
		}
		return nil
	}
	var params struct {
		KDF pkix.AlgorithmIdentifier
		MAC pkix.AlgorithmIdentifier
	}
	if err := unmarshalAll(macAlg.Parameters.FullBytes, &params); err != nil {
		return fmt.Errorf("PBMAC1 parameters: %w", err)
	}
	return checkKDF(params.KDF)
}

// checkEncryptedSafe checks the encryption algorithm of an EncryptedData SafeContents.
func checkEncryptedSafe(ci pkcs12ContentInfo) error {
	var ed struct {
		Version int
		Info    struct {
			ContentType asn1.ObjectIdentifier
			Alg         pkix.AlgorithmIdentifier
			Content     asn1.RawValue `asn1:"tag:0,optional"`
		}
	}
	if err := unmarshalAll(ci.Content.Bytes, &ed); err != nil {
		return fmt.Errorf("encrypted data: %w", err)
	}
	return checkEncryptionAlgorithm(ed.Info.Alg)
}

// checkPlainSafe checks the encryption algorithm of every shrouded key bag of an
// unencrypted SafeContents.
func checkPlainSafe(ci pkcs12ContentInfo) error {
	var data []byte
	if err := unmarshalAll(ci.Content.Bytes, &data); err != nil {
		return fmt.Errorf("safe contents: %w", err)
	}
	var bags []struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"tag:0,explicit"`
		Attrs asn1.RawValue `asn1:"optional"`
	}
	if err := unmarshalAll(data, &bags); err != nil {
		return fmt.Errorf("safe bags: %w", err)
	}
	for _, bag := range bags {
		if !bag.ID.Equal(oidShroudedKeyBag) {
			continue
		}
		var info struct {
			Alg  pkix.AlgorithmIdentifier
			Data []byte
		}
		if err := unmarshalAll(bag.Value.Bytes, &info); err != nil {
			return fmt.Errorf("shrouded key bag: %w", err)
		}
		if err := checkEncryptionAlgorithm(info.Alg); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalAll is asn1.Unmarshal that also rejects trailing bytes.
func unmarshalAll(der []byte, out any) error {
	rest, err := asn1.Unmarshal(der, out)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing data")
	}
	return nil
}

func hasPrefix(oid, prefix asn1.ObjectIdentifier) bool {
	if len(oid) < len(prefix) {
		return false
	}
	return oid[:len(prefix)].Equal(prefix)
}
