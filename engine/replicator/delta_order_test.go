package replicator

import (
	"context"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/listener"
)

// A revision sent as a delta arrives with the sender's bytes: the delta format cannot say
// where an added key goes (the receiver appends it) nor carry a new key order, so the
// pusher sends the full body whenever applying its delta would give the receiver another
// body under the same revision ID, and a delta where it rebuilds the body exactly.
func TestDeltaKeepsSenderKeyOrder(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 30)
	edits := []struct {
		name, base, edit string
		delta            bool // a delta rebuilds the edit exactly
	}{
		{"key added at the end", `{"z":1,"a":2,"text":"` + long + `"}`, `{"z":1,"a":2,"text":"` + long + `","new":3}`, true},
		{"key added in the middle", `{"z":1,"a":2,"text":"` + long + `"}`, `{"z":1,"new":3,"a":2,"text":"` + long + `"}`, false},
		{"keys reordered", `{"z":1,"a":2,"text":"` + long + `"}`, `{"a":2,"z":1,"text":"` + long + `"}`, false},
		{"nested key added in the middle", `{"m":{"y":1,"b":2},"text":"` + long + `"}`, `{"m":{"y":1,"new":0,"b":2},"text":"` + long + `"}`, false},
	}
	for _, tt := range edits {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := openDB(t, "local"), openDB(t, "remote")
			lc, rc := local.DefaultCollection(), remote.DefaultCollection()
			base := save(t, lc, "doc", tt.base)
			l := startListener(t, remote, func(c *listener.Config) { c.EnableDeltaSync = true })
			if st := runOneShot(t, newRepl(t, Config{Database: local, URL: localURL(l), Type: Push, EnableDeltaSync: true})); st.Error != nil {
				t.Fatalf("first push: %+v", st)
			}
			// A full body arrives as the sender holds it (keys not sorted).
			if got, err := rc.Get(context.Background(), "doc"); err != nil {
				t.Fatal(err)
			} else if string(got.Body) != string(base.Body) {
				t.Fatalf("first push arrived as %s, the sender holds %s", got.Body, base.Body)
			}
			edited := save(t, lc, "doc", tt.edit)
			r := newRepl(t, Config{Database: local, URL: localURL(l), Type: Push, EnableDeltaSync: true})
			if st := runOneShot(t, r); st.Error != nil {
				t.Fatalf("second push: %+v", st)
			}
			got, err := rc.Get(context.Background(), "doc")
			if err != nil {
				t.Fatal(err)
			}
			if got.RevID != edited.RevID || string(got.Body) != string(edited.Body) {
				t.Fatalf("revision %s arrived as\n%s\nthe sender holds\n%s", got.RevID, got.Body, edited.Body)
			}
			if sent := r.Stats().DeltasSent; (sent == 1) != tt.delta {
				t.Fatalf("deltas sent %d; want a delta: %v", sent, tt.delta)
			}
		})
	}
}
