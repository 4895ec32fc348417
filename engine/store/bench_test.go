package store

import (
	"context"
	"testing"

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
