package blip

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// event is one line of a recorded Sync Gateway session (testdata/transcripts/README.md).
type event struct {
	I          int        `json:"i"`
	Dir        string     `json:"dir"`
	Kind       string     `json:"kind"`
	FrameHex   string     `json:"frame_hex"`
	PayloadHex *string    `json:"payload_hex"`
	Flags      string     `json:"flags"`
	MsgNo      uint64     `json:"msgno"`
	Type       string     `json:"type"`
	Checksum   string     `json:"checksum"`
	Properties [][]string `json:"properties"`
	Body       *string    `json:"body"`
	MessageHex string     `json:"message_hex"`
	Name       string     `json:"name"`
	CloseCode  int        `json:"close_code"`
}

func (e event) flagByte(t testing.TB) byte {
	v, err := strconv.ParseUint(strings.TrimPrefix(e.Flags, "0x"), 16, 8)
	if err != nil {
		t.Fatalf("event %d: bad flags %q", e.I, e.Flags)
	}
	return byte(v)
}

func (e event) props() Properties {
	p := make(Properties, 0, len(e.Properties))
	for _, kv := range e.Properties {
		p = append(p, Property{kv[0], kv[1]})
	}
	return p
}

func (e event) body() string {
	if e.Body == nil {
		return ""
	}
	return *e.Body
}

func loadSession(t testing.TB, path string) []event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

func sessions(t testing.TB) []string {
	paths, err := filepath.Glob("testdata/transcripts/*.jsonl")
	if err != nil || len(paths) != 3 {
		t.Fatalf("transcripts: %v %v", paths, err)
	}
	return paths
}

// recordHost is a receiverHost that accepts every reply and records finished messages.
type recordHost struct {
	done  []*inbound
	acks  []uint64
	began int
}

func (h *recordHost) sendAck(num uint64, typ MessageType, n uint64) {}
func (h *recordHost) inflight(int64)                                {}
func (h *recordHost) gotAck(num uint64, response bool, n uint64)    { h.acks = append(h.acks, n) }
func (h *recordHost) openReply(uint64) (bool, int64)                { return true, 0 }
func (h *recordHost) begin(*inbound)                                { h.began++ }
func (h *recordHost) finish(in *inbound)                            { h.done = append(h.done, in) }
func (h *recordHost) poke()                                         {}
func (h *recordHost) throttle()                                     {}
func (h *recordHost) refused(*inbound, *Error)                      {}

func checkMessage(t *testing.T, e event, m *Message, body []byte) {
	t.Helper()
	if m.Type.String() != e.Type || m.Number != e.MsgNo {
		t.Errorf("event %d: message %s #%d, want %s #%d", e.I, m.Type, m.Number, e.Type, e.MsgNo)
	}
	if want := e.props(); fmt.Sprint(m.Properties) != fmt.Sprint(want) {
		t.Errorf("event %d: properties %v, want %v", e.I, m.Properties, want)
	}
	if string(body) != e.body() {
		t.Errorf("event %d: body %q, want %q", e.I, body, e.body())
	}
	flags := e.flagByte(t)
	if m.Compressed != (flags&flagCompressed != 0) || m.NoReply != (flags&flagNoReply != 0) || m.Urgent != (flags&flagUrgent != 0) {
		t.Errorf("event %d: flags compressed=%v noreply=%v urgent=%v, want 0x%02x", e.I, m.Compressed, m.NoReply, m.Urgent, flags)
	}
	if e.MessageHex != "" {
		whole, _ := appendProperties(nil, m.Properties)
		whole = append(whole, body...)
		if hex.EncodeToString(whole) != e.MessageHex {
			t.Errorf("event %d: reassembled message bytes differ from message_hex", e.I)
		}
	}
}

// TestTranscriptsDecode replays every recorded frame of every session, per direction,
// through the decoder (payload and running checksum) and the receiver (messages).
func TestTranscriptsDecode(t *testing.T) {
	for _, path := range sessions(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			events := loadSession(t, path)
			type side struct {
				dec  decoder
				host *recordHost
				recv *receiver
				next int // next finished message to compare
			}
			sides := map[string]*side{}
			for _, dir := range []string{"in", "out"} {
				h := &recordHost{}
				sides[dir] = &side{host: h, recv: newReceiver(h, -1, 1<<30, testLogger(t))}
			}
			frames, messages := 0, 0
			for _, e := range events {
				s := sides[e.Dir]
				switch e.Kind {
				case "frame":
					frames++
					raw := unhex(t, e.FrameHex)
					f, err := s.dec.decode(raw)
					if err != nil {
						t.Fatalf("event %d: decode: %v", e.I, err)
					}
					if f.num != e.MsgNo || f.flags != e.flagByte(t) || f.typ().String() != e.Type {
						t.Errorf("event %d: frame #%d flags %02x, want #%d %s", e.I, f.num, f.flags, e.MsgNo, e.Flags)
					}
					if e.PayloadHex != nil && hex.EncodeToString(f.data) != *e.PayloadHex {
						t.Errorf("event %d: inflated payload differs", e.I)
					}
					if e.Checksum != "" && fmt.Sprintf("%08x", s.dec.crc) != e.Checksum {
						t.Errorf("event %d: running checksum %08x, want %s", e.I, s.dec.crc, e.Checksum)
					}
					if _, err := s.recv.handle(raw, nil); err != nil {
						t.Fatalf("event %d: receive: %v", e.I, err)
					}
				case "message":
					messages++
					if s.next >= len(s.host.done) {
						t.Fatalf("event %d: message not reassembled", e.I)
					}
					in := s.host.done[s.next]
					s.next++
					body, err := in.msg.ReadBody()
					if err != nil {
						t.Fatalf("event %d: body: %v", e.I, err)
					}
					checkMessage(t, e, in.msg, body)
				}
			}
			if frames == 0 || messages == 0 {
				t.Fatalf("session has %d frames, %d messages", frames, messages)
			}
			for dir, s := range sides {
				if s.next != len(s.host.done) {
					t.Errorf("%s: %d messages reassembled, %d recorded", dir, len(s.host.done), s.next)
				}
			}
			t.Logf("%d frames, %d messages checked", frames, messages)
		})
	}
}

// TestTranscriptsReplay plays Sync Gateway's side of each recorded session, byte for byte,
// against a real client Conn that sends the recorded requests and replies. The gateway's
// frames (compressed with its own deflate context) must decode in the client; the client's
// frames must carry exactly the recorded payloads and running checksums.
func TestTranscriptsReplay(t *testing.T) {
	for _, path := range sessions(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			replaySession(t, loadSession(t, path))
		})
	}
}

func replaySession(t *testing.T, events []event) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	scriptErr := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{Subprotocols: []string{SubprotocolCBMobile3}}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			scriptErr <- err
			return
		}
		defer ws.Close()
		scriptErr <- playGateway(t, ws, events)
	}))
	defer srv.Close()

	c, _, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/db/_blipsync",
		DialOptions{Subprotocols: []string{SubprotocolCBMobile3}, Config: Config{Logger: testLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	// Requests from the gateway: check them and answer with the recorded reply, if any.
	// Handlers run concurrently, so each gateway request gets its own channel.
	incoming := map[uint64]chan *Message{}
	answers := map[uint64]event{}
	for _, e := range events {
		if e.Kind == "message" && e.Dir == "out" && e.Type != "MSG" {
			answers[e.MsgNo] = e
		}
		if e.Kind == "message" && e.Dir == "in" && e.Type == "MSG" {
			incoming[e.MsgNo] = make(chan *Message, 1)
		}
	}
	c.HandleDefault(func(ctx context.Context, req *Message) (*Message, error) {
		body, err := req.ReadBody()
		if err != nil {
			return nil, err
		}
		req.Body = body // for the checks below
		ch := incoming[req.Number]
		if ch == nil {
			return nil, fmt.Errorf("unexpected request #%d", req.Number)
		}
		ch <- req
		a, ok := answers[req.Number]
		if !ok {
			return nil, nil
		}
		return &Message{Type: TypeResponse, Properties: a.props(), Body: []byte(a.body()),
			Compressed: a.flagByte(t)&flagCompressed != 0}, nil
	})
	c.Start()

	replies := map[uint64]<-chan Reply{}
	closedByUs := false
	for _, e := range events {
		switch {
		case e.Kind == "message" && e.Dir == "out" && e.Type == "MSG":
			flags := e.flagByte(t)
			ch, err := c.SendAsync(&Message{Type: TypeRequest, Properties: e.props(), Body: []byte(e.body()),
				Compressed: flags&flagCompressed != 0, NoReply: flags&flagNoReply != 0, Urgent: flags&flagUrgent != 0})
			if err != nil {
				t.Fatalf("event %d: send: %v", e.I, err)
			}
			replies[e.MsgNo] = ch
		case e.Kind == "message" && e.Dir == "in" && e.Type != "MSG":
			var r Reply
			select {
			case r = <-replies[e.MsgNo]:
			case <-ctx.Done():
				t.Fatalf("event %d: no reply", e.I)
			}
			if r.Msg == nil {
				t.Fatalf("event %d: reply error %v", e.I, r.Err)
			}
			var body []byte
			if e.Type == "ERR" {
				var be *Error
				if !errors.As(r.Err, &be) || be.Domain != r.Msg.ErrorDomain() || be.Code != r.Msg.ErrorCode() {
					t.Errorf("event %d: ERR reply returned %v", e.I, r.Err)
				}
				body = []byte(be.Message)
			} else if body, err = r.Msg.ReadBody(); err != nil {
				t.Fatalf("event %d: body: %v", e.I, err)
			}
			checkMessage(t, e, r.Msg, body)
		case e.Kind == "message" && e.Dir == "in" && e.Type == "MSG":
			select {
			case req := <-incoming[e.MsgNo]:
				checkMessage(t, e, req, req.Body)
			case <-ctx.Done():
				t.Fatalf("event %d: request not handled", e.I)
			}
		case e.Kind == "ws" && e.Name == "close" && e.Dir == "out" && !closedByUs:
			closedByUs = true
			if err := c.Close(e.CloseCode, ""); err != nil {
				t.Fatal(err)
			}
		case e.Kind == "ws" && e.Name == "close" && e.Dir == "in":
			closedByUs = true // the gateway closes; the client only answers
		}
	}
	select {
	case err := <-scriptErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("gateway script did not finish")
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not end")
	}
	var ce *CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != CloseNormal {
		t.Errorf("client Err = %v, want a clean close", c.Err())
	}
}

// playGateway performs the gateway's half of a session on a raw WebSocket.
func playGateway(t *testing.T, ws *websocket.Conn, events []event) error {
	var dec decoder
	identical := 0
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for _, e := range events {
		switch {
		case e.Kind == "frame" && e.Dir == "in":
			if err := ws.WriteMessage(websocket.BinaryMessage, unhex(t, e.FrameHex)); err != nil {
				return fmt.Errorf("event %d: write: %w", e.I, err)
			}
		case e.Kind == "frame" && e.Dir == "out":
			mt, b, err := ws.ReadMessage()
			if err != nil {
				return fmt.Errorf("event %d: read: %w", e.I, err)
			}
			if mt != websocket.BinaryMessage {
				return fmt.Errorf("event %d: message type %d", e.I, mt)
			}
			if hex.EncodeToString(b) == e.FrameHex {
				identical++
			}
			f, err := dec.decode(b)
			if err != nil {
				return fmt.Errorf("event %d: decode client frame: %w", e.I, err)
			}
			if f.num != e.MsgNo || f.flags != e.flagByte(t) {
				return fmt.Errorf("event %d: client frame #%d flags %02x, want #%d %s", e.I, f.num, f.flags, e.MsgNo, e.Flags)
			}
			if got := hex.EncodeToString(f.data); e.PayloadHex != nil && got != *e.PayloadHex {
				return fmt.Errorf("event %d: client payload %s, want %s", e.I, got, *e.PayloadHex)
			}
			if sum := fmt.Sprintf("%08x", binary.BigEndian.Uint32(b[len(b)-4:])); sum != e.Checksum {
				return fmt.Errorf("event %d: client checksum %s, want %s", e.I, sum, e.Checksum)
			}
		case e.Kind == "ws" && e.Name == "close" && e.Dir == "in":
			t.Logf("%d client frames byte-identical to the recording", identical)
			if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(e.CloseCode, ""), time.Now().Add(time.Second)); err != nil {
				return err
			}
			return expectClose(ws, e.CloseCode)
		case e.Kind == "ws" && e.Name == "close" && e.Dir == "out":
			t.Logf("%d client frames byte-identical to the recording", identical)
			return expectClose(ws, e.CloseCode)
		}
	}
	return errors.New("session ended without a close")
}

func expectClose(ws *websocket.Conn, code int) error {
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == code {
			return nil
		}
		return fmt.Errorf("expected close %d, got %w", code, err)
	}
}
