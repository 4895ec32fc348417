package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/delta"
	"github.com/p2psync/libp2psync/engine/hlv"

	"github.com/p2psync/libp2psync/tests/bench/workload"
)

// BenchmarkSaveBatch1000 measures the W1 write path: new ~1 KB documents
// saved in batches of 1,000.
func BenchmarkSaveBatch1000(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c := db.DefaultCollection()
	b.ResetTimer()
	for i := 0; i < b.N; {
		batch, err := db.BeginBatch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < 1000 && i < b.N; k++ {
			i++
			id, body := workload.Doc("doc-", i, workload.SmallPayload)
			if _, err := batch.Save(c, id, body, SaveOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveUpdate100KB measures the receiving side of W4 in the store: updates
// of existing ~100 KB documents received from a peer (100 per batch), stored with
// PutExistingVersion (CBMobile_4) or PutExistingRevision (CBMobile_3), sent in full or,
// as after a delta, with the base kept as a reverse delta (BaseDelta). The received
// revisions are made outside the timer by saving the edits in a source database.
func BenchmarkReceiveUpdate100KB(b *testing.B) {
	for _, v4 := range []bool{true, false} {
		for _, withBase := range []bool{false, true} {
			name := map[bool]string{true: "v4", false: "v3"}[v4] + map[bool]string{false: "/full", true: "/delta"}[withBase]
			b.Run(name, func(b *testing.B) { benchReceiveUpdate(b, v4, withBase) })
		}
	}
}

func benchReceiveUpdate(b *testing.B, v4, withBase bool) {
	ctx := context.Background()
	src, err := Open(ctx, b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := Open(ctx, b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	sc, dc := src.DefaultCollection(), dst.DefaultCollection()
	const docs = 100
	prev := make([]*Document, docs)
	// round saves edit round r of every document in the source and returns what a peer
	// would send of it.
	round := func(r int) (vs []RemoteVersion, rs []RemoteRevision) {
		for k := 0; k < docs; k++ {
			id, body := workload.Doc("big-", k+1, workload.LargePayload)
			body = append(body[:len(body)-1], []byte(fmt.Sprintf(`,"round":%d}`, r))...)
			d, err := sc.Save(ctx, id, body, SaveOptions{})
			if err != nil {
				b.Fatal(err)
			}
			vec, err := hlv.ParseVector(d.Vector)
			if err != nil {
				b.Fatal(err)
			}
			rv := RemoteVersion{DocID: id, Vector: vec, Body: d.Body, RevTree: []string{d.RevID}}
			rr := RemoteRevision{DocID: id, RevID: d.RevID, Body: d.Body}
			if p := prev[k]; p != nil {
				rv.RevTree = append(rv.RevTree, p.RevID)
				rr.History = []string{p.RevID}
				if withBase {
					rev, exact, err := delta.CreateExact(d.Body, p.Body)
					if err != nil || !exact {
						b.Fatalf("reverse delta: exact %v, %v", exact, err)
					}
					rv.Base = &BaseDelta{RevID: p.RevID, Delta: rev}
					rr.Base = rv.Base
				}
			}
			prev[k] = d
			vs, rs = append(vs, rv), append(rs, rr)
		}
		return vs, rs
	}
	receive := func(vs []RemoteVersion, rs []RemoteRevision) {
		err := dst.InBatch(ctx, func(bt *Batch) error {
			for k := range vs {
				var err error
				if v4 {
					_, err = bt.PutExistingVersion(dc, vs[k])
				} else {
					_, err = bt.PutExistingRevision(dc, rs[k])
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	receive(round(0))
	var cpu time.Duration // of the process during the receives, less disturbed by other load than wall time
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		vs, rs := round(i + 1)
		b.StartTimer()
		cpu0 := processCPU()
		receive(vs, rs)
		cpu += processCPU() - cpu0
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*docs), "ns/update")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*docs), "cpu-ns/update")
}
