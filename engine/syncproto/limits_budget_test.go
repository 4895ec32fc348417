package syncproto

import (
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
)

// A pusher at the defaults never has more unanswered revision bytes than a receiver at the
// defaults buffers: every revision sent and not answered may sit in the peer's buffer at
// once, incomplete, with its properties (at most blip's 100 KiB of them, history and
// revTree included) and a 4 KiB charge for its handler. Half the cap for bodies leaves
// room for those; at the old 8 MiB budget, large revisions sent interleaved to a busy
// receiver were refused with HTTP/503 and the push reconnected (tests/bench/delta W4).
func TestDefaultRevBudgetFitsThePeersBuffer(t *testing.T) {
	l := Limits{}.withDefaults()
	bufCap := l.BlipConfig(blip.Config{}).MaxBufferedBytes
	const handlerCharge = 4 << 10
	revs := int64(l.MaxRevsInFlight)
	// Revisions of the size that fills the budget: budget / size of them, each with
	// properties of a typical large revision (history of 20 rev IDs, a revTree of 20:
	// ~2 KiB) and the handler charge.
	for _, size := range []int64{1 << 10, 16 << 10, 100 << 10, 1 << 20} {
		n := l.MaxRevBytesInFlight/size + 1 // the budget lets one more start while under it
		if n > revs {
			n = revs
		}
		held := n*size + n*(2<<10+handlerCharge)
		if held > bufCap {
			t.Errorf("revisions of %d bytes: %d in flight may hold %d bytes at the receiver, over its %d-byte cap", size, n, held, bufCap)
		}
	}
	if l.MaxRevBytesInFlight > bufCap/2 {
		t.Errorf("MaxRevBytesInFlight %d is over half the receiver's cap %d", l.MaxRevBytesInFlight, bufCap)
	}
}
