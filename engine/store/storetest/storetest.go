// Package storetest is the conformance suite of the engine/store contract
// (contracts/store.md). Any implementation, or any configuration of the
// reference one, runs it with:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) *store.Database {
//			db, err := store.Open(context.Background(), t.TempDir(), store.Config{ExpiryInterval: 20 * time.Millisecond})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return db
//		})
//	}
//
// open must return a new, empty database using the default revision-tree
// depth (20) and a short expiry interval (the expiry case waits at most 10 s).
// The suite closes every database it opens.
package storetest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
)

// Run runs every conformance case, each on a fresh database from open.
func Run(t *testing.T, open func(t *testing.T) *store.Database) {
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.Database)
	}{
		{"DatabaseIdentity", testDatabaseIdentity},
		{"Reopen", testReopen},
		{"Collections", testCollections},
		{"CollectionNames", testCollectionNames},
		{"DeleteCollection", testDeleteCollection},
		{"SaveAndGet", testSaveAndGet},
		{"GetMany", testGetMany},
		{"RevIDDigest", testRevIDDigest},
		{"LargeDocuments", testLargeDocuments},
		{"InvalidBodies", testInvalidBodies},
		{"InvalidDocIDs", testInvalidDocIDs},
		{"UpdateKeepsParentBody", testUpdateKeepsParentBody},
		{"FailOnConflict", testFailOnConflict},
		{"DeleteAndTombstones", testDeleteAndTombstones},
		{"Purge", testPurge},
		{"Sequences", testSequences},
		{"ChangesSince", testChangesSince},
		{"PutExistingRevision", testPutExistingRevision},
		{"PutExistingInvalid", testPutExistingInvalid},
		{"ConflictsAndWinner", testConflictsAndWinner},
		{"NoConflicts", testNoConflicts},
		{"ResolveConflict", testResolveConflict},
		{"ResolvePruningLosingBranch", testResolvePruningLosingBranch},
		{"AdoptDeletion", testAdoptDeletion},
		{"DeleteOverClosedBranch", testDeleteOverClosedBranch},
		{"HistoryAndPruning", testHistoryAndPruning},
		{"Batch", testBatch},
		{"BatchRollback", testBatchRollback},
		{"ReadersDuringBatch", testReadersDuringBatch},
		{"ConcurrentWriters", testConcurrentWriters},
		{"LocalDocuments", testLocalDocuments},
		{"RemoteAncestors", testRemoteAncestors},
		{"BatchRemoteAncestors", testBatchRemoteAncestors},
		{"ChangeListeners", testChangeListeners},
		{"ListenerRemove", testListenerRemove},
		{"Expiration", testExpiration},
		{"Closed", testClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t)
			t.Cleanup(func() {
				if err := db.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, db)
		})
	}
}

var bg = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func save(t *testing.T, c *store.Collection, id, body string) *store.Document {
	t.Helper()
	d, err := c.Save(bg, id, []byte(body), store.SaveOptions{})
	if err != nil {
		t.Fatalf("save %q: %v", id, err)
	}
	return d
}

// revID computes the contract's revision ID independently of the store.
func revID(parent string, deleted bool, body string) string {
	gen := 1
	if parent != "" {
		fmt.Sscanf(parent, "%d-", &gen)
		gen++
	}
	h := sha1.New()
	h.Write([]byte{byte(len(parent))})
	h.Write([]byte(parent))
	if deleted {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	h.Write([]byte(body))
	return fmt.Sprintf("%d-%s", gen, hex.EncodeToString(h.Sum(nil)))
}

// fakeRev makes a syntactically valid revision ID of generation gen.
func fakeRev(gen int, tag string) string {
	sum := sha1.Sum([]byte(tag))
	return fmt.Sprintf("%d-%s", gen, hex.EncodeToString(sum[:]))
}

func count(t *testing.T, c *store.Collection) uint64 {
	t.Helper()
	n, err := c.Count(bg)
	must(t, err)
	return n
}

func lastSeq(t *testing.T, c *store.Collection) uint64 {
	t.Helper()
	n, err := c.LastSequence(bg)
	must(t, err)
	return n
}

func testDatabaseIdentity(t *testing.T, db *store.Database) {
	if len(db.UUID()) != 32 || strings.Trim(db.UUID(), "0123456789abcdef") != "" {
		t.Errorf("UUID %q is not 32 lowercase hex digits", db.UUID())
	}
	if !store.Exists(db.Path()) {
		t.Errorf("Exists(%q) = false for an open database", db.Path())
	}
	if !strings.HasSuffix(db.Path(), "/"+db.Name()) {
		t.Errorf("Name %q is not the base name of Path %q", db.Name(), db.Path())
	}
	c := db.DefaultCollection()
	if c == nil || c.Scope() != "_default" || c.Name() != "_default" || c.FullName() != "_default._default" || c.Database() != db {
		t.Fatalf("default collection = %+v", c)
	}
	_, err := store.Open(bg, db.Path(), store.Config{})
	wantErr(t, err, store.ErrBusy)
	wantErr(t, store.Delete(db.Path()), store.ErrBusy)
}

func testReopen(t *testing.T, db *store.Database) {
	path, uuid := db.Path(), db.UUID()
	c, err := db.CreateCollection(bg, "s1", "c1")
	must(t, err)
	d := save(t, c, "doc", `{"v":1}`)
	_, err = db.PutLocal(bg, "cp", []byte(`{"seq":5}`), "")
	must(t, err)
	must(t, db.Close())
	must(t, db.Close()) // idempotent

	db2, err := store.Open(bg, path, store.Config{NoCreate: true})
	must(t, err)
	defer db2.Close()
	if db2.UUID() != uuid {
		t.Errorf("UUID changed across reopen: %s -> %s", uuid, db2.UUID())
	}
	c2, err := db2.Collection(bg, "s1", "c1")
	must(t, err)
	got, err := c2.Get(bg, "doc")
	must(t, err)
	if got.RevID != d.RevID || string(got.Body) != `{"v":1}` || got.Sequence != d.Sequence {
		t.Errorf("after reopen got %+v, want rev %s", got, d.RevID)
	}
	if lastSeq(t, c2) != d.Sequence || count(t, c2) != 1 {
		t.Errorf("after reopen last sequence/count = %d/%d", lastSeq(t, c2), count(t, c2))
	}
	// Sequences keep increasing after a reopen.
	if d2 := save(t, c2, "other", `{}`); d2.Sequence <= d.Sequence {
		t.Errorf("sequence after reopen %d <= %d", d2.Sequence, d.Sequence)
	}
	if _, _, err := db2.GetLocal(bg, "cp"); err != nil {
		t.Errorf("local document lost across reopen: %v", err)
	}
	_, err = store.Open(bg, path+"-missing", store.Config{NoCreate: true})
	wantErr(t, err, store.ErrNotFound)
}

func testCollections(t *testing.T, db *store.Database) {
	a, err := db.CreateCollection(bg, "", "things")
	must(t, err)
	if a.Scope() != "_default" || a.FullName() != "_default.things" {
		t.Errorf("scope \"\" gave %s", a.FullName())
	}
	again, err := db.CreateCollection(bg, "_default", "things")
	must(t, err)
	if again != a {
		t.Error("CreateCollection of an existing collection returned a different object")
	}
	_, err = db.CreateCollection(bg, "inventory", "items")
	must(t, err)
	_, err = db.CreateCollection(bg, "inventory", "Alpha")
	must(t, err)
	got, err := db.Collection(bg, "inventory", "items")
	must(t, err)
	if got.FullName() != "inventory.items" {
		t.Errorf("Collection returned %s", got.FullName())
	}
	_, err = db.Collection(bg, "inventory", "nope")
	wantErr(t, err, store.ErrNotFound)
	_, err = db.Collection(bg, "nope", "items")
	wantErr(t, err, store.ErrNotFound)

	names, err := db.Collections(bg, "inventory")
	must(t, err)
	if fmt.Sprint(names) != "[Alpha items]" {
		t.Errorf("Collections(inventory) = %v", names)
	}
	names, err = db.Collections(bg, "")
	must(t, err)
	if fmt.Sprint(names) != "[_default things]" {
		t.Errorf("Collections(_default) = %v", names)
	}
	scopes, err := db.Scopes(bg)
	must(t, err)
	if fmt.Sprint(scopes) != "[_default inventory]" {
		t.Errorf("Scopes = %v", scopes)
	}
	// Collections are independent.
	save(t, a, "x", `{"in":"things"}`)
	items, _ := db.Collection(bg, "inventory", "items")
	if _, err := items.Get(bg, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("document leaked across collections: %v", err)
	}
	if count(t, a) != 1 || count(t, items) != 0 || count(t, db.DefaultCollection()) != 0 {
		t.Error("counts are not per collection")
	}
}

func testCollectionNames(t *testing.T, db *store.Database) {
	long := strings.Repeat("a", 251)
	tests := []struct {
		scope, name string
		ok          bool
	}{
		{"s", "c", true},
		{"A-z_0%9", "b-c_d%e", true},
		{long, long, true},
		{"s", long + "a", false},
		{"s", "", false},
		{"s", "_c", false},
		{"s", "%c", false},
		{"s", "has space", false},
		{"s", "dot.ted", false},
		{"s", "ünï", false},
		{"_s", "c", false},
		{"s", "_default", false},
		{"_default", "_default", true},
	}
	for _, tt := range tests {
		t.Run(tt.scope+"."+tt.name, func(t *testing.T) {
			_, err := db.CreateCollection(bg, tt.scope, tt.name)
			if tt.ok {
				must(t, err)
				return
			}
			wantErr(t, err, store.ErrInvalidName)
			_, err = db.Collection(bg, tt.scope, tt.name)
			wantErr(t, err, store.ErrInvalidName)
		})
	}
}

func testDeleteCollection(t *testing.T, db *store.Database) {
	wantErr(t, db.DeleteCollection(bg, "", "_default"), store.ErrInvalidName)
	wantErr(t, db.DeleteCollection(bg, "s", "missing"), store.ErrNotFound)
	c, err := db.CreateCollection(bg, "s", "gone")
	must(t, err)
	save(t, c, "a", `{}`)
	must(t, c.SetRemoteAncestor(bg, "peer", "a", fakeRev(1, "a")))
	must(t, db.DeleteCollection(bg, "s", "gone"))
	_, err = db.Collection(bg, "s", "gone")
	wantErr(t, err, store.ErrNotFound)
	_, err = c.Get(bg, "a")
	wantErr(t, err, store.ErrNotFound)
	_, err = c.Save(bg, "b", []byte(`{}`), store.SaveOptions{})
	wantErr(t, err, store.ErrNotFound)
	_, err = c.Count(bg)
	wantErr(t, err, store.ErrNotFound)
	scopes, _ := db.Scopes(bg)
	if fmt.Sprint(scopes) != "[_default]" {
		t.Errorf("scope of a deleted collection still listed: %v", scopes)
	}
	c2, err := db.CreateCollection(bg, "s", "gone")
	must(t, err)
	if count(t, c2) != 0 || lastSeq(t, c2) != 0 {
		t.Error("recreated collection is not empty")
	}
	if _, err := c2.Get(bg, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("document survived collection deletion: %v", err)
	}
	if r, _ := c2.RemoteAncestor(bg, "peer", "a"); r != "" {
		t.Errorf("remote ancestor survived collection deletion: %q", r)
	}
}

func testSaveAndGet(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	d, err := c.Save(bg, "doc1", []byte(" {\n \"b\" : [1, 2,\t3], \"a\": {\"s\": \"x y\"} } "), store.SaveOptions{})
	must(t, err)
	const compact = `{"b":[1,2,3],"a":{"s":"x y"}}`
	if string(d.Body) != compact || d.ID != "doc1" || d.Deleted || d.Sequence == 0 {
		t.Fatalf("save returned %+v", d)
	}
	if !strings.HasPrefix(d.RevID, "1-") || len(d.RevID) != 42 {
		t.Errorf("revID %q is not 1-<40 hex>", d.RevID)
	}
	got, err := c.Get(bg, "doc1")
	must(t, err)
	if got.RevID != d.RevID || string(got.Body) != compact || got.Sequence != d.Sequence || !got.Expiration.IsZero() {
		t.Errorf("get returned %+v, saved %+v", got, d)
	}
	got.Body[0] = 'X' // caller owns the copy
	again, _ := c.Get(bg, "doc1")
	if string(again.Body) != compact {
		t.Error("mutating a returned body changed the stored document")
	}
	_, err = c.Get(bg, "missing")
	wantErr(t, err, store.ErrNotFound)
	_, err = c.GetWithDeleted(bg, "missing")
	wantErr(t, err, store.ErrNotFound)
	if count(t, c) != 1 {
		t.Errorf("count = %d", count(t, c))
	}
	// Unicode IDs and bodies round-trip.
	save(t, c, "ünïcødé/ключ", `{"emoji":"😀","esc":"a\"b\\c\u00e9"}`)
	u, err := c.Get(bg, "ünïcødé/ключ")
	must(t, err)
	if string(u.Body) != `{"emoji":"😀","esc":"a\"b\\c\u00e9"}` {
		t.Errorf("unicode body = %s", u.Body)
	}
}

func testGetMany(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	other, err := db.CreateCollection(bg, "s", "c")
	must(t, err)
	a := save(t, c, "a", `{"v":"a"}`)
	save(t, c, "b", `{"v":"b"}`)
	del, err := c.Delete(bg, "b", store.SaveOptions{})
	must(t, err)
	save(t, other, "o", `{"v":"o"}`)
	big := save(t, c, "big", `{"p":"`+strings.Repeat("x", 100000)+`"}`)

	ids := []string{"missing", "big", "a", "b", "o", "a"}
	docs, err := c.GetManyWithDeleted(bg, ids)
	must(t, err)
	revs, err := c.CurrentRevisions(bg, ids)
	must(t, err)
	if len(docs) != len(ids) || len(revs) != len(ids) {
		t.Fatalf("got %d docs, %d revisions for %d IDs", len(docs), len(revs), len(ids))
	}
	want := []*store.Document{nil, big, a, del, nil, a}
	for i, w := range want {
		d, r := docs[i], revs[i]
		if w == nil {
			if d != nil || r != (store.CurrentRevision{}) {
				t.Errorf("%s: got %+v / %+v for a missing document", ids[i], d, r)
			}
			continue
		}
		one, err := c.GetWithDeleted(bg, ids[i])
		must(t, err)
		if d == nil || d.ID != ids[i] || d.RevID != w.RevID || d.Deleted != w.Deleted || d.Sequence != one.Sequence ||
			string(d.Body) != string(one.Body) {
			t.Errorf("%s: GetManyWithDeleted = %+v, want %+v", ids[i], d, one)
		}
		if r.RevID != w.RevID || r.Deleted != w.Deleted || r.Sequence != one.Sequence {
			t.Errorf("%s: CurrentRevisions = %+v, want %+v", ids[i], r, one)
		}
	}
	// A repeated ID gets its own copy.
	docs[2].Body[0] = 'X'
	if docs[5].Body[0] != '{' {
		t.Errorf("repeated ID shares its body")
	}
	getManyEdgeCases(t, c)
	getManyOneSnapshot(t, db, c)
}

// getManyEdgeCases: empty ID lists, IDs needing JSON escapes, invalid IDs.
func getManyEdgeCases(t *testing.T, c *store.Collection) {
	for _, ids := range [][]string{nil, {}} {
		if docs, err := c.GetManyWithDeleted(bg, ids); err != nil || len(docs) != 0 {
			t.Errorf("GetManyWithDeleted(%v) = %v, %v", ids, docs, err)
		}
		if revs, err := c.CurrentRevisions(bg, ids); err != nil || len(revs) != 0 {
			t.Errorf("CurrentRevisions(%v) = %v, %v", ids, revs, err)
		}
	}
	// IDs needing JSON escapes are found like any other.
	odd := "q\"\\\u2028<&>é\t"
	save(t, c, odd, `{}`)
	if revs, err := c.CurrentRevisions(bg, []string{odd}); err != nil || revs[0].RevID == "" {
		t.Errorf("CurrentRevisions(%q) = %v, %v", odd, revs, err)
	}
	_, err := c.GetManyWithDeleted(bg, []string{"a", ""})
	wantErr(t, err, store.ErrInvalidID)
	_, err = c.CurrentRevisions(bg, []string{"a", "bad\x00"})
	wantErr(t, err, store.ErrInvalidID)
}

// getManyOneSnapshot: many IDs (repeated) are read from one snapshot.
func getManyOneSnapshot(t *testing.T, db *store.Database, c *store.Collection) {
	// Many IDs, one snapshot.
	var many []string
	for i := 0; i < 3000; i++ {
		many = append(many, fmt.Sprintf("m%d", i%1500))
	}
	must(t, db.InBatch(bg, func(b *store.Batch) error {
		for i := 0; i < 1500; i += 2 {
			if _, err := b.Save(c, fmt.Sprintf("m%d", i), []byte(`{}`), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	}))
	revs, err := c.CurrentRevisions(bg, many)
	must(t, err)
	for i, r := range revs {
		if (i%1500%2 == 0) != (r.RevID != "") {
			t.Fatalf("%s: %+v", many[i], r)
		}
	}
}

func testLargeDocuments(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	big := func(kind string) string {
		return `{"kind":"` + kind + `","payload":"` + strings.Repeat("0123456789abcdef", 100000/16) + `"}`
	}
	d1 := save(t, c, "big", big("bench"))
	if want := revID("", false, big("bench")); d1.RevID != want {
		t.Errorf("revID of a large document = %s, want %s", d1.RevID, want)
	}
	d2 := save(t, c, "big", big("edit1"))
	got, err := c.Get(bg, "big")
	must(t, err)
	if got.RevID != d2.RevID || string(got.Body) != big("edit1") {
		t.Errorf("large document read back as rev %s, %d bytes", got.RevID, len(got.Body))
	}
	prev, err := c.GetRevision(bg, "big", d1.RevID)
	must(t, err)
	if string(prev.Body) != big("bench") {
		t.Error("previous revision of a large document lost its body")
	}
	_, err = c.Save(bg, "big", []byte(big("x")), store.SaveOptions{Concurrency: store.FailOnConflict})
	wantErr(t, err, store.ErrConflict)
	changes, err := c.ChangesSince(bg, d1.Sequence, 0)
	must(t, err)
	if len(changes) != 1 || changes[0].BodySize != len(big("edit1")) {
		t.Errorf("changes = %+v", changes)
	}
}

func testRevIDDigest(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	d1 := save(t, c, "d", `{"a":1}`)
	if want := revID("", false, `{"a":1}`); d1.RevID != want {
		t.Errorf("first revID = %s, want %s", d1.RevID, want)
	}
	d2 := save(t, c, "d", `{ "a" : 2 }`)
	if want := revID(d1.RevID, false, `{"a":2}`); d2.RevID != want {
		t.Errorf("second revID = %s, want %s", d2.RevID, want)
	}
	d3, err := c.Delete(bg, "d", store.SaveOptions{})
	must(t, err)
	if want := revID(d2.RevID, true, `{}`); d3.RevID != want {
		t.Errorf("tombstone revID = %s, want %s", d3.RevID, want)
	}
}

func testInvalidBodies(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "existing", `{"keep":true}`)
	before, seq := count(t, c), lastSeq(t, c)
	tests := []struct {
		name string
		body []byte
	}{
		{"nil", nil},
		{"empty", []byte("")},
		{"spaces", []byte("   ")},
		{"array", []byte(`[1,2]`)},
		{"string", []byte(`"text"`)},
		{"number", []byte(`42`)},
		{"null", []byte(`null`)},
		{"true", []byte(`true`)},
		{"truncated", []byte(`{"a":`)},
		{"trailing", []byte(`{} {}`)},
		{"trailing comma", []byte(`{"a":1,}`)},
		{"single quotes", []byte(`{'a':1}`)},
		{"bad escape", []byte(`{"a":"\q"}`)},
		{"control char", []byte("{\"a\":\"x\ny\"}")},
		{"leading zero", []byte(`{"a":01}`)},
		{"bare key", []byte(`{a:1}`)},
		{"invalid utf8", []byte("{\"a\":\"\xff\xfe\"}")},
		{"NaN", []byte(`{"a":NaN}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Save(bg, "new", tt.body, store.SaveOptions{})
			wantErr(t, err, store.ErrInvalidJSON)
			_, err = c.Save(bg, "existing", tt.body, store.SaveOptions{})
			wantErr(t, err, store.ErrInvalidJSON)
			_, err = db.PutLocal(bg, "local", tt.body, store.AnyRev)
			wantErr(t, err, store.ErrInvalidJSON)
		})
	}
	if count(t, c) != before || lastSeq(t, c) != seq {
		t.Error("an invalid body changed the collection")
	}
	if _, err := c.Get(bg, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("invalid save wrote a document: %v", err)
	}
	got, _ := c.Get(bg, "existing")
	if string(got.Body) != `{"keep":true}` {
		t.Errorf("existing document changed to %s", got.Body)
	}
}

func testInvalidDocIDs(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"empty", "", false},
		{"max length", strings.Repeat("x", 255), true},
		{"too long", strings.Repeat("x", 256), false},
		{"multibyte at limit", strings.Repeat("é", 127) + "x", true},
		{"invalid utf8", "a\xffb", false},
		{"NUL", "a\x00b", false},
		{"spaces and slashes", "a b/c:d", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Save(bg, tt.id, []byte(`{}`), store.SaveOptions{})
			if tt.ok {
				must(t, err)
				_, err = c.Get(bg, tt.id)
				must(t, err)
				return
			}
			wantErr(t, err, store.ErrInvalidID)
			_, err = c.Get(bg, tt.id)
			wantErr(t, err, store.ErrInvalidID)
			_, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: tt.id, RevID: fakeRev(1, "x"), Body: []byte(`{}`)})
			wantErr(t, err, store.ErrInvalidID)
			_, err = db.PutLocal(bg, tt.id, []byte(`{}`), "")
			wantErr(t, err, store.ErrInvalidID)
		})
	}
}

func testUpdateKeepsParentBody(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	r1 := save(t, c, "d", `{"v":1}`)
	r2 := save(t, c, "d", `{"v":2}`)
	if !strings.HasPrefix(r2.RevID, "2-") || r2.Sequence <= r1.Sequence {
		t.Fatalf("update gave %+v", r2)
	}
	p, err := c.GetRevision(bg, "d", r1.RevID)
	must(t, err)
	if string(p.Body) != `{"v":1}` {
		t.Errorf("parent body = %s", p.Body)
	}
	r3 := save(t, c, "d", `{"v":3}`)
	if p, err := c.GetRevision(bg, "d", r2.RevID); err != nil || string(p.Body) != `{"v":2}` {
		t.Errorf("parent of current: %v %v", p, err)
	}
	_, err = c.GetRevision(bg, "d", r1.RevID)
	wantErr(t, err, store.ErrNotFound) // grandparent body no longer kept
	_, err = c.GetRevision(bg, "d", fakeRev(9, "unknown"))
	wantErr(t, err, store.ErrNotFound)
	_, err = c.GetRevision(bg, "d", "bogus")
	wantErr(t, err, store.ErrInvalidRevID)
	revs, err := c.Revisions(bg, "d")
	must(t, err)
	want := []store.Revision{
		{RevID: r3.RevID, Leaf: true, HasBody: true, Parent: r2.RevID, Sequence: r3.Sequence},
		{RevID: r2.RevID, HasBody: true, Parent: r1.RevID, Sequence: r2.Sequence},
		{RevID: r1.RevID, Sequence: r1.Sequence},
	}
	if fmt.Sprint(revs) != fmt.Sprint(want) {
		t.Errorf("revisions = %+v\nwant %+v", revs, want)
	}
	if count(t, c) != 1 {
		t.Errorf("count = %d", count(t, c))
	}
}

func testFailOnConflict(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	foc := func(parent string) store.SaveOptions {
		return store.SaveOptions{ParentRevID: parent, Concurrency: store.FailOnConflict}
	}
	r1, err := c.Save(bg, "d", []byte(`{"v":1}`), foc(""))
	must(t, err)
	_, err = c.Save(bg, "d", []byte(`{"v":2}`), foc(""))
	wantErr(t, err, store.ErrConflict) // exists
	r2, err := c.Save(bg, "d", []byte(`{"v":2}`), foc(r1.RevID))
	must(t, err)
	_, err = c.Save(bg, "d", []byte(`{"v":3}`), foc(r1.RevID))
	wantErr(t, err, store.ErrConflict) // stale parent
	_, err = c.Delete(bg, "d", foc(r1.RevID))
	wantErr(t, err, store.ErrConflict)
	_, err = c.Save(bg, "new", []byte(`{}`), foc(r1.RevID))
	wantErr(t, err, store.ErrConflict) // parent given for an absent doc
	// Last-write-wins ignores the stale parent and extends the current revision.
	r3, err := c.Save(bg, "d", []byte(`{"v":3}`), store.SaveOptions{ParentRevID: r1.RevID})
	must(t, err)
	if hist, _ := c.History(bg, "d", r3.RevID, 1); len(hist) != 1 || hist[0] != r2.RevID {
		t.Errorf("LWW save is not a child of the current revision: %v", hist)
	}
	del, err := c.Delete(bg, "d", foc(r3.RevID))
	must(t, err)
	// A deleted document may be recreated with "" or with the tombstone as parent.
	r5, err := c.Save(bg, "d", []byte(`{"v":5}`), foc(""))
	must(t, err)
	if hist, _ := c.History(bg, "d", r5.RevID, 1); len(hist) != 1 || hist[0] != del.RevID {
		t.Errorf("recreated doc is not a child of its tombstone: %v", hist)
	}
	if got, _ := c.Get(bg, "d"); got.RevID != r5.RevID {
		t.Errorf("current revision = %s, want %s", got.RevID, r5.RevID)
	}
}

func testDeleteAndTombstones(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	r1 := save(t, c, "d", `{"v":1}`)
	save(t, c, "other", `{}`)
	if count(t, c) != 2 {
		t.Fatalf("count = %d", count(t, c))
	}
	del, err := c.Delete(bg, "d", store.SaveOptions{})
	must(t, err)
	if !del.Deleted || string(del.Body) != "{}" || !strings.HasPrefix(del.RevID, "2-") || del.Sequence <= r1.Sequence {
		t.Errorf("delete returned %+v", del)
	}
	_, err = c.Get(bg, "d")
	wantErr(t, err, store.ErrNotFound)
	tomb, err := c.GetWithDeleted(bg, "d")
	must(t, err)
	if !tomb.Deleted || tomb.RevID != del.RevID || string(tomb.Body) != "{}" || tomb.Sequence != del.Sequence {
		t.Errorf("tombstone = %+v", tomb)
	}
	if count(t, c) != 1 {
		t.Errorf("count after delete = %d", count(t, c))
	}
	_, err = c.Delete(bg, "d", store.SaveOptions{})
	wantErr(t, err, store.ErrNotFound)
	_, err = c.Delete(bg, "never", store.SaveOptions{})
	wantErr(t, err, store.ErrNotFound)
	re := save(t, c, "d", `{"v":"again"}`)
	if !strings.HasPrefix(re.RevID, "3-") || count(t, c) != 2 {
		t.Errorf("recreate after delete gave %s, count %d", re.RevID, count(t, c))
	}
}

func testPurge(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "p", `{"v":1}`)
	save(t, c, "p", `{"v":2}`)
	save(t, c, "keep", `{}`)
	must(t, c.SetRemoteAncestor(bg, "peer", "p", fakeRev(2, "x")))
	seq := lastSeq(t, c)
	must(t, c.Purge(bg, "p"))
	_, err := c.GetWithDeleted(bg, "p")
	wantErr(t, err, store.ErrNotFound)
	_, err = c.Revisions(bg, "p")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, c.Purge(bg, "p"), store.ErrNotFound)
	if count(t, c) != 1 {
		t.Errorf("count after purge = %d", count(t, c))
	}
	if lastSeq(t, c) != seq {
		t.Error("purge allocated a sequence")
	}
	changes, err := c.ChangesSince(bg, 0, 0)
	must(t, err)
	if len(changes) != 1 || changes[0].DocID != "keep" {
		t.Errorf("changes after purge = %+v", changes)
	}
	if r, _ := c.RemoteAncestor(bg, "peer", "p"); r != "" {
		t.Errorf("remote ancestor survived purge: %s", r)
	}
	// A purged document can be created afresh, starting at generation 1.
	if d := save(t, c, "p", `{"v":3}`); !strings.HasPrefix(d.RevID, "1-") || d.Sequence <= seq {
		t.Errorf("recreated purged doc = %+v", d)
	}
	// Purging a tombstone leaves the live count alone.
	save(t, c, "t", `{}`)
	_, err = c.Delete(bg, "t", store.SaveOptions{})
	must(t, err)
	n := count(t, c)
	must(t, c.Purge(bg, "t"))
	if count(t, c) != n {
		t.Errorf("purging a tombstone changed the count %d -> %d", n, count(t, c))
	}
}

func testSequences(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	other, err := db.CreateCollection(bg, "s", "other")
	must(t, err)
	if lastSeq(t, c) != 0 {
		t.Errorf("empty collection last sequence = %d", lastSeq(t, c))
	}
	var seqs []uint64
	note := func(s uint64) { seqs = append(seqs, s) }
	note(save(t, c, "a", `{}`).Sequence)
	note(save(t, c, "b", `{}`).Sequence)
	a2 := save(t, c, "a", `{"x":1}`)
	note(a2.Sequence)
	d, err := c.Delete(bg, "b", store.SaveOptions{})
	must(t, err)
	note(d.Sequence)
	res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "r", RevID: fakeRev(1, "r"), Body: []byte(`{}`)})
	must(t, err)
	note(res.Sequence)
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "a", RevID: fakeRev(2, "branch"), History: []string{fakeRev(1, "root")}, Body: []byte(`{}`)})
	must(t, err)
	note(res.Sequence)
	r, err := c.ResolveConflict(bg, "a", a2.RevID, fakeRev(2, "branch"), nil, false)
	must(t, err)
	note(r.Sequence)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("sequences not strictly increasing: %v", seqs)
		}
	}
	if lastSeq(t, c) != seqs[len(seqs)-1] {
		t.Errorf("LastSequence = %d, want %d", lastSeq(t, c), seqs[len(seqs)-1])
	}
	if o := save(t, other, "a", `{}`); o.Sequence != 1 {
		t.Errorf("sequences are not per collection: first in other = %d", o.Sequence)
	}
	// A failed save does not consume a sequence.
	before := lastSeq(t, c)
	_, err = c.Save(bg, "a", []byte(`[]`), store.SaveOptions{})
	wantErr(t, err, store.ErrInvalidJSON)
	if next := save(t, c, "z", `{}`); next.Sequence != before+1 {
		t.Errorf("sequence after a failed save = %d, want %d", next.Sequence, before+1)
	}
}

func testChangesSince(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "a", `{"n":1}`)       // 1
	save(t, c, "b", `{"n":2}`)       // 2
	save(t, c, "c", `{"n":3}`)       // 3
	a2 := save(t, c, "a", `{"n":4}`) // 4
	del, err := c.Delete(bg, "b", store.SaveOptions{})
	must(t, err) // 5
	all, err := c.ChangesSince(bg, 0, 0)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("changes = %+v, want 3 rows", all)
	}
	want := []store.Change{
		{Sequence: 3, DocID: "c", RevID: all[0].RevID, BodySize: 7},
		{Sequence: a2.Sequence, DocID: "a", RevID: a2.RevID, BodySize: 7},
		{Sequence: del.Sequence, DocID: "b", RevID: del.RevID, Deleted: true, BodySize: 2},
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("changes = %+v\nwant %+v", all, want)
	}
	tests := []struct {
		since uint64
		limit int
		ids   string
	}{
		{0, 2, "[c a]"},
		{3, 0, "[a b]"},
		{4, 1, "[b]"},
		{5, 0, "[]"},
		{100, 0, "[]"},
		{0, -1, "[c a b]"},
	}
	for _, tt := range tests {
		got, err := c.ChangesSince(bg, tt.since, tt.limit)
		must(t, err)
		var ids []string
		for _, ch := range got {
			ids = append(ids, ch.DocID)
		}
		if s := fmt.Sprint(ids); s != tt.ids && !(s == "[]" && tt.ids == "[]") {
			t.Errorf("ChangesSince(%d, %d) = %v, want %s", tt.since, tt.limit, ids, tt.ids)
		}
	}
}

func testPutExistingRevision(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	r1, r2, r3 := fakeRev(1, "a"), fakeRev(2, "b"), fakeRev(3, "c")
	res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "d", RevID: r3, History: []string{r2, r1}, Body: []byte(`{ "v" : 3 }`)})
	must(t, err)
	if !res.Inserted || res.Conflicted || res.Sequence == 0 || res.Document.RevID != r3 || string(res.Document.Body) != `{"v":3}` {
		t.Fatalf("insert = %+v", res)
	}
	hist, err := c.History(bg, "d", r3, 0)
	must(t, err)
	if fmt.Sprint(hist) != fmt.Sprint([]string{r2, r1}) {
		t.Errorf("history = %v", hist)
	}
	_, err = c.GetRevision(bg, "d", r2)
	wantErr(t, err, store.ErrNotFound) // history-only revisions have no body
	// Already known: no-op.
	seq := lastSeq(t, c)
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "d", RevID: r3, History: []string{r2, r1}, Body: []byte(`{"v":3}`)})
	must(t, err)
	if res.Inserted || res.Sequence != 0 || res.Document == nil || res.Document.RevID != r3 || lastSeq(t, c) != seq {
		t.Errorf("re-insert = %+v", res)
	}
	// Truncated history grafts onto the newest known ancestor.
	r4, r5 := fakeRev(4, "d"), fakeRev(5, "e")
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "d", RevID: r5, History: []string{r4, r3}, Body: []byte(`{"v":5}`)})
	must(t, err)
	if !res.Inserted || res.Conflicted || res.Document.RevID != r5 {
		t.Errorf("graft = %+v", res)
	}
	hist, _ = c.History(bg, "d", r5, 0)
	if fmt.Sprint(hist) != fmt.Sprint([]string{r4, r3, r2, r1}) {
		t.Errorf("history after graft = %v", hist)
	}
	hist, _ = c.History(bg, "d", r5, 2)
	if fmt.Sprint(hist) != fmt.Sprint([]string{r4, r3}) {
		t.Errorf("history max 2 = %v", hist)
	}
	_, err = c.History(bg, "d", fakeRev(9, "zz"), 0)
	wantErr(t, err, store.ErrNotFound)
	// The parent of the current revision was given without body; the former
	// current revision (r3) lost its body as it is no longer a leaf nor the parent.
	if _, err := c.GetRevision(bg, "d", r3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRevision(r3) = %v, want ErrNotFound", err)
	}
	putExistingAfterHistory(t, c, r1, r5)
	putExistingLongHistory(t, c)
}

// putExistingAfterHistory: a remote tombstone on document "d" (current r5), a local save
// extending it, and a brand-new document without history.
func putExistingAfterHistory(t *testing.T, c *store.Collection, r1, r5 string) {
	// Remote tombstone.
	r6 := fakeRev(6, "f")
	res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "d", RevID: r6, History: []string{r5}, Deleted: true})
	must(t, err)
	if !res.Document.Deleted || string(res.Document.Body) != "{}" || count(t, c) != 0 {
		t.Errorf("remote tombstone = %+v, count %d", res.Document, count(t, c))
	}
	// A local save after a remote insert extends it.
	d := save(t, c, "d", `{"v":7}`)
	if !strings.HasPrefix(d.RevID, "7-") {
		t.Errorf("local save after remote revs = %s", d.RevID)
	}
	// A brand-new document with no history.
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "new", RevID: r1, Body: []byte(`{}`), NoConflicts: true})
	must(t, err)
	if !res.Inserted || res.Document.RevID != r1 {
		t.Errorf("insert new = %+v", res)
	}
}

func putExistingLongHistory(t *testing.T, c *store.Collection) {
	// New documents with a history longer than the kept depth: small and large bodies
	// (stored by different paths) give the same pruned tree.
	var long []string
	for g := 29; g >= 1; g-- {
		long = append(long, fakeRev(g, "h"))
	}
	top := fakeRev(30, "h")
	n0 := count(t, c)
	for _, body := range []string{`{"v":1}`, `{"p":"` + strings.Repeat("y", 40000) + `"}`} {
		id := fmt.Sprintf("long%d", len(body))
		seq := lastSeq(t, c)
		res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: id, RevID: top, History: long, Body: []byte(body), NoConflicts: true})
		must(t, err)
		if !res.Inserted || res.Conflicted || res.Sequence != seq+1 || res.Document.RevID != top || string(res.Document.Body) != body {
			t.Errorf("%s: insert = %+v", id, res)
		}
		revs, err := c.Revisions(bg, id)
		must(t, err)
		if len(revs) != 20 || revs[0].RevID != top || !revs[0].Leaf || !revs[0].HasBody || revs[0].Sequence != seq+1 ||
			revs[19].RevID != long[18] || revs[19].Parent != "" || revs[1].HasBody {
			t.Errorf("%s: revisions = %+v", id, revs)
		}
		if doc, err := c.Get(bg, id); err != nil || doc.RevID != top || string(doc.Body) != body {
			t.Errorf("%s: get = %+v, %v", id, doc, err)
		}
		res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: id, RevID: top, History: long, Body: []byte(body)})
		must(t, err)
		if res.Inserted || lastSeq(t, c) != seq+1 {
			t.Errorf("%s: re-insert = %+v", id, res)
		}
	}
	if got := count(t, c); got != n0+2 {
		t.Errorf("count = %d, want %d", got, n0+2)
	}
}

func testPutExistingInvalid(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	r1, r2, r3 := fakeRev(1, "a"), fakeRev(2, "b"), fakeRev(3, "c")
	tests := []struct {
		name string
		rev  store.RemoteRevision
		want error
	}{
		{"empty rev", store.RemoteRevision{DocID: "d", RevID: "", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"no dash", store.RemoteRevision{DocID: "d", RevID: "1abc", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"zero generation", store.RemoteRevision{DocID: "d", RevID: "0-abc", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"negative generation", store.RemoteRevision{DocID: "d", RevID: "-1-abc", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"non hex digest", store.RemoteRevision{DocID: "d", RevID: "1-xyz", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"upper hex", store.RemoteRevision{DocID: "d", RevID: "1-ABC", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"empty digest", store.RemoteRevision{DocID: "d", RevID: "1-", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"huge generation", store.RemoteRevision{DocID: "d", RevID: "99999999999999999999-ab", Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"gap in history", store.RemoteRevision{DocID: "d", RevID: r3, History: []string{r1}, Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"history too long", store.RemoteRevision{DocID: "d", RevID: r2, History: []string{r1, fakeRev(0+1, "x")}, Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"bad history entry", store.RemoteRevision{DocID: "d", RevID: r2, History: []string{"1-nothex"}, Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"history same gen", store.RemoteRevision{DocID: "d", RevID: r2, History: []string{fakeRev(2, "q")}, Body: []byte(`{}`)}, store.ErrInvalidRevID},
		{"missing body", store.RemoteRevision{DocID: "d", RevID: r1}, store.ErrInvalidJSON},
		{"array body", store.RemoteRevision{DocID: "d", RevID: r1, Body: []byte(`[]`)}, store.ErrInvalidJSON},
		{"bad tombstone body", store.RemoteRevision{DocID: "d", RevID: r1, Deleted: true, Body: []byte(`{`)}, store.ErrInvalidJSON},
		{"bad doc id", store.RemoteRevision{DocID: "", RevID: r1, Body: []byte(`{}`)}, store.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutExistingRevision(bg, tt.rev)
			wantErr(t, err, tt.want)
		})
	}
	if lastSeq(t, c) != 0 || count(t, c) != 0 {
		t.Error("an invalid insert wrote something")
	}
}

func testConflictsAndWinner(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	r1 := fakeRev(1, "root")
	// Two branches of generation 2 from a common root: higher digest wins.
	lo, hi := "2-"+strings.Repeat("1", 40), "2-"+strings.Repeat("e", 40)
	put := func(rev string, hist []string, deleted bool, body string) store.InsertResult {
		t.Helper()
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "d", RevID: rev, History: hist, Deleted: deleted, Body: b})
		must(t, err)
		return res
	}
	put(lo, []string{r1}, false, `{"b":"lo"}`)
	res := put(hi, []string{r1}, false, `{"b":"hi"}`)
	if !res.Conflicted || res.Document.RevID != hi {
		t.Fatalf("branch insert = %+v", res)
	}
	conf, err := c.Conflicts(bg, "d")
	must(t, err)
	if fmt.Sprint(conf) != fmt.Sprint([]string{lo}) {
		t.Errorf("conflicts = %v", conf)
	}
	if got, _ := c.Get(bg, "d"); got.RevID != hi || string(got.Body) != `{"b":"hi"}` {
		t.Errorf("winner = %+v", got)
	}
	if count(t, c) != 1 {
		t.Errorf("a conflicted doc counts %d times", count(t, c))
	}
	// The losing branch grows longer: higher generation wins.
	lo3 := fakeRev(3, "lo3")
	res = put(lo3, []string{lo, r1}, false, `{"b":"lo3"}`)
	if res.Document.RevID != lo3 {
		t.Errorf("higher generation did not win: %s", res.Document.RevID)
	}
	// A deleted leaf loses to a live one even with a higher generation.
	lo4 := fakeRev(4, "lo4")
	res = put(lo4, []string{lo3}, true, "")
	if res.Document.RevID != hi || res.Document.Deleted || res.Conflicted {
		t.Errorf("after deleting the winning branch: %+v", res)
	}
	conf, _ = c.Conflicts(bg, "d")
	if len(conf) != 0 {
		t.Errorf("a deleted leaf is reported as a conflict: %v", conf)
	}
	// With every leaf deleted, the document is deleted; winner = higher generation.
	hi3 := fakeRev(3, "hi3")
	res = put(hi3, []string{hi}, true, "")
	if !res.Document.Deleted || res.Document.RevID != lo4 {
		t.Errorf("all-deleted winner = %+v", res.Document)
	}
	if _, err := c.Get(bg, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of an all-deleted doc: %v", err)
	}
	if count(t, c) != 0 {
		t.Errorf("count = %d", count(t, c))
	}
	revs, err := c.Revisions(bg, "d")
	must(t, err)
	leaves := 0
	for _, r := range revs {
		if r.Leaf {
			leaves++
			if !r.HasBody {
				t.Errorf("leaf %s has no body", r.RevID)
			}
		}
	}
	if leaves != 2 || len(revs) != 6 {
		t.Errorf("tree = %+v", revs)
	}
	// An unrelated chain with no known ancestor becomes its own branch.
	res = put(fakeRev(2, "island"), []string{fakeRev(1, "other-root")}, false, `{"i":1}`)
	if res.Document.RevID != fakeRev(2, "island") || res.Conflicted {
		t.Errorf("unrelated branch = %+v", res)
	}
}

func testNoConflicts(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	d1 := save(t, c, "d", `{"v":1}`)
	d2 := save(t, c, "d", `{"v":2}`)
	tests := []struct {
		name string
		rev  store.RemoteRevision
		ok   bool
	}{
		{"stale ancestor", store.RemoteRevision{DocID: "d", RevID: fakeRev(2, "x"), History: []string{d1.RevID}, Body: []byte(`{}`)}, false},
		{"unknown history", store.RemoteRevision{DocID: "d", RevID: fakeRev(5, "x"), History: []string{fakeRev(4, "y")}, Body: []byte(`{}`)}, false},
		{"no history on live doc", store.RemoteRevision{DocID: "d", RevID: fakeRev(1, "x"), Body: []byte(`{}`)}, false},
		{"extends current", store.RemoteRevision{DocID: "d", RevID: fakeRev(4, "x"), History: []string{fakeRev(3, "y"), d2.RevID, d1.RevID}, Body: []byte(`{"v":4}`)}, true},
		{"new document", store.RemoteRevision{DocID: "fresh", RevID: fakeRev(3, "x"), History: []string{fakeRev(2, "y")}, Body: []byte(`{}`)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rev.NoConflicts = true
			before := lastSeq(t, c)
			res, err := c.PutExistingRevision(bg, tt.rev)
			if !tt.ok {
				wantErr(t, err, store.ErrConflict)
				if lastSeq(t, c) != before {
					t.Error("refused insert changed the collection")
				}
				return
			}
			must(t, err)
			if !res.Inserted || res.Conflicted || res.Document.RevID != tt.rev.RevID {
				t.Errorf("insert = %+v", res)
			}
		})
	}
	noConflictsOverTombstone(t, c)
	noConflictsBranchRules(t, c)
}

func noConflictsOverTombstone(t *testing.T, c *store.Collection) {
	// A deleted document accepts a new chain without history.
	save(t, c, "del", `{}`)
	_, err := c.Delete(bg, "del", store.SaveOptions{})
	must(t, err)
	res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "del", RevID: fakeRev(1, "n"), Body: []byte(`{"back":1}`), NoConflicts: true})
	must(t, err)
	if res.Document.Deleted || res.Document.RevID != fakeRev(1, "n") {
		t.Errorf("insert over tombstone = %+v", res.Document)
	}
}

func noConflictsBranchRules(t *testing.T, c *store.Collection) {
	// Sync Gateway's other two rules. A conflicted document: live leaves 2-b (current)
	// and 2-a, both from root 1-r.
	root, la, lb := fakeRev(1, "r"), fakeRev(2, "a"), fakeRev(2, "b")
	for _, r := range []string{la, lb} {
		_, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "br", RevID: r, History: []string{root}, Body: []byte(`{}`)})
		must(t, err)
	}
	put := func(rev store.RemoteRevision) (store.InsertResult, error) {
		rev.DocID, rev.NoConflicts = "br", true
		if !rev.Deleted {
			rev.Body = []byte(`{"v":"live"}`)
		}
		return c.PutExistingRevision(bg, rev)
	}
	// A tombstone closing the live non-current leaf is accepted; one on a new branch is not.
	_, err := put(store.RemoteRevision{RevID: fakeRev(2, "t"), History: []string{root}, Deleted: true})
	wantErr(t, err, store.ErrConflict)
	res, err := put(store.RemoteRevision{RevID: fakeRev(3, "close"), History: []string{la, root}, Deleted: true})
	must(t, err)
	if res.Conflicted || res.Document.RevID != lb {
		t.Errorf("closing a live leaf = %+v", res)
	}
	// Closing the (now deleted) branch again is refused: it is not a live leaf any more.
	_, err = put(store.RemoteRevision{RevID: fakeRev(4, "again"), History: []string{fakeRev(3, "close"), la, root}, Deleted: true})
	wantErr(t, err, store.ErrConflict)
	// Deleted document: a revision branching from a revision known here is refused,
	// live or not; a live one with no known ancestry (created again) is accepted.
	_, err = put(store.RemoteRevision{RevID: fakeRev(3, "del"), History: []string{lb, root}, Deleted: true})
	must(t, err)
	_, err = put(store.RemoteRevision{RevID: fakeRev(3, "t2"), History: []string{la, root}, Deleted: true})
	wantErr(t, err, store.ErrConflict)
	_, err = put(store.RemoteRevision{RevID: fakeRev(4, "branch"), History: []string{fakeRev(3, "x"), la, root}})
	wantErr(t, err, store.ErrConflict)
	res, err = put(store.RemoteRevision{RevID: fakeRev(4, "revived"), History: []string{fakeRev(3, "x")}})
	must(t, err)
	if res.Document.Deleted || res.Document.RevID != fakeRev(4, "revived") || res.Conflicted {
		t.Errorf("created again over a deletion = %+v", res)
	}
}

func testResolveConflict(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	resolveKeepOne(t, c)
	resolveMerge(t, c)
	resolveToDeletion(t, c)
	resolveErrors(t, c)
}

// conflictPair makes document id a conflict, two generation-2 leaves under one root,
// and returns them.
func conflictPair(t *testing.T, c *store.Collection, id string) (a, b string) {
	t.Helper()
	root := fakeRev(1, id)
	a, b = fakeRev(2, id+"a"), fakeRev(2, id+"b")
	for _, r := range []string{a, b} {
		_, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: id, RevID: r, History: []string{root}, Body: []byte(`{"r":"` + r[:4] + `"}`)})
		must(t, err)
	}
	return a, b
}

// winnerOf returns the winner of a conflict between leaves a and b of one generation
// (the higher digest), then the loser.
func winnerOf(a, b string) (string, string) {
	if strings.Compare(a[2:], b[2:]) > 0 {
		return a, b
	}
	return b, a
}

// resolveKeepOne: keeping one branch as is gives the other a tombstone child.
func resolveKeepOne(t *testing.T, c *store.Collection) {
	// 1. Keep one branch as is: the other gets a tombstone child.
	a, b := conflictPair(t, c, "keep")
	w, l := winnerOf(a, b)
	seq := lastSeq(t, c)
	doc, err := c.ResolveConflict(bg, "keep", l, w, nil, false) // the local loser wins the resolution
	must(t, err)
	if doc.RevID != l || doc.Deleted || doc.Sequence <= seq {
		t.Errorf("resolve keep = %+v", doc)
	}
	if conf, _ := c.Conflicts(bg, "keep"); len(conf) != 0 {
		t.Errorf("conflicts after resolve = %v", conf)
	}
	revs, _ := c.Revisions(bg, "keep")
	if len(revs) != 4 || !revs[0].Deleted || revs[0].Parent != w || !strings.HasPrefix(revs[0].RevID, "3-") {
		t.Errorf("tree after resolve = %+v", revs)
	}
}

// resolveMerge: a merge is a new revision under the winner.
func resolveMerge(t *testing.T, c *store.Collection) {
	// 2. Merge: new revision under the winner.
	a, b := conflictPair(t, c, "merge")
	w, l := winnerOf(a, b)
	doc, err := c.ResolveConflict(bg, "merge", w, l, []byte(`{ "merged" : true }`), false)
	must(t, err)
	if !strings.HasPrefix(doc.RevID, "3-") || string(doc.Body) != `{"merged":true}` || doc.Deleted {
		t.Errorf("resolve merge = %+v", doc)
	}
	if h, _ := c.History(bg, "merge", doc.RevID, 1); len(h) != 1 || h[0] != w {
		t.Errorf("merged revision parent = %v, want %s", h, w)
	}
	if want := revID(w, false, `{"merged":true}`); doc.RevID != want {
		t.Errorf("merged revID = %s, want %s", doc.RevID, want)
	}
}

// resolveToDeletion: a conflict resolved to a deletion.
func resolveToDeletion(t *testing.T, c *store.Collection) {
	// 3. Resolve to a deletion.
	a, b := conflictPair(t, c, "gone")
	doc, err := c.ResolveConflict(bg, "gone", a, b, nil, true)
	must(t, err)
	if !doc.Deleted {
		t.Errorf("resolve to deletion = %+v", doc)
	}
	if _, err := c.Get(bg, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after resolving to deletion: %v", err)
	}
}

// resolveErrors: what ResolveConflict refuses.
func resolveErrors(t *testing.T, c *store.Collection) {
	// 4. Errors.
	a, b := conflictPair(t, c, "err")
	_, err := c.ResolveConflict(bg, "err", a, fakeRev(2, "unknown"), nil, false)
	wantErr(t, err, store.ErrNotFound)
	_, err = c.ResolveConflict(bg, "err", a, fakeRev(1, "err"), nil, false) // root is not a leaf
	wantErr(t, err, store.ErrConflict)
	_, err = c.ResolveConflict(bg, "err", a, a, nil, false)
	wantErr(t, err, store.ErrInvalidRevID)
	_, err = c.ResolveConflict(bg, "err", a, "junk", nil, false)
	wantErr(t, err, store.ErrInvalidRevID)
	_, err = c.ResolveConflict(bg, "err", a, b, []byte(`[1]`), false)
	wantErr(t, err, store.ErrInvalidJSON)
	_, err = c.ResolveConflict(bg, "missing", a, b, nil, false)
	wantErr(t, err, store.ErrNotFound)
	_, err = c.ResolveConflict(bg, "err", a, b, nil, false)
	must(t, err)
	_, err = c.ResolveConflict(bg, "err", a, b, nil, false) // b already closed
	wantErr(t, err, store.ErrConflict)
}

// revSet lists a document's kept revision IDs.
func revSet(t *testing.T, c *store.Collection, id string) map[string]store.Revision {
	t.Helper()
	revs, err := c.Revisions(bg, id)
	must(t, err)
	out := map[string]store.Revision{}
	for _, r := range revs {
		out[r.RevID] = r
	}
	return out
}

// wantChange checks that the change feed's row for id comes after since and names rev.
func wantChange(t *testing.T, c *store.Collection, since uint64, id, rev string, deleted bool) {
	t.Helper()
	ch, err := c.ChangesSince(bg, since, 0)
	must(t, err)
	for _, x := range ch {
		if x.DocID == id {
			if x.RevID != rev || x.Deleted != deleted || x.Sequence <= since {
				t.Errorf("change of %q = %+v, want rev %s deleted=%v after sequence %d", id, x, rev, deleted, since)
			}
			return
		}
	}
	t.Errorf("no change of %q after sequence %d", id, since)
}

// ResolveConflictWith with PruneLosingBranch removes the losing branch instead of
// closing it, so that a deletion that won is the current revision.
func testResolvePruningLosingBranch(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	pruneDeletionWins(t, c)
	pruneOverLongerTombstone(t, c)
	pruneLiveResult(t, c)
	pruneErrors(t, c)
}

// putRev inserts rev as document id, with a small body unless it is a deletion or has one.
func putRev(t *testing.T, c *store.Collection, id string, rev store.RemoteRevision) {
	t.Helper()
	rev.DocID = id
	if !rev.Deleted && rev.Body == nil {
		rev.Body = []byte(`{"r":"` + rev.RevID[:4] + `"}`)
	}
	_, err := c.PutExistingRevision(bg, rev)
	must(t, err)
}

// pruneDeletionWins: A deletion (generation 2) wins over a longer live branch (generation 3), beside
// an older closed branch whose tombstone (generation 3) would outrank it too.
func pruneDeletionWins(t *testing.T, c *store.Collection) {
	root := fakeRev(1, "root")
	la2, la3 := fakeRev(2, "local"), fakeRev(3, "local")
	deletion := fakeRev(2, "deletion")
	oldBranch, oldClosed := fakeRev(2, "old"), fakeRev(3, "old-closed")
	for _, r := range []store.RemoteRevision{
		{RevID: la2, History: []string{root}}, {RevID: la3, History: []string{la2, root}},
		{RevID: oldBranch, History: []string{root}}, {RevID: oldClosed, History: []string{oldBranch, root}, Deleted: true},
		{RevID: deletion, History: []string{root}, Deleted: true},
	} {
		putRev(t, c, "del", r)
	}
	if d, _ := c.GetWithDeleted(bg, "del"); d.RevID != la3 {
		t.Fatalf("precondition: current %s, want the live %s", d.RevID, la3)
	}
	seq := lastSeq(t, c)
	doc, err := c.ResolveConflictWith(bg, "del", deletion, la3, store.ResolveOptions{PruneLosingBranch: true})
	must(t, err)
	if doc.RevID != deletion || !doc.Deleted || doc.Sequence != seq+1 {
		t.Errorf("resolution = %+v, want the deletion %s at sequence %d", doc, deletion, seq+1)
	}
	revs := revSet(t, c, "del")
	if len(revs) != 2 || !revs[deletion].Leaf || revs[root].RevID != root {
		t.Errorf("tree after pruning = %v, want only %s and %s", revs, root, deletion)
	}
	if d, err := c.GetWithDeleted(bg, "del"); err != nil || d.RevID != deletion || d.Sequence != seq+1 {
		t.Errorf("current = %+v, %v", d, err)
	}
	wantChange(t, c, seq, "del", deletion, true)
	if n := count(t, c); n != 0 {
		t.Errorf("live documents = %d, want 0", n)
	}
}

// pruneOverLongerTombstone: A deletion made on top of the live winner over a local tombstone branch that
// is longer: the local tombstone goes, the new tombstone is current.
func pruneOverLongerTombstone(t *testing.T, c *store.Collection) {
	root := fakeRev(1, "root")
	rw, lt2, lt3, lt4 := fakeRev(2, "remote"), fakeRev(2, "l"), fakeRev(3, "l"), fakeRev(4, "l-deleted")
	for _, r := range []store.RemoteRevision{
		{RevID: lt2, History: []string{root}}, {RevID: lt3, History: []string{lt2, root}},
		{RevID: lt4, History: []string{lt3, lt2, root}, Deleted: true},
		{RevID: rw, History: []string{root}},
	} {
		putRev(t, c, "del2", r)
	}
	doc, err := c.ResolveConflictWith(bg, "del2", rw, lt4, store.ResolveOptions{PruneLosingBranch: true, MergedDeleted: true})
	must(t, err)
	if want := revID(rw, true, `{}`); doc.RevID != want || !doc.Deleted {
		t.Errorf("resolution = %+v, want the tombstone %s on top of %s", doc, want, rw)
	}
	revs := revSet(t, c, "del2")
	if len(revs) != 3 || revs[rw].Leaf || !revs[doc.RevID].Leaf {
		t.Errorf("tree after pruning = %v, want %s, %s and its tombstone", revs, root, rw)
	}
}

// pruneLiveResult: A live result: the losing branch goes, nothing else changes; the branch point
// shared with the winner stays.
func pruneLiveResult(t *testing.T, c *store.Collection) {
	root := fakeRev(1, "root")
	a, b := fakeRev(2, "a"), fakeRev(2, "b")
	b3 := fakeRev(3, "b")
	for _, r := range []store.RemoteRevision{
		{RevID: a, History: []string{root}}, {RevID: b, History: []string{root}}, {RevID: b3, History: []string{b, root}},
	} {
		putRev(t, c, "live", r)
	}
	doc, err := c.ResolveConflictWith(bg, "live", a, b3, store.ResolveOptions{PruneLosingBranch: true, MergedBody: []byte(`{"m":1}`)})
	must(t, err)
	if doc.Deleted || string(doc.Body) != `{"m":1}` {
		t.Errorf("merged resolution = %+v", doc)
	}
	revs := revSet(t, c, "live")
	if _, ok := revs[b]; ok || len(revs) != 3 {
		t.Errorf("tree after pruning = %v, want %s, %s and the merge", revs, root, a)
	}
	if cf, _ := c.Conflicts(bg, "live"); len(cf) != 0 {
		t.Errorf("conflicts = %v", cf)
	}
}

// pruneErrors: Without PruneLosingBranch a deleted loser is still refused; with it, unknown
// revisions and inner ones are errors as for ResolveConflict.
func pruneErrors(t *testing.T, c *store.Collection) {
	root := fakeRev(1, "root")
	deletion := fakeRev(2, "deletion")
	a := fakeRev(2, "a")
	putRev(t, c, "err", store.RemoteRevision{RevID: a, History: []string{root}})
	putRev(t, c, "err", store.RemoteRevision{RevID: deletion, History: []string{root}, Deleted: true})
	putRev(t, c, "err", store.RemoteRevision{RevID: fakeRev(2, "x"), History: []string{root}, Deleted: true})
	_, err := c.ResolveConflictWith(bg, "err", a, deletion, store.ResolveOptions{})
	wantErr(t, err, store.ErrConflict)
	_, err = c.ResolveConflictWith(bg, "err", a, root, store.ResolveOptions{PruneLosingBranch: true})
	wantErr(t, err, store.ErrConflict)
	_, err = c.ResolveConflictWith(bg, "err", a, fakeRev(2, "unknown"), store.ResolveOptions{PruneLosingBranch: true})
	wantErr(t, err, store.ErrNotFound)
}

// PutExistingRevision with AdoptDeletion: a pulled deletion becomes the current revision
// of a document without live leaves, the tombstones that would beat it being removed;
// a live leaf is never removed.
func testAdoptDeletion(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	root := fakeRev(1, "root")
	ours2, ours3, oursDel := fakeRev(2, "ours"), fakeRev(3, "ours"), fakeRev(4, "ours-deleted")
	theirs := fakeRev(2, "theirs-deleted")
	for _, id := range []string{"plain", "adopt"} {
		for _, r := range []store.RemoteRevision{
			{RevID: root, Body: []byte(`{}`)},
			{RevID: ours2, History: []string{root}, Body: []byte(`{"v":2}`)},
			{RevID: ours3, History: []string{ours2, root}, Body: []byte(`{"v":3}`)},
			{RevID: oursDel, History: []string{ours3, ours2, root}, Deleted: true},
		} {
			r.DocID = id
			_, err := c.PutExistingRevision(bg, r)
			must(t, err)
		}
	}
	// Without the flag the winner rule keeps the longer local tombstone current.
	res, err := c.PutExistingRevision(bg, store.RemoteRevision{DocID: "plain", RevID: theirs, History: []string{root}, Deleted: true})
	must(t, err)
	if res.Document.RevID != oursDel {
		t.Errorf("without AdoptDeletion: current %s, want %s", res.Document.RevID, oursDel)
	}
	seq := lastSeq(t, c)
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "adopt", RevID: theirs, History: []string{root}, Deleted: true, AdoptDeletion: true})
	must(t, err)
	if !res.Inserted || res.Document.RevID != theirs || !res.Document.Deleted || res.Sequence != seq+1 || res.Conflicted {
		t.Errorf("with AdoptDeletion: %+v, want %s current at sequence %d", res, theirs, seq+1)
	}
	revs := revSet(t, c, "adopt")
	if len(revs) != 2 || !revs[theirs].Leaf {
		t.Errorf("tree = %v, want %s and %s", revs, root, theirs)
	}
	wantChange(t, c, seq, "adopt", theirs, true)
	// Already known: a no-op.
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "adopt", RevID: theirs, History: []string{root}, Deleted: true, AdoptDeletion: true})
	must(t, err)
	if res.Inserted || lastSeq(t, c) != seq+1 {
		t.Errorf("inserting again: %+v", res)
	}

	// A live leaf stays (the document is live: the deletion is a conflict to resolve).
	for _, r := range []store.RemoteRevision{
		{RevID: root, Body: []byte(`{}`)},
		{RevID: ours2, History: []string{root}, Body: []byte(`{"v":2}`)},
		{RevID: fakeRev(2, "closed"), History: []string{root}, Body: []byte(`{"v":"c"}`)},
		{RevID: fakeRev(3, "closed"), History: []string{fakeRev(2, "closed"), root}, Deleted: true},
	} {
		r.DocID = "live"
		_, err := c.PutExistingRevision(bg, r)
		must(t, err)
	}
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "live", RevID: theirs, History: []string{root}, Deleted: true, AdoptDeletion: true})
	must(t, err)
	revs = revSet(t, c, "live")
	if res.Document.RevID != ours2 || res.Document.Deleted || len(revs) != 5 {
		t.Errorf("a live leaf beside: current %+v, tree %v; want %s current and nothing removed", res.Document, revs, ours2)
	}
	// A pulled deletion beaten by nothing leaves the other tombstones alone.
	for _, r := range []store.RemoteRevision{
		{RevID: root, Body: []byte(`{}`)},
		{RevID: fakeRev(2, "low-deleted"), History: []string{root}, Deleted: true},
	} {
		r.DocID = "low"
		_, err := c.PutExistingRevision(bg, r)
		must(t, err)
	}
	res, err = c.PutExistingRevision(bg, store.RemoteRevision{DocID: "low", RevID: oursDel, History: []string{ours3, ours2, root}, Deleted: true, AdoptDeletion: true})
	must(t, err)
	if res.Document.RevID != oursDel || len(revSet(t, c, "low")) != 5 {
		t.Errorf("a better pulled deletion: %+v, tree %v", res.Document, revSet(t, c, "low"))
	}
}

// A local deletion is the document's new current revision even where a tombstone
// closing an old branch (a conflict resolved earlier) would outrank it by the winner
// rule: that closed branch is removed. A live leaf is never removed.
func testDeleteOverClosedBranch(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	root, live, branch, closed := fakeRev(1, "root"), fakeRev(2, "live"), fakeRev(2, "branch"), "3-"+strings.Repeat("f", 40)
	for _, id := range []string{"d", "conflicted"} {
		for _, r := range []store.RemoteRevision{
			{RevID: live, History: []string{root}, Body: []byte(`{"v":"live"}`)},
			{RevID: branch, History: []string{root}, Body: []byte(`{"v":"b"}`)},
			{RevID: closed, History: []string{branch, root}, Deleted: true},
		} {
			r.DocID = id
			_, err := c.PutExistingRevision(bg, r)
			must(t, err)
		}
	}
	seq := lastSeq(t, c)
	del, err := c.Delete(bg, "d", store.SaveOptions{})
	must(t, err)
	if want := revID(live, true, `{}`); del.RevID != want {
		t.Fatalf("deletion %s, want %s", del.RevID, want)
	}
	if cur, err := c.GetWithDeleted(bg, "d"); err != nil || cur.RevID != del.RevID || !cur.Deleted {
		t.Errorf("current after Delete = %+v, %v; want the new tombstone %s", cur, err, del.RevID)
	}
	if revs := revSet(t, c, "d"); len(revs) != 3 {
		t.Errorf("tree = %v, want %s, %s and the deletion", revs, root, live)
	}
	wantChange(t, c, seq, "d", del.RevID, true)

	// A second live leaf keeps the document live: nothing is removed.
	put := func(r store.RemoteRevision) {
		r.DocID = "conflicted"
		_, err := c.PutExistingRevision(bg, r)
		must(t, err)
	}
	other := fakeRev(2, "other")
	put(store.RemoteRevision{RevID: other, History: []string{root}, Body: []byte(`{"v":"o"}`)})
	del, err = c.Delete(bg, "conflicted", store.SaveOptions{})
	must(t, err)
	if cur, err := c.Get(bg, "conflicted"); err != nil || cur.Deleted {
		t.Errorf("the other live leaf should be current: %+v, %v", cur, err)
	}
	if revs := revSet(t, c, "conflicted"); len(revs) != 6 || !del.Deleted {
		t.Errorf("deleting one of two live leaves: %+v, tree %v", del, revs)
	}
}

func testHistoryAndPruning(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	var revs []string
	for i := 1; i <= 30; i++ {
		revs = append(revs, save(t, c, "deep", fmt.Sprintf(`{"i":%d}`, i)).RevID)
	}
	tree, err := c.Revisions(bg, "deep")
	must(t, err)
	if len(tree) != 20 {
		t.Fatalf("kept %d revisions, want 20 (default MaxRevTreeDepth)", len(tree))
	}
	if tree[0].RevID != revs[29] || tree[19].RevID != revs[10] || tree[19].Parent != "" {
		t.Errorf("kept the wrong revisions: newest %s oldest %s (parent %q)", tree[0].RevID, tree[19].RevID, tree[19].Parent)
	}
	hist, err := c.History(bg, "deep", revs[29], 0)
	must(t, err)
	if len(hist) != 19 || hist[0] != revs[28] || hist[18] != revs[10] {
		t.Errorf("history = %v", hist)
	}
	_, err = c.History(bg, "deep", revs[5], 0)
	wantErr(t, err, store.ErrNotFound) // pruned
	if !strings.HasPrefix(revs[29], "30-") {
		t.Errorf("generation after 30 saves: %s", revs[29])
	}
}

func testBatch(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	batchCommitsTogether(t, db, c)
	batchInBatch(t, db, c)
	batchWaiters(t, db, c)
}

// batchCommitsTogether: writes to two collections in one batch are invisible until the
// commit, then visible together, with one change event.
func batchCommitsTogether(t *testing.T, db *store.Database, c *store.Collection) {
	other, err := db.CreateCollection(bg, "s", "other")
	must(t, err)
	var events []store.CollectionChange
	var mu sync.Mutex
	tok := c.AddChangeListener(func(ch store.CollectionChange) {
		mu.Lock()
		events = append(events, ch)
		mu.Unlock()
	})
	defer tok.Remove()

	b, err := db.BeginBatch(bg)
	must(t, err)
	var last *store.Document
	for i := 0; i < 50; i++ {
		last, err = b.Save(c, fmt.Sprintf("doc%02d", i), []byte(fmt.Sprintf(`{"i":%d}`, i)), store.SaveOptions{})
		must(t, err)
	}
	_, err = b.Save(other, "o", []byte(`{}`), store.SaveOptions{})
	must(t, err)
	_, err = b.Delete(c, "doc00", store.SaveOptions{})
	must(t, err)
	must(t, b.Purge(c, "doc01"))
	_, err = b.PutExistingRevision(c, store.RemoteRevision{DocID: "remote", RevID: fakeRev(1, "r"), Body: []byte(`{}`)})
	must(t, err)
	// Not visible to readers before commit.
	if _, err := c.Get(bg, "doc05"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("uncommitted save visible: %v", err)
	}
	if count(t, c) != 0 {
		t.Error("uncommitted count visible")
	}
	wantErr(t, db.Close(), store.ErrBusy)
	mu.Lock()
	if len(events) != 0 {
		t.Error("listener called before commit")
	}
	mu.Unlock()
	must(t, b.Commit())
	must(t, b.Rollback()) // no-op after commit
	if err := b.Commit(); err == nil {
		t.Error("second commit succeeded")
	}
	_, err = b.Save(c, "late", []byte(`{}`), store.SaveOptions{})
	if err == nil {
		t.Error("save on a committed batch succeeded")
	}
	if count(t, c) != 49 || count(t, other) != 1 {
		t.Errorf("counts after commit = %d/%d", count(t, c), count(t, other))
	}
	if got, err := c.Get(bg, last.ID); err != nil || got.RevID != last.RevID {
		t.Errorf("committed doc: %v %v", got, err)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 1 })
	mu.Lock()
	if n := len(events[0].Changes); n != 53 || events[0].Collection != c {
		t.Errorf("one commit gave an event with %d changes", n)
	}
	mu.Unlock()
}

// batchInBatch: InBatch commits on nil, rolls back on error.
func batchInBatch(t *testing.T, db *store.Database, c *store.Collection) {
	must(t, db.InBatch(bg, func(b *store.Batch) error {
		_, err := b.Save(c, "inbatch", []byte(`{}`), store.SaveOptions{})
		return err
	}))
	if _, err := c.Get(bg, "inbatch"); err != nil {
		t.Errorf("InBatch did not commit: %v", err)
	}
	boom := errors.New("boom")
	err := db.InBatch(bg, func(b *store.Batch) error {
		if _, err := b.Save(c, "rolled", []byte(`{}`), store.SaveOptions{}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("InBatch error = %v", err)
	}
	if _, err := c.Get(bg, "rolled"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InBatch error did not roll back: %v", err)
	}
}

// batchWaiters: writes outside an open batch fail fast on its own goroutine and wait
// (honouring their context) elsewhere.
func batchWaiters(t *testing.T, db *store.Database, c *store.Collection) {
	// A write by the holder of a batch (named with WithOwner) fails fast instead of
	// deadlocking.
	self := store.WithOwner(bg, "the test goroutine")
	b2, err := db.BeginBatch(self)
	must(t, err)
	_, err = c.Save(self, "self", []byte(`{}`), store.SaveOptions{})
	wantErr(t, err, store.ErrBusy)
	must(t, b2.Rollback())
	// A cancelled context stops a writer waiting for the batch, one with another owner too.
	b3, err := db.BeginBatch(self)
	must(t, err)
	errc := make(chan error, 1)
	for _, ctx := range []context.Context{bg, store.WithOwner(bg, "another goroutine")} {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		start := time.Now()
		go func() { _, err := c.Save(ctx, "waiter", []byte(`{}`), store.SaveOptions{}); errc <- err }()
		select {
		case err := <-errc:
			wantErr(t, err, context.DeadlineExceeded)
			if time.Since(start) < 40*time.Millisecond {
				t.Errorf("writer of owner %v did not wait for the batch", store.OwnerOf(ctx))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("waiting writer ignored its context")
		}
		cancel()
	}
	must(t, b3.Rollback())
	// Once the batch is over, its owner writes as usual.
	if _, err := c.Save(self, "self", []byte(`{}`), store.SaveOptions{}); err != nil {
		t.Fatalf("write after the batch ended: %v", err)
	}
}

func testBatchRollback(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "existing", `{"v":1}`)
	seq, n := lastSeq(t, c), count(t, c)
	var r recorder
	tok := c.AddChangeListener(r.coll)
	defer tok.Remove()
	b, err := db.BeginBatch(bg)
	must(t, err)
	for i := 0; i < 20; i++ {
		_, err := b.Save(c, fmt.Sprintf("r%d", i), []byte(`{}`), store.SaveOptions{})
		must(t, err)
	}
	_, err = b.Save(c, "existing", []byte(`{"v":2}`), store.SaveOptions{})
	must(t, err)
	must(t, b.Purge(c, "existing"))
	// An invalid save inside a batch fails alone; the batch stays usable.
	_, err = b.Save(c, "bad", []byte(`nope`), store.SaveOptions{})
	wantErr(t, err, store.ErrInvalidJSON)
	must(t, b.Rollback())
	must(t, b.Rollback())
	if lastSeq(t, c) != seq || count(t, c) != n {
		t.Errorf("rollback left seq/count %d/%d, want %d/%d", lastSeq(t, c), count(t, c), seq, n)
	}
	if got, err := c.Get(bg, "existing"); err != nil || string(got.Body) != `{"v":1}` {
		t.Errorf("rolled-back update/purge visible: %v %v", got, err)
	}
	if _, err := c.Get(bg, "r0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back save visible: %v", err)
	}
	// Sequences continue from the committed value.
	if d := save(t, c, "after", `{}`); d.Sequence != seq+1 {
		t.Errorf("sequence after rollback = %d, want %d", d.Sequence, seq+1)
	}
	waitFor(t, func() bool { e, _ := r.counts(); return e == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events[0].Changes) != 1 || r.events[0].Changes[0].DocID != "after" {
		t.Errorf("rolled-back batch was notified: %+v", r.events)
	}
}

func testReadersDuringBatch(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "visible", `{"v":1}`)
	b, err := db.BeginBatch(bg)
	must(t, err)
	defer b.Rollback()
	for i := 0; i < 500; i++ {
		_, err := b.Save(c, fmt.Sprintf("pending%d", i), []byte(`{"x":"some body text"}`), store.SaveOptions{})
		must(t, err)
	}
	_, err = b.Save(c, "visible", []byte(`{"v":2}`), store.SaveOptions{})
	must(t, err)
	// While the batch is open, readers on other goroutines proceed and see
	// the last committed state.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			for i := 0; i < 50; i++ {
				d, err := c.Get(ctx, "visible")
				if err != nil {
					errs <- err
					return
				}
				if string(d.Body) != `{"v":1}` {
					errs <- fmt.Errorf("reader saw uncommitted body %s", d.Body)
					return
				}
				if _, err := c.ChangesSince(ctx, 0, 10); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testConcurrentWriters(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	var wg sync.WaitGroup
	const writers, each = 4, 25
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := c.Save(bg, fmt.Sprintf("w%d-%d", w, i), []byte(`{}`), store.SaveOptions{}); err != nil {
					errs <- err
					return
				}
				if _, err := c.Save(bg, "shared", []byte(fmt.Sprintf(`{"w":%d}`, w)), store.SaveOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if count(t, c) != writers*each+1 {
		t.Errorf("count = %d", count(t, c))
	}
	if lastSeq(t, c) != 2*writers*each {
		t.Errorf("last sequence = %d, want %d", lastSeq(t, c), 2*writers*each)
	}
	d, err := c.Get(bg, "shared")
	must(t, err)
	if !strings.HasPrefix(d.RevID, fmt.Sprintf("%d-", writers*each)) {
		t.Errorf("shared doc rev %s: concurrent LWW saves lost a generation", d.RevID)
	}
}

func testLocalDocuments(t *testing.T, db *store.Database) {
	_, _, err := db.GetLocal(bg, "cp")
	wantErr(t, err, store.ErrNotFound)
	r1, err := db.PutLocal(bg, "cp", []byte(` {"seq": 1} `), "")
	must(t, err)
	body, rev, err := db.GetLocal(bg, "cp")
	must(t, err)
	if rev != r1 || string(body) != `{"seq":1}` || !strings.HasSuffix(r1, "-local") {
		t.Errorf("local = %s %s (put %s)", body, rev, r1)
	}
	_, err = db.PutLocal(bg, "cp", []byte(`{}`), "")
	wantErr(t, err, store.ErrConflict)
	_, err = db.PutLocal(bg, "cp", []byte(`{}`), "9-local")
	wantErr(t, err, store.ErrConflict)
	_, err = db.PutLocal(bg, "absent", []byte(`{}`), "1-local")
	wantErr(t, err, store.ErrConflict)
	r2, err := db.PutLocal(bg, "cp", []byte(`{"seq":2}`), r1)
	must(t, err)
	if r2 == r1 {
		t.Error("local revision did not change")
	}
	r3, err := db.PutLocal(bg, "cp", []byte(`{"seq":3}`), store.AnyRev)
	must(t, err)
	if r3 == r2 {
		t.Error("AnyRev put did not change the revision")
	}
	if _, err := db.PutLocal(bg, "other", []byte(`{}`), store.AnyRev); err != nil {
		t.Errorf("AnyRev create: %v", err)
	}
	// Local documents are not part of any collection.
	if n := count(t, db.DefaultCollection()); n != 0 {
		t.Errorf("local docs counted: %d", n)
	}
	if ch, _ := db.DefaultCollection().ChangesSince(bg, 0, 0); len(ch) != 0 {
		t.Errorf("local docs in changes: %v", ch)
	}
	must(t, db.DeleteLocal(bg, "cp"))
	wantErr(t, db.DeleteLocal(bg, "cp"), store.ErrNotFound)
	_, _, err = db.GetLocal(bg, "cp")
	wantErr(t, err, store.ErrNotFound)
	if _, err := db.PutLocal(bg, "cp", []byte(`{}`), ""); err != nil {
		t.Errorf("recreate after delete: %v", err)
	}
}

func testRemoteAncestors(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	other, err := db.CreateCollection(bg, "s", "c")
	must(t, err)
	r, err := c.RemoteAncestor(bg, "wss://peer/db", "d")
	must(t, err)
	if r != "" {
		t.Errorf("unset remote ancestor = %q", r)
	}
	r1, r2 := fakeRev(1, "a"), fakeRev(2, "b")
	must(t, c.SetRemoteAncestor(bg, "wss://peer/db", "d", r1))
	must(t, c.SetRemoteAncestor(bg, "wss://peer/db", "d", r2))
	must(t, c.SetRemoteAncestor(bg, "wss://other/db", "d", r1))
	tests := []struct {
		c            *store.Collection
		remote, want string
	}{
		{c, "wss://peer/db", r2},
		{c, "wss://other/db", r1},
		{c, "wss://third/db", ""},
		{other, "wss://peer/db", ""},
	}
	for _, tt := range tests {
		got, err := tt.c.RemoteAncestor(bg, tt.remote, "d")
		must(t, err)
		if got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.c.FullName(), tt.remote, got, tt.want)
		}
	}
	// The batched read agrees with the single one; documents without a record are absent.
	must(t, c.SetRemoteAncestor(bg, "wss://peer/db", "e", r1))
	many, err := c.RemoteAncestors(bg, "wss://peer/db", []string{"d", "missing", "e", "d"})
	must(t, err)
	if fmt.Sprint(many) != fmt.Sprint(map[string]string{"d": r2, "e": r1}) {
		t.Errorf("RemoteAncestors = %v", many)
	}
	if many, err := other.RemoteAncestors(bg, "wss://peer/db", []string{"d", "e"}); err != nil || len(many) != 0 {
		t.Errorf("RemoteAncestors of another collection = %v, %v", many, err)
	}
	if many, err := c.RemoteAncestors(bg, "wss://peer/db", nil); err != nil || len(many) != 0 {
		t.Errorf("RemoteAncestors of no documents = %v, %v", many, err)
	}
	_, err = c.RemoteAncestors(bg, "wss://peer/db", []string{"d", ""})
	wantErr(t, err, store.ErrInvalidID)
	wantErr(t, c.SetRemoteAncestor(bg, "wss://peer/db", "d", "garbage"), store.ErrInvalidRevID)
	wantErr(t, c.SetRemoteAncestor(bg, "wss://peer/db", "", r1), store.ErrInvalidID)
	must(t, c.SetRemoteAncestor(bg, "wss://peer/db", "d", ""))
	if got, _ := c.RemoteAncestor(bg, "wss://peer/db", "d"); got != "" {
		t.Errorf("cleared remote ancestor = %q", got)
	}
}

func testBatchRemoteAncestors(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	other, err := db.CreateCollection(bg, "s", "c")
	must(t, err)
	const peer = "wss://peer/db"
	r1, r2 := fakeRev(1, "a"), fakeRev(2, "b")
	must(t, c.SetRemoteAncestor(bg, peer, "gone", r1))
	must(t, c.SetRemoteAncestor(bg, peer, "p", r1))
	save(t, c, "p", `{}`)

	// Rolled back: nothing recorded, earlier records untouched.
	b, err := db.BeginBatch(bg)
	must(t, err)
	must(t, b.SetRemoteAncestor(c, peer, "x", r1))
	must(t, b.SetRemoteAncestor(c, peer, "gone", ""))
	must(t, b.Rollback())
	wantErr(t, b.SetRemoteAncestor(c, peer, "x", r1), store.ErrClosed)

	// Committed: many records in one transaction, invalid ones failing alone, a later
	// write of the same record winning, a purge in the same batch forgetting the record.
	b, err = db.BeginBatch(bg)
	must(t, err)
	for i := 0; i < 50; i++ {
		must(t, b.SetRemoteAncestor(c, peer, fmt.Sprintf("m%d", i), r1))
	}
	wantErr(t, b.SetRemoteAncestor(c, peer, "x", "garbage"), store.ErrInvalidRevID)
	wantErr(t, b.SetRemoteAncestor(c, peer, "", r1), store.ErrInvalidID)
	must(t, b.SetRemoteAncestor(c, peer, "x", r1))
	must(t, b.SetRemoteAncestor(c, peer, "x", r2))
	must(t, b.SetRemoteAncestor(other, peer, "x", r1))
	must(t, b.SetRemoteAncestor(c, "wss://other/db", "x", r1))
	must(t, b.SetRemoteAncestor(c, peer, "gone", ""))
	must(t, b.Purge(c, "p"))
	// Written before the batch ends, visible to readers only after the commit.
	if got, _ := c.RemoteAncestor(bg, peer, "x"); got != "" {
		t.Errorf("uncommitted remote ancestor visible: %q", got)
	}
	must(t, b.Commit())

	checkBatchRemoteAncestors(t, c, other, peer, r1, r2)
	batchSetRemoteAncestors(t, db, c, peer, r1, r2)
	batchRemoteAncestorsRefused(t, db, other, peer, r1)
}

// checkBatchRemoteAncestors checks what the committed batch of testBatchRemoteAncestors recorded.
func checkBatchRemoteAncestors(t *testing.T, c, other *store.Collection, peer, r1, r2 string) {
	tests := []struct {
		c                   *store.Collection
		remote, docID, want string
	}{
		{c, peer, "x", r2},
		{c, "wss://other/db", "x", r1},
		{other, peer, "x", r1},
		{c, peer, "m0", r1},
		{c, peer, "m49", r1},
		{c, peer, "gone", ""},
		{c, peer, "p", ""},
	}
	for _, tt := range tests {
		got, err := tt.c.RemoteAncestor(bg, tt.remote, tt.docID)
		must(t, err)
		if got != tt.want {
			t.Errorf("%s %s %s = %q, want %q", tt.c.FullName(), tt.remote, tt.docID, got, tt.want)
		}
	}
}

func batchSetRemoteAncestors(t *testing.T, db *store.Database, c *store.Collection, peer, r1, r2 string) {
	// Many records in one statement: new, updated and cleared ones; an invalid entry
	// fails the whole call with nothing written.
	must(t, db.InBatch(bg, func(b *store.Batch) error {
		wantErr(t, b.SetRemoteAncestors(c, peer, map[string]string{"y": r1, "z": "garbage"}), store.ErrInvalidRevID)
		wantErr(t, b.SetRemoteAncestors(c, peer, map[string]string{"y": r1, "": r1}), store.ErrInvalidID)
		must(t, b.SetRemoteAncestors(c, peer, map[string]string{"x": r1, "m0": "", "new \"quoted\" é": r2}))
		return b.SetRemoteAncestors(c, peer, nil)
	}))
	many, err := c.RemoteAncestors(bg, peer, []string{"x", "y", "z", "m0", "m1", "new \"quoted\" é"})
	must(t, err)
	if fmt.Sprint(many) != fmt.Sprint(map[string]string{"x": r1, "m1": r1, "new \"quoted\" é": r2}) {
		t.Errorf("after SetRemoteAncestors: %v", many)
	}
}

func batchRemoteAncestorsRefused(t *testing.T, db *store.Database, other *store.Collection, peer, r1 string) {
	// A collection of another database or a deleted one is refused.
	db2, err := store.Open(bg, t.TempDir()+"/second", store.Config{})
	must(t, err)
	defer db2.Close()
	must(t, db.DeleteCollection(bg, "s", "c"))
	must(t, db.InBatch(bg, func(b *store.Batch) error {
		wantErr(t, b.SetRemoteAncestor(db2.DefaultCollection(), peer, "x", r1), store.ErrNotFound)
		wantErr(t, b.SetRemoteAncestor(other, peer, "x", r1), store.ErrNotFound)
		wantErr(t, b.SetRemoteAncestors(other, peer, map[string]string{"x": r1}), store.ErrNotFound)
		return nil
	}))
}

// recorder collects listener calls.
type recorder struct {
	mu     sync.Mutex
	events []store.CollectionChange
	docs   []store.Change
}

func (r *recorder) coll(ch store.CollectionChange) {
	r.mu.Lock()
	r.events = append(r.events, ch)
	r.mu.Unlock()
}

func (r *recorder) doc(ch store.Change) {
	r.mu.Lock()
	r.docs = append(r.docs, ch)
	r.mu.Unlock()
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events), len(r.docs)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testChangeListeners(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	other, err := db.CreateCollection(bg, "s", "other")
	must(t, err)
	var r recorder
	t1 := c.AddChangeListener(r.coll)
	t2 := c.AddDocumentChangeListener("watched", r.doc)
	defer t1.Remove()
	defer t2.Remove()
	var seqs []uint64
	for i := 0; i < 10; i++ {
		seqs = append(seqs, save(t, c, fmt.Sprintf("d%d", i%3), `{}`).Sequence)
	}
	w := save(t, c, "watched", `{"w":1}`)
	save(t, other, "watched", `{}`) // other collection: not delivered
	del, err := c.Delete(bg, "watched", store.SaveOptions{})
	must(t, err)
	must(t, c.Purge(bg, "watched"))
	waitFor(t, func() bool { e, d := r.counts(); return e == 13 && d == 3 })
	r.mu.Lock()
	for i, ev := range r.events[:10] {
		if ev.Collection != c || len(ev.Changes) != 1 || ev.Changes[0].Sequence != seqs[i] {
			t.Errorf("event %d = %+v, want sequence %d", i, ev, seqs[i])
		}
	}
	want := []store.Change{
		{Sequence: w.Sequence, DocID: "watched", RevID: w.RevID, BodySize: 7},
		{Sequence: del.Sequence, DocID: "watched", RevID: del.RevID, Deleted: true, BodySize: 2},
		{DocID: "watched", Purged: true},
	}
	// A small local save's change carries its revision (Change.Doc) while the collection
	// has a listener; the rest of the change is compared without it.
	got := append([]store.Change(nil), r.docs...)
	for i, body := range []string{`{"w":1}`, `{}`} {
		if i < len(got) && (got[i].Doc == nil || string(got[i].Doc.Body) != body || got[i].Doc.Sequence != got[i].Sequence) {
			t.Errorf("document change %d carries %+v, want its revision with body %s", i, got[i].Doc, body)
		}
	}
	for i := range got {
		got[i].Doc = nil
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("document changes = %+v\nwant %+v", got, want)
	}
	r.mu.Unlock()
	// Listeners run on a goroutine of the store, not the writer's: a
	// listener that writes must not deadlock.
	done := make(chan error, 1)
	tok := c.AddDocumentChangeListener("trigger", func(store.Change) {
		_, err := c.Save(bg, "written-by-listener", []byte(`{}`), store.SaveOptions{})
		done <- err
	})
	defer tok.Remove()
	save(t, c, "trigger", `{}`)
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("listener that writes deadlocked")
	}
}

func testListenerRemove(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	// Remove waits for a call in progress.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var finished bool
	var mu sync.Mutex
	tok := c.AddChangeListener(func(store.CollectionChange) {
		once.Do(func() { close(entered) })
		<-release
		mu.Lock()
		finished = true
		mu.Unlock()
	})
	save(t, c, "a", `{}`)
	<-entered
	removed := make(chan struct{})
	go func() { tok.Remove(); close(removed) }()
	select {
	case <-removed:
		t.Fatal("Remove returned while the callback was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-removed
	mu.Lock()
	if !finished {
		t.Error("Remove returned before the callback finished")
	}
	mu.Unlock()
	tok.Remove() // idempotent

	// Remove from inside the callback returns at once; no further calls.
	var calls int
	var self *store.ListenerToken
	gotCall := make(chan struct{}, 10)
	self = c.AddChangeListener(func(store.CollectionChange) {
		mu.Lock()
		calls++
		mu.Unlock()
		self.Remove()
		gotCall <- struct{}{}
	})
	save(t, c, "b", `{}`)
	select {
	case <-gotCall:
	case <-time.After(10 * time.Second):
		t.Fatal("self-removing callback never ran or deadlocked")
	}
	// A later event is not delivered to it; use a fresh listener as a barrier.
	barrier := make(chan struct{}, 10)
	tb := c.AddChangeListener(func(store.CollectionChange) { barrier <- struct{}{} })
	defer tb.Remove()
	save(t, c, "c", `{}`)
	<-barrier
	mu.Lock()
	if calls != 1 {
		t.Errorf("self-removed listener called %d times", calls)
	}
	mu.Unlock()

	// A panicking listener does not stop delivery to others.
	tp := c.AddChangeListener(func(store.CollectionChange) { panic("listener bug") })
	defer tp.Remove()
	save(t, c, "d", `{}`)
	save(t, c, "e", `{}`)
	<-barrier
	<-barrier
}

func testExpiration(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "soon", `{}`)
	save(t, c, "later", `{}`)
	save(t, c, "never", `{}`)
	exp, err := c.Expiration(bg, "soon")
	must(t, err)
	if !exp.IsZero() {
		t.Errorf("default expiration = %v", exp)
	}
	_, err = c.Expiration(bg, "missing")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, c.SetExpiration(bg, "missing", time.Now()), store.ErrNotFound)
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	must(t, c.SetExpiration(bg, "later", later))
	got, err := c.Expiration(bg, "later")
	must(t, err)
	if !got.Equal(later) {
		t.Errorf("expiration = %v, want %v", got, later)
	}
	if d, _ := c.Get(bg, "later"); !d.Expiration.Equal(later) {
		t.Errorf("Document.Expiration = %v", d.Expiration)
	}
	// Expiration survives an update and makes no revision.
	seq := lastSeq(t, c)
	must(t, c.SetExpiration(bg, "later", later))
	if lastSeq(t, c) != seq {
		t.Error("SetExpiration allocated a sequence")
	}
	if d := save(t, c, "later", `{"v":2}`); !d.Expiration.Equal(later) {
		t.Errorf("expiration lost on update: %v", d.Expiration)
	}
	must(t, c.SetExpiration(bg, "never", time.Now().Add(-time.Minute)))
	must(t, c.SetExpiration(bg, "never", time.Time{})) // cleared before the purger acts
	var r recorder
	tok := c.AddDocumentChangeListener("soon", r.doc)
	defer tok.Remove()
	must(t, c.SetExpiration(bg, "soon", time.Now().Add(-time.Second)))
	waitFor(t, func() bool {
		_, err := c.GetWithDeleted(bg, "soon")
		return errors.Is(err, store.ErrNotFound)
	})
	waitFor(t, func() bool { _, d := r.counts(); return d == 1 })
	r.mu.Lock()
	if !r.docs[0].Purged {
		t.Errorf("expiry notification = %+v", r.docs[0])
	}
	r.mu.Unlock()
	if _, err := c.Get(bg, "later"); err != nil {
		t.Errorf("unexpired doc purged: %v", err)
	}
	if _, err := c.Get(bg, "never"); err != nil {
		t.Errorf("doc with cleared expiration purged: %v", err)
	}
	if count(t, c) != 2 {
		t.Errorf("count after expiry = %d", count(t, c))
	}
}

func testClosed(t *testing.T, db *store.Database) {
	c := db.DefaultCollection()
	save(t, c, "a", `{}`)
	must(t, db.Close())
	must(t, db.Close())
	ops := []struct {
		name string
		err  error
	}{
		{"Save", func() error { _, err := c.Save(bg, "b", []byte(`{}`), store.SaveOptions{}); return err }()},
		{"Get", func() error { _, err := c.Get(bg, "a"); return err }()},
		{"GetManyWithDeleted", func() error { _, err := c.GetManyWithDeleted(bg, []string{"a"}); return err }()},
		{"CurrentRevisions", func() error { _, err := c.CurrentRevisions(bg, []string{"a"}); return err }()},
		{"Count", func() error { _, err := c.Count(bg); return err }()},
		{"ChangesSince", func() error { _, err := c.ChangesSince(bg, 0, 0); return err }()},
		{"BeginBatch", func() error { _, err := db.BeginBatch(bg); return err }()},
		{"CreateCollection", func() error { _, err := db.CreateCollection(bg, "s", "c"); return err }()},
		{"Collection", func() error { _, err := db.Collection(bg, "", "_default"); return err }()},
		{"GetLocal", func() error { _, _, err := db.GetLocal(bg, "x"); return err }()},
		{"PutLocal", func() error { _, err := db.PutLocal(bg, "x", []byte(`{}`), ""); return err }()},
		{"Scopes", func() error { _, err := db.Scopes(bg); return err }()},
		{"Purge", c.Purge(bg, "a")},
		{"RemoteAncestor", func() error { _, err := c.RemoteAncestor(bg, "r", "a"); return err }()},
	}
	for _, op := range ops {
		if !errors.Is(op.err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op.name, op.err)
		}
	}
	// Reopening works once closed.
	db2, err := store.Open(bg, db.Path(), store.Config{})
	must(t, err)
	must(t, db2.Close())
}
