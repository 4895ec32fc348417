package blip

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goroutineID parses the running goroutine's number from its stack header (tests only).
func goroutineID() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	buf = bytes.TrimPrefix(buf, []byte("goroutine "))
	n, _ := strconv.ParseUint(string(buf[:bytes.IndexByte(buf, ' ')]), 10, 64)
	return n
}

// Handler goroutines are reused for later requests (their grown stacks with them),
// still run concurrently, and leave once idle.
func TestHandlerGoroutinesReused(t *testing.T) {
	const n, together = 50, 8
	var mu sync.Mutex
	seen := map[uint64]bool{}
	entered := make(chan struct{}, together)
	release := make(chan struct{})
	p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
		server.Handle("who", func(ctx context.Context, req *Message) (*Message, error) {
			mu.Lock()
			seen[goroutineID()] = true
			mu.Unlock()
			return &Message{}, nil
		})
		server.Handle("wait", func(ctx context.Context, req *Message) (*Message, error) {
			entered <- struct{}{}
			select {
			case <-release:
				return &Message{}, nil
			case <-time.After(10 * time.Second):
				return nil, &Error{Domain: "HTTP", Code: 500, Message: "handlers did not run together"}
			}
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		req := &Message{Type: TypeRequest}
		req.Properties.Set("Profile", "who")
		if _, err := p.client.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	distinct := len(seen)
	mu.Unlock()
	if distinct >= n {
		t.Errorf("%d sequential requests ran on %d goroutines: none was reused", n, distinct)
	}

	// Reuse must not serialize handlers: together requests wait for each other.
	var replies []<-chan Reply
	for i := 0; i < together; i++ {
		req := &Message{Type: TypeRequest}
		req.Properties.Set("Profile", "wait")
		ch, err := p.client.SendAsync(req)
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, ch)
	}
	for i := 0; i < together; i++ {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatalf("only %d of %d handlers started", i, together)
		}
	}
	close(release)
	for _, ch := range replies {
		if r := <-ch; r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	// Idle handler goroutines leave.
	deadline := time.Now().Add(10 * time.Second)
	for idleWorkers.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle handler goroutines still waiting", idleWorkers.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
