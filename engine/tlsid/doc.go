/*
Package tlsid manages the TLS identities of libp2psync peers and the trust policies their
connections use: creating self-signed or CA-signed certificates, keeping a listener's anonymous
identity across restarts, storing identities in a password-protected keystore, importing and
exporting PKCS#12 and PEM (including encrypted PKCS#8), and building the crypto/tls
configurations of the listener (passive peer) and the replicator (active peer), with typed
errors for every way a handshake can be refused.

The trust modes match Couchbase Lite's, so a libp2psync replicator and a Couchbase Lite
URLEndpointListener (or the reverse) agree on what is accepted.

# Identities

An Identity is a private key and its certificate chain, leaf first. It is immutable and safe to
share between goroutines. Get one by creating, importing or loading it:

	id, err := tlsid.CreateIdentity(tlsid.CreateOptions{
		Subject:     tlsid.Subject{CommonName: "kitchen-tablet", Organization: "Acme"},
		DNSNames:    []string{"kitchen.local"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.7")},
	})

The zero CreateOptions gives a self-signed ECDSA P-256 server certificate valid for 365 days
with a random 127-bit serial; Key selects RSA 2048 or 3072 instead (RSA 3072 takes seconds),
Usage a client or dual-use certificate, IsCA a certificate authority and Issuer a CA identity
to sign with (the new chain is then the leaf followed by the issuer's chain).
SplitSubjectAltNames sorts one list of names into DNSNames and IPAddresses.

id.Fingerprint() is the SHA-256 of the leaf's DER in lowercase hex: this is what "the same
certificate" means throughout the package, and what a peer pins. It is the one form the
library prints (Identity.Fingerprint, CertificateFingerprint, PEMFingerprint, error messages);
every form users paste is accepted on input (ParseFingerprint, NormalizeFingerprint).
FingerprintColons gives the form `openssl x509 -fingerprint -sha256` prints, for comparing
with it.

# Import and export

	id, err := tlsid.ImportPKCS12(p12Bytes, password)         // .p12/.pfx with key and chain
	p12, err := id.ExportPKCS12(password)                      // go-pkcs12 Modern (AES-256, SHA-256 MAC)
	id, err := tlsid.ImportPEM(chainPEM, keyPEM, password)     // PKCS#8 (encrypted or not), PKCS#1, SEC 1
	chainPEM, keyPEM, err := id.ExportPEM(password)            // "" => unencrypted PKCS#8
	roots, err := tlsid.ParseCertificates(pemOrDER)            // trusted roots, pinned certificate
	pemText := tlsid.EncodeCertificatesPEM(certs)               // what ParseCertificates reads back

ImportPKCS12 reads files from `openssl pkcs12 -export` (OpenSSL 3 defaults and the legacy
3DES/SHA-1 ones), Java and Windows; OpenSSL 1.1.1+ reads what ExportPKCS12 writes. ImportPEM
reads keys from `openssl pkcs8 -topk8` (PBKDF2 or scrypt, AES-CBC or 3DES), `openssl ec` and
`openssl rsa -traditional`; the certificate matching the key becomes the leaf whatever the order
of the input. Legacy OpenSSL PEM encryption ("Proc-Type: 4,ENCRYPTED") is refused: convert it
with `openssl pkcs8 -topk8`.

All importers treat their input as hostile: sizes are capped (MaxInputSize), key-derivation
parameters read from the input are bounded before any work is done (MaxKDFIterations, scrypt
memory), malformed cipher parameters are rejected before they reach the third-party decoders,
and those decoders run behind a panic firewall. A bad file yields ErrCorruptInput, never a
panic or a hang; a wrong password yields ErrWrongPassword.

# The listener's anonymous identity

When a listener has TLS on and the application gave it no identity, it uses an anonymous one:

	id, err := tlsid.LoadOrCreateAnonymous(dbDir, tlsid.AnonymousOptions{Logger: logger})
	srvCfg := tlsid.ServerTLSConfig(id, tlsid.ServerOptions{})

The first call creates a self-signed server certificate and stores it in
dbDir/p2psync-anonymous-identity.p12 (PKCS#12, mode 0600, written atomically). Every later call
returns the same certificate, so replicators that pinned it keep connecting, until it is within
RenewBefore (default 30 days) of expiry; then a new one replaces it and an Info record is
logged. Concurrent first starts converge on one file. A damaged file, or one written under
another password, is reported (ErrCorruptInput, ErrWrongPassword) and left alone; delete it to
start over.

Password choice: AnonymousOptions.Password protects the file. Left empty, the file uses
go-pkcs12's DefaultPassword ("changeit"), which is what that library recommends when a file is
protected by other means: here the 0600 mode, exactly as an unencrypted key file would be. A
password stored next to the file would add nothing. Applications that want the key encrypted at
rest pass a secret kept in the platform keychain.

# Keystore

A Keystore is a file of identities under labels, protected by an application password:

	ks, err := tlsid.OpenKeystore(path, appPassword, tlsid.KeystoreConfig{})  // creates if missing
	defer ks.Close()
	err = ks.Store("server", id)      // replaces an existing label
	id, err = ks.Get("server")        // ErrNotFound if absent
	labels, err := ks.List()          // sorted
	err = ks.Delete("server")
	err = ks.ChangePassword(newPassword)

Design: go-pkcs12 encodes one key and chain per PKCS#12 file, so each label holds a standard
PKCS#12 blob and a small versioned JSON container lists them. The password is stretched once per
open with PBKDF2-HMAC-SHA-256 (600,000 iterations by default, KeystoreConfig.KDFIterations to
change it for new files) into a master key, from which HKDF derives three keys: one for a
password check value stored in the file, so a wrong password fails with ErrWrongPassword before
anything else is read; one for an HMAC-SHA-256 over every field, so any change, truncation or
swap of labels fails with ErrCorruptInput; and one that becomes the (random-looking, 256-bit)
password of every PKCS#12 blob. The blobs therefore do not carry the application password
behind go-pkcs12's 2,048 KDF iterations. Labels are authenticated but stored in clear: do not
put secrets in them.

Every change rewrites the file through a temporary file, fsync, rename and directory fsync, and
only then updates memory: after a crash or a rejected input the file holds the old content or
the new, never a mix, and a wrong password never touches it. The file mode is 0600.

# Trust policies

The listener:

	cfg := tlsid.ServerTLSConfig(id, tlsid.ServerOptions{
		ClientRoots:  []*x509.Certificate{appCA},          // optional: require a client cert from this CA
		VerifyClient: func(chain []*x509.Certificate, verified [][]*x509.Certificate) error {
			return nil                                     // optional: final say, e.g. an allow-list
		},
	})

It accepts TLS 1.2 and 1.3 only. With neither ClientRoots nor VerifyClient no client
certificate is requested. With either, a client must present one: with ClientRoots it must
chain to them with client-auth usage; VerifyClient then sees the presented chain and the
verified chains (nil without ClientRoots, when the callback alone decides after a validity
check). Refusals wrap ErrClientCertUntrusted.

The replicator:

	cfg, err := tlsid.ClientTLSConfig(tlsid.ClientTrust{
		Mode:     tlsid.TrustSelfSignedOnly,
		Identity: clientID,                                // optional client certificate
	})

Modes:

	TrustSystemRoots     the OS roots verify the chain; host name checked (default)
	TrustRoots           only ClientTrust.Roots (an application CA); host name checked
	TrustSelfSignedOnly  accept a lone, currently valid, self-signed server certificate with any
	                     host name; refuse every CA-issued chain, even one the system trusts
	TrustPinned          accept only the pinned server certificate (and only while it is valid);
	                     chain and host name not checked. The pin is either PinnedCertificate
	                     (its DER) or PinnedFingerprint (the SHA-256 of its DER), never both

TrustSelfSignedOnly is Couchbase Lite's acceptOnlySelfSignedServerCertificate. It does not mean
"self-signed certificates too": Couchbase Lite documents that every certificate that is not
self-signed is refused, so that the mode cannot end up in production with CA certificates, and
both of its implementations do so.
LiteCore's TLSContext::allowOnlySelfSigned makes the root lookup return nothing and accepts the
leaf only if it is self-signed (clearing the untrusted and name-mismatch flags, not the expiry
flag); the Java trust manager checks validity, then refuses more than one certificate or one
that does not verify with its own key. We follow the Java order and strictness. We also refuse
a self-signed certificate whose extended key usage excludes server authentication. As in
LiteCore, trusted roots combined with self-signed-only are refused (ErrInvalidArgument).
TrustPinned likewise checks validity before comparing with the pin, as Couchbase Lite does.

Pinning by fingerprint suits users who compare what a listener shows rather than exchange
certificate files: the listener prints id.Fingerprint(), the user types or pastes it (or
the colon form another tool shows), and the replicator pins it directly, with no separate connection to fetch the
certificate first:

	cfg, err := tlsid.ClientTLSConfig(tlsid.ClientTrust{
		Mode:              tlsid.TrustPinned,
		PinnedFingerprint: "ab01...",                       // or "AB:01:...", "sha256:ab01..." (ParseFingerprint)
	})

ParseFingerprint accepts 64 hex digits in either case, run together or as 32 pairs separated
by colons or spaces, optionally after "sha256:", and refuses anything else with
ErrInvalidArgument. The leaf's SHA-256 is compared in
constant time; a different certificate fails with ErrPinMismatch and an error naming both
fingerprints.

The custom modes switch off crypto/tls's own verification (InsecureSkipVerify) and replace it
with a VerifyConnection check, which runs on every handshake including resumed ones and returns
this package's sentinels directly. The standard modes keep crypto/tls's verification, which
reports x509 errors: pass every dial error through Classify.

# Errors

Every error wraps one sentinel (operating-system I/O errors aside), so callers use errors.Is
and the C API maps each to its own code:

	ErrUntrustedCertificate  chain not trusted, or not self-signed in self-signed mode
	ErrHostnameMismatch      certificate not valid for the host dialled
	ErrCertificateExpired    outside its validity period
	ErrPinMismatch           not the pinned certificate
	ErrWrongPassword         keystore, PKCS#12 or encrypted key password wrong or missing
	ErrClientCertRequired    listener wants a client certificate, none presented
	ErrClientCertUntrusted   client certificate refused
	ErrTLSVersion            peer offered or chose a version below TLS 1.2
	ErrCorruptInput          malformed PKCS#12, PEM, DER or keystore, failed integrity check
	ErrNotFound              no identity under that label
	ErrInvalidArgument       unacceptable option or value

Classify maps what a dialer sees (x509.UnknownAuthorityError, HostnameError,
CertificateInvalidError, TLS alerts from the listener such as protocol_version,
certificate_required and bad_certificate, crypto/tls's version errors) to these sentinels while
keeping the original error in the chain; other errors come back unchanged. The replicator
classifies every error of a run this way, and its IsTransient (the library's one retry rule)
treats every sentinel of this package as a permanent error (retrying will not make a
certificate trusted):

	conn, err := dialer.DialContext(ctx, url, header)
	if err = tlsid.Classify(err); errors.Is(err, tlsid.ErrUntrustedCertificate) { ... }

With TLS 1.3 a listener refuses a client certificate after the client's handshake has
finished, so also classify the error of the first read. ClassifyListener is the listener-side
view, where a certificate alert from the peer means the client refused our certificate.

# Thread safety

Identity values, the tls.Config values returned here and the package functions are safe for
concurrent use. A Keystore serialises its methods with a mutex; it caches the file's content
and does not see changes made by another process, so open one Keystore per file. Callbacks
(ClientVerifyFunc) run on the handshake's goroutine; no lock of this package is held while they
run.
*/
package tlsid
