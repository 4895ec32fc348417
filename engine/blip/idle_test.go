package blip

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// A connection that has nothing to send gives its deflate writers back (encoder.idle); the
// frames that follow start a writer without history and every one still decodes, across
// level switches of the adaptive policy and the reuse of pooled writers (a writer last
// seeded with a dictionary must not bring it back: the peer never had it).
func TestEncoderIdleBetweenFrames(t *testing.T) {
	msgs := w2Frames(400) // W2-like: the adaptive policy moves to level 1 and back
	for i := 10; i < len(msgs); i += 10 {
		msgs[i] = append([]byte(nil), msgs[i-1]...) // back-references, where a writer has history
	}
	var rep [][]byte
	for i := 0; i < 200; i++ { // repetitive: stays at level 6
		rep = append(rep, []byte(fmt.Sprintf(`{"n":%d,"items":[%s]}`, i, bytes.Repeat([]byte(fmt.Sprintf(`{"id":%d,"name":"item"},`, i%7)), 40))))
	}
	msgs = append(msgs, rep...)
	e := &encoder{level: 6}
	other := &encoder{level: 1} // shares the pools: takes the writers e gives back
	var d, dOther decoder
	levels := map[int]bool{}
	for i, m := range msgs {
		b, err := e.encode(uint64(i+1), byte(TypeRequest)|flagCompressed, m)
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.decode(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.data, m) {
			t.Fatalf("frame %d: payload differs after the round trip", i)
		}
		levels[e.adapt.cur] = true
		if i%3 == 2 {
			e.idle()
			if e.def != nil || e.adapt.other != nil || e.adapt.hist != nil {
				t.Fatalf("frame %d: idle encoder still holds deflate state", i)
			}
			b, err := other.encode(uint64(i+1), byte(TypeRequest)|flagCompressed, m[:len(m)/2])
			if err != nil {
				t.Fatal(err)
			}
			if f, err := dOther.decode(b); err != nil || !bytes.Equal(f.data, m[:len(m)/2]) {
				t.Fatalf("frame %d of the other encoder: %v", i, err)
			}
			other.idle()
		}
	}
	if !levels[1] || !levels[6] {
		t.Errorf("levels used %v: the test meant to cover level switches", levels)
	}
}

// Idle connections hold no deflate writer (about 1 MiB each) nor inflate buffers: many
// connection pairs that exchanged compressed messages in both directions and went quiet
// keep well under 1 MiB per pair. A memory-per-connection regression test, not a timing.
func TestIdleConnectionMemory(t *testing.T) {
	const pairs = 24
	doc := []byte(`{"kind":"bench","payload":"` + string(bytes.Repeat([]byte("abcdefghij0123456789"), 200)) + `"}`)
	heap := func() uint64 {
		// Two collections: sync.Pool keeps objects through one (its victim cache).
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	var ps []*pair
	for i := 0; i < pairs; i++ {
		p := newPair(t, Config{}, Config{}, func(client, server *Conn) { server.Handle("echo", echo) })
		ps = append(ps, p)
		for k := 0; k < 3; k++ {
			req := NewRequest("echo")
			req.Body, req.Compressed = doc, true
			resp, err := p.client.Send(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if body, err := resp.ReadBody(); err != nil || !bytes.Equal(body, doc) {
				t.Fatalf("pair %d: echo: %v", i, err)
			}
		}
	}
	for _, p := range ps {
		if p.client.Stats().BytesSent >= uint64(3*len(doc)) {
			t.Fatalf("the requests did not travel compressed (%d bytes sent)", p.client.Stats().BytesSent)
		}
	}
	// The writers go idle once the last reply is out.
	time.Sleep(100 * time.Millisecond)
	after := heap()
	perPair := (int64(after) - int64(before)) / pairs
	t.Logf("%d KiB per idle connection pair", perPair>>10)
	if perPair > 1<<20 {
		t.Errorf("%d KiB held per idle connection pair (both ends); want < 1024: deflate state kept while idle?", perPair>>10)
	}
	runtime.KeepAlive(ps)
}
