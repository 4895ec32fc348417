package listener

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/store"
)

const (
	dRev1 = "1-00000000000000000000000000000000000000d1"
	dRev2 = "2-00000000000000000000000000000000000000d2"
)

func deltaBody(kind string, last int) string {
	return fmt.Sprintf(`{"kind":%q,"list":[1,2,[3,%d]],"pad":%q}`, kind, last, strings.Repeat("x", 300))
}

func putRev(t *testing.T, c *store.Collection, id, rev string, hist []string, deleted bool, body string) {
	t.Helper()
	if _, err := c.PutExistingRevision(context.Background(), store.RemoteRevision{DocID: id, RevID: rev, History: hist, Deleted: deleted, Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
}

// A pushing peer's delta revs: applied when the base is known, HTTP/422 when the base is
// unknown, a tombstone, or the delta is corrupt or does not fit; the listener keeps
// serving. A listener without delta sync does not advertise it and refuses deltas.
func TestDeltaRevsFromPeer(t *testing.T) {
	base, edited := deltaBody("bench", 4), deltaBody("edit1", 5)
	good, err := delta.Create([]byte(base), []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		deltaSrc string
		body     string
		wantCode int // 0 = saved
	}{
		{"valid delta", dRev1, string(good), 0},
		{"unknown base", "1-00000000000000000000000000000000000000ff", string(good), 422},
		{"tombstone base", "1-00000000000000000000000000000000000000de", string(good), 422},
		{"not JSON", dRev1, `{"kind":`, 422},
		{"index past the end", dRev1, `{"list":{"7":1}}`, 422},
		{"string diff that does not add up", dRev1, `{"pad":["3=",0,2]}`, 422},
		{"deleting a missing member", dRev1, `{"nope":[]}`, 422},
	}
	for _, enabled := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("enabled=%v/%s", enabled, tt.name), func(t *testing.T) {
				db := openDB(t, "db")
				c := db.DefaultCollection()
				putRev(t, c, "doc", dRev1, nil, false, base)
				putRev(t, c, "gone", "1-00000000000000000000000000000000000000de", nil, true, `{}`)
				l := start(t, Config{Database: db, EnableDeltaSync: enabled})
				cl := newClient(t, l, nil)
				cl.mustSend("getCollections", `{"checkpoint_ids":["cp"],"collections":["_default"]}`)
				props, ans := cl.mustSend("proposeChanges", `[["doc","`+dRev2+`","`+dRev1+`"]]`, "collection", "0")
				if ans != `[]` || (props["deltas"] == "true") != enabled {
					t.Fatalf("proposeChanges answer %s %v", ans, props)
				}
				_, _, err := cl.send("rev", tt.body, "id", "doc", "rev", dRev2, "history", dRev1, "deltaSrc", tt.deltaSrc, "collection", "0")
				want := tt.wantCode
				if !enabled {
					want = 422
				}
				if want != 0 {
					wantBLIPError(t, err, "HTTP", want)
					if got := getDoc(t, c, "doc"); got.RevID != dRev1 {
						t.Fatalf("a refused delta changed the document: %s", got.RevID)
					}
					// Still serving: the full body is accepted (the pusher's fallback).
					cl.mustSend("rev", edited, "id", "doc", "rev", dRev2, "history", dRev1, "collection", "0")
				} else if err != nil {
					t.Fatalf("delta rev: %v", err)
				}
				if got := getDoc(t, c, "doc"); got.RevID != dRev2 || string(got.Body) != edited {
					t.Fatalf("stored %s %s, want %s", got.RevID, got.Body, edited)
				}
			})
		}
	}
}

// §9 item 21: the known-revisions list of a changes answer starts with the best base
// (newest live revision whose body is kept), and carries deltas=true.
func TestDeltaKnownRevsBestFirst(t *testing.T) {
	db := openDB(t, "db")
	c := db.DefaultCollection()
	// Three leaves: 2-a (live), 3-b (live, newest live), 4-c (tombstone).
	putRev(t, c, "doc", "2-aa", []string{"1-aa01"}, false, `{"v":"a"}`)
	putRev(t, c, "doc", "3-bb", []string{"2-bb02", "1-aa01"}, false, `{"v":"b"}`)
	putRev(t, c, "doc", "4-cc", []string{"3-cc03", "2-cc04", "1-aa01"}, true, `{}`)
	l := start(t, Config{Database: db, EnableDeltaSync: true})
	cl := newClient(t, l, nil)
	cl.mustSend("getCollections", `{"checkpoint_ids":["cp"],"collections":["_default"]}`)
	props, ans := cl.mustSend("changes", `[[1,"doc","5-ee05"]]`, "collection", "0")
	if props["deltas"] != "true" {
		t.Fatalf("no deltas=true in %v", props)
	}
	if ans != `[["3-bb","2-aa","4-cc"]]` {
		t.Fatalf("answer %s", ans)
	}
}

// deltaPuller is a fake active puller: it subscribes to the listener's changes, answers
// with a known base and deltas=true, refuses the first delta rev with HTTP/422 and
// records every rev.
type deltaPuller struct {
	mu   sync.Mutex
	revs []map[string]string
	wake chan struct{}
}

func (p *deltaPuller) handler(known string, refuseFirst bool) blip.Handler {
	return func(_ context.Context, req *blip.Message) (*blip.Message, error) {
		body, _ := req.ReadBody()
		switch req.Profile() {
		case "changes":
			if len(body) <= 2 || req.NoReply {
				return nil, nil
			}
			resp := &blip.Message{Type: blip.TypeResponse, Body: []byte(`[["` + known + `"]]`)}
			resp.Properties.Set("deltas", "true")
			return resp, nil
		case "rev":
			r := map[string]string{"body": string(body)}
			for _, pr := range req.Properties {
				r[pr.Key] = pr.Value
			}
			p.mu.Lock()
			p.revs = append(p.revs, r)
			n := len(p.revs)
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
			if refuseFirst && n == 1 {
				return nil, &blip.Error{Domain: "HTTP", Code: 422, Message: "delta base unknown"}
			}
		}
		return nil, nil
	}
}

func (p *deltaPuller) waitRevs(t *testing.T, n int) []map[string]string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		if len(p.revs) >= n {
			out := append([]map[string]string(nil), p.revs...)
			p.mu.Unlock()
			return out
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %d revs", n)
		}
	}
}

// The listener's pusher sends a delta against the first known revision of the answer
// (§9 item 21); after HTTP/422 it resends the same revision whole without deltaSrc
// (§9 item 22).
func TestDeltaSentAndResentWhole(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%v", refuse), func(t *testing.T) {
			db := openDB(t, "db")
			c := db.DefaultCollection()
			base, edited := deltaBody("bench", 4), deltaBody("edit1", 5)
			putRev(t, c, "doc", dRev1, nil, false, base)
			putRev(t, c, "doc", dRev2, []string{dRev1}, false, edited)
			l := start(t, Config{Database: db, EnableDeltaSync: true})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, _, err := blip.Dial(ctx, blipURL(l, db.Name()), blip.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p := &deltaPuller{wake: make(chan struct{}, 1)}
			conn.HandleDefault(p.handler(dRev1, refuse))
			conn.Start()
			t.Cleanup(func() { conn.Close(blip.CloseNormal, "") })
			if _, err := conn.Send(ctx, blip.NewRequest("subChanges")); err != nil {
				t.Fatal(err)
			}
			want := 1
			if refuse {
				want = 2
			}
			revs := p.waitRevs(t, want)
			first := revs[0]
			if first["rev"] != dRev2 || first["deltaSrc"] != dRev1 {
				t.Fatalf("first rev %v, want a delta against %s", first, dRev1)
			}
			got, err := delta.Apply([]byte(base), []byte(first["body"]))
			if err != nil || string(got) != edited {
				t.Fatalf("delta gives %s (%v)", got, err)
			}
			if len(first["body"]) >= len(edited)/2 {
				t.Fatalf("delta of %d bytes for a %d-byte body", len(first["body"]), len(edited))
			}
			if refuse {
				again := revs[1]
				if again["rev"] != dRev2 || again["deltaSrc"] != "" || again["body"] != edited {
					t.Fatalf("resent rev %v, want the full body without deltaSrc", again)
				}
			}
		})
	}
}

// A pusher whose peer did not advertise deltas sends full bodies.
func TestDeltaNotSentWithoutAdvertisement(t *testing.T) {
	db := openDB(t, "db")
	c := db.DefaultCollection()
	base, edited := deltaBody("bench", 4), deltaBody("edit1", 5)
	putRev(t, c, "doc", dRev1, nil, false, base)
	putRev(t, c, "doc", dRev2, []string{dRev1}, false, edited)
	l := start(t, Config{Database: db, EnableDeltaSync: true})
	cl := newClient(t, l, func(string) string { return `[["` + dRev1 + `"]]` })
	cl.mustSend("subChanges", "")
	r := cl.waitFor("rev", func(r *received) bool { return r.profile == "rev" })
	if r.props["deltaSrc"] != "" || r.body != edited {
		t.Fatalf("rev %v %s, want the full body", r.props, r.body)
	}
}
