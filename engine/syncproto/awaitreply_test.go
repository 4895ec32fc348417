package syncproto

import (
	"context"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
)

// A rev reply that arrived before the session ended counts even though the session's
// context is done by the time the pusher looks (select alone would drop it about half
// the time: the listener's closing log then said docs_sent=0 for a revision the peer
// had taken); with no reply waiting, the end wins.
func TestAwaitReplyPrefersAWaitingReply(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 200; i++ {
		replies := make(chan blip.Reply, 1)
		replies <- blip.Reply{}
		if _, ok := awaitReply(ctx, replies); !ok {
			t.Fatalf("run %d: a waiting reply was dropped because the session had ended", i)
		}
	}
	if _, ok := awaitReply(ctx, make(chan blip.Reply)); ok {
		t.Fatal("no reply and an ended session: want ok=false")
	}
}
