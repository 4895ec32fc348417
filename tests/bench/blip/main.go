// Command blip measures engine/blip over loopback against raw gorilla/websocket messages
// carrying the same payloads, in the same run, and prints the ratios.
//
//	go run ./tests/bench/blip          # full run (3 repetitions of each measurement)
//	go run ./tests/bench/blip -quick   # smaller volumes, for a smoke test
//
// Measurements:
//   - round trips/s: one request at a time (latency bound), and 32 in flight (pipelined);
//     64-byte bodies echoed back.
//   - bulk MB/s: 1 MiB and 16 MiB messages, one at a time, each acknowledged by a small reply
//     once the receiver has read the whole body; BLIP with compression off and on. The raw
//     WebSocket baseline sends the same payload as one binary message and waits for a small
//     reply in the same way.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/flate"

	"github.com/p2psync/libp2psync/engine/blip"
)

func main() {
	quick := flag.Bool("quick", false, "smaller volumes (smoke test)")
	runs := flag.Int("runs", 3, "repetitions of each measurement")
	only := flag.String("only", "", "run only the measurements whose name contains this")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	log.SetFlags(0)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	b, err := newBench()
	if err != nil {
		log.Fatal(err)
	}
	defer b.close()

	scale := 1
	if *quick {
		scale = 8
	}
	payload := jsonPayload(16 << 20)
	fmt.Printf("engine/blip vs raw gorilla/websocket over loopback; %d runs each, min / median / max\n", *runs)
	fmt.Printf("payload: generated JSON documents (deflate level 6 ratio ~%.1fx)\n\n", compressRatio(payload[:1<<20]))
	fmt.Printf("%-34s %-28s %-28s %s\n", "measurement", "BLIP", "raw WebSocket", "ratio (median)")

	rows := []struct {
		name string
		unit string
		blip func() (float64, error)
		raw  func() (float64, error)
	}{
		{"round trips, sequential (64 B)", "/s",
			func() (float64, error) { return b.blipRoundTrips(20000/scale, 1) },
			func() (float64, error) { return b.rawRoundTrips(20000/scale, 1) }},
		{"round trips, 32 in flight (64 B)", "/s",
			func() (float64, error) { return b.blipRoundTrips(40000/scale, 32) },
			func() (float64, error) { return b.rawRoundTrips(40000/scale, 32) }},
		{"bulk 1 MiB, compression off", " MB/s",
			func() (float64, error) { return b.blipBulk(payload[:1<<20], 128/scale, false) },
			func() (float64, error) { return b.rawBulk(payload[:1<<20], 128/scale) }},
		{"bulk 16 MiB, compression off", " MB/s",
			func() (float64, error) { return b.blipBulk(payload, 8/scale+1, false) },
			func() (float64, error) { return b.rawBulk(payload, 8/scale+1) }},
		{"bulk 1 MiB, compression on", " MB/s",
			func() (float64, error) { return b.blipBulk(payload[:1<<20], 32/scale, true) },
			func() (float64, error) { return b.rawBulk(payload[:1<<20], 32/scale) }},
		{"bulk 16 MiB, compression on", " MB/s",
			func() (float64, error) { return b.blipBulk(payload, 2, true) },
			func() (float64, error) { return b.rawBulk(payload, 2) }},
	}
	for _, r := range rows {
		if !strings.Contains(r.name, *only) {
			continue
		}
		var bs, rs []float64
		for i := 0; i < *runs; i++ { // alternate so that machine noise hits both alike
			v, err := r.blip()
			if err != nil {
				log.Fatalf("%s (BLIP): %v", r.name, err)
			}
			bs = append(bs, v)
			if v, err = r.raw(); err != nil {
				log.Fatalf("%s (raw): %v", r.name, err)
			}
			rs = append(rs, v)
		}
		fmt.Printf("%-34s %-28s %-28s %.2f\n", r.name, stats(bs, r.unit), stats(rs, r.unit), median(bs)/median(rs))
	}
}

type bench struct {
	srv    *httptest.Server
	client *blip.Conn
	raw    *websocket.Conn
	rawMu  sync.Mutex
}

func newBench() (*bench, error) {
	b := &bench{}
	mux := http.NewServeMux()
	mux.HandleFunc("/db/_blipsync", func(w http.ResponseWriter, r *http.Request) {
		c, err := blip.Upgrade(w, r, blip.UpgradeOptions{})
		if err != nil {
			log.Print(err)
			return
		}
		c.Handle("echo", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			body, err := req.ReadBody()
			return &blip.Message{Body: body}, err
		})
		c.Handle("sink", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
			n, err := io.Copy(io.Discard, req.BodyReader())
			return &blip.Message{Properties: blip.Properties{{Key: "n", Value: fmt.Sprint(n)}}}, err
		})
		c.Start()
	})
	up := websocket.Upgrader{ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10}
	mux.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		// Echo small messages; answer large ones (after reading them whole) with a 1-byte ack.
		for {
			_, rd, err := ws.NextReader()
			if err != nil {
				return
			}
			msg, err := io.ReadAll(io.LimitReader(rd, 1024))
			if err != nil {
				return
			}
			if n, _ := io.Copy(io.Discard, rd); n > 0 {
				msg = []byte{1}
			}
			if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				return
			}
		}
	})
	b.srv = httptest.NewServer(mux)
	base := "ws" + strings.TrimPrefix(b.srv.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := blip.Dial(ctx, base+"/db/_blipsync", blip.DialOptions{})
	if err != nil {
		return nil, err
	}
	c.Start()
	b.client = c
	d := websocket.Dialer{ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10}
	if b.raw, _, err = d.DialContext(ctx, base+"/raw", nil); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	_ = b.client.Close(blip.CloseNormal, "")
	<-b.client.Done()
	_ = b.raw.Close()
	b.srv.Close()
}

func (b *bench) blipRoundTrips(n, inFlight int) (float64, error) {
	body := make([]byte, 64)
	sem := make(chan struct{}, inFlight)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		req := blip.NewRequest("echo")
		req.Body = body
		ch, err := b.client.SendAsync(req)
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := <-ch
			if r.Err == nil {
				_, r.Err = r.Msg.ReadBody()
			}
			if r.Err != nil {
				select {
				case errc <- r.Err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func (b *bench) rawRoundTrips(n, inFlight int) (float64, error) {
	b.rawMu.Lock()
	defer b.rawMu.Unlock()
	body := make([]byte, 64)
	start := time.Now()
	// A writer keeps up to inFlight messages outstanding; the reader counts echoes.
	credits := make(chan struct{}, inFlight)
	for i := 0; i < inFlight; i++ {
		credits <- struct{}{}
	}
	werr := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			<-credits
			if err := b.raw.WriteMessage(websocket.BinaryMessage, body); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	for i := 0; i < n; i++ {
		if _, _, err := b.raw.ReadMessage(); err != nil {
			return 0, err
		}
		credits <- struct{}{}
	}
	if err := <-werr; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func (b *bench) blipBulk(payload []byte, count int, compressed bool) (float64, error) {
	count = max(count, 1)
	start := time.Now()
	for i := 0; i < count; i++ {
		req := blip.NewRequest("sink")
		req.Body = payload
		req.Compressed = compressed
		resp, err := b.client.Send(context.Background(), req)
		if err != nil {
			return 0, err
		}
		if got := resp.Properties.Get("n"); got != fmt.Sprint(len(payload)) {
			return 0, fmt.Errorf("receiver read %s bytes of %d", got, len(payload))
		}
	}
	return float64(count*len(payload)) / 1e6 / time.Since(start).Seconds(), nil
}

func (b *bench) rawBulk(payload []byte, count int) (float64, error) {
	b.rawMu.Lock()
	defer b.rawMu.Unlock()
	count = max(count, 1)
	start := time.Now()
	for i := 0; i < count; i++ {
		if err := b.raw.WriteMessage(websocket.BinaryMessage, payload); err != nil {
			return 0, err
		}
		if _, _, err := b.raw.ReadMessage(); err != nil {
			return 0, err
		}
	}
	return float64(count*len(payload)) / 1e6 / time.Since(start).Seconds(), nil
}

// jsonPayload returns n bytes of JSON-like documents, compressible like real sync traffic.
func jsonPayload(n int) []byte {
	rng := rand.New(rand.NewPCG(42, 7))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, `{"_id":"doc-%08d","type":"%s","n":%d,"score":%.4f,"tags":["%s","%s"],"text":"`,
			i, words[rng.IntN(len(words))], rng.IntN(1_000_000), rng.Float64(), words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		for j := 0; j < 12; j++ {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, `%x"}`+"\n", rng.Uint64())
	}
	return []byte(sb.String()[:n])
}

func compressRatio(b []byte) float64 {
	var w countingWriter
	fw, err := flate.NewWriter(&w, 6)
	if err != nil {
		return 0
	}
	_, _ = fw.Write(b)
	_ = fw.Close()
	return float64(len(b)) / float64(w.n)
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func stats(v []float64, unit string) string {
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%s / %s / %s%s", short(s[0]), short(median(s)), short(s[len(s)-1]), unit)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func short(f float64) string {
	switch {
	case f >= 10000:
		return fmt.Sprintf("%.0f", f)
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	default:
		return fmt.Sprintf("%.1f", f)
	}
}
