package replicator_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// A listener with its anonymous identity and a password; a replicator that trusts the
// self-signed certificate once, pins it, and syncs with the pin from then on.
func Example_pinOnFirstUse() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "replicator-example-")
	defer os.RemoveAll(dir)
	server, _ := store.Open(ctx, filepath.Join(dir, "notes"), store.Config{})
	defer server.Close()
	client, _ := store.Open(ctx, filepath.Join(dir, "phone"), store.Config{})
	defer client.Close()
	_, _ = server.DefaultCollection().Save(ctx, "hello", []byte(`{"text":"hi"}`), store.SaveOptions{})

	l, err := listener.New(listener.Config{
		Database:         server,
		NetworkInterface: "127.0.0.1",
		Password:         listener.StaticPasswords(map[string]string{"alice": "correct horse"}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := l.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer l.Stop()
	url := fmt.Sprintf("wss://127.0.0.1:%d/notes", l.Port())
	creds := replicator.BasicAuthenticator{Username: "alice", Password: "correct horse"}

	sync := func(mode tlsid.TrustMode, pinned []byte) (*replicator.Replicator, error) {
		r, err := replicator.New(replicator.Config{
			Database: client, URL: url, Type: replicator.Pull, Authenticator: creds,
			TrustMode: mode, PinnedCertificate: pinned,
		})
		if err != nil {
			return nil, err
		}
		if err := r.Start(false); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := r.Wait(wctx)
		if err == nil {
			err = st.Error
		}
		return r, err
	}

	first, err := sync(tlsid.TrustSelfSignedOnly, nil)
	if err != nil {
		fmt.Println("first sync:", err)
		return
	}
	cert := first.ServerCertificate()
	fmt.Println("pinned the listener's certificate:", tlsid.CertificateFingerprint(cert) == l.TLSIdentity().Fingerprint())

	if _, err := sync(tlsid.TrustPinned, cert.Raw); err != nil {
		fmt.Println("pinned sync:", err)
		return
	}
	_, err = sync(tlsid.TrustPinned, []byte("not a certificate"))
	fmt.Println("garbage pin refused as a configuration error:", errors.Is(err, replicator.ErrInvalidConfig))
	doc, err := client.DefaultCollection().Get(ctx, "hello")
	fmt.Println("pulled:", err == nil && string(doc.Body) == `{"text":"hi"}`)
	// Output:
	// pinned the listener's certificate: true
	// garbage pin refused as a configuration error: true
	// pulled: true
}
