package replicator

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// The one classifier on blip's typed errors (these cases were blip.IsTransient's).
func TestIsTransientOnBlipErrors(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&blip.CloseError{Code: blip.CloseAbnormal}, true},
		{&blip.CloseError{Code: blip.CloseAppTransient}, true},
		{&blip.CloseError{Code: blip.CloseNormal}, false},
		{&blip.CloseError{Code: blip.CloseGoingAway}, false},
		{&blip.CloseError{Code: blip.CloseProtocolError, Err: blip.ErrProtocol}, false},
		{&blip.CloseError{Code: blip.CloseAppPermanent}, false},
		{&blip.CloseError{Code: blip.CloseInternal}, false},
		{&blip.HTTPError{Status: 408}, true},
		{&blip.HTTPError{Status: 502}, true},
		{&blip.HTTPError{Status: 504}, true},
		{&blip.HTTPError{Status: 500}, false},
		{&blip.HTTPError{Status: 409}, false},
		{blip.ErrTimeout, true},
		{blip.ErrHandshakeCut, true},
		{blip.ErrProtocol, false},
		{blip.ErrNoSubprotocol, false},
		{fmt.Errorf("read: %w", blip.ErrTooLarge), false},
		{&blip.Error{Domain: "HTTP", Code: 503}, false},
		{errors.Join(blip.ErrClosed, &blip.CloseError{Code: blip.CloseAbnormal}), true},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{&net.DNSError{Err: "timeout", IsTimeout: true}, true},
		{fmt.Errorf("dial: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("syncproto: revision not saved: %w", store.ErrBusy), true},
		{fmt.Errorf("syncproto: revision not saved: %w", store.ErrIO), false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// classify gives a run's error the sentinel of its cause (these cases were the facade's
// Categorize), and IsTransient agrees: only network trouble is retried.
func TestClassify(t *testing.T) {
	http401 := &blip.HTTPError{Status: http.StatusUnauthorized}
	tests := []struct {
		name      string
		err       error
		want      error // nil: no sentinel of ours
		transient bool
	}{
		{"plain", errors.New("something"), nil, false},
		{"401", fmt.Errorf("connect: %w", http401), ErrUnauthorized, false},
		{"401 already classified", classify(fmt.Errorf("connect: %w", http401)), ErrUnauthorized, false},
		{"403 at upgrade", &blip.HTTPError{Status: http.StatusForbidden}, syncproto.ErrForbidden, false},
		{"403 from the session", fmt.Errorf("push: %w", syncproto.ErrForbidden), syncproto.ErrForbidden, false},
		{"404", &blip.HTTPError{Status: http.StatusNotFound}, nil, false},
		{"503", &blip.HTTPError{Status: http.StatusServiceUnavailable}, nil, true},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), nil, true},
		{"abnormal close", &blip.CloseError{Code: blip.CloseAbnormal}, nil, true},
		{"x509 unknown authority", fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), tlsid.ErrUntrustedCertificate, false},
		{"x509 hostname", fmt.Errorf("dial: %w", x509.HostnameError{Certificate: fx.wrongHost.Certificate(), Host: "127.0.0.1"}),
			tlsid.ErrHostnameMismatch, false},
		{"x509 expired", x509.CertificateInvalidError{Reason: x509.Expired}, tlsid.ErrCertificateExpired, false},
		{"pin", fmt.Errorf("verify: %w", tlsid.ErrPinMismatch), tlsid.ErrPinMismatch, false},
		{"pin under an abnormal close", &blip.CloseError{Code: blip.CloseAbnormal, Err: tlsid.ErrPinMismatch}, tlsid.ErrPinMismatch, false},
		{"client cert required", tlsid.ErrClientCertRequired, tlsid.ErrClientCertRequired, false},
		{"client cert refused", tlsid.ErrClientCertUntrusted, tlsid.ErrClientCertUntrusted, false},
		{"tls version", tlsid.ErrTLSVersion, tlsid.ErrTLSVersion, false},
		{"listener config", listener.ErrInvalidConfig, listener.ErrInvalidConfig, false},
		{"replicator config", ErrInvalidConfig, ErrInvalidConfig, false},
		{"cancelled", context.Canceled, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Errorf("classify(%v) = %v, want it to wrap %v", tt.err, got, tt.want)
			}
			if tt.err != nil && !errors.Is(got, tt.err) {
				t.Errorf("classify(%v) lost the original error: %v", tt.err, got)
			}
			if IsTransient(got) != tt.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", got, !tt.transient, tt.transient)
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

// Every tlsid sentinel, and the refusals of the listener, are permanent: retrying cannot
// make a certificate trusted or a password right.
func TestSecuritySentinelsPermanent(t *testing.T) {
	for _, s := range append(tlsid.Sentinels(), ErrUnauthorized, ErrTLS, syncproto.ErrForbidden) {
		if IsTransient(fmt.Errorf("wrapped: %w", s)) {
			t.Errorf("%v is transient", s)
		}
	}
}
