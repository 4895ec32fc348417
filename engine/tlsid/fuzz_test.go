package tlsid

import (
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets: whatever the bytes, the importers return an identity whose key matches its
// leaf, or an error wrapping one of this package's sentinels — never a panic or a hang.
// `go test` runs the seeds; `make fuzz` runs each target for a bounded time.

func addSeedFiles(f *testing.F, pattern string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed files %s: %v", pattern, err)
	}
	var seeds [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

func checkImportResult(t *testing.T, id *Identity, err error) {
	t.Helper()
	if err != nil {
		if !isOurs(err) {
			t.Fatalf("error without a sentinel: %v", err)
		}
		if id != nil {
			t.Fatal("identity returned with an error")
		}
		return
	}
	if id == nil || len(id.Chain()) == 0 || !publicKeysEqual(id.Certificate().PublicKey, id.PrivateKey().Public()) {
		t.Fatal("inconsistent identity")
	}
}

func FuzzImportPEM(f *testing.F) {
	for _, seed := range addSeedFiles(f, "*.pem") {
		f.Add(seed, "seed")
		f.Add(seed, "")
	}
	certs, key, err := fx.leaf.exportPEM("pw", testPEMIterations)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(certs, key...), "pw")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		id, err := ImportPEM(data, nil, password)
		checkImportResult(t, id, err)
	})
}

func FuzzImportPKCS12(f *testing.F) {
	for _, seed := range addSeedFiles(f, "*.p12") {
		f.Add(seed, "seed")
		f.Add(seed, "wrong")
	}
	ours, err := fx.leaf.ExportPKCS12("pw")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ours, "pw")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		id, err := ImportPKCS12(data, password)
		checkImportResult(t, id, err)
	})
}
