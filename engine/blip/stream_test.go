package blip

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader produces n deterministic bytes without holding them; closed counts Close.
type patternReader struct {
	n, off int64
	failAt int64 // > 0: fail once off reaches it
	closed *atomic.Int32
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.failAt > 0 && r.off >= r.failAt {
		return 0, errors.New("disk gone")
	}
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > r.n-r.off {
		k = r.n - r.off
	}
	if r.failAt > 0 && r.off+k > r.failAt {
		k = r.failAt - r.off
	}
	for i := int64(0); i < k; i++ {
		p[i] = byte((r.off + i) * 31 >> 3)
	}
	r.off += k
	return int(k), nil
}

func (r *patternReader) Close() error { r.closed.Add(1); return nil }

func patternSum(n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, &patternReader{n: n, closed: new(atomic.Int32)})
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// A reply body streamed from a reader arrives whole and in order, larger than the
// connection's message cap when the request raised the cap for its reply, while neither
// side holds the body; the source is closed once sent.
func TestStreamedReplyBody(t *testing.T) {
	const size = 40 << 20
	var closed atomic.Int32
	p := newPair(t, Config{MaxMessageSize: 1 << 20}, Config{}, func(client, server *Conn) {
		server.Handle("blob", func(ctx context.Context, req *Message) (*Message, error) {
			return &Message{Compressed: req.Properties.Get("compress") == "true",
				BodyStream: &patternReader{n: size, closed: &closed}, BodyLength: size}, nil
		})
	})
	for _, compress := range []bool{false, true} {
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		req := NewRequest("blob")
		req.Properties.Set("compress", strconv.FormatBool(compress))
		req.MaxReplySize = size + 1024
		reply, err := p.client.Send(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		buf := make([]byte, 64<<10)
		var peak uint64
		var n int64
		r := reply.BodyReader()
		for {
			k, err := r.Read(buf)
			h.Write(buf[:k])
			n += int64(k)
			if n%(4<<20) < int64(k) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		var got [32]byte
		copy(got[:], h.Sum(nil))
		if n != size || got != patternSum(size) {
			t.Fatalf("compress=%v: got %d bytes, sum match %v", compress, n, got == patternSum(size))
		}
		if grow := int64(peak) - int64(before.HeapAlloc); grow > 16<<20 {
			t.Errorf("compress=%v: heap grew by %d bytes while streaming %d", compress, grow, size)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if closed.Load() != 2 {
		t.Errorf("sources closed %d times, want 2", closed.Load())
	}
	// Without the raised cap the same reply is refused by the connection's cap.
	reply, err := p.client.Send(context.Background(), NewRequest("blob"))
	if err == nil {
		_, err = io.Copy(io.Discard, reply.BodyReader())
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("reply past the message cap: %v, want ErrTooLarge", err)
	}
}

// A streamed body whose source fails, ends early or runs long cannot be completed: the
// connection is closed (1011) rather than a wrong body delivered.
func TestStreamedBodySourceFailure(t *testing.T) {
	cases := map[string]func(*atomic.Int32) (io.Reader, int64){
		"fails": func(c *atomic.Int32) (io.Reader, int64) {
			return &patternReader{n: 1 << 20, failAt: 300 << 10, closed: c}, 1 << 20
		},
		"short":  func(c *atomic.Int32) (io.Reader, int64) { return &patternReader{n: 100 << 10, closed: c}, 1 << 20 },
		"long":   func(c *atomic.Int32) (io.Reader, int64) { return &patternReader{n: 1<<20 + 1, closed: c}, 1 << 20 },
		"failed": func(c *atomic.Int32) (io.Reader, int64) { return &patternReader{n: 10, failAt: 10, closed: c}, 10 },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			var closed atomic.Int32
			src, n := mk(&closed)
			p := newPair(t, Config{}, Config{}, func(client, server *Conn) {
				server.Handle("blob", func(ctx context.Context, req *Message) (*Message, error) {
					return &Message{BodyStream: src, BodyLength: n}, nil
				})
			})
			reply, err := p.client.Send(context.Background(), NewRequest("blob"))
			if err == nil {
				_, err = io.Copy(io.Discard, reply.BodyReader())
			}
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("got %v, want the connection closed", err)
			}
			waitDone(t, p.server)
			var ce *CloseError
			if !errors.As(p.server.Err(), &ce) || ce.Code != CloseInternal {
				t.Fatalf("server ended with %v, want code %d", p.server.Err(), CloseInternal)
			}
			if closed.Load() != 1 {
				t.Fatalf("source closed %d times, want 1", closed.Load())
			}
		})
	}
}
