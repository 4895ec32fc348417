package replicator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

// fakeSG is a passive peer built directly on engine/blip that behaves as Sync Gateway 4.2
// does in the recorded transcripts (PROTOCOL §9 item 29): HTTP/404 "missing" for an unknown
// checkpoint, checkpoint revisions "0-N" returned under "_rev", string sequences like
// "40:42", integer deletion flags, NoReply revs with Content-Type first, and a final
// changes body of null.
type fakeSG struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	checkpoints map[string]sgCheckpoint
	requests    []map[string]string // every request's properties, with "Profile"
	conflicts   int                 // setCheckpoint 409s
	pushed      map[string]map[string]string
	feed        string // body of the changes message to serve, "" = nothing
	feedRevs    map[string]string
	// feedReplace: docID -> {revID, history} sent instead of the requested revision, with
	// replacedRev naming it (SG with sendReplacementRevs=true).
	feedReplace map[string][2]string
	proposed    []string // proposeChanges bodies
}

type sgCheckpoint struct {
	rev  int
	body json.RawMessage
}

func newFakeSG(t *testing.T) *fakeSG {
	sg := &fakeSG{t: t, checkpoints: map[string]sgCheckpoint{}, pushed: map[string]map[string]string{}, feedRevs: map[string]string{}}
	sg.srv = httptest.NewServer(http.HandlerFunc(sg.serve))
	t.Cleanup(sg.srv.Close)
	return sg
}

func (sg *fakeSG) url() string { return "ws" + strings.TrimPrefix(sg.srv.URL, "http") + "/dbt" }

func (sg *fakeSG) record(req *blip.Message) {
	m := map[string]string{}
	for _, p := range req.Properties {
		m[p.Key] = p.Value
	}
	sg.mu.Lock()
	sg.requests = append(sg.requests, m)
	sg.mu.Unlock()
}

func sgErr(code int, msg string) error { return &blip.Error{Domain: "HTTP", Code: code, Message: msg} }

func reply(body string) *blip.Message {
	m := &blip.Message{Type: blip.TypeResponse, Body: []byte(body)}
	m.Properties.Set("Content-Type", "application/json")
	return m
}

func (sg *fakeSG) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/dbt/_blipsync" {
		http.Error(w, "no such db", 404)
		return
	}
	conn, err := blip.Upgrade(w, r, blip.UpgradeOptions{Subprotocols: []string{blip.SubprotocolCBMobile3, blip.SubprotocolCBMobile2}})
	if err != nil {
		return
	}
	conn.HandleDefault(func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		return nil, &blip.Error{Domain: "BLIP", Code: 404, Message: "No handler for BLIP request"}
	})
	conn.Handle("getCollections", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		body, _ := req.ReadBody()
		var gc struct {
			IDs []string `json:"checkpoint_ids"`
		}
		_ = json.Unmarshal(body, &gc)
		sg.mu.Lock()
		defer sg.mu.Unlock()
		var out []string
		for _, id := range gc.IDs {
			cp, ok := sg.checkpoints[id]
			if !ok {
				out = append(out, "{}")
				continue
			}
			var m map[string]any
			_ = json.Unmarshal(cp.body, &m)
			m["_rev"] = fmt.Sprintf("0-%d", cp.rev) // SG: the stored local doc's _rev, no "rev"
			b, _ := json.Marshal(m)
			out = append(out, string(b))
		}
		return reply("[" + strings.Join(out, ",") + "]"), nil
	})
	conn.Handle("getCheckpoint", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		sg.mu.Lock()
		defer sg.mu.Unlock()
		cp, ok := sg.checkpoints[req.Properties.Get("client")]
		if !ok {
			return nil, sgErr(404, "missing")
		}
		m := reply(string(cp.body))
		m.Properties.Set("rev", fmt.Sprintf("0-%d", cp.rev))
		return m, nil
	})
	conn.Handle("setCheckpoint", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		body, _ := req.ReadBody()
		sg.mu.Lock()
		defer sg.mu.Unlock()
		id := req.Properties.Get("client")
		cp, ok := sg.checkpoints[id]
		if (ok && req.Properties.Get("rev") != fmt.Sprintf("0-%d", cp.rev)) || (!ok && req.Properties.Get("rev") != "") {
			sg.conflicts++
			return nil, sgErr(409, "Document update conflict")
		}
		cp.rev++
		cp.body = append(json.RawMessage(nil), body...)
		sg.checkpoints[id] = cp
		m := reply("")
		m.Properties.Set("rev", fmt.Sprintf("0-%d", cp.rev))
		return m, nil
	})
	conn.Handle("proposeChanges", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		body, _ := req.ReadBody()
		sg.mu.Lock()
		sg.proposed = append(sg.proposed, string(body))
		sg.mu.Unlock()
		return reply("[]"), nil
	})
	conn.Handle("rev", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		body, _ := req.ReadBody()
		m := map[string]string{"body": string(body)}
		for _, p := range req.Properties {
			m[p.Key] = p.Value
		}
		sg.mu.Lock()
		sg.pushed[req.Properties.Get("id")] = m
		sg.mu.Unlock()
		return nil, nil
	})
	conn.Handle("subChanges", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		sg.record(req)
		go sg.sendFeed(conn)
		return nil, nil
	})
	conn.Start()
}

// sendFeed plays the configured changes list, then the revs asked for, then "null".
func (sg *fakeSG) sendFeed(conn *blip.Conn) {
	ctx := context.Background()
	sg.mu.Lock()
	feed := sg.feed
	sg.mu.Unlock()
	if feed != "" {
		m := blip.NewRequest("changes")
		m.Properties = blip.Properties{{Key: "Profile", Value: "changes"}, {Key: "collection", Value: "0"}, {Key: "Content-Type", Value: "application/json"}}
		m.Body, m.Compressed = []byte(feed), true
		resp, err := conn.Send(ctx, m)
		if err != nil {
			sg.t.Errorf("fake SG changes: %v", err)
			return
		}
		ans, _ := resp.ReadBody()
		var rows [][]json.RawMessage
		_ = json.Unmarshal([]byte(feed), &rows)
		var wants []json.RawMessage
		_ = json.Unmarshal(ans, &wants)
		for i, w := range wants {
			if len(w) == 0 || w[0] != '[' {
				continue
			}
			var seq, id, rev string
			seq = string(rows[i][0])
			_ = json.Unmarshal(rows[i][1], &id)
			_ = json.Unmarshal(rows[i][2], &rev)
			var flags int
			if len(rows[i]) > 3 {
				_ = json.Unmarshal(rows[i][3], &flags)
			}
			deleted := flags&1 != 0
			r := blip.NewRequest("rev")
			r.Properties = blip.Properties{{Key: "Content-Type", Value: "application/json"}, {Key: "Profile", Value: "rev"},
				{Key: "id", Value: id}, {Key: "rev", Value: rev}, {Key: "collection", Value: "0"}, {Key: "sequence", Value: seq}}
			if deleted {
				r.Properties.Set("deleted", "1")
			}
			sg.mu.Lock()
			if rep, ok := sg.feedReplace[id]; ok {
				r.Properties.Set("rev", rep[0])
				r.Properties.Set("history", rep[1])
				r.Properties.Set("replacedRev", rev)
			}
			sg.mu.Unlock()
			r.NoReply, r.Compressed = true, true
			sg.mu.Lock()
			r.Body = []byte(sg.feedRevs[id])
			sg.mu.Unlock()
			if _, err := conn.Send(ctx, r); err != nil {
				return
			}
		}
	}
	done := blip.NewRequest("changes")
	done.Properties.Set("collection", "0")
	done.Body, done.NoReply = []byte("null"), true
	_, _ = conn.Send(ctx, done)
}

func TestSyncGatewayStylePeer(t *testing.T) {
	ctx := context.Background()
	sg := newFakeSG(t)
	local := openDB(t, "local")
	lc := local.DefaultCollection()
	save(t, lc, "mine", `{"from":"cbl"}`)
	save(t, lc, "revoked", `{"soon":"gone"}`)
	const r1, r2, r3 = "1-1809810249ecc6735230309e142df516", "1-ed028cf9cfa61ca833fe4103be3301bb", "2-e56073de81e430b086a077e2bf0e8f37"
	sg.feed = `[["40:42","t1","` + r1 + `"],["40:43","t2","` + r2 + `",0,33],["40:44","t3","` + r3 + `",1],["40:45","revoked","3-aa",2]]`
	sg.feedRevs = map[string]string{"t1": `{"n":1,"text":"transcript doc 1"}`, "t2": `{"n":2,"_id":"t2","_rev":"x"}`, "t3": `{}`}

	r := newRepl(t, Config{Database: local, URL: sg.url()})
	var rec docRecorder
	rec.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	// Pulled: string sequences, tombstone, stripped "_" keys, revocation purged.
	if d, err := lc.Get(ctx, "t1"); err != nil || d.RevID != r1 {
		t.Errorf("t1: %+v %v", d, err)
	}
	if d, err := lc.Get(ctx, "t2"); err != nil || string(d.Body) != `{"n":2}` {
		t.Errorf("t2: %+v %v", d, err)
	}
	if d, err := lc.GetWithDeleted(ctx, "t3"); err != nil || !d.Deleted {
		t.Errorf("t3 should be a tombstone: %+v %v", d, err)
	}
	if _, err := lc.GetWithDeleted(ctx, "revoked"); err == nil {
		t.Error("revoked document was not purged")
	}
	rec.mu.Lock()
	removed := false
	for _, d := range rec.docs {
		removed = removed || (d.ID == "revoked" && d.AccessRemoved)
	}
	rec.mu.Unlock()
	if !removed {
		t.Error("no access-removed event for the revoked document")
	}
	// Pushed: proposeChanges then rev with history/sequence/noconflicts and the collection index.
	sg.mu.Lock()
	p := sg.pushed["mine"]
	reqs := append([]map[string]string(nil), sg.requests...)
	cp := sg.checkpoints
	sg.mu.Unlock()
	if p == nil || p["body"] != `{"from":"cbl"}` || p["sequence"] == "" || p["noconflicts"] != "true" || p["collection"] != "0" {
		t.Errorf("pushed rev %v", p)
	}
	if reqs[0]["Profile"] != "getCollections" {
		t.Errorf("first request was %v", reqs[0])
	}
	for _, q := range reqs[1:] {
		if q["collection"] != "0" {
			t.Errorf("request without collection index: %v", q)
		}
		if q["Profile"] == "subChanges" && (q["since"] != "" || q["batch"] != "200") {
			t.Errorf("first subChanges %v", q)
		}
	}
	if len(cp) != 1 {
		t.Fatalf("checkpoints stored on SG: %v", cp)
	}
	for _, c := range cp {
		var body map[string]any
		_ = json.Unmarshal(c.body, &body)
		if body["remote"] != "40:45" || body["local"] == nil {
			t.Errorf("checkpoint body %s", c.body)
		}
	}
	// Second run: the checkpoint comes back under "_rev" (no 409 needed), since is the
	// JSON-encoded string sequence, and nothing is re-pulled.
	sg.mu.Lock()
	sg.feed, sg.requests, sg.conflicts = "", nil, 0
	sg.mu.Unlock()
	save(t, lc, "mine2", `{}`)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("second run %+v", st)
	}
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if sg.conflicts != 0 {
		t.Errorf("%d setCheckpoint conflicts: the _rev key was not used", sg.conflicts)
	}
	for _, q := range sg.requests {
		if q["Profile"] == "subChanges" && q["since"] != `"40:45"` {
			t.Errorf("second subChanges since=%q", q["since"])
		}
		if q["Profile"] == "proposeChanges" && strings.Contains(q["body"], `"mine"`) {
			t.Error("re-proposed an already pushed document")
		}
	}
	if sg.pushed["mine2"] == nil {
		t.Error("second run did not push the new document")
	}
	_ = time.Second
	_ = store.ErrNotFound
}
