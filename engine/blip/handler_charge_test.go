package blip

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A peer sending many tiny requests whose handlers wait does not get a goroutine per
// request without limit: each running handler counts handlerCharge toward
// MaxBufferedBytes, so the reader pauses once MaxBufferedBytes/handlerCharge of them run,
// and reads on as they return; every request is handled in the end. Before, all 5000
// handlers ran at once (their messages hold a few bytes each).
func TestRunningHandlersBoundedByBufferCap(t *testing.T) {
	const n = 5000
	const limit = 256 << 10 // 64 handlers' charge
	release := make(chan struct{})
	var running, peak, handled atomic.Int64
	var once sync.Once
	p := newPair(t, Config{}, Config{MaxBufferedBytes: limit}, func(_, server *Conn) {
		server.Handle("wait", func(ctx context.Context, req *Message) (*Message, error) {
			r := running.Add(1)
			for {
				old := peak.Load()
				if r <= old || peak.CompareAndSwap(old, r) {
					break
				}
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			running.Add(-1)
			handled.Add(1)
			return nil, nil
		})
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	go func() {
		for i := 0; i < n; i++ {
			m := NewRequest("wait")
			m.NoReply = true
			if _, err := p.client.Send(context.Background(), m); err != nil {
				return
			}
		}
	}()
	// Wait until the running count stops growing.
	last, stable := int64(-1), 0
	for deadline := time.Now().Add(20 * time.Second); stable < 10 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if r := running.Load(); r == last {
			stable++
		} else {
			last, stable = r, 0
		}
	}
	maxRunning := int64(limit/handlerCharge) + 1
	if got := peak.Load(); got > maxRunning {
		t.Errorf("%d handlers ran at once, want at most %d (MaxBufferedBytes %d / %d per handler)", got, maxRunning, limit, handlerCharge)
	}
	once.Do(func() { close(release) })
	deadline := time.Now().Add(30 * time.Second)
	for handled.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests handled after the handlers were released", handled.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
