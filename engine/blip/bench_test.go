package blip

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBulk sends messages to a handler that streams them to io.Discard.
func BenchmarkBulk(b *testing.B) {
	for _, bc := range []struct {
		size       int
		compressed bool
	}{{1 << 20, false}, {16 << 20, false}, {1 << 20, true}} {
		size, compressed := bc.size, bc.compressed
		b.Run(fmt.Sprintf("%dKiB/compressed=%v", size>>10, compressed), func(b *testing.B) {
			quiet := Config{Logger: slog.New(slog.DiscardHandler)}
			t := &testing.T{}
			p := newPair(t, quiet, quiet, func(client, server *Conn) {
				server.Handle("sink", func(ctx context.Context, req *Message) (*Message, error) {
					_, err := io.Copy(io.Discard, req.BodyReader())
					return nil, err
				})
			})
			defer func() {
				_ = p.client.Close(CloseNormal, "")
				_ = p.server.Close(CloseNormal, "")
				p.srv.Close()
			}()
			body := jsonish(size)
			b.SetBytes(int64(len(body)))
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := NewRequest("sink")
				req.Body = body
				req.Compressed = compressed
				if _, err := p.client.Send(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(p.client.freezes.Load())/float64(b.N), "pauses/op")
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time used by the process so far (both peers live in it), which is
// steadier than wall time on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func jsonish(n int) []byte {
	out := make([]byte, 0, n+100)
	for i := 0; len(out) < n; i++ {
		out = fmt.Appendf(out, `{"_id":"doc-%08d","n":%d,"text":"lorem ipsum %x"}`+"\n", i, i*7919%100003, i*2654435761)
	}
	return out[:n]
}
