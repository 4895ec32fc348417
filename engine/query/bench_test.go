package query

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// Benchmarks (never timed assertions): one equality query over 10,000 documents,
// by scanning and through a value index.
func benchDB(b *testing.B) Source {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "b.p2pdb"), store.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	coll := db.DefaultCollection()
	err = db.InBatch(ctx, func(bt *store.Batch) error {
		for i := 0; i < 10000; i++ {
			body := fmt.Sprintf(`{"name":"user %d","age":%d,"address":{"city":"city %d","street":"%d Long Street Name"},"tags":["a","b","c"]}`, i, i%90, i%100, i)
			if _, err := bt.Save(coll, fmt.Sprintf("u%05d", i), []byte(body), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return StoreSource{db}
}

func benchQuery(b *testing.B, src Source, text string, want int) {
	q, err := Prepare(context.Background(), src, text)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := q.Execute(context.Background(), nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rs.Next() {
			n++
		}
		rs.Close()
		if n != want {
			b.Fatalf("%d rows, want %d", n, want)
		}
	}
}

const benchSelect = `SELECT meta().id, name FROM _ WHERE address.city = 'city 7'`

func BenchmarkWhereScan(b *testing.B) { benchQuery(b, benchDB(b), benchSelect, 100) }

func BenchmarkWhereIndexed(b *testing.B) {
	src := benchDB(b)
	q, err := Prepare(context.Background(), src, `CREATE INDEX byCity ON _(address.city)`)
	if err == nil {
		_, err = q.Execute(context.Background(), nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	benchQuery(b, src, benchSelect, 100)
}

func BenchmarkGroupBy(b *testing.B) {
	benchQuery(b, benchDB(b), `SELECT address.city, COUNT(*), AVG(age) FROM _ GROUP BY address.city`, 100)
}
