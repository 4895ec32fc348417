package tlsid

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"unicode/utf8"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Keystore file format (version 1), a JSON object:
//
//	{"format":"p2psync-keystore","version":1,
//	 "kdf":{"name":"pbkdf2-hmac-sha256","iterations":N,"salt":<base64>},
//	 "check":<base64>, "entries":[{"label":"...","pkcs12":<base64>},...], "mac":<base64>}
//
// Why this shape: go-pkcs12 writes exactly one key and chain per PKCS#12 file, so each label
// holds its own standard PKCS#12 blob (Modern encoder), and a small container lists them.
// The application password is stretched once per open (PBKDF2-HMAC-SHA-256, 600,000
// iterations by default) into a master key; HKDF-SHA-256 derives three keys from it:
//   - "check": HMAC over a constant, stored in the file, tells a wrong password (ErrWrongPassword)
//     apart from a damaged file (ErrCorruptInput) without trying to decrypt anything;
//   - "mac": HMAC-SHA-256 over a length-prefixed encoding of every field, so labels, blobs and
//     parameters cannot be altered, swapped or truncated unnoticed;
//   - "entry": the (high-entropy, hex) password of every PKCS#12 blob. go-pkcs12's Modern
//     encoder uses only 2,048 KDF iterations, which is fine for a random 256-bit password
//     but would make each blob a cheap brute-force target if it carried the application
//     password itself.
//
// Labels are authenticated but not encrypted: do not put secrets in them.
const (
	keystoreFormat     = "p2psync-keystore"
	keystoreVersion    = 1
	keystoreKDFName    = "pbkdf2-hmac-sha256"
	keystoreSaltLen    = 16
	keystoreKeyLen     = 32
	maxLabelLen        = 256
	maxKeystoreEntries = 4096
	checkConstant      = "p2psync-keystore password check v1"

	// DefaultKeystoreKDFIterations is the PBKDF2 iteration count used when
	// KeystoreConfig.KDFIterations is zero.
	DefaultKeystoreKDFIterations = 600_000
)

// KeystoreConfig tunes a keystore. The zero value means defaults.
type KeystoreConfig struct {
	// KDFIterations is the PBKDF2 iteration count for a new keystore or a password change;
	// zero means DefaultKeystoreKDFIterations. An existing keystore keeps the count it was
	// written with. Must be at most MaxKDFIterations.
	KDFIterations int
}

func (c KeystoreConfig) kdfIterations() int {
	if c.KDFIterations == 0 {
		return DefaultKeystoreKDFIterations
	}
	return c.KDFIterations
}

// Keystore is a password-protected file of identities under labels. Every change rewrites the
// file atomically (temporary file, fsync, rename, directory fsync), so a crash or a rejected
// input leaves either the old or the new content on disk, never a mix.
//
// A Keystore is safe for concurrent use by goroutines. It keeps the file's content in memory
// and does not notice changes made by another process: open one Keystore per file.
type Keystore struct {
	mu            sync.Mutex
	path          string
	iterations    int
	salt          []byte
	checkKey      []byte
	macKey        []byte
	entryPass     string
	entries       map[string][]byte // label -> PKCS#12 blob
	closed        bool
	newIterations int
}

type keystoreFile struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	KDF     keystoreKDF     `json:"kdf"`
	Check   []byte          `json:"check"`
	Entries []keystoreEntry `json:"entries"`
	MAC     []byte          `json:"mac"`
}

type keystoreKDF struct {
	Name       string `json:"name"`
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
}

type keystoreEntry struct {
	Label  string `json:"label"`
	PKCS12 []byte `json:"pkcs12"`
}

// OpenKeystore opens the keystore file at path with password, creating an empty one (mode
// 0600) if the file does not exist. The password must not be empty.
//
// Errors: ErrWrongPassword (the file is untouched), ErrCorruptInput (not a keystore, damaged,
// or failing its integrity check), ErrInvalidArgument (empty password, bad config), or an
// *fs.PathError for I/O failures.
func OpenKeystore(path, password string, cfg KeystoreConfig) (*Keystore, error) {
	return openKeystore(path, password, cfg, true)
}

func openKeystore(path, password string, cfg KeystoreConfig, mayCreate bool) (*Keystore, error) {
	if password == "" {
		return nil, fmt.Errorf("open keystore: %w: the password must not be empty", ErrInvalidArgument)
	}
	iter := cfg.kdfIterations()
	if err := checkIterations(iter); err != nil {
		return nil, fmt.Errorf("open keystore: %w: %v", ErrInvalidArgument, err)
	}
	ks := &Keystore{path: path, newIterations: iter, entries: map[string][]byte{}}

	data, err := readFileLimited(path, MaxInputSize*4)
	if errors.Is(err, fs.ErrNotExist) && mayCreate {
		if err := ks.setPassword(password, iter); err != nil {
			return nil, fmt.Errorf("open keystore: %w", err)
		}
		if err := ks.write(ks.entries, ks.state(), true); err != nil {
			if errors.Is(err, fs.ErrExist) { // created concurrently: open that one
				return openKeystore(path, password, cfg, false)
			}
			return nil, fmt.Errorf("create keystore %s: %w", path, err)
		}
		return ks, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open keystore: %w", err)
	}
	if err := ks.load(data, password); err != nil {
		return nil, fmt.Errorf("open keystore %s: %w", path, err)
	}
	return ks, nil
}

// keystoreKeys is the derived key material for one password and salt.
type keystoreKeys struct {
	iterations int
	salt       []byte
	checkKey   []byte
	macKey     []byte
	entryPass  string
}

func (ks *Keystore) state() keystoreKeys {
	return keystoreKeys{ks.iterations, ks.salt, ks.checkKey, ks.macKey, ks.entryPass}
}

func (ks *Keystore) adopt(k keystoreKeys) {
	ks.iterations, ks.salt, ks.checkKey, ks.macKey, ks.entryPass = k.iterations, k.salt, k.checkKey, k.macKey, k.entryPass
}

func (ks *Keystore) setPassword(password string, iter int) error {
	salt := make([]byte, keystoreSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	k, err := deriveKeystoreKeys(password, salt, iter)
	if err != nil {
		return err
	}
	ks.adopt(k)
	return nil
}

func deriveKeystoreKeys(password string, salt []byte, iter int) (keystoreKeys, error) {
	master, err := pbkdf2.Key(sha256.New, password, salt, iter, keystoreKeyLen)
	if err != nil {
		return keystoreKeys{}, fmt.Errorf("derive key: %w", err)
	}
	defer clear(master)
	sub := func(info string) []byte {
		// Expand cannot fail for a 32-byte output of SHA-256.
		k, _ := hkdf.Expand(sha256.New, master, "p2psync-keystore "+info, keystoreKeyLen)
		return k
	}
	entry := sub("entry-password")
	defer clear(entry)
	return keystoreKeys{
		iterations: iter,
		salt:       salt,
		checkKey:   sub("check"),
		macKey:     sub("mac"),
		entryPass:  hex.EncodeToString(entry),
	}, nil
}

func (k keystoreKeys) check() []byte {
	m := hmac.New(sha256.New, k.checkKey)
	m.Write([]byte(checkConstant))
	return m.Sum(nil)
}

// mac authenticates every field of the file. Entries must be in the order they are written.
func (k keystoreKeys) mac(check []byte, entries []keystoreEntry) []byte {
	m := hmac.New(sha256.New, k.macKey)
	var n [4]byte
	u32 := func(v int) {
		binary.BigEndian.PutUint32(n[:], uint32(v))
		m.Write(n[:])
	}
	lp := func(b []byte) {
		u32(len(b))
		m.Write(b)
	}
	lp([]byte(keystoreFormat))
	u32(keystoreVersion)
	lp([]byte(keystoreKDFName))
	u32(k.iterations)
	lp(k.salt)
	lp(check)
	u32(len(entries))
	for _, e := range entries {
		lp([]byte(e.Label))
		lp(e.PKCS12)
	}
	return m.Sum(nil)
}

func (ks *Keystore) load(data []byte, password string) error {
	var f keystoreFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%w: not a keystore file: %v", ErrCorruptInput, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the keystore object", ErrCorruptInput)
	}
	switch {
	case f.Format != keystoreFormat:
		return fmt.Errorf("%w: not a keystore file (format %q)", ErrCorruptInput, f.Format)
	case f.Version != keystoreVersion:
		return fmt.Errorf("%w: unsupported keystore version %d", ErrCorruptInput, f.Version)
	case f.KDF.Name != keystoreKDFName:
		return fmt.Errorf("%w: unsupported KDF %q", ErrCorruptInput, f.KDF.Name)
	case checkIterations(f.KDF.Iterations) != nil:
		return fmt.Errorf("%w: %v", ErrCorruptInput, checkIterations(f.KDF.Iterations))
	case len(f.KDF.Salt) < 8 || len(f.KDF.Salt) > 64:
		return fmt.Errorf("%w: salt of %d bytes", ErrCorruptInput, len(f.KDF.Salt))
	case len(f.Check) != sha256.Size || len(f.MAC) != sha256.Size:
		return fmt.Errorf("%w: bad check or MAC length", ErrCorruptInput)
	case len(f.Entries) > maxKeystoreEntries:
		return fmt.Errorf("%w: %d entries", ErrCorruptInput, len(f.Entries))
	}
	k, err := deriveKeystoreKeys(password, f.KDF.Salt, f.KDF.Iterations)
	if err != nil {
		return err
	}
	if !hmac.Equal(k.check(), f.Check) {
		return ErrWrongPassword
	}
	if !hmac.Equal(k.mac(f.Check, f.Entries), f.MAC) {
		return fmt.Errorf("%w: integrity check failed", ErrCorruptInput)
	}
	entries := make(map[string][]byte, len(f.Entries))
	for _, e := range f.Entries {
		if err := checkLabel(e.Label); err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptInput, err)
		}
		if _, dup := entries[e.Label]; dup {
			return fmt.Errorf("%w: duplicate label %q", ErrCorruptInput, e.Label)
		}
		entries[e.Label] = e.PKCS12
	}
	ks.adopt(k)
	ks.entries = entries
	return nil
}

// write encodes entries under keys and atomically replaces the file.
func (ks *Keystore) write(entries map[string][]byte, k keystoreKeys, noReplace bool) error {
	list := make([]keystoreEntry, 0, len(entries))
	for _, label := range sortedLabels(entries) {
		list = append(list, keystoreEntry{Label: label, PKCS12: entries[label]})
	}
	check := k.check()
	f := keystoreFile{
		Format:  keystoreFormat,
		Version: keystoreVersion,
		KDF:     keystoreKDF{Name: keystoreKDFName, Iterations: k.iterations, Salt: k.salt},
		Check:   check,
		Entries: list,
		MAC:     k.mac(check, list),
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return writeFileAtomic(ks.path, data, noReplace)
}

func checkLabel(label string) error {
	if label == "" || len(label) > maxLabelLen || !utf8.ValidString(label) {
		return fmt.Errorf("label must be 1..%d bytes of UTF-8, got %q", maxLabelLen, label)
	}
	return nil
}

func sortedLabels(entries map[string][]byte) []string {
	labels := make([]string, 0, len(entries))
	for l := range entries {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	return labels
}

func (ks *Keystore) usable() error {
	if ks.closed {
		return fmt.Errorf("%w: keystore is closed", ErrInvalidArgument)
	}
	return nil
}

// Store saves id under label, replacing any identity already there. The file is rewritten
// atomically; on any error neither the file nor the keystore changes.
//
// Errors: ErrInvalidArgument (nil identity, bad label, key that cannot be exported, keystore
// full or closed), or an I/O error.
func (ks *Keystore) Store(label string, id *Identity) error {
	if err := checkLabel(label); err != nil {
		return fmt.Errorf("store %q: %w: %v", label, ErrInvalidArgument, err)
	}
	if err := id.usable(); err != nil {
		return fmt.Errorf("store %q: %w", label, err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.usable(); err != nil {
		return fmt.Errorf("store %q: %w", label, err)
	}
	if _, exists := ks.entries[label]; !exists && len(ks.entries) >= maxKeystoreEntries {
		return fmt.Errorf("store %q: %w: keystore holds the maximum of %d identities", label, ErrInvalidArgument, maxKeystoreEntries)
	}
	blob, err := id.ExportPKCS12(ks.entryPass)
	if err != nil {
		return fmt.Errorf("store %q: %w", label, err)
	}
	next := maps.Clone(ks.entries)
	next[label] = blob
	if err := ks.write(next, ks.state(), false); err != nil {
		return fmt.Errorf("store %q: %w", label, err)
	}
	ks.entries = next
	return nil
}

// Get returns the identity stored under label. Errors: ErrNotFound, ErrCorruptInput,
// ErrInvalidArgument (closed).
func (ks *Keystore) Get(label string) (*Identity, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.usable(); err != nil {
		return nil, fmt.Errorf("get %q: %w", label, err)
	}
	blob, ok := ks.entries[label]
	if !ok {
		return nil, fmt.Errorf("get %q: %w", label, ErrNotFound)
	}
	id, err := importPKCS12(blob, ks.entryPass)
	if err != nil {
		// The blob passed the file MAC, so it is exactly what we wrote: failing to decode it
		// means a bug or tampering that defeated the MAC, never a wrong password.
		return nil, fmt.Errorf("get %q: %w: %v", label, ErrCorruptInput, err)
	}
	return id, nil
}

// List returns the labels in sorted order.
func (ks *Keystore) List() ([]string, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.usable(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return sortedLabels(ks.entries), nil
}

// Delete removes the identity under label. Errors: ErrNotFound, ErrInvalidArgument (closed),
// or an I/O error (then nothing changed).
func (ks *Keystore) Delete(label string) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.usable(); err != nil {
		return fmt.Errorf("delete %q: %w", label, err)
	}
	if _, ok := ks.entries[label]; !ok {
		return fmt.Errorf("delete %q: %w", label, ErrNotFound)
	}
	next := maps.Clone(ks.entries)
	delete(next, label)
	if err := ks.write(next, ks.state(), false); err != nil {
		return fmt.Errorf("delete %q: %w", label, err)
	}
	ks.entries = next
	return nil
}

// ChangePassword re-encrypts every identity under newPassword (with a fresh salt and the
// configured KDF iteration count) and rewrites the file atomically.
func (ks *Keystore) ChangePassword(newPassword string) error {
	if newPassword == "" {
		return fmt.Errorf("change keystore password: %w: the password must not be empty", ErrInvalidArgument)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.usable(); err != nil {
		return fmt.Errorf("change keystore password: %w", err)
	}
	salt := make([]byte, keystoreSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("change keystore password: %w", err)
	}
	k, err := deriveKeystoreKeys(newPassword, salt, ks.newIterations)
	if err != nil {
		return fmt.Errorf("change keystore password: %w", err)
	}
	next := make(map[string][]byte, len(ks.entries))
	for label, blob := range ks.entries {
		id, err := importPKCS12(blob, ks.entryPass)
		if err != nil {
			return fmt.Errorf("change keystore password: %q: %w: %v", label, ErrCorruptInput, err)
		}
		if next[label], err = pkcs12.Modern.Encode(id.key, id.chain[0], id.chain[1:], k.entryPass); err != nil {
			return fmt.Errorf("change keystore password: %q: %w", label, err)
		}
	}
	if err := ks.write(next, k, false); err != nil {
		return fmt.Errorf("change keystore password: %w", err)
	}
	clear(ks.checkKey)
	clear(ks.macKey)
	ks.adopt(k)
	ks.entries = next
	return nil
}

// Close forgets the derived keys. Later calls fail with ErrInvalidArgument; Close itself is
// idempotent and always returns nil.
func (ks *Keystore) Close() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return nil
	}
	clear(ks.checkKey)
	clear(ks.macKey)
	ks.entryPass = ""
	ks.entries = nil
	ks.closed = true
	return nil
}
