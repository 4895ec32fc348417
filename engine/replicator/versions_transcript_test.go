package replicator

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/engine/store"
)

// Replays of the recorded CBMobile_4 sessions with Sync Gateway 4.2
// (testdata/transcripts/cbmobile4-*.jsonl, copies of the spec's recordings).

// The recorded CBMobile_4 pull, played by a scripted Sync Gateway against OUR active
// puller (the recorded client used legacy mode; the replay adds collection 0): our
// answer to the changes list is the recorded client's (every document wanted, nothing
// known), and every document is stored with the recorded version, vector (merge and
// previous versions, the Revision+Tree+Encoding stand-in) and body, tombstones deleted.
func TestCBMobile4TranscriptPullReplay(t *testing.T) {
	rec := loadSGRecording(t, "cbmobile4-pull.jsonl")
	withColl := func(r sgRecord) sgRecord {
		r.Properties = append(append([][]string(nil), r.Properties...), []string{"collection", "0"})
		return r
	}
	sg := &scriptedSG{t: t, subprotocols: []string{blip.SubprotocolCBMobile4}, collections: true,
		changes: []sgRecord{withColl(rec[8]), withColl(rec[12])}, revs: map[string]sgRecord{},
		wantReply: func(got []byte) {
			if string(got) != rec[10].Body {
				t.Errorf("our changes answer %s, recorded %s", got, rec[10].Body)
			}
		}}
	var revs []sgRecord
	for i := 14; i <= 34; i += 2 {
		r := rec[i]
		if r.Profile != "rev" {
			t.Fatalf("record %d is %s", i, r.Profile)
		}
		revs = append(revs, r)
		sg.revs[r.prop("id")] = withColl(r)
	}
	sg.start()
	db := openDB(t, "db")
	r := newRepl4(t, Config{Database: db, URL: sg.url(), Type: Pull})
	var dr docRecorder
	dr.listen(r)
	if st := runOneShot(t, r); st.Error != nil {
		t.Fatalf("status %+v", st)
	}
	select {
	case <-sg.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the scripted Sync Gateway did not finish")
	}
	if errs := dr.errors(); len(errs) > 0 || len(sg.revErrs) > 0 {
		t.Fatalf("document errors %v, rev errors %v", errs, sg.revErrs)
	}
	ctx := context.Background()
	c := db.DefaultCollection()
	for _, rv := range revs {
		id := rv.prop("id")
		d, err := c.GetWithDeleted(ctx, id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		want, err := hlv.ParseRevHistory(rv.prop("rev"), rv.prop("history"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := hlv.ParseVector(d.Vector)
		if err != nil || !got.Equal(want) || d.Version != rv.prop("rev") {
			t.Errorf("%s stored with vector %q (%v), recorded %s / %s", id, d.Vector, err, rv.prop("rev"), rv.prop("history"))
		}
		deleted := rv.prop("deleted") == "1"
		if d.Deleted != deleted || !deleted && !jsonEqual(d.Body, rv.bytes()) {
			t.Errorf("%s stored as %s deleted=%v, recorded %s deleted=%v", id, d.Body, d.Deleted, rv.bytes(), deleted)
		}
	}
	if n := dr.count(DirectionPull); n != len(revs) {
		t.Errorf("%d documents pulled, recorded %d", n, len(revs))
	}
}

// The recorded CBMobile_4 push, replayed against OUR listener in Sync Gateway's place:
// seeded with the documents Sync Gateway had (under their recorded versions), it gives
// every recorded request the recorded answer — the proposeChanges answers (accepted,
// 304 for a version it holds, 409 with its current version for a conflict), an empty
// reply for new, fast-forward, already-known and older versions and for a legacy rev-tree
// revision, HTTP/409 "Document revision conflict" for a conflicting rev, and the
// tombstone.
func TestCBMobile4TranscriptPushReplay(t *testing.T) {
	rec := loadSGRecording(t, "cbmobile4-push.jsonl")
	db := openDB(t, "dbt")
	c := db.DefaultCollection()
	ctx := context.Background()
	for id, cv := range map[string]string{ // Sync Gateway's documents before the recording (spec §W)
		"vv-rest-1": "18ed7b689f580000@pqL3hlqMVKn2VRNcx3X6BA",
		"vv-rest-2": "18ed7b689fea0000@pqL3hlqMVKn2VRNcx3X6BA",
		"vv-conf":   "18ed7b68a08c0000@pqL3hlqMVKn2VRNcx3X6BA",
	} {
		v, err := hlv.ParseVersion(cv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutExistingVersion(ctx, store.RemoteVersion{DocID: id, Vector: hlv.Vector{Current: v}, Body: []byte(`{"src":"rest"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	l := startListener(t, db, nil)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := blip.Dial(dctx, localURL(l)+"/_blipsync", blip.DialOptions{Subprotocols: []string{blip.SubprotocolCBMobile4}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Start()
	defer conn.Close(blip.CloseNormal, "")
	// The recorded answers, by message number.
	answers := map[uint64]sgRecord{}
	var requests []sgRecord
	for i := 1; i <= 60; i++ {
		r, ok := rec[i]
		if !ok {
			continue
		}
		switch {
		case r.Dir == "out" && r.Type == "MSG":
			requests = append(requests, r)
		case r.Dir == "in" && (r.Type == "RPY" || r.Type == "ERR"):
			answers[recordMsgNo(t, "cbmobile4-push.jsonl", r.I)] = r
		}
	}
	if len(requests) != 13 {
		t.Fatalf("%d recorded requests", len(requests))
	}
	for _, req := range requests {
		no := recordMsgNo(t, "cbmobile4-push.jsonl", req.I)
		want, ok := answers[no]
		if !ok {
			t.Fatalf("no recorded answer to [%d]", req.I)
		}
		resp, err := conn.Send(dctx, req.request())
		what := req.Profile + " " + req.prop("id")
		var be *blip.Error
		if errors.As(err, &be) {
			if want.Type != "ERR" || be.Domain != want.prop("Error-Domain") || want.prop("Error-Code") != itoa(be.Code) || be.Message != want.Body {
				t.Errorf("[%d] %s answered ERR %s/%d %q, recorded %s %s/%s %q", req.I, what, be.Domain, be.Code, be.Message, want.Type, want.prop("Error-Domain"), want.prop("Error-Code"), want.Body)
			}
			continue
		}
		if err != nil {
			t.Fatalf("[%d] %s: %v", req.I, req.Profile, err)
		}
		body, _ := resp.ReadBody()
		if want.Type == "ERR" {
			t.Errorf("[%d] %s answered %q, recorded ERR %s/%s %q", req.I, what, body, want.prop("Error-Domain"), want.prop("Error-Code"), want.Body)
			continue
		}
		if want.Body == "" && len(body) != 0 || want.Body != "" && !jsonEqual(body, []byte(want.Body)) {
			t.Errorf("[%d] %s answered %s, recorded %s", req.I, what, body, want.Body)
		}
	}
	// What the accepted revisions became.
	for id, wantVec := range map[string]string{
		"vv-new-2":  "18ed7b68ac6f0000@dnZwcm9iZS1zb3VyY2UtQQ;18ed7b68ac6e0000@dnZwcm9iZS1zb3VyY2UtQg",
		"vv-new-3":  "18ed7b68ac700000@dnZwcm9iZS1zb3VyY2UtQQ,18ed7b68ac6f0000@dnZwcm9iZS1zb3VyY2UtQg,18ed7b68ac6f0000@dnZwcm9iZS1zb3VyY2UtQw;18ed7b68ac6e0000@dnZwcm9iZS1zb3VyY2UtRA",
		"vv-rest-2": "18ed7b68ac720000@dnZwcm9iZS1zb3VyY2UtQQ;18ed7b689fea0000@pqL3hlqMVKn2VRNcx3X6BA",
		"vv-conf":   "18ed7b68a08c0000@pqL3hlqMVKn2VRNcx3X6BA",
		"vv-new-1":  "18ed7b68ac740000@dnZwcm9iZS1zb3VyY2UtQQ",
	} {
		d, err := c.GetWithDeleted(ctx, id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		want, _ := hlv.ParseVector(wantVec)
		got, err := hlv.ParseVector(d.Vector)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s stored with %q, want %s", id, d.Vector, wantVec)
		}
	}
	if d, err := c.GetWithDeleted(ctx, "vv-new-1"); err != nil || !d.Deleted {
		t.Errorf("vv-new-1 not deleted: %+v %v", d, err)
	}
	if d, err := c.Get(ctx, "vv-legacy-1"); err != nil || d.RevID != "1-abababababababababababababababababababab" {
		t.Errorf("vv-legacy-1: %+v %v", d, err)
	}
}

// recordMsgNo reads the BLIP message number of record i of a recording.
func recordMsgNo(t *testing.T, name string, i int) uint64 {
	t.Helper()
	nos := msgNos(t, name)
	n, ok := nos[i]
	if !ok {
		t.Fatalf("%s [%d] has no message number", name, i)
	}
	return n
}

var msgNoCache = map[string]map[int]uint64{}

func msgNos(t *testing.T, name string) map[int]uint64 {
	if m, ok := msgNoCache[name]; ok {
		return m
	}
	raw := loadRawRecords(t, name)
	m := map[int]uint64{}
	for _, r := range raw {
		if r.Kind == "message" {
			m[r.I] = r.MsgNo
		}
	}
	msgNoCache[name] = m
	return m
}

type rawRecord struct {
	I     int    `json:"i"`
	Kind  string `json:"kind"`
	MsgNo uint64 `json:"msgno"`
}

func loadRawRecords(t *testing.T, name string) []rawRecord {
	t.Helper()
	data, err := readTestdata("testdata/transcripts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawRecord
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r rawRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func readTestdata(path string) ([]byte, error) { return os.ReadFile(path) }
