package replicator

import (
	"context"
	"fmt"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// BenchmarkPush measures a one-shot push of b.N ~1 KB documents in one process.
func BenchmarkPush(b *testing.B) {
	local, remote := openDB(b, "local"), openDB(b, "remote")
	payload := make([]byte, 900)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	err := local.InBatch(context.Background(), func(bt *store.Batch) error {
		for i := 0; i < b.N; i++ {
			if _, err := bt.Save(local.DefaultCollection(), fmt.Sprintf("doc-%06d", i), []byte(fmt.Sprintf(`{"n":%d,"payload":%q}`, i, payload)), store.SaveOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	l := startListener(b, remote, nil)
	r := newRepl(b, Config{Database: local, URL: localURL(l), Type: Push})
	b.ResetTimer()
	if st := runOneShot(b, r); st.Error != nil {
		b.Fatal(st.Error)
	}
	b.StopTimer()
	if got := count(b, remote.DefaultCollection()); got != uint64(b.N) {
		b.Fatalf("pushed %d of %d", got, b.N)
	}
}
