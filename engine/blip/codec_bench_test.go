package blip

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/flate"
)

// w2Frames builds message payloads shaped like W2's rev messages (properties, then a
// ~1 KB JSON body with a 900-character random payload over a 64-letter alphabet).
func w2Frames(n int) [][]byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([][]byte, n)
	for i := range out {
		x := uint32(i+1)*2654435761 ^ 0x9E3779B9
		pay := make([]byte, 900)
		for j := range pay {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			pay[j] = alphabet[x&63]
		}
		out[i] = []byte(fmt.Sprintf("\x00Profile\x00rev\x00id\x00doc-%06d\x00rev\x001-%040x\x00sequence\x00%d\x00"+
			`{"n":%d,"kind":"bench","group":"g%d","score":%d.%02d,"created":"2024-01-01T00:00:00.000Z","payload":"%s"}`,
			i+1, i*7919, i+1, i+1, (i+1)%100, i%1000, i%100, pay))
	}
	return out
}

// BenchmarkFrameCodec encodes and decodes W2-like single-frame messages at several
// fixed deflate levels (-1: uncompressed frames) and with the adaptive policy from level
// 6: the CPU a connection spends per rev.
func BenchmarkFrameCodec(b *testing.B) {
	msgs := w2Frames(1000)
	for _, level := range []int{-1, flate.HuffmanOnly, 1, 6, 0} {
		name := fmt.Sprintf("level%d", level)
		if level == 0 {
			name = "adaptive6"
		}
		b.Run(name, func(b *testing.B) {
			var enc encoder
			var dec decoder
			enc.level, enc.adapt.off = level, true
			if level == 0 {
				enc.level, enc.adapt.off = 6, false
			}
			flags := byte(TypeRequest)
			if level != -1 {
				flags |= flagCompressed
			}
			in, out := 0, 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := msgs[i%len(msgs)]
				frame, err := enc.encode(uint64(i+1), flags, m)
				if err != nil {
					b.Fatal(err)
				}
				in, out = in+len(m), out+len(frame)
				f, err := dec.decodeHeader(frame)
				if err != nil {
					b.Fatal(err)
				}
				if f.flags&flagCompressed != 0 {
					if err := dec.inflateFrame(f, func([]byte) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(out)/float64(in), "wire/raw")
		})
	}
}
