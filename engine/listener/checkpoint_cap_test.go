package listener

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/p2psync/libp2psync/engine/syncproto"
)

// A peer of a read-only listener may store checkpoints (Couchbase Lite's active side
// saves one even when it only pulls), but it cannot fill the listener's disk with them:
// however many client IDs it makes up, at most Limits.MaxPeerCheckpoints are kept (the
// most recently written), and a body over Limits.MaxCheckpointSize is refused HTTP/413
// (by default 16 KiB, where a 20 MiB message used to be stored whole).
func TestHostileCheckpointFlood(t *testing.T) {
	db := openDB(t, "db")
	l := start(t, Config{Database: db, ReadOnly: true, Limits: syncproto.Limits{MaxPeerCheckpoints: 3}})
	cl := newClient(t, l, nil)
	const n = 25
	for i := 0; i < n; i++ {
		cl.mustSend("setCheckpoint", fmt.Sprintf(`{"remote":%d}`, i), "client", fmt.Sprintf("made-up-%d", i))
	}
	var kept []int
	for i := 0; i < n; i++ {
		if _, _, err := db.GetLocal(context.Background(), fmt.Sprintf("peer-checkpoint/made-up-%d", i)); err == nil {
			kept = append(kept, i)
		}
	}
	if fmt.Sprint(kept) != fmt.Sprint([]int{n - 3, n - 2, n - 1}) {
		t.Fatalf("kept checkpoints %v, want the 3 most recent", kept)
	}
	big := `{"remote":"` + strings.Repeat("x", syncproto.DefaultMaxCheckpointSize) + `"}`
	_, _, err := cl.send("setCheckpoint", big, "client", "big")
	wantBLIPError(t, err, "HTTP", 413)
	if _, _, err := db.GetLocal(context.Background(), "peer-checkpoint/big"); err == nil {
		t.Fatal("the refused checkpoint was stored")
	}
	// The connection goes on: the peer's next (small) checkpoint is stored.
	cl.mustSend("setCheckpoint", `{"remote":1}`, "client", "big")
}
