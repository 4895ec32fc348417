package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// testWall is a settable wall clock for Config.WallClock.
type testWall struct {
	mu sync.Mutex
	t  time.Time
}

func (w *testWall) now() time.Time  { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *testWall) set(t time.Time) { w.mu.Lock(); w.t = t; w.mu.Unlock() }

func mustParseVector(t *testing.T, s string) hlv.Vector {
	t.Helper()
	v, err := hlv.ParseVector(s)
	if err != nil {
		t.Fatalf("ParseVector(%q): %v", s, err)
	}
	return v
}

func TestSaveGetsVersion(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	if !hlv.IsCanonicalSourceID(db.SourceID()) {
		t.Fatalf("source ID %q", db.SourceID())
	}
	coll := db.DefaultCollection()
	d1, err := coll.Save(ctx, "a", []byte(`{"n":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := hlv.ParseVersion(d1.Version)
	if err != nil || v1.Source != db.SourceID() || v1.Time != d1.Timestamp || d1.Vector != d1.Version {
		t.Fatalf("first save: version %q timestamp %x vector %q (%v)", d1.Version, d1.Timestamp, d1.Vector, err)
	}
	if now := uint64(time.Now().UnixNano()); d1.Timestamp > now || now-d1.Timestamp > uint64(time.Minute) {
		t.Fatalf("timestamp %x is not the current time", d1.Timestamp)
	}
	d2, err := coll.Save(ctx, "a", []byte(`{"n":2}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Timestamp <= d1.Timestamp || d2.Vector != d2.Version {
		t.Fatalf("second save: %q after %q (vector %q): the own source is replaced, not kept as history", d2.Version, d1.Version, d2.Vector)
	}
	del, err := coll.Delete(ctx, "a", SaveOptions{})
	if err != nil || del.Timestamp <= d2.Timestamp {
		t.Fatalf("delete: %+v %v", del, err)
	}
	got, err := coll.GetWithDeleted(ctx, "a")
	if err != nil || got.Version != del.Version || got.Timestamp != del.Timestamp || got.Vector != del.Vector {
		t.Fatalf("GetWithDeleted: %+v %v, want version %s", got, err, del.Version)
	}
	many, err := coll.GetManyWithDeleted(ctx, []string{"a", "missing"})
	if err != nil || many[0].Version != del.Version || many[1] != nil {
		t.Fatalf("GetManyWithDeleted: %+v %v", many, err)
	}
	revs, err := coll.CurrentRevisions(ctx, []string{"a"})
	if err != nil || revs[0].Version != del.Version || revs[0].Vector != del.Vector {
		t.Fatalf("CurrentRevisions: %+v %v", revs, err)
	}
	rev, err := coll.GetRevision(ctx, "a", del.RevID)
	if err != nil || rev.Version != del.Version {
		t.Fatalf("GetRevision current: %+v %v", rev, err)
	}
	// The previous revision's body is kept, but its version is not: it is shown without one.
	if prev, err := coll.GetRevision(ctx, "a", d2.RevID); err != nil || prev.Version != "" {
		t.Fatalf("GetRevision parent: %+v %v", prev, err)
	}
}

func TestVersionsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	wall := &testWall{t: time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)}
	db, err := Open(ctx, dir, Config{WallClock: wall.now})
	if err != nil {
		t.Fatal(err)
	}
	src := db.SourceID()
	coll := db.DefaultCollection()
	var last uint64
	for i := 0; i < 3; i++ { // the wall clock stands still: the logical counter moves
		d, err := coll.Save(ctx, "a", []byte(`{}`), SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Timestamp <= last {
			t.Fatalf("save %d: timestamp %x not after %x", i, d.Timestamp, last)
		}
		last = d.Timestamp
	}
	// A remote version a minute ahead pushes the clock past it.
	ahead := uint64(wall.now().Add(time.Minute).UnixNano())
	remote := RemoteVersion{DocID: "r", Vector: hlv.Vector{Current: hlv.Version{Time: ahead, Source: "dnZwcm9iZS1zb3VyY2UtQQ"}}, Body: []byte(`{}`)}
	if _, err := coll.PutExistingVersion(ctx, remote); err != nil {
		t.Fatal(err)
	}
	db.Close()

	wall.set(wall.now().Add(-time.Hour)) // the wall clock steps back while the database is closed
	db, err = Open(ctx, dir, Config{WallClock: wall.now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.SourceID() != src {
		t.Fatalf("source ID changed on reopen: %s -> %s", src, db.SourceID())
	}
	d, err := db.DefaultCollection().Save(ctx, "a", []byte(`{"after":"reopen"}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Timestamp <= ahead {
		t.Fatalf("after reopen: timestamp %x not after %x (last local %x)", d.Timestamp, ahead, last)
	}
}

func TestRolledBackClockMark(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	wall := &testWall{t: time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)}
	db, err := Open(ctx, dir, Config{WallClock: wall.now})
	if err != nil {
		t.Fatal(err)
	}
	coll := db.DefaultCollection()
	b, err := db.BeginBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Save(coll, "x", []byte(`{}`), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Rollback() // its clock mark is rolled back with it
	d, err := coll.Save(ctx, "y", []byte(`{}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	wall.set(wall.now().Add(-time.Hour))
	db, err = Open(ctx, dir, Config{WallClock: wall.now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d2, err := db.DefaultCollection().Save(ctx, "z", []byte(`{}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Timestamp <= d.Timestamp {
		t.Fatalf("timestamp %x reissued below the committed %x after a rolled-back batch", d2.Timestamp, d.Timestamp)
	}
}

// writePreVersionsDatabase writes in dir the database the library wrote before versions
// existed (schema version 1, before vv/vv_rev): its tables as that code created them
// (default 4 KB pages, documents table without vector columns and no kept-bodies table,
// local_docs without written, meta without source ID or clock), holding one document of
// one revision as that code stored it (its tree in tree format 1, the body in the body
// column). It returns the document's revision ID.
func writePreVersionsDatabase(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, dbFileName), "journal_mode(WAL)", "synchronous(NORMAL)"))
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	const revID = "1-0123456789abcdef0123456789abcdef01234567"
	// The tree of one revision (format 1): version, one node: ID, no parent, flags
	// "has a body, in the column", sequence 1.
	tree := append([]byte{1, 1, byte(len(revID))}, revID...)
	tree = append(tree, 0, flagHasBody|flagBodyInColumn, 1)
	for _, q := range []string{
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE collections (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			scope TEXT NOT NULL,
			name TEXT NOT NULL,
			last_seq INTEGER NOT NULL DEFAULT 0,
			doc_count INTEGER NOT NULL DEFAULT 0,
			UNIQUE (scope, name))`,
		`CREATE TABLE remote_ancestors (
			coll INTEGER NOT NULL,
			docid TEXT NOT NULL,
			remote TEXT NOT NULL,
			revid TEXT NOT NULL,
			PRIMARY KEY (coll, docid, remote)) WITHOUT ROWID`,
		`CREATE TABLE local_docs (id TEXT PRIMARY KEY, rev TEXT NOT NULL, body BLOB NOT NULL) WITHOUT ROWID`,
		`INSERT INTO collections (scope, name, last_seq, doc_count) VALUES ('_default', '_default', 1, 1)`,
		`CREATE TABLE docs_1 (
			seq INTEGER PRIMARY KEY,
			docid TEXT NOT NULL,
			revid TEXT NOT NULL,
			deleted INTEGER NOT NULL,
			expiration INTEGER,
			tree BLOB NOT NULL,
			body BLOB NOT NULL)`,
		`CREATE UNIQUE INDEX docs_1_docid ON docs_1 (docid)`,
		`CREATE INDEX docs_1_expiration ON docs_1 (expiration) WHERE expiration IS NOT NULL`,
		`INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('uuid', '00112233445566778899aabbccddeeff')`,
	} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := sdb.Exec(`INSERT INTO docs_1 (seq, docid, revid, deleted, tree, body) VALUES (1, 'old', ?, 0, ?, ?)`,
		revID, tree, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	return revID
}

func TestOldDatabaseGainsVersions(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	oldRev := writePreVersionsDatabase(t, dir)

	db, err := Open(ctx, dir, Config{})
	if err != nil {
		t.Fatalf("open old-format database: %v", err)
	}
	defer db.Close()
	coll := db.DefaultCollection()
	got, err := coll.Get(ctx, "old")
	if err != nil || got.RevID != oldRev || got.Version != "" || got.Timestamp != 0 || string(got.Body) != `{"v":1}` {
		t.Fatalf("old document: %+v %v (want its revision, no version)", got, err)
	}
	if !hlv.IsCanonicalSourceID(db.SourceID()) {
		t.Fatalf("old database got no source ID: %q", db.SourceID())
	}
	var schema string
	if err := db.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&schema); err != nil || schema != schemaVersion {
		t.Fatalf("schema version %q %v, want %s", schema, err, schemaVersion)
	}
	var vecCols int
	if err := db.wconn.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('docs_1') WHERE name IN ('vv', 'vv_rev')`).Scan(&vecCols); err != nil || vecCols != 2 {
		t.Fatalf("documents table has %d vector columns (%v), want 2", vecCols, err)
	}
	// Its next save gives it a version whose history is the legacy stand-in of the
	// revision it replaces; the revision tree continues.
	d, err := coll.Save(ctx, "old", []byte(`{"v":2}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := hlv.LegacyVersion(oldRev)
	if d.Vector != d.Version+";"+lv.String() || !strings.HasPrefix(d.RevID, "2-") {
		t.Fatalf("upgraded save: rev %s vector %q, want %s;%s", d.RevID, d.Vector, d.Version, lv)
	}
	hist, err := coll.History(ctx, "old", d.RevID, 0)
	if err != nil || len(hist) != 1 || hist[0] != oldRev {
		t.Fatalf("history %v %v", hist, err)
	}
}

// A revision written without a version on top of a versioned one (received as a rev-tree
// revision, or saved by the previous version of the library, which leaves the vector
// columns alone) is shown without a version; the next save keeps the older vector as
// history behind the legacy stand-in of that revision.
func TestStaleVectorBecomesHistory(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	va := hlv.Version{Time: uint64(time.Now().Add(-time.Hour).UnixNano()), Source: "dnZwcm9iZS1zb3VyY2UtQQ"}
	put, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "a", Vector: hlv.Vector{Current: va}, Body: []byte(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	d1 := put.Document
	child := "2-" + strings.Repeat("ab", 20)
	res, err := coll.PutExistingRevision(ctx, RemoteRevision{DocID: "a", RevID: child, History: []string{d1.RevID}, Body: []byte(`{"n":2}`)})
	if err != nil || !res.Inserted {
		t.Fatalf("insert: %+v %v", res, err)
	}
	if res.Document.Version != "" {
		t.Fatalf("rev-tree revision shown with the version of its parent: %+v", res.Document)
	}
	if g, _ := coll.Get(ctx, "a"); g.RevID != child || g.Version != "" {
		t.Fatalf("get: %+v", g)
	}
	d3, err := coll.Save(ctx, "a", []byte(`{"n":3}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := hlv.LegacyVersion(child)
	want := d3.Version + ";" + lv.String() + "," + va.String()
	if d3.Vector != want {
		t.Fatalf("vector %q, want %q", d3.Vector, want)
	}
}

func TestPutExistingVersion(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	const srcA, srcB = "dnZwcm9iZS1zb3VyY2UtQQ", "dnZwcm9iZS1zb3VyY2UtQg"
	base := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	va := hlv.Version{Time: base, Source: srcA}
	put := func(vec hlv.Vector, body string, deleted bool) VersionResult {
		t.Helper()
		res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: vec, Body: []byte(body), Deleted: deleted})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := put(hlv.Vector{Current: va}, `{"from":"A"}`, false)
	if res.Order != hlv.Newer || !res.Inserted || res.Document.Version != va.String() || res.Document.Timestamp != base {
		t.Fatalf("new document: %+v %+v", res, res.Document)
	}
	if res = put(hlv.Vector{Current: va}, `{"from":"A"}`, false); res.Order != hlv.Same || res.Inserted || res.Sequence != 0 {
		t.Fatalf("same again: %+v", res)
	}
	older := hlv.Vector{Current: hlv.Version{Time: base - 0x10000, Source: srcA}}
	if res = put(older, `{"old":true}`, false); res.Order != hlv.Older || res.Inserted {
		t.Fatalf("older: %+v", res)
	}
	// B edits on top of A: a fast-forward.
	vb := mustParseVector(t, hlv.Version{Time: base + 0x10000, Source: srcB}.String()+";"+va.String())
	res = put(vb, `{"from":"B"}`, false)
	if res.Order != hlv.Newer || res.Document.Vector != vb.String() || !strings.HasPrefix(res.Document.RevID, "2-") {
		t.Fatalf("fast-forward: %+v %+v", res, res.Document)
	}
	// Local edit, then A writes again without having seen it: a conflict, nothing written.
	local, err := coll.Save(ctx, "d", []byte(`{"from":"local"}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if local.Vector != local.Version+";"+vb.Current.String()+","+va.String() {
		t.Fatalf("local save vector %q", local.Vector)
	}
	va2 := mustParseVector(t, hlv.Version{Time: base + 0x20000, Source: srcA}.String()+";"+vb.Current.String())
	res = put(va2, `{"from":"A again"}`, false)
	if res.Order != hlv.Conflicting || res.Inserted || res.Document.RevID != local.RevID {
		t.Fatalf("conflict: %+v", res)
	}
	// A remote timestamp ahead of the local clock (within the skew bound) moves it.
	ahead := uint64(time.Now().Add(90*time.Second).UnixNano()) &^ 0xffff
	put(hlv.Vector{Current: hlv.Version{Time: ahead, Source: srcB}}, `{}`, false) // new doc "d"? no: conflict, but observed
	if d, err := coll.Save(ctx, "other", []byte(`{}`), SaveOptions{}); err != nil || d.Timestamp <= ahead {
		t.Fatalf("clock not advanced past a remote time: %x <= %x (%v)", d.Timestamp, ahead, err)
	}
	// Bad input is refused.
	for _, bad := range []RemoteVersion{
		{DocID: "d", Body: []byte(`{}`)}, // no vector
		{DocID: "d", Vector: hlv.Vector{Current: va, Previous: []hlv.Version{va}}, Body: []byte(`{}`)},
	} {
		if _, err := coll.PutExistingVersion(ctx, bad); !errors.Is(err, ErrInvalidRevID) {
			t.Errorf("bad vector: %v", err)
		}
	}
	if _, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: va2, Body: []byte(`[1]`)}); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("bad body: %v", err)
	}
	// A tombstone that dominates deletes the document.
	tomb := mustParseVector(t, hlv.Version{Time: base + 0x30000, Source: srcA}.String()+";"+local.Version+","+vb.Current.String())
	if res = put(tomb, ``, true); res.Order != hlv.Newer || !res.Document.Deleted {
		t.Fatalf("tombstone: %+v", res)
	}
	if _, err := coll.Get(ctx, "d"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted document still readable: %v", err)
	}
}

func TestResolveVersionConflict(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	const srcA = "dnZwcm9iZS1zb3VyY2UtQQ"
	base := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	common := hlv.Version{Time: base, Source: srcA}
	if _, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: hlv.Vector{Current: common}, Body: []byte(`{"v":0}`)}); err != nil {
		t.Fatal(err)
	}
	local, err := coll.Save(ctx, "d", []byte(`{"v":"local"}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	remoteVec := hlv.Vector{Current: hlv.Version{Time: base + 0x10000, Source: srcA}} // A again, not having seen ours
	remote := RemoteVersion{DocID: "d", Vector: remoteVec, Body: []byte(`{"v":"remote"}`)}
	res, err := coll.PutExistingVersion(ctx, remote)
	if err != nil || res.Order != hlv.Conflicting {
		t.Fatalf("%+v %v", res, err)
	}
	lv := mustParseVector(t, local.Vector)
	// Couchbase Lite 4's default rule: the local save is later, so it wins.
	if !hlv.LocalWins(lv.Current, false, remoteVec.Current, false) {
		t.Fatal("the later local save should win")
	}
	doc, err := coll.ResolveVersionConflict(ctx, remote, VersionResolution{})
	if err != nil {
		t.Fatal(err)
	}
	got := mustParseVector(t, doc.Vector)
	if string(doc.Body) != `{"v":"local"}` || got.Current.Source != db.SourceID() || len(got.Merge) != 2 {
		t.Fatalf("resolved: %s %q", doc.Body, doc.Vector)
	}
	if got.Compare(lv) != hlv.Newer || got.Compare(remoteVec) != hlv.Newer {
		t.Fatalf("resolution %s does not contain both sides", got)
	}
	// Sent back, the remote side sees a fast-forward; re-sending its version is known.
	if res, err := coll.PutExistingVersion(ctx, remote); err != nil || res.Order != hlv.Older {
		t.Fatalf("re-sent remote version: %+v %v", res, err)
	}
	if _, err := coll.ResolveVersionConflict(ctx, remote, VersionResolution{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("resolving what is no longer a conflict: %v", err)
	}

	// The remote revision wins unchanged: its vector is kept as it is, since the local
	// revision holds nothing else it lacks.
	local2, err := coll.Save(ctx, "e", []byte(`{"v":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2 := RemoteVersion{DocID: "e", Vector: hlv.Vector{Current: hlv.Version{Time: local2.Timestamp + 0x10000, Source: srcA}}, Deleted: true}
	doc, err = coll.ResolveVersionConflict(ctx, r2, VersionResolution{RemoteWins: true})
	if err != nil {
		t.Fatal(err)
	}
	if !doc.Deleted || doc.Vector != r2.Vector.String() {
		t.Fatalf("remote deletion won: %+v", doc)
	}
	// A merged body gets a merge vector.
	local3, _ := coll.Save(ctx, "f", []byte(`{"v":1}`), SaveOptions{})
	r3 := RemoteVersion{DocID: "f", Vector: hlv.Vector{Current: hlv.Version{Time: local3.Timestamp - 0x10000, Source: srcA}}, Body: []byte(`{"v":2}`)}
	doc, err = coll.ResolveVersionConflict(ctx, r3, VersionResolution{MergedBody: []byte(`{"v":3}`)})
	if err != nil || string(doc.Body) != `{"v":3}` || len(mustParseVector(t, doc.Vector).Merge) != 2 {
		t.Fatalf("merged: %+v %v", doc, err)
	}
}

// Reopening many times in quick succession, each time saving once, keeps the times close
// to the wall clock: the clock reserve is given back on Close.
func TestReopenDoesNotDrift(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	wall := &testWall{t: time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)}
	var last uint64
	for i := 0; i < 5; i++ {
		db, err := Open(ctx, dir, Config{WallClock: wall.now})
		if err != nil {
			t.Fatal(err)
		}
		d, err := db.DefaultCollection().Save(ctx, "a", []byte(`{}`), SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if d.Timestamp <= last {
			t.Fatalf("reopen %d: %x not after %x", i, d.Timestamp, last)
		}
		last = d.Timestamp
	}
	if ahead := time.Duration(last - uint64(wall.now().UnixNano())); ahead > time.Millisecond {
		t.Fatalf("after 5 reopens the clock is %v ahead of the wall clock", ahead)
	}
}

// A document received as a rev-tree revision (CBMobile_3) meets its versions later
// (CBMobile_4): the sender lists its rev-tree ancestry after the previous versions.
func TestVersionMeetsRevTreeRevision(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	const srcA = "dnZwcm9iZS1zb3VyY2UtQQ"
	rev1 := "1-" + strings.Repeat("ab", 20)
	if _, err := coll.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: rev1, Body: []byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	base := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	v1 := hlv.Vector{Current: hlv.Version{Time: base, Source: srcA}, Legacy: []string{rev1}}
	// Listed first: the same revision; it keeps its rev ID and gains the vector.
	res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v1, Body: []byte(`{"v":1}`)})
	if err != nil || res.Order != hlv.Same || res.Inserted || res.Document.RevID != rev1 || res.Document.Version != v1.Current.String() {
		t.Fatalf("same revision: %+v %+v %v", res, res.Document, err)
	}
	if g, _ := coll.Get(ctx, "d"); g.Version != v1.Current.String() || g.Sequence != 1 {
		t.Fatalf("after attaching: %+v", g)
	}
	// A rev-tree child without a vector, then its versioned successor naming both IDs.
	rev2 := "2-" + strings.Repeat("cd", 20)
	if _, err := coll.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: rev2, History: []string{rev1}, Body: []byte(`{"v":2}`)}); err != nil {
		t.Fatal(err)
	}
	rev3 := "3-" + strings.Repeat("ef", 20)
	v3 := hlv.Vector{Current: hlv.Version{Time: base + 0x20000, Source: srcA}, Legacy: []string{rev3, rev2, rev1}}
	res, err = coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v3, Body: []byte(`{"v":3}`)})
	if err != nil || res.Order != hlv.Newer || !res.Inserted || res.Document.RevID != rev3 {
		t.Fatalf("descendant: %+v %+v %v", res, res.Document, err)
	}
	if hist, _ := coll.History(ctx, "d", rev3, 0); len(hist) != 2 || hist[0] != rev2 {
		t.Fatalf("history %v", hist)
	}
	// Without the rev-tree IDs the two would look unrelated (a conflict).
	rev4 := "4-" + strings.Repeat("01", 20)
	if _, err := coll.PutExistingRevision(ctx, RemoteRevision{DocID: "d", RevID: rev4, History: []string{rev3}, Body: []byte(`{"v":4}`)}); err != nil {
		t.Fatal(err)
	}
	v5 := hlv.Vector{Current: hlv.Version{Time: base + 0x40000, Source: "dnZwcm9iZS1zb3VyY2UtQg"}}
	if res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v5, Body: []byte(`{}`)}); err != nil || res.Order != hlv.Conflicting {
		t.Fatalf("unrelated: %+v %v", res, err)
	}
}

// A revision saved here (with a version of this database) that a sender knows only by
// its rev-tree ID (it received it over CBMobile_3): a versioned revision listing that ID
// after its own is a fast-forward, and keeps the sender's rev-tree ID; listing it first
// is the same revision. The stored vector drops the rev-tree IDs. Remote-ancestor
// records take a version.
func TestVersionedRevisionFoundAmongSenderRevTreeIDs(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	d1, err := coll.Save(ctx, "d", []byte(`{"v":1}`), SaveOptions{})
	if err != nil || d1.Version == "" {
		t.Fatalf("save: %+v %v", d1, err)
	}
	stand, _ := hlv.LegacyVersion(d1.RevID)
	other := hlv.Version{Time: uint64(time.Now().Add(-time.Minute).UnixNano()) &^ 0xffff, Source: "dnZwcm9iZS1zb3VyY2UtQg"}
	same := hlv.Vector{Current: other, Previous: []hlv.Version{stand}, Legacy: []string{d1.RevID}}
	if res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: same, Body: []byte(`{"v":1}`)}); err != nil || res.Order != hlv.Same || res.Inserted {
		t.Fatalf("same revision: %+v %v", res, err)
	}
	rev2 := "2-" + strings.Repeat("cd", 20)
	next := hlv.Vector{Current: other, Previous: []hlv.Version{stand}, Legacy: []string{rev2, d1.RevID}}
	res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: next, Body: []byte(`{"v":2}`)})
	if err != nil || res.Order != hlv.Newer || !res.Inserted || res.Document.RevID != rev2 {
		t.Fatalf("descendant: %+v %v", res, err)
	}
	if want := other.String() + ";" + stand.String(); res.Document.Vector != want {
		t.Fatalf("stored vector %q, want %q", res.Document.Vector, want)
	}
	if err := coll.SetRemoteAncestor(ctx, "peer", "d", other.String()); err != nil {
		t.Fatalf("version as remote ancestor: %v", err)
	}
	if got, _ := coll.RemoteAncestor(ctx, "peer", "d"); got != other.String() {
		t.Fatalf("remote ancestor %q", got)
	}
	if err := coll.SetRemoteAncestor(ctx, "peer", "d", "not a revision"); !errors.Is(err, ErrInvalidRevID) {
		t.Fatalf("garbage remote ancestor: %v", err)
	}
}

// A version received for a document the database has never seen is stored in one
// statement (insertNewVersion, no lookup first); the result and what is stored are those
// of the general path (tryInsertFirst off): document, revision ID, vector, sequence,
// revision tree, change.
func TestPutExistingVersionNewDocumentFastPath(t *testing.T) {
	ctx := context.Background()
	const src = "dnZwcm9iZS1zb3VyY2UtQQ"
	base := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	vec := mustParseVector(t, hlv.Version{Time: base, Source: src}.String()+";"+hlv.Version{Time: base - 0x10000, Source: "b3RoZXJzb3VyY2VpZGFiY2RlZg"}.String())
	run := func(fast bool, revTree []string) (VersionResult, []Revision, Change, *Document) {
		t.Helper()
		tryInsertFirst = fast
		defer func() { tryInsertFirst = true }()
		db := openTest(t, Config{})
		c := db.DefaultCollection()
		if _, err := c.Save(ctx, "other", []byte(`{"x":1}`), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := c.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: vec, Body: []byte(` {"from" : "A"} `), RevTree: revTree})
		if err != nil {
			t.Fatal(err)
		}
		revs, err := c.Revisions(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		chs, err := c.ChangesSince(ctx, 1, 10)
		if err != nil || len(chs) != 1 {
			t.Fatalf("changes %v (%v)", chs, err)
		}
		got, err := c.Get(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.Count(ctx); err != nil || n != 2 {
			t.Fatalf("count %d (%v)", n, err)
		}
		return res, revs, chs[0], got
	}
	// Without rev-tree IDs (a minted ID), with the sender's own ID only (kept), and with
	// its ancestry (the general path stores the chain: the fast path must step aside).
	long := []string{"3-" + strings.Repeat("c", 40), "2-" + strings.Repeat("b", 40), "1-" + strings.Repeat("a", 40)}
	for _, revTree := range [][]string{nil, {"1-" + strings.Repeat("f", 40)}, long} {
		fr, frevs, fch, fdoc := run(true, revTree)
		sr, srevs, sch, sdoc := run(false, revTree)
		show := func(r VersionResult) string {
			return fmt.Sprintf("%v %v %d %+v", r.Order, r.Inserted, r.Sequence, *r.Document)
		}
		if show(fr) != show(sr) {
			t.Fatalf("results differ:\nfast    %s\ngeneral %s", show(fr), show(sr))
		}
		if fmt.Sprint(frevs, fch, *fdoc) != fmt.Sprint(srevs, sch, *sdoc) {
			t.Fatalf("stored state differs:\nfast    %v %v %+v\ngeneral %v %v %+v", frevs, fch, *fdoc, srevs, sch, *sdoc)
		}
		if fr.Order != hlv.Newer || !fr.Inserted || fr.Document.Vector != vec.String() || string(fr.Document.Body) != `{"from":"A"}` {
			t.Fatalf("result %s", show(fr))
		}
		if len(revTree) > 0 && (fr.Document.RevID != revTree[0] || len(frevs) != len(revTree)) {
			t.Fatalf("rev-tree %v: stored %s with %d revisions", revTree, fr.Document.RevID, len(frevs))
		}
	}
}

// A sender's rev-tree IDs (RevTree, the revTree property) place a received version in the
// revision tree: a new document gets the whole listed ancestry; a document whose current
// revision the sender lists gets the revisions it missed, bodiless, and the sender's ID
// for the received one (not one of its own making). Vector comparison still decides: a
// current revision with a vector of its own that the sender lists as an ancestor, but
// whose version the received vector does not hold, is a conflict. A list whose
// generations do not descend one by one is refused.
func TestPutExistingVersionRevTree(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	const srcA, srcB = "dnZwcm9iZS1zb3VyY2UtQQ", "dnZwcm9iZS1zb3VyY2UtQg"
	base := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	va := func(n uint64) hlv.Version { return hlv.Version{Time: base + n<<16, Source: srcA} }
	ids := func(gen int, c string) []string {
		var out []string
		for g := gen; g >= 1; g-- {
			out = append(out, fmt.Sprintf("%d-%s", g, strings.Repeat(c, 20)))
		}
		return out
	}
	// A new document: stored under the sender's ID, with its ancestry.
	tree := ids(3, "a1")
	res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "new", Vector: hlv.Vector{Current: va(3), Previous: []hlv.Version{}},
		Body: []byte(`{"v":3}`), RevTree: tree})
	if err != nil || res.Order != hlv.Newer || res.Document.RevID != tree[0] {
		t.Fatalf("new document: %+v %v", res, err)
	}
	if hist, err := coll.History(ctx, "new", tree[0], 0); err != nil || strings.Join(hist, ",") != strings.Join(tree[1:], ",") {
		t.Fatalf("history %v %v, want %v", hist, err, tree[1:])
	}
	// Saved here (a version of this database), then received two revisions later.
	d1, err := coll.Save(ctx, "d", []byte(`{"v":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := hlv.ParseVersion(d1.Version)
	rev2, rev3 := "2-"+strings.Repeat("b2", 20), "3-"+strings.Repeat("b3", 20)
	v3 := hlv.Vector{Current: va(5), Previous: []hlv.Version{mine}}
	res, err = coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v3, Body: []byte(`{"v":3}`), RevTree: []string{rev3, rev2, d1.RevID}})
	if err != nil || res.Order != hlv.Newer || res.Document.RevID != rev3 || res.Document.Version != va(5).String() {
		t.Fatalf("missed revision: %+v %v", res, err)
	}
	if hist, _ := coll.History(ctx, "d", rev3, 0); strings.Join(hist, ",") != rev2+","+d1.RevID {
		t.Fatalf("history %v", hist)
	}
	if revs, _ := coll.Revisions(ctx, "d"); len(revs) != 3 {
		t.Fatalf("revisions %+v", revs)
	}
	// Listed as an ancestor, but the received vector does not hold its version.
	d4, err := coll.Save(ctx, "d", []byte(`{"v":"mine"}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := hlv.Vector{Current: hlv.Version{Time: base + 9<<16, Source: srcB}, Previous: []hlv.Version{va(5)}}
	rev5 := "5-" + strings.Repeat("c5", 20)
	res, err = coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: other, Body: []byte(`{"v":5}`), RevTree: []string{rev5, d4.RevID, rev3}})
	if err != nil || res.Order != hlv.Conflicting || res.Inserted {
		t.Fatalf("listed ancestor, conflicting vectors: %+v %v", res, err)
	}
	// The same in Sync Gateway's form (rev-tree IDs after the previous versions).
	legacy := other
	legacy.Legacy = []string{rev5, d4.RevID, rev3}
	res, err = coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: legacy, Body: []byte(`{"v":5}`)})
	if err != nil || res.Order != hlv.Conflicting || res.Inserted {
		t.Fatalf("listed ancestor after the versions, conflicting vectors: %+v %v", res, err)
	}
	if g, _ := coll.Get(ctx, "d"); g.RevID != d4.RevID {
		t.Fatalf("current %s after a conflict, want %s", g.RevID, d4.RevID)
	}
	// Generations that do not descend one by one.
	bad := []string{"4-" + strings.Repeat("d4", 20), "2-" + strings.Repeat("d2", 20)}
	if _, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "e", Vector: hlv.Vector{Current: va(7)}, Body: []byte(`{}`), RevTree: bad}); !errors.Is(err, ErrInvalidRevID) {
		t.Fatalf("gap in the rev-tree list: %v", err)
	}
}

// A newer version whose sender's rev-tree IDs do not list the current revision (the two
// trees diverged: a peer that sends none minted this one's ID) replaces the current
// revision's branch with the sender's ancestry from the newest listed revision held here,
// or from the list's oldest as a new root when none is held; a conflict that the
// received revision wins unchanged places it the same way.
func TestVersionReplacesDivergedBranch(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	const srcA, srcB = "dnZwcm9iZS1zb3VyY2UtQQ", "dnZwcm9iZS1zb3VyY2UtQg"
	base := uint64(time.Now().Add(-time.Hour).UnixNano()) &^ 0xffff
	va := func(n uint64) hlv.Version { return hlv.Version{Time: base + n<<16, Source: srcA} }
	d1, err := coll.Save(ctx, "d", []byte(`{"v":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := hlv.ParseVersion(d1.Version)
	// v2 arrives without rev-tree IDs: a minted 2-… here.
	v2 := hlv.Vector{Current: va(2), Previous: []hlv.Version{mine}}
	if res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v2, Body: []byte(`{"v":2}`)}); err != nil || res.Order != hlv.Newer {
		t.Fatalf("v2: %+v %v", res, err)
	}
	minted, _ := coll.Get(ctx, "d")
	// v4 from the sender, whose tree is d1 → 2-a → 3-a → 4-a.
	tree := []string{"4-" + strings.Repeat("a4", 20), "3-" + strings.Repeat("a3", 20), "2-" + strings.Repeat("a2", 20), d1.RevID}
	v4 := hlv.Vector{Current: va(4), Previous: []hlv.Version{mine}}
	res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v4, Body: []byte(`{"v":4}`), RevTree: tree})
	if err != nil || res.Order != hlv.Newer || res.Document.RevID != tree[0] {
		t.Fatalf("v4: %+v %v", res, err)
	}
	revs, _ := coll.Revisions(ctx, "d")
	if len(revs) != 4 {
		t.Fatalf("revisions %+v, want the sender's four (%s gone)", revs, minted.RevID)
	}
	for _, r := range revs {
		if r.RevID == minted.RevID {
			t.Fatalf("the superseded branch %s is still there: %+v", minted.RevID, revs)
		}
	}
	// No listed revision here, generations that do not follow: a new root.
	far := []string{"9-" + strings.Repeat("b9", 20), "8-" + strings.Repeat("b8", 20)}
	v9 := hlv.Vector{Current: va(9), Previous: []hlv.Version{mine}}
	if res, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: v9, Body: []byte(`{"v":9}`), RevTree: far}); err != nil || res.Document.RevID != far[0] {
		t.Fatalf("v9: %+v %v", res, err)
	}
	if revs, _ := coll.Revisions(ctx, "d"); len(revs) != 2 {
		t.Fatalf("revisions %+v, want the sender's two", revs)
	}
	// A conflict the received revision wins unchanged keeps the sender's rev-tree ID.
	loc, err := coll.Save(ctx, "d", []byte(`{"v":"mine"}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs := hlv.Vector{Current: hlv.Version{Time: base + 20<<16, Source: srcB}, Previous: []hlv.Version{va(9)}}
	rtree := []string{"10-" + strings.Repeat("c1", 20), far[0]}
	rv := RemoteVersion{DocID: "d", Vector: theirs, Body: []byte(`{"v":"theirs"}`), RevTree: rtree}
	if res, err := coll.PutExistingVersion(ctx, rv); err != nil || res.Order != hlv.Conflicting {
		t.Fatalf("conflict: %+v %v", res, err)
	}
	got, err := coll.ResolveVersionConflict(ctx, rv, VersionResolution{RemoteWins: true})
	if err != nil || got.RevID != rtree[0] || got.Version != theirs.Current.String() || string(got.Body) != `{"v":"theirs"}` {
		t.Fatalf("resolved: %+v %v", got, err)
	}
	if cs, _ := coll.Conflicts(ctx, "d"); len(cs) > 0 {
		t.Fatalf("conflicts %v", cs)
	}
	if _, err := coll.GetRevision(ctx, "d", loc.RevID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("losing revision %s: %v", loc.RevID, err)
	}
}

// vectorText writes a vector of this database's version alone itself: it must be
// vec.String() for that and every other vector.
func TestVectorTextMatchesString(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	own := hlv.Version{Time: 0x18a1b2c3d4e5f600, Source: db.SourceID()}
	other := hlv.Version{Time: 0x18a1b2c3d4e50000, Source: "AAAAAAAAAAAAAAAAAAAAAA"}
	for _, v := range []hlv.Vector{
		{},
		{Current: own},
		{Current: hlv.Version{Time: 1, Source: db.SourceID()}},
		{Current: other},
		{Current: own, Previous: []hlv.Version{other}},
		{Current: own, Merge: []hlv.Version{other, {Time: 5, Source: "BBBBBBBBBBBBBBBBBBBBBB"}}},
		{Current: own, Legacy: []string{"1-abc"}},
	} {
		if got, want := db.vectorText(v), v.String(); got != want {
			t.Fatalf("vectorText(%+v) = %q, want %q", v, got, want)
		}
	}
}

// Two peers that delete the same revision independently make tombstones with one rev-tree
// ID (a digest of the parent and the deletion) and two versions: a received tombstone
// listing our rev-tree ID as its own, with a vector that lacks our version and our
// revision's stand-in, is a conflict (before, the matching rev-tree ID made it the very
// revision, Same, so the two versions never met and the peers never converged).
func TestSameTombstoneWithOtherVersionConflicts(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	const srcB = "dnZwcm9iZS1zb3VyY2UtQg"
	d1, err := coll.Save(ctx, "d", []byte(`{"v":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := coll.Delete(ctx, "d", SaveOptions{})
	if err != nil || !gone.Deleted {
		t.Fatalf("delete: %+v %v", gone, err)
	}
	v1, _ := hlv.ParseVersion(d1.Version)
	theirs := hlv.Vector{Current: hlv.Version{Time: v1.Time + 0x10000, Source: srcB}, Previous: []hlv.Version{v1}}
	rv := RemoteVersion{DocID: "d", Vector: theirs, Deleted: true, RevTree: []string{gone.RevID, d1.RevID}}
	res, err := coll.PutExistingVersion(ctx, rv)
	if err != nil || res.Order != hlv.Conflicting || res.Inserted {
		t.Fatalf("their tombstone of our revision: %+v %v, want a conflict", res, err)
	}
	doc, err := coll.ResolveVersionConflict(ctx, rv, VersionResolution{})
	if err != nil || !doc.Deleted {
		t.Fatalf("resolve: %+v %v", doc, err)
	}
	vec, err := hlv.ParseVector(doc.Vector)
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := hlv.ParseVersion(gone.Version)
	if !vec.Contains(mine) || !vec.Contains(theirs.Current) || vec.Current.Source != db.SourceID() {
		t.Fatalf("resolved vector %s: want a new local version holding %s and %s", doc.Vector, mine, theirs.Current)
	}
	if res, err = coll.PutExistingVersion(ctx, rv); err != nil || res.Order != hlv.Older {
		t.Fatalf("their tombstone again: %+v %v, want older", res, err)
	}
}
