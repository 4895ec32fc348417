package listener

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/store"
)

// recorded is one message of a Sync Gateway recording (testdata/transcripts, copied from
// the spec's transcripts).
type recorded struct {
	I          int        `json:"i"`
	Kind       string     `json:"kind"`
	Dir        string     `json:"dir"`
	Type       string     `json:"type"`
	Profile    string     `json:"profile"`
	Properties [][]string `json:"properties"`
	Body       string     `json:"body"`
	BodyHex    string     `json:"body_hex"`
}

func (r recorded) bytes() []byte {
	if r.BodyHex != "" {
		b, _ := hex.DecodeString(r.BodyHex)
		return b
	}
	return []byte(r.Body)
}

func (r recorded) prop(k string) string {
	for _, p := range r.Properties {
		if p[0] == k {
			return p[1]
		}
	}
	return ""
}

func loadRecording(t *testing.T, name string) map[int]recorded {
	f, err := os.Open("testdata/transcripts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]recorded{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "message" {
			out[r.I] = r
		}
	}
	return out
}

// blobPeer is a raw BLIP client that records the requests the listener sends and
// answers getAttachment from a table.
type blobPeer struct {
	c     *blip.Conn
	mu    sync.Mutex
	got   []*blip.Message
	blobs map[string][]byte // digest -> bytes to answer with
}

func newBlobPeer(t *testing.T, l *Listener) *blobPeer {
	p := &blobPeer{blobs: map[string][]byte{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := blip.Dial(ctx, blipURL(l, l.Database().Name()), blip.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.c = c
	c.HandleDefault(func(_ context.Context, req *blip.Message) (*blip.Message, error) {
		body, _ := req.ReadBody()
		req.Body = body
		p.mu.Lock()
		p.got = append(p.got, req)
		data, ok := p.blobs[req.Properties.Get("digest")]
		p.mu.Unlock()
		if req.Profile() == "getAttachment" {
			if !ok {
				return nil, &blip.Error{Domain: "HTTP", Code: 404, Message: "no"}
			}
			return &blip.Message{Body: data, Compressed: req.Properties.Get("compress") == "true"}, nil
		}
		if req.Profile() == "changes" && len(body) > 4 {
			return &blip.Message{Body: []byte(`[[]]`)}, nil // want the one row, no blobs=true
		}
		return nil, nil
	})
	c.Start()
	t.Cleanup(func() { c.Close(blip.CloseNormal, "") })
	return p
}

func (p *blobPeer) requests(profile string) []*blip.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*blip.Message
	for _, m := range p.got {
		if m.Profile() == profile {
			out = append(out, m)
		}
	}
	return out
}

func (p *blobPeer) send(t *testing.T, r recorded) (*blip.Message, []byte, error) {
	m := blip.NewRequest(r.Profile)
	for _, kv := range r.Properties {
		if kv[0] != "Profile" {
			m.Properties.Set(kv[0], kv[1])
		}
	}
	m.Body = r.bytes()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := p.c.Send(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	b, _ := reply.ReadBody()
	return reply, b, nil
}

// Replays the recorded push of a blob to Sync Gateway (attachment-push.jsonl) against our
// listener: the same getCollections, proposeChanges and rev messages, byte for byte. Our
// listener asks for the blob as Sync Gateway did (getAttachment with the same digest,
// docID, compress=true and collection), checks it, folds the blob_ stubs back into the
// blob dictionaries, and for the second revision (same blob) asks nothing.
func TestBlobTranscriptPushReplay(t *testing.T) {
	rec := loadRecording(t, "attachment-push.jsonl")
	db := openDB(t, "db")
	l := start(t, Config{Database: db})
	p := newBlobPeer(t, l)
	data := rec[16].bytes()
	p.blobs[rec[14].prop("digest")] = data
	for _, i := range []int{4, 8, 12} {
		if _, _, err := p.send(t, rec[i]); err != nil {
			t.Fatalf("[%d] %s: %v", i, rec[i].Profile, err)
		}
	}
	gets := p.requests("getAttachment")
	if len(gets) != 1 {
		t.Fatalf("%d getAttachment requests, want 1", len(gets))
	}
	for _, k := range []string{"digest", "docID", "compress", "collection"} {
		if got, want := gets[0].Properties.Get(k), rec[14].prop(k); got != want {
			t.Errorf("getAttachment %s = %q, recorded %q", k, got, want)
		}
	}
	c := db.DefaultCollection()
	doc, err := c.Get(context.Background(), "v3-att-push-1")
	if err != nil {
		t.Fatal(err)
	}
	wantBody := `{"photo":{"@type":"blob","content_type":"text/plain","digest":"sha1-+f3iOxcK8ZSR2jKmK8WQ0810jSc=","length":52}}`
	if string(doc.Body) != wantBody {
		t.Fatalf("stored %s, want %s", doc.Body, wantBody)
	}
	for _, i := range []int{20, 24} {
		if _, _, err := p.send(t, rec[i]); err != nil {
			t.Fatalf("[%d] %s: %v", i, rec[i].Profile, err)
		}
	}
	if n := len(p.requests("getAttachment")) + len(p.requests("proveAttachment")); n != 1 {
		t.Fatalf("%d blob requests after the second revision, want none more", n-1)
	}
	doc, _ = c.Get(context.Background(), "v3-att-push-1")
	if strings.Contains(string(doc.Body), "_attachments") || !strings.Contains(string(doc.Body), `"copy":{"@type":"blob"`) {
		t.Fatalf("second revision stored as %s", doc.Body)
	}
	d, _ := blobstore.ParseDigest(rec[14].prop("digest"))
	if n, err := db.Blobs().Stat(d); err != nil || n != int64(len(data)) {
		t.Fatalf("blob stored: %d %v", n, err)
	}
}

// The pull side of the same recordings, with our listener as the sender and the test
// client as a puller that did not say blobs=true (as Sync Gateway): the rev body carries
// the blob_ stub exactly as recorded; while that rev is unanswered the client may fetch
// the blob and prove it (the recorded nonce gives the recorded proof); after it answered,
// both are refused (403), and a digest of no revision in flight is refused too.
func TestBlobTranscriptServeReplay(t *testing.T) {
	rec := loadRecording(t, "attachment-push.jsonl")
	db := openDB(t, "db")
	data := rec[16].bytes()
	w, _ := db.Blobs().Create()
	w.Write(data)
	b, err := w.Commit()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := `{"photo":{"@type":"blob","content_type":"text/plain","digest":"` + b.Digest.String() + `","length":52}}`
	if _, err := db.DefaultCollection().Save(context.Background(), "v3-att-push-1", []byte(body), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	l := start(t, Config{Database: db, ReadOnly: true})
	p := newBlobPeer(t, l)
	hold := make(chan struct{})
	revs := make(chan *blip.Message, 1)
	p.c.Handle("rev", func(_ context.Context, req *blip.Message) (*blip.Message, error) {
		req.Body, _ = req.ReadBody()
		revs <- req
		<-hold
		return nil, nil
	})
	if _, _, err := p.send(t, rec[4]); err != nil {
		t.Fatal(err)
	}
	sub := blip.NewRequest("subChanges")
	sub.Properties.Set("collection", "0")
	if _, err := p.c.Send(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	var rev *blip.Message
	select {
	case rev = <-revs:
	case <-time.After(10 * time.Second):
		t.Fatal("no rev")
	}
	if string(rev.Body) != rec[12].Body {
		t.Fatalf("rev body\n%s\nrecorded\n%s", rev.Body, rec[12].Body)
	}
	ask := func(profile string, body []byte, kv ...string) ([]byte, error) {
		m := blip.NewRequest(profile)
		for i := 0; i+1 < len(kv); i += 2 {
			m.Properties.Set(kv[i], kv[i+1])
		}
		m.Body = body
		reply, err := p.c.Send(context.Background(), m)
		if err != nil {
			return nil, err
		}
		return reply.ReadBody()
	}
	digest := b.Digest.String()
	got, err := ask("getAttachment", nil, "digest", digest, "docID", "v3-att-push-1", "collection", "0", "compress", "true")
	if err != nil || string(got) != string(data) {
		t.Fatalf("getAttachment: %q %v", got, err)
	}
	proof, err := ask("proveAttachment", rec[26].bytes(), "digest", digest, "collection", "0")
	if err != nil || string(proof) != rec[28].Body {
		t.Fatalf("proof %q %v, recorded %q", proof, err, rec[28].Body)
	}
	other := blobstore.DigestOf([]byte("not in any revision")).String()
	for _, kv := range [][]string{{"digest", other, "docID", "v3-att-push-1"}, {"digest", digest, "docID", "another-doc"}, {"digest", digest}} {
		_, err := ask("getAttachment", nil, append(kv, "collection", "0")...)
		var be *blip.Error
		if !errors.As(err, &be) || (be.Code != 403 && be.Code != 400) {
			t.Fatalf("getAttachment %v: %v, want refused", kv, err)
		}
	}
	close(hold)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := ask("getAttachment", nil, "digest", digest, "docID", "v3-att-push-1", "collection", "0")
		var be *blip.Error
		if errors.As(err, &be) && be.Code == 403 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("getAttachment after the rev was answered: %v, want 403", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ask("proveAttachment", rec[26].bytes(), "digest", digest, "collection", "0"); err == nil {
		t.Fatal("proveAttachment answered after the rev was answered")
	}
}

// A sender whose getAttachment answer does not match the digest is refused: the rev is
// answered 502, neither the document nor any blob is stored.
func TestBlobMismatchingSenderRefused(t *testing.T) {
	rec := loadRecording(t, "attachment-push.jsonl")
	db := openDB(t, "db")
	l := start(t, Config{Database: db})
	p := newBlobPeer(t, l)
	wrong := []byte(strings.ToUpper(string(rec[16].bytes()))) // same length, other bytes
	p.blobs[rec[14].prop("digest")] = wrong
	for _, i := range []int{4, 8} {
		if _, _, err := p.send(t, rec[i]); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := p.send(t, rec[12])
	var be *blip.Error
	if !errors.As(err, &be) || be.Domain != "HTTP" || be.Code != 502 {
		t.Fatalf("rev with a wrong blob answered %v, want HTTP 502", err)
	}
	if _, err := db.DefaultCollection().Get(context.Background(), "v3-att-push-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("document stored: %v", err)
	}
	d, _ := blobstore.ParseDigest(rec[14].prop("digest"))
	if _, err := db.Blobs().Stat(d); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("blob stored: %v", err)
	}
	if _, err := db.Blobs().Stat(blobstore.DigestOf(wrong)); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("wrong content stored: %v", err)
	}
}
