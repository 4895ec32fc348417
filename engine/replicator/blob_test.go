package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/p2psync/libp2psync/engine/tlsid"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
)

// putBlob stores content in db's blob store and returns its dictionary.
func putBlob(t testing.TB, db *store.Database, content []byte, contentType string) (string, blobstore.Digest) {
	t.Helper()
	w, err := db.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	b, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return string(blobstore.Properties(b, contentType)), b.Digest
}

// blobContent reads a blob whole (verified), or returns the error.
func blobContent(db *store.Database, d blobstore.Digest) ([]byte, error) {
	r, err := db.Blobs().NewReader(d, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func blobFile(db *store.Database, d blobstore.Digest) string {
	return filepath.Join(db.Blobs().Dir(), fmt.Sprintf("%x.blob", d[:]))
}

// tlsListener starts a wss:// listener serving fx.selfSigned; the replicator pins it
// (tlsid.TrustPinned with the returned certificate).
func tlsListener(t *testing.T, db *store.Database, mutate func(*listener.Config)) (*listener.Listener, []byte, string) {
	l := startListener(t, db, func(c *listener.Config) {
		c.DisableTLS, c.Identity = false, fx.selfSigned
		if mutate != nil {
			mutate(c)
		}
	})
	return l, fx.selfSigned.Certificate().Raw, fmt.Sprintf("wss://127.0.0.1:%d/%s", l.Port(), db.Name())
}

func oneShot(t *testing.T, cfg Config) (Status, *docRecorder) {
	t.Helper()
	r := newRepl(t, cfg)
	rec := &docRecorder{}
	rec.listen(r)
	st := runOneShot(t, r)
	return st, rec
}

func getDoc(t testing.TB, c *store.Collection, id string) *store.Document {
	t.Helper()
	d, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d
}

// Blobs travel with their documents both ways through a TLS listener: a blob shared by
// two documents, a pulled document edited afterwards keeping its blob, pushed back.
func TestBlobRoundTripTLS(t *testing.T) {
	ctx := context.Background()
	a, b := openDB(t, "a"), openDB(t, "b")
	ca, cb := a.DefaultCollection(), b.DefaultCollection()
	shared := bytes.Repeat([]byte("shared blob content "), 20000) // 400 KB, several frames
	dictS, dS := putBlob(t, a, shared, "text/plain")
	dictP, dP := putBlob(t, a, []byte{0x89, 'P', 'N', 'G', 0, 1, 2}, "image/png")
	save(t, ca, "doc1", `{"title":"one","att":`+dictS+`}`)
	save(t, ca, "doc2", `{"title":"two","list":[1,{"nested":`+dictS+`}],"pic":`+dictP+`}`)
	_, pin, url := tlsListener(t, b, nil)

	st, rec := oneShot(t, Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin, Type: Push})
	if st.Error != nil || len(rec.errors()) > 0 {
		t.Fatalf("push: %v %v", st.Error, rec.errors())
	}
	for d, want := range map[blobstore.Digest][]byte{dS: shared, dP: {0x89, 'P', 'N', 'G', 0, 1, 2}} {
		if got, err := blobContent(b, d); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %s on the listener: %d bytes, %v", d, len(got), err)
		}
	}
	if d := getDoc(t, cb, "doc2"); !strings.Contains(string(d.Body), dP.String()) || strings.Contains(string(d.Body), "_attachments") {
		t.Fatalf("pushed body %s", d.Body)
	}

	// The other way: a blob made on the listener's side, pulled, then edited here.
	dictZ, dZ := putBlob(t, b, []byte("made on b"), "text/plain")
	save(t, cb, "doc3", `{"z":`+dictZ+`}`)
	st, rec = oneShot(t, Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin, Type: Pull})
	if st.Error != nil || len(rec.errors()) > 0 {
		t.Fatalf("pull: %v %v", st.Error, rec.errors())
	}
	if got, err := blobContent(a, dZ); err != nil || string(got) != "made on b" {
		t.Fatalf("pulled blob: %q %v", got, err)
	}
	d3 := getDoc(t, ca, "doc3")
	edited, err := ca.Save(ctx, "doc3", []byte(`{"z":`+dictZ+`,"edited":true}`), store.SaveOptions{ParentRevID: d3.RevID})
	if err != nil {
		t.Fatalf("edit of a pulled document keeping its blob: %v", err)
	}
	st, rec = oneShot(t, Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin})
	if st.Error != nil || len(rec.errors()) > 0 {
		t.Fatalf("push back: %v %v", st.Error, rec.errors())
	}
	if d := getDoc(t, cb, "doc3"); d.RevID != edited.RevID {
		t.Fatalf("listener has %s, want %s", d.RevID, edited.RevID)
	}
	if !sameDocs(t, ca, cb) {
		t.Fatal("databases differ")
	}
}

// A blob missing on the sender: the document fails with an error, nothing is saved on
// the receiver, the checkpoint stays before it, and once the blob is back the next
// replication brings the document. Both directions.
func TestBlobMissingOnSender(t *testing.T) {
	for _, dir := range []Type{Push, Pull} {
		t.Run(map[Type]string{Push: "push", Pull: "pull"}[dir], func(t *testing.T) {
			a, b := openDB(t, "a"), openDB(t, "b")
			sender, receiver := a, b
			if dir == Pull {
				sender, receiver = b, a
			}
			content := []byte("this blob will go missing")
			dict, d := putBlob(t, sender, content, "text/plain")
			save(t, sender.DefaultCollection(), "before", `{"n":1}`)
			save(t, sender.DefaultCollection(), "doc", `{"att":`+dict+`}`)
			save(t, sender.DefaultCollection(), "after", `{"n":2}`)
			if err := os.Remove(blobFile(sender, d)); err != nil {
				t.Fatal(err)
			}
			_, pin, url := tlsListener(t, b, nil)
			st, rec := oneShot(t, Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin, Type: dir})
			if st.Error != nil {
				t.Fatalf("replication stopped with %v", st.Error)
			}
			errs := rec.errors()
			if len(errs) != 1 || !strings.HasPrefix(errs[0], "doc: ") || !strings.Contains(errs[0], "502") {
				t.Fatalf("document errors %v, want one HTTP 502 for doc", errs)
			}
			rc := receiver.DefaultCollection()
			if _, err := rc.Get(context.Background(), "doc"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("document without its blob was saved: %v", err)
			}
			for _, id := range []string{"before", "after"} {
				getDoc(t, rc, id)
			}
			if _, err := receiver.Blobs().Stat(d); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("blob on the receiver: %v", err)
			}
			// The blob comes back: the next run sends the document (it was not checkpointed).
			putBlob(t, sender, content, "text/plain")
			st, rec = oneShot(t, Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin, Type: dir})
			if st.Error != nil || len(rec.errors()) > 0 {
				t.Fatalf("retry: %v %v", st.Error, rec.errors())
			}
			getDoc(t, rc, "doc")
			if got, err := blobContent(receiver, d); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("blob after retry: %q %v", got, err)
			}
		})
	}
}

// A read-only listener refuses pushes but serves blobs to pullers.
func TestBlobReadOnlyListenerServesPull(t *testing.T) {
	a, b := openDB(t, "a"), openDB(t, "b")
	dict, d := putBlob(t, b, []byte("read-only but readable"), "text/plain")
	save(t, b.DefaultCollection(), "doc", `{"att":`+dict+`}`)
	_, pin, url := tlsListener(t, b, func(c *listener.Config) { c.ReadOnly = true })
	st, rec := oneShot(t, Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin, Type: Pull})
	if st.Error != nil || len(rec.errors()) > 0 {
		t.Fatalf("pull: %v %v", st.Error, rec.errors())
	}
	if got, err := blobContent(a, d); err != nil || string(got) != "read-only but readable" {
		t.Fatalf("blob: %q %v", got, err)
	}
}

// Delta sync keeps blob dictionaries intact: an edit of a document with a blob goes as a
// delta and arrives with its blob reference unchanged.
func TestBlobDeltaSync(t *testing.T) {
	ctx := context.Background()
	a, b := openDB(t, "a"), openDB(t, "b")
	ca, cb := a.DefaultCollection(), b.DefaultCollection()
	dict, d := putBlob(t, a, []byte("delta blob"), "text/plain")
	pad := strings.Repeat("p", 600)
	doc := save(t, ca, "doc", `{"pad":"`+pad+`","att":`+dict+`,"v":1}`)
	_, pin, url := tlsListener(t, b, func(c *listener.Config) { c.EnableDeltaSync = true })
	cfg := Config{Database: a, URL: url, TrustMode: tlsid.TrustPinned, PinnedCertificate: pin, Type: Push, EnableDeltaSync: true}
	if st, rec := oneShot(t, cfg); st.Error != nil || len(rec.errors()) > 0 {
		t.Fatalf("push: %v %v", st.Error, rec.errors())
	}
	dict2, d2 := putBlob(t, a, []byte("second blob"), "text/plain")
	// The new blob is added last: a delta can only append keys (TestDeltaKeepsSenderKeyOrder).
	if _, err := ca.Save(ctx, "doc", []byte(`{"pad":"`+pad+`","att":`+dict+`,"v":2,"more":`+dict2+`}`), store.SaveOptions{ParentRevID: doc.RevID}); err != nil {
		t.Fatal(err)
	}
	r := newRepl(t, cfg)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatal(st.Error)
	}
	if r.Stats().DeltasSent == 0 {
		t.Fatalf("no delta sent: %+v", r.Stats())
	}
	got := getDoc(t, cb, "doc")
	// A delta is only sent when it rebuilds the sender's bytes.
	if want := getDoc(t, ca, "doc"); string(got.Body) != string(want.Body) || got.RevID != want.RevID {
		t.Fatalf("listener has %s %s, want %s %s", got.RevID, got.Body, want.RevID, want.Body)
	}
	for _, dg := range []blobstore.Digest{d, d2} {
		if _, err := blobContent(b, dg); err != nil {
			t.Fatalf("blob %s: %v", dg, err)
		}
	}
}

// cutProxy forwards TCP to target and, on its first connection only, cuts both sides
// once cutAfter bytes went from target to the client.
type cutProxy struct {
	ln   net.Listener
	cuts atomic.Int32
}

func startCutProxy(t *testing.T, target string, cutAfter int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	first := true
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			limit := int64(-1)
			if first {
				limit, first = cutAfter, false
			}
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() {
				if limit < 0 {
					_, _ = io.Copy(c, s)
				} else {
					_, _ = io.CopyN(c, s, limit)
					p.cuts.Add(1)
				}
				c.Close()
				s.Close()
			}()
		}
	}()
	return p
}

// A connection dropped in the middle of a blob saves nothing of it (no partial blob, no
// document without its blob), and the replicator's retry converges.
func TestBlobConnectionDroppedMidBlob(t *testing.T) {
	a, b := openDB(t, "a"), openDB(t, "b")
	// 4 MiB that deflate cannot shrink: the cut after 1 MiB must fall inside the blob
	// whatever the frame boundaries (a patterned body compressed to about 1 MiB, so the
	// transfer sometimes ended before the cut).
	content := make([]byte, 4<<20)
	rand.New(rand.NewSource(1)).Read(content)
	dict, d := putBlob(t, b, content, "application/octet-stream")
	save(t, b.DefaultCollection(), "doc", `{"att":`+dict+`}`)
	l := startListener(t, b, func(c *listener.Config) {})
	proxy := startCutProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port())), 1<<20)
	var sawPartial atomic.Bool
	r := newRepl(t, Config{Database: a, URL: fmt.Sprintf("ws://%s/%s", proxy.ln.Addr(), b.Name()), Type: Pull})
	r.AddChangeListener(func(s Status) {
		if s.Activity == Offline {
			if _, err := a.DefaultCollection().Get(context.Background(), "doc"); err == nil {
				sawPartial.Store(true)
			}
		}
	})
	st := runOneShot(t, r)
	if st.Error != nil {
		t.Fatalf("replication: %v", st.Error)
	}
	if proxy.cuts.Load() != 1 {
		t.Fatalf("the connection was not cut (%d)", proxy.cuts.Load())
	}
	if sawPartial.Load() {
		t.Fatal("the document was saved before its blob arrived whole")
	}
	if got, err := blobContent(a, d); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("blob after retry: %d bytes, %v", len(got), err)
	}
	getDoc(t, a.DefaultCollection(), "doc")
	entries, _ := os.ReadDir(a.Blobs().Dir())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
