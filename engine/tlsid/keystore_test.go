package tlsid

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testKeystore keeps PBKDF2 cheap: the production count costs seconds under -race.
var testKeystore = KeystoreConfig{KDFIterations: 1000}

func openTestKeystore(t *testing.T, path, password string) *Keystore {
	t.Helper()
	ks, err := OpenKeystore(path, password, testKeystore)
	if err != nil {
		t.Fatalf("open keystore: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func TestKeystoreStoreGetListDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identities.keystore")
	ks := openTestKeystore(t, path, "app password")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new keystore file: %v, mode %v; want 0600", err, st.Mode())
	}
	if labels, _ := ks.List(); len(labels) != 0 {
		t.Fatalf("new keystore lists %v", labels)
	}
	for label, id := range map[string]*Identity{"server": fx.leaf, "client": fx.client, "ünïcode label": fx.selfSigned} {
		if err := ks.Store(label, id); err != nil {
			t.Fatalf("store %q: %v", label, err)
		}
	}
	labels, err := ks.List()
	if err != nil || !slices.Equal(labels, []string{"client", "server", "ünïcode label"}) {
		t.Fatalf("List = %v, %v", labels, err)
	}
	got, err := ks.Get("server")
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint() != fx.leaf.Fingerprint() || len(got.Chain()) != 2 || !got.PrivateKey().(*ecdsa.PrivateKey).Equal(fx.leaf.PrivateKey()) {
		t.Fatal("Get returned a different identity")
	}

	// Store under an existing label replaces.
	if err := ks.Store("server", fx.otherLeaf); err != nil {
		t.Fatal(err)
	}
	if got, _ := ks.Get("server"); got.Fingerprint() != fx.otherLeaf.Fingerprint() {
		t.Fatal("Store did not replace")
	}

	if err := ks.Delete("client"); err != nil {
		t.Fatal(err)
	}
	_, err = ks.Get("client")
	wantIs(t, err, ErrNotFound)
	wantIs(t, ks.Delete("client"), ErrNotFound)

	// Everything is on disk: a second open sees the same content.
	ks.Close()
	again := openTestKeystore(t, path, "app password")
	labels, _ = again.List()
	if !slices.Equal(labels, []string{"server", "ünïcode label"}) {
		t.Fatalf("after reopen List = %v", labels)
	}
	if got, err := again.Get("ünïcode label"); err != nil || got.Fingerprint() != fx.selfSigned.Fingerprint() {
		t.Fatalf("after reopen: %v", err)
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestKeystoreWrongPasswordLeavesFileUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ks")
	ks := openTestKeystore(t, path, "right")
	if err := ks.Store("id", fx.leaf); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	for _, pw := range []string{"wrong", "Right", "right "} {
		_, err := OpenKeystore(path, pw, testKeystore)
		wantIs(t, err, ErrWrongPassword)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("a wrong password changed the file")
	}
	if got, err := openTestKeystore(t, path, "right").Get("id"); err != nil || got.Fingerprint() != fx.leaf.Fingerprint() {
		t.Fatalf("right password after wrong attempts: %v", err)
	}
}

func TestKeystoreCorruptFile(t *testing.T) {
	dir := t.TempDir()
	goodPath := filepath.Join(dir, "good")
	ks := openTestKeystore(t, goodPath, "pw")
	if err := ks.Store("a", fx.leaf); err != nil {
		t.Fatal(err)
	}
	if err := ks.Store("b", fx.client); err != nil {
		t.Fatal(err)
	}
	good := readFile(t, goodPath)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	entries := func(m map[string]any) []any { return m["entries"].([]any) }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty file", nil},
		{"garbage", []byte("\x00\x01garbage")},
		{"truncated", good[:len(good)/2]},
		{"trailing data", append(append([]byte{}, good...), []byte(`{}`)...)},
		{"other JSON", []byte(`{"hello":"world"}`)},
		{"wrong format name", edit(func(m map[string]any) { m["format"] = "something-else" })},
		{"future version", edit(func(m map[string]any) { m["version"] = 2 })},
		{"absurd KDF iterations", edit(func(m map[string]any) { m["kdf"].(map[string]any)["iterations"] = 2_000_000_000 })},
		{"entry removed", edit(func(m map[string]any) { m["entries"] = entries(m)[:1] })},
		{"labels swapped", edit(func(m map[string]any) {
			e := entries(m)
			a, b := e[0].(map[string]any), e[1].(map[string]any)
			a["label"], b["label"] = b["label"], a["label"]
		})},
		{"blob altered", edit(func(m map[string]any) {
			e := entries(m)[0].(map[string]any)
			s := e["pkcs12"].(string)
			e["pkcs12"] = "AAAA" + s[4:]
		})},
		{"MAC altered", edit(func(m map[string]any) {
			s := m["mac"].(string)
			m["mac"] = "AAAA" + s[4:]
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			writeFile(t, path, tt.data)
			_, err := OpenKeystore(path, "pw", testKeystore)
			wantIs(t, err, ErrCorruptInput)
			if !bytes.Equal(readFile(t, path), tt.data) {
				t.Fatal("opening a corrupt keystore changed it")
			}
		})
	}
}

func TestKeystoreRejectedInputLeavesFileUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ks")
	ks := openTestKeystore(t, path, "pw")
	if err := ks.Store("keep", fx.leaf); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	opaque, err := NewIdentity(opaqueSigner{fx.client.PrivateKey().(*ecdsa.PrivateKey)}, fx.client.Chain())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		label string
		id    *Identity
	}{
		{"empty label", "", fx.client},
		{"label too long", strings.Repeat("x", maxLabelLen+1), fx.client},
		{"label not UTF-8", "\xff\xfe", fx.client},
		{"nil identity", "new", nil},
		{"zero identity", "new", &Identity{}},
		{"key that cannot be exported", "new", opaque},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantIs(t, ks.Store(tt.label, tt.id), ErrInvalidArgument)
			if !bytes.Equal(before, readFile(t, path)) {
				t.Fatal("file changed")
			}
			if labels, _ := ks.List(); !slices.Equal(labels, []string{"keep"}) {
				t.Fatalf("List = %v", labels)
			}
		})
	}
}

// TestKeystoreFailedWriteChangesNothing: when the file cannot be rewritten, the in-memory
// content stays what is on disk.
func TestKeystoreFailedWriteChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ks := openTestKeystore(t, filepath.Join(dir, "ks"), "pw")
	if err := ks.Store("keep", fx.leaf); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := ks.Store("new", fx.client); err == nil {
		t.Fatal("store into a removed directory succeeded")
	}
	if err := ks.Delete("keep"); err == nil {
		t.Fatal("delete in a removed directory succeeded")
	}
	if labels, _ := ks.List(); !slices.Equal(labels, []string{"keep"}) {
		t.Fatalf("List = %v; want the last written state", labels)
	}
}

func TestKeystoreChangePassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ks")
	ks := openTestKeystore(t, path, "old")
	if err := ks.Store("a", fx.leaf); err != nil {
		t.Fatal(err)
	}
	wantIs(t, ks.ChangePassword(""), ErrInvalidArgument)
	if err := ks.ChangePassword("new"); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.Get("a"); err != nil || got.Fingerprint() != fx.leaf.Fingerprint() {
		t.Fatalf("after change, same handle: %v", err)
	}
	_, err := OpenKeystore(path, "old", testKeystore)
	wantIs(t, err, ErrWrongPassword)
	if got, err := openTestKeystore(t, path, "new").Get("a"); err != nil || got.Fingerprint() != fx.leaf.Fingerprint() {
		t.Fatalf("reopen with new password: %v", err)
	}
}

func TestKeystoreInvalidUse(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenKeystore(filepath.Join(dir, "a"), "", testKeystore)
	wantIs(t, err, ErrInvalidArgument)
	_, err = OpenKeystore(filepath.Join(dir, "b"), "pw", KeystoreConfig{KDFIterations: MaxKDFIterations + 1})
	wantIs(t, err, ErrInvalidArgument)
	_, err = OpenKeystore(filepath.Join(dir, "missing-dir", "c"), "pw", testKeystore)
	if err == nil {
		t.Fatal("keystore created in a missing directory")
	}
	if (KeystoreConfig{}).kdfIterations() != DefaultKeystoreKDFIterations {
		t.Fatal("zero config must mean the default KDF iteration count")
	}

	ks := openTestKeystore(t, filepath.Join(dir, "d"), "pw")
	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ks.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	wantIs(t, ks.Store("x", fx.leaf), ErrInvalidArgument)
	_, err = ks.Get("x")
	wantIs(t, err, ErrInvalidArgument)
	_, err = ks.List()
	wantIs(t, err, ErrInvalidArgument)
	wantIs(t, ks.Delete("x"), ErrInvalidArgument)
	wantIs(t, ks.ChangePassword("y"), ErrInvalidArgument)
}

func TestKeystoreConcurrentStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ks")
	ks := openTestKeystore(t, path, "pw")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ks.Store(fmt.Sprintf("id-%d", i), fx.client)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	labels, _ := openTestKeystore(t, path, "pw").List()
	if len(labels) != n {
		t.Fatalf("%d labels on disk; want %d", len(labels), n)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}
