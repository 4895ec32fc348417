package store

import (
	"context"
	"testing"

	"github.com/p2psync/libp2psync/tests/bench/workload"
)

func BenchmarkZZSaveNoBody(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c := db.DefaultCollection()
	type d struct {
		id   string
		body []byte
	}
	docs := make([]d, b.N)
	for i := range docs {
		docs[i].id, docs[i].body = workload.Doc("doc-", i+1, workload.SmallPayload)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		batch, err := db.BeginBatch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < 1000 && i < b.N; k++ {
			if _, err := batch.Save(c, docs[i].id, docs[i].body, SaveOptions{NoBody: true}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
