package listener

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
)

// client is a test driver speaking CBMobile to the listener the way a Couchbase Lite
// active replicator does (or deliberately not).
type client struct {
	t      *testing.T
	c      *blip.Conn
	l      *Listener
	mu     sync.Mutex
	got    []*received // requests the listener sent us (changes, rev, …)
	wake   chan struct{}
	answer func(body string) string // answer to non-empty changes (nil = want nothing)
}

type received struct {
	profile string
	props   map[string]string
	body    string
	noReply bool
}

func newClient(t *testing.T, l *Listener, answer func(body string) string) *client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := blip.Dial(ctx, blipURL(l, l.Database().Name()), blip.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, c: c, l: l, wake: make(chan struct{}, 1), answer: answer}
	c.HandleDefault(cl.handler())
	c.Start()
	t.Cleanup(func() { c.Close(blip.CloseNormal, "") })
	return cl
}

func (cl *client) listener() *Listener { return cl.l }

func (cl *client) handler() blip.Handler {
	return func(_ context.Context, req *blip.Message) (*blip.Message, error) {
		body, _ := req.ReadBody()
		r := &received{profile: req.Profile(), props: map[string]string{}, body: string(body), noReply: req.NoReply}
		for _, p := range req.Properties {
			r.props[p.Key] = p.Value
		}
		cl.mu.Lock()
		cl.got = append(cl.got, r)
		answer := cl.answer
		cl.mu.Unlock()
		select {
		case cl.wake <- struct{}{}:
		default:
		}
		if req.Profile() == "changes" && answer != nil && len(body) > 2 {
			return &blip.Message{Type: blip.TypeResponse, Body: []byte(answer(string(body)))}, nil
		}
		return nil, nil
	}
}

func (cl *client) setAnswer(f func(string) string) {
	cl.mu.Lock()
	cl.answer = f
	cl.mu.Unlock()
}

// send sends a request with properties given as alternating key/value strings.
func (cl *client) send(profile string, body string, kv ...string) (map[string]string, string, error) {
	cl.t.Helper()
	m := blip.NewRequest(profile)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Properties.Set(kv[i], kv[i+1])
	}
	m.Body = []byte(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := cl.c.Send(ctx, m)
	if err != nil {
		return nil, "", err
	}
	b, _ := reply.ReadBody()
	props := map[string]string{}
	for _, p := range reply.Properties {
		props[p.Key] = p.Value
	}
	return props, string(b), nil
}

func (cl *client) mustSend(profile, body string, kv ...string) (map[string]string, string) {
	cl.t.Helper()
	p, b, err := cl.send(profile, body, kv...)
	if err != nil {
		cl.t.Fatalf("%s: %v", profile, err)
	}
	return p, b
}

func (cl *client) sendNoReply(profile, body string, kv ...string) {
	cl.t.Helper()
	m := blip.NewRequest(profile)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Properties.Set(kv[i], kv[i+1])
	}
	m.Body, m.NoReply = []byte(body), true
	if _, err := cl.c.Send(context.Background(), m); err != nil {
		cl.t.Fatal(err)
	}
}

// waitFor waits until the listener sent a request matching pred.
func (cl *client) waitFor(what string, pred func(r *received) bool) *received {
	cl.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		cl.mu.Lock()
		for _, r := range cl.got {
			if pred(r) {
				cl.mu.Unlock()
				return r
			}
		}
		cl.mu.Unlock()
		select {
		case <-cl.wake:
		case <-deadline:
			cl.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func wantBLIPError(t *testing.T, err error, domain string, code int) {
	t.Helper()
	var be *blip.Error
	if !errors.As(err, &be) || be.Domain != domain || be.Code != code {
		t.Fatalf("got %v, want %s/%d", err, domain, code)
	}
}

func getDoc(t *testing.T, c *store.Collection, id string) *store.Document {
	t.Helper()
	d, err := c.GetWithDeleted(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d
}

// TestPassiveProtocol drives the listener as PROTOCOL.md describes, item by item
// (§9 numbers in the names).
func TestPassiveProtocol(t *testing.T) {
	const rev1 = "1-0000000000000000000000000000000000000001"
	const rev2 = "2-0000000000000000000000000000000000000002"
	tests := []struct {
		name     string
		readOnly bool
		run      func(t *testing.T, cl *client, db *store.Database)
	}{
		{"§3.1/§9.16 getCollections answers {} then rev and _rev; unknown collection is null", false, func(t *testing.T, cl *client, db *store.Database) {
			_, body := cl.mustSend("getCollections", `{"checkpoint_ids":["cp-a","cp-b"],"collections":["_default","nope.nothing"]}`)
			if body != `[{},null]` {
				t.Fatalf("answer %s", body)
			}
			_, err := db.PutLocal(context.Background(), "peer-checkpoint/cp-a", []byte(`{"local":5}`), "")
			if err != nil {
				t.Fatal(err)
			}
			cl2 := newClient(t, cl.listener(), nil)
			_, body = cl2.mustSend("getCollections", `{"checkpoint_ids":["cp-a"],"collections":["_default._default"]}`)
			var entries []map[string]any
			if err := json.Unmarshal([]byte(body), &entries); err != nil || entries[0]["rev"] == nil || entries[0]["rev"] != entries[0]["_rev"] || entries[0]["local"] != 5.0 {
				t.Fatalf("answer %s %v", body, err)
			}
		}},
		{"§3.0 getCollections not first is BLIP/400", false, func(t *testing.T, cl *client, db *store.Database) {
			_, _, err := cl.send("getCheckpoint", "", "client", "cp-x") // legacy mode from here on
			wantBLIPError(t, err, "HTTP", 404)
			_, _, err = cl.send("getCollections", `{"checkpoint_ids":["a"],"collections":["_default"]}`)
			wantBLIPError(t, err, "BLIP", 400)
		}},
		{"§9.16 checkpoints: 404 missing, create, 409 stale, update", false, func(t *testing.T, cl *client, db *store.Database) {
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			_, _, err := cl.send("getCheckpoint", "", "collection", "0", "client", "cp-1")
			wantBLIPError(t, err, "HTTP", 404)
			p, _ := cl.mustSend("setCheckpoint", `{"local":3}`, "client", "cp-1", "collection", "0")
			rev := p["rev"]
			if rev == "" {
				t.Fatal("no rev in setCheckpoint answer")
			}
			_, _, err = cl.send("setCheckpoint", `{"local":4}`, "client", "cp-1", "collection", "0")
			wantBLIPError(t, err, "HTTP", 409)
			_, _, err = cl.send("setCheckpoint", `{"local":4}`, "rev", "bogus", "client", "cp-1", "collection", "0")
			wantBLIPError(t, err, "HTTP", 409)
			p2, _ := cl.mustSend("setCheckpoint", `{"local":4}`, "client", "cp-1", "collection", "0", "rev", rev)
			gp, body := cl.mustSend("getCheckpoint", "", "client", "cp-1", "collection", "0")
			if gp["rev"] != p2["rev"] || body != `{"local":4}` {
				t.Fatalf("getCheckpoint %v %s", gp, body)
			}
			_, _, err = cl.send("getCheckpoint", "", "collection", "0")
			wantBLIPError(t, err, "BLIP", 400)
		}},
		{"§9.15 collection property required in aware mode, refused in legacy mode", false, func(t *testing.T, cl *client, db *store.Database) {
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			_, _, err := cl.send("getCheckpoint", "", "client", "cp-1")
			wantBLIPError(t, err, "BLIP", 400)
			_, _, err = cl.send("getCheckpoint", "", "client", "cp-1", "collection", "7")
			wantBLIPError(t, err, "BLIP", 404)
			legacy := newClient(t, cl.listener(), nil)
			_, _, err = legacy.send("getCheckpoint", "", "client", "cp-1")
			wantBLIPError(t, err, "HTTP", 404) // legacy mode works, nothing stored
			_, _, err = legacy.send("getCheckpoint", "", "client", "cp-1", "collection", "0")
			wantBLIPError(t, err, "BLIP", 400)
		}},
		{"§3.6/§9.13/§9.29 proposeChanges decision rule, props in any order, conflictIncludesRev", false, func(t *testing.T, cl *client, db *store.Database) {
			c := db.DefaultCollection()
			if _, err := c.PutExistingRevision(context.Background(), store.RemoteRevision{DocID: "have", RevID: rev1, Body: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			body := `[["new","` + rev1 + `"],["have","` + rev1 + `"],["have","` + rev2 + `","` + rev1 + `"],["have","3-aa","2-bb"],["new2","1-cc",""]]`
			_, ans := cl.mustSend("proposeChanges", body, "conflictIncludesRev", "true", "collection", "0")
			want := `[0,304,0,{"status":409,"rev":"` + rev1 + `"}]`
			if ans != want {
				t.Fatalf("answer %s, want %s", ans, want)
			}
			// Without conflictIncludesRev a plain 409; caught-up empty list is NoReply.
			_, ans = cl.mustSend("proposeChanges", `[["have","3-aa","2-bb"]]`, "collection", "0")
			if ans != `[409]` {
				t.Fatalf("answer %s", ans)
			}
			cl.sendNoReply("proposeChanges", `[]`, "collection", "0")
		}},
		{"§3.7/§9.12/§9.27 rev: history with spaces, deleted forms, _ keys stripped, noconflicts 409", false, func(t *testing.T, cl *client, db *store.Database) {
			c := db.DefaultCollection()
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			cl.mustSend("rev", `{"_id":"d1","_rev":"x","a":1}`, "rev", rev1, "noconflicts", "1", "id", "d1", "collection", "0", "sequence", "1")
			if d := getDoc(t, c, "d1"); d.RevID != rev1 || string(d.Body) != `{"a":1}` {
				t.Fatalf("stored %+v", d)
			}
			cl.mustSend("rev", `{}`, "id", "d1", "rev", "3-0000000000000000000000000000000000000003", "history", rev2+", "+rev1, "deleted", "true", "collection", "0", "noconflicts", "YES")
			if d := getDoc(t, c, "d1"); !d.Deleted || d.RevID != "3-0000000000000000000000000000000000000003" {
				t.Fatalf("stored %+v", d)
			}
			_, _, err := cl.send("rev", `{"b":1}`, "id", "d1", "rev", "2-00000000000000000000000000000000000000ff", "history", rev1, "noconflicts", "true", "collection", "0")
			wantBLIPError(t, err, "HTTP", 409)
			_, _, err = cl.send("rev", `[1,2]`, "id", "d2", "rev", rev1, "collection", "0")
			wantBLIPError(t, err, "HTTP", 400)
			_, _, err = cl.send("rev", `{}`, "id", "d3", "rev", "garbage", "collection", "0")
			wantBLIPError(t, err, "HTTP", 400)
		}},
		{"§3.7/§9.27 rev: protocol _ keys stripped (but _attachments) keeping the rest as sent, any other _ key refused with 400", false, func(t *testing.T, cl *client, db *store.Database) {
			c := db.DefaultCollection()
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			cl.mustSend("rev", `{"z":1,"_attachments":{"a":{"stub":true}},"b":"<&>","_exp":5,"a":2,"_revisions":{}}`, "rev", rev1, "id", "p1", "collection", "0", "sequence", "1")
			// _attachments is kept (Sync Gateway's stubs: here one without a digest, which
			// names no blob to fetch).
			if d := getDoc(t, c, "p1"); string(d.Body) != `{"z":1,"_attachments":{"a":{"stub":true}},"b":"<&>","a":2}` {
				t.Fatalf("stored %s", d.Body)
			}
			for i, body := range []string{`{"a":1,"_foo":true}`, `{"_sync":{},"a":1}`, `{"\u005fpurged":true}`} {
				id := fmt.Sprintf("r%d", i)
				_, _, err := cl.send("rev", body, "rev", rev1, "id", id, "collection", "0", "sequence", "2")
				wantBLIPError(t, err, "HTTP", 400)
				var be *blip.Error
				if errors.As(err, &be) && be.Message != "" && !strings.Contains(be.Message, "reserved") {
					t.Fatalf("%s: error %q does not say why", body, be.Message)
				}
				if _, err := c.GetWithDeleted(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: refused revision stored (%v)", body, err)
				}
			}
		}},
		{"§9.8/§9.10 changes from an SG-style pusher: rows of 3–5 elements, deleted forms, null caught up", false, func(t *testing.T, cl *client, db *store.Database) {
			c := db.DefaultCollection()
			if _, err := c.PutExistingRevision(context.Background(), store.RemoteRevision{DocID: "have", RevID: rev1, Body: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			body := `[["40:42","new","` + rev1 + `"],["40:43","have","` + rev1 + `",false,10],["40:44","have","` + rev2 + `",0],[45,"gone","` + rev1 + `",1],[46,"x","` + rev1 + `",true,5]]`
			p, ans := cl.mustSend("changes", body, "collection", "0")
			if ans != `[[],0,["`+rev1+`"],[],[]]` || p["maxHistory"] == "" {
				t.Fatalf("answer %s props %v", ans, p)
			}
			cl.sendNoReply("changes", `null`, "collection", "0")
			cl.sendNoReply("changes", `[]`, "collection", "0")
			_, _, err := cl.send("changes", `[[1,"a"]]`, "collection", "0")
			wantBLIPError(t, err, "BLIP", 400)
		}},
		{"§3.4/§9.11/§9.17/§9.30 subChanges: booleans in any form, docIDs, activeOnly, sequence on every rev, caught-up []", false, func(t *testing.T, cl *client, db *store.Database) {
			c := db.DefaultCollection()
			for _, id := range []string{"a", "b", "c"} {
				if _, err := c.Save(context.Background(), id, []byte(`{"id":"`+id+`"}`), store.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Delete(context.Background(), "c", store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			cl.setAnswer(func(body string) string { return "[" + strings.Repeat("[],", strings.Count(body, "],[")) + "[]]" })
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			cl.mustSend("subChanges", `{"docIDs":["a","c"]}`, "batch", "200", "activeOnly", "YES", "collection", "0", "requestPlus", "true", "since", "0", "versioning", "rev-trees")
			ch := cl.waitFor("changes", func(r *received) bool { return r.profile == "changes" && len(r.body) > 2 })
			if !strings.Contains(ch.body, `"a"`) || strings.Contains(ch.body, `"b"`) || strings.Contains(ch.body, `"c"`) {
				t.Fatalf("changes %s", ch.body)
			}
			rev := cl.waitFor("rev", func(r *received) bool { return r.profile == "rev" })
			if rev.props["id"] != "a" || rev.props["sequence"] == "" || rev.props["collection"] != "0" || rev.body != `{"id":"a"}` {
				t.Fatalf("rev %+v", rev)
			}
			done := cl.waitFor("caught-up", func(r *received) bool { return r.profile == "changes" && r.body == "[]" })
			if !done.noReply {
				t.Error("caught-up changes must be NoReply")
			}
		}},
		{"§3.4/§4.4 a CBL replicator with auto-purge on: revocations=true and sendReplacementRevs=1 are accepted; no row is ever a revocation", false, func(t *testing.T, cl *client, db *store.Database) {
			c := db.DefaultCollection()
			for _, id := range []string{"x", "y"} {
				if _, err := c.Save(context.Background(), id, []byte(`{}`), store.SaveOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Delete(context.Background(), "y", store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			cl.setAnswer(func(body string) string { return "[]" })
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-cbl"],"collections":["_default"]}`)
			// Exactly the properties LiteCore's puller sends (Puller::_start), none of them ignored by accident.
			cl.mustSend("subChanges", "", "collection", "0", "batch", "200", "sendReplacementRevs", "1",
				"versioning", "rev-trees", "revocations", "true")
			ch := cl.waitFor("changes", func(r *received) bool { return r.profile == "changes" && len(r.body) > 2 })
			var rows [][]json.RawMessage
			if err := json.Unmarshal([]byte(ch.body), &rows); err != nil || len(rows) != 2 {
				t.Fatalf("changes %s %v", ch.body, err)
			}
			for _, row := range rows {
				if len(row) > 3 && string(row[3]) != "true" && string(row[3]) != "false" {
					t.Errorf("row %s: the listener has no channels, nothing is ever revoked", row)
				}
			}
			cl.waitFor("caught-up", func(r *received) bool { return r.profile == "changes" && r.body == "[]" })
		}},
		{"§3.4 subChanges continuous sends new changes as they happen", false, func(t *testing.T, cl *client, db *store.Database) {
			cl.setAnswer(func(body string) string { return "[]" })
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			cl.mustSend("subChanges", "", "continuous", "1", "collection", "0")
			cl.waitFor("caught-up", func(r *received) bool { return r.profile == "changes" && r.body == "[]" })
			if _, err := db.DefaultCollection().Save(context.Background(), "late", []byte(`{}`), store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			cl.waitFor("live change", func(r *received) bool { return r.profile == "changes" && strings.Contains(r.body, `"late"`) })
		}},
		{"§3.4/§5 filter is LiteCore/18, version vectors LiteCore/501, unknown profile BLIP/404", false, func(t *testing.T, cl *client, db *store.Database) {
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			_, _, err := cl.send("subChanges", "", "filter", "sync_gateway/bychannel", "channels", "a", "collection", "0")
			wantBLIPError(t, err, "LiteCore", 18)
			_, _, err = cl.send("subChanges", "", "versioning", "version-vectors", "collection", "0")
			wantBLIPError(t, err, "LiteCore", 501)
			_, _, err = cl.send("frobnicate", "")
			wantBLIPError(t, err, "BLIP", 404)
		}},
		{"§8.3 read-only listener: push refused with HTTP/403, pull served", true, func(t *testing.T, cl *client, db *store.Database) {
			cl.mustSend("getCollections", `{"checkpoint_ids":["cp-1"],"collections":["_default"]}`)
			_, _, err := cl.send("proposeChanges", `[["d","`+rev1+`"]]`, "collection", "0")
			wantBLIPError(t, err, "HTTP", 403)
			_, _, err = cl.send("rev", `{}`, "id", "d", "rev", rev1, "collection", "0")
			wantBLIPError(t, err, "HTTP", 403)
			cl.mustSend("subChanges", "", "collection", "0")
		}},
		{"§3.0 legacy mode (CBMobile_2 style): default collection without getCollections", false, func(t *testing.T, cl *client, db *store.Database) {
			_, ans := cl.mustSend("proposeChanges", `[["legacy","`+rev1+`"]]`)
			if ans != `[]` {
				t.Fatalf("answer %s", ans)
			}
			cl.mustSend("rev", `{"v":1}`, "id", "legacy", "rev", rev1)
			if d := getDoc(t, db.DefaultCollection(), "legacy"); d.RevID != rev1 {
				t.Fatalf("stored %+v", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, "db")
			l := start(t, Config{Database: db, ReadOnly: tt.readOnly})
			cl := newClient(t, l, nil)
			tt.run(t, cl, db)
		})
	}
}
