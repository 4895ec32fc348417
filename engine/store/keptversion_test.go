package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/hlv"
	"github.com/p2psync/libp2psync/tests/bench/workload"
)

// The parent of the current revision keeps its body (for deltas) and, with
// GetRevisionByVersion, can be found by the version it had; an older one, or one whose
// record no longer matches the document, cannot.
func TestGetRevisionByVersion(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	save := func(body string) *Document {
		t.Helper()
		d, err := coll.Save(ctx, "a", []byte(body), SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	get := func(version string) (*Document, error) {
		return coll.GetRevisionByVersion(ctx, "a", version)
	}
	d1 := save(`{"n":1}`)
	if got, err := get(d1.Version); err != nil || got.RevID != d1.RevID || string(got.Body) != `{"n":1}` {
		t.Fatalf("current version: %+v, %v", got, err)
	}
	d2 := save(`{"n":2}`)
	got, err := get(d1.Version)
	if err != nil || got.RevID != d1.RevID || string(got.Body) != `{"n":1}` || got.Version != d1.Version || got.Timestamp != d1.Timestamp {
		t.Fatalf("parent's version: %+v, %v", got, err)
	}
	if got, err := get(d2.Version); err != nil || got.RevID != d2.RevID || got.Vector != d2.Vector {
		t.Fatalf("current version: %+v, %v", got, err)
	}
	d3 := save(`{"n":3}`)
	if _, err := get(d1.Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grandparent (body dropped): %v, want ErrNotFound", err)
	}
	if got, err := get(d2.Version); err != nil || string(got.Body) != `{"n":2}` {
		t.Fatalf("new parent: %+v, %v", got, err)
	}
	// A revision inserted in rev-tree form (no version of its own) becomes current; d3,
	// its parent, keeps its body and is still found by its version.
	if _, err := coll.PutExistingRevision(ctx, RemoteRevision{DocID: "a", RevID: "4-abcdef", History: []string{d3.RevID}, Body: []byte(`{"n":4}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(d2.Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grandparent after a rev-tree insert: %v, want ErrNotFound", err)
	}
	if got, err := get(d3.Version); err != nil || string(got.Body) != `{"n":3}` {
		t.Fatalf("parent of a rev-tree revision: %+v, %v", got, err)
	}
	// Another source's version, an unparsable one, and a purged document.
	if _, err := get(hlv.Version{Time: d1.Timestamp, Source: "dnZwcm9iZS1zb3VyY2UtQQ"}.String()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := get("1-abc"); !errors.Is(err, ErrInvalidRevID) {
		t.Fatalf("rev-tree ID: %v, want ErrInvalidRevID", err)
	}
	if err := coll.Purge(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(d3.Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged: %v", err)
	}
	var n int
	if err := db.wconn.QueryRowContext(ctx, `SELECT count(*) FROM kept_versions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("kept_versions rows after purge: %d, %v", n, err)
	}
}

// A received version that a local save then supersedes is found by its version too (the
// delta base a CBMobile_4 peer names), and a database that does not permit delta sync
// records nothing.
func TestGetRevisionByVersionReceived(t *testing.T) {
	ctx := context.Background()
	for _, noDeltas := range []bool{false, true} {
		db := openTest(t, Config{DisableDeltaSync: noDeltas})
		coll := db.DefaultCollection()
		va := hlv.Version{Time: uint64(time.Now().Add(-time.Hour).UnixNano()), Source: "dnZwcm9iZS1zb3VyY2UtQQ"}
		if _, err := coll.PutExistingVersion(ctx, RemoteVersion{DocID: "d", Vector: hlv.Vector{Current: va}, Body: []byte(`{"from":"A"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.Save(ctx, "d", []byte(`{"from":"here"}`), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := coll.GetRevisionByVersion(ctx, "d", va.String())
		if noDeltas {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("delta sync off: %+v, %v", got, err)
			}
			continue
		}
		if err != nil || string(got.Body) != `{"from":"A"}` || got.Version != va.String() {
			t.Fatalf("received version after a local save: %+v, %v", got, err)
		}
	}
}

// BenchmarkUpdateBatch1000 measures updates of existing ~1 KB documents (1,000 per
// batch), with delta sync permitted (each update records its parent's version in
// kept_versions) and forbidden (it records nothing): the difference is that record's cost.
func BenchmarkUpdateBatch1000(b *testing.B) {
	for _, noDeltas := range []bool{false, true} {
		name := "deltas"
		if noDeltas {
			name = "no-deltas"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, b.TempDir(), Config{DisableDeltaSync: noDeltas})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			c := db.DefaultCollection()
			const docs = 1000
			write := func(round int) {
				batch, err := db.BeginBatch(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for k := 1; k <= docs; k++ {
					id, body := workload.Doc("doc-", k, workload.SmallPayload)
					body = append(body[:len(body)-1], []byte(fmt.Sprintf(`,"round":%d}`, round))...)
					if _, err := batch.Save(c, id, body, SaveOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				if err := batch.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			write(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				write(i + 1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*docs), "ns/update")
		})
	}
}

// A kept parent body large enough to live in the kept-bodies table (schema 2) is found by
// its version too, byte for byte, and is gone once a grandchild is saved.
func TestGetRevisionByVersionLargeKeptBody(t *testing.T) {
	ctx := context.Background()
	coll := openTest(t, Config{}).DefaultCollection()
	big := func(n int) string { return fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", 3*keptTableMin)) }
	var docs []*Document
	for i := 1; i <= 3; i++ {
		d, err := coll.Save(ctx, "a", []byte(big(i)), SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
		if i == 2 {
			got, err := coll.GetRevisionByVersion(ctx, "a", docs[0].Version)
			if err != nil || got.RevID != docs[0].RevID || string(got.Body) != big(1) {
				t.Fatalf("large kept parent by version: %v (rev %v)", err, got)
			}
		}
	}
	if got, err := coll.GetRevisionByVersion(ctx, "a", docs[1].Version); err != nil || string(got.Body) != big(2) {
		t.Fatalf("new large kept parent: %v", err)
	}
	if _, err := coll.GetRevisionByVersion(ctx, "a", docs[0].Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("large grandparent: %v, want ErrNotFound", err)
	}
}

// GetVersionCurrentFirst finds what GetRevisionByVersion finds, the current revision
// first.
func TestGetVersionCurrentFirst(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	coll := db.DefaultCollection()
	d1, err := coll.Save(ctx, "a", []byte(`{"n":1}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := coll.Save(ctx, "a", []byte(`{"n":2}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d3, err := coll.Save(ctx, "a", []byte(`{"n":3}`), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := coll.GetVersionCurrentFirst(ctx, "a", d3.Version); err != nil || got.RevID != d3.RevID || string(got.Body) != `{"n":3}` || got.Vector != d3.Vector {
		t.Fatalf("current: %+v, %v", got, err)
	}
	if got, err := coll.GetVersionCurrentFirst(ctx, "a", d2.Version); err != nil || got.RevID != d2.RevID || string(got.Body) != `{"n":2}` || got.Version != d2.Version {
		t.Fatalf("parent: %+v, %v", got, err)
	}
	if _, err := coll.GetVersionCurrentFirst(ctx, "a", d1.Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grandparent: %v, want ErrNotFound", err)
	}
	if _, err := coll.GetVersionCurrentFirst(ctx, "b", d1.Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown document: %v, want ErrNotFound", err)
	}
	if _, err := coll.GetVersionCurrentFirst(ctx, "a", "junk"); !errors.Is(err, ErrInvalidRevID) {
		t.Fatalf("bad version: %v, want ErrInvalidRevID", err)
	}
}
