package tlsid

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"testing"
)

func TestClassify(t *testing.T) {
	ours := fmt.Errorf("verify server: %w", ErrPinMismatch)
	tests := []struct {
		name string
		err  error
		want error // nil: returned unchanged
	}{
		{"unknown authority", x509.UnknownAuthorityError{}, ErrUntrustedCertificate},
		{"hostname", x509.HostnameError{Certificate: fx.leaf.Certificate(), Host: "x.example"}, ErrHostnameMismatch},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, ErrCertificateExpired},
		{"not authorized to sign", x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}, ErrUntrustedCertificate},
		{"incompatible usage", x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}, ErrUntrustedCertificate},
		{"no system roots", x509.SystemRootsError{}, ErrUntrustedCertificate},
		{"constraint violation", x509.ConstraintViolationError{}, ErrUntrustedCertificate},
		{"tls verification wrapper", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, ErrUntrustedCertificate},
		{"wrapped by net/http", &url.Error{Op: "Get", URL: "https://x", Err: &tls.CertificateVerificationError{
			Err: x509.CertificateInvalidError{Reason: x509.Expired}}}, ErrCertificateExpired},
		{"local protocol_version alert", tls.AlertError(70), ErrTLSVersion},
		{"server saw only old versions", errors.New("tls: client offered only unsupported versions: [302 301]"), ErrTLSVersion},
		{"server picked an old version", errors.New("tls: server selected unsupported protocol version 302"), ErrTLSVersion},
		{"server got no client certificate", errors.New("tls: client didn't provide a certificate"), ErrClientCertRequired},
		{"network error unchanged", io.ErrUnexpectedEOF, nil},
		{"local handshake_failure alert unchanged", tls.AlertError(40), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err)
			if tt.want == nil {
				if got != tt.err {
					t.Fatalf("Classify changed %v into %v", tt.err, got)
				}
				return
			}
			wantIs(t, got, tt.want)
			if !errors.Is(got, tt.err) && !errors.As(got, new(*url.Error)) {
				t.Fatalf("the original error is lost from the chain: %v", got)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(got, s) {
					t.Fatalf("%v also matches %v", got, s)
				}
			}
		})
	}
	if Classify(nil) != nil || ClassifyListener(nil) != nil {
		t.Fatal("Classify(nil) must be nil")
	}
	if Classify(ours) != ours {
		t.Fatal("an error that already wraps a sentinel must come back unchanged")
	}
}

func TestSentinelsDistinct(t *testing.T) {
	all := Sentinels()
	if len(all) != 11 {
		t.Fatalf("%d sentinels; the C API table expects 11", len(all))
	}
	for i, a := range all {
		for j, b := range all {
			if i != j && (a == b || errors.Is(a, b) || a.Error() == b.Error()) {
				t.Fatalf("sentinels %d and %d are not distinct: %v / %v", i, j, a, b)
			}
		}
	}
}
