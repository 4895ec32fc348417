// Package blip implements BLIP 3, the message protocol Couchbase Lite and Sync Gateway
// replicate over, on top of a WebSocket (github.com/gorilla/websocket). It is wire-compatible
// with LiteCore and go-blip: same frames, flags, running CRC-32, per-direction deflate
// stream, flow control and subprotocol negotiation (see PROTOCOL.md §1, §2).
//
// A connection carries requests in both directions. Each request gets at most one reply:
// a response (RPY) or an error (ERR); NoReply requests get none. Messages have properties
// (ordered string pairs, the request kind being the "Profile" property) and a body of any
// size. Large messages are cut into frames of at most 16 KiB and interleaved, so a big
// transfer never blocks small urgent requests; the receiver streams bodies as they arrive.
// The package knows nothing of documents: engine/syncproto builds the replication messages.
//
// # Using a connection
//
// The caller's duties, in order:
//
//  1. Open it: Dial (client side, ws:// or wss://) or Upgrade (inside an http.Handler).
//     Both return a Conn that is not reading yet.
//  2. Register handlers with Handle (by Profile) and optionally HandleDefault. Unknown
//     profiles are answered BLIP/404 "no handler for message". Handlers run concurrently
//     and may start in any order; OnArrival adds a quick hook that runs in arrival order
//     before a profile's handler starts.
//  3. Call Start once.
//  4. Send requests with Send (waits for the reply) or SendAsync (returns a channel), from
//     any goroutine. Read each reply's body with ReadBody or BodyReader.
//  5. Close with a close code when done, and watch Done/Err for the connection ending on
//     its own (peer closed, network dropped, peer silent, protocol error). Err returns a
//     *CloseError with the close code and the cause; whether an ending is worth a retry
//     is the replicator's decision (replicator.IsTransient), made on these typed errors.
//
// Example (client):
//
//	conn, _, err := blip.Dial(ctx, "wss://sg.example.com:4984/db/_blipsync", blip.DialOptions{
//		Header:    http.Header{"Authorization": {"Basic " + creds}},
//		TLSConfig: tlsConfig,
//	})
//	if err != nil {
//		var he *blip.HTTPError // e.g. he.Status == 401: bad credentials
//		return err
//	}
//	conn.Handle("changes", func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
//		body, err := req.ReadBody()
//		if err != nil {
//			return nil, err
//		}
//		// ... decide which revisions to ask for ...
//		return &blip.Message{Body: answer, Compressed: true}, nil
//	})
//	conn.Start()
//	defer conn.Close(blip.CloseNormal, "")
//
//	req := blip.NewRequest("getCheckpoint")
//	req.Properties.Set("client", checkpointID)
//	resp, err := conn.Send(ctx, req)
//	var be *blip.Error
//	if errors.As(err, &be) && be.Domain == "HTTP" && be.Code == 404 {
//		// no checkpoint yet
//	}
//
// Example (server):
//
//	http.HandleFunc("/db/_blipsync", func(w http.ResponseWriter, r *http.Request) {
//		conn, err := blip.Upgrade(w, r, blip.UpgradeOptions{}) // already answered on error
//		if err != nil {
//			return
//		}
//		conn.Handle("getCheckpoint", getCheckpoint)
//		conn.Start()
//		<-conn.Done()
//	})
//
// # Handlers
//
// Each incoming request runs its Handler on a goroutine of its own (a new one, or one that
// has just finished a handler and waits briefly for more), started in arrival order as
// soon as the request's properties are in (the body may still be arriving: ReadBody waits
// for it, BodyReader streams it). Handlers for different requests run concurrently. Return
// a message to reply RPY, a *Error to reply ERR with its domain and code, any other error to
// reply BLIP/501; a panic is recovered and answered BLIP/501. Replies inherit the request's
// Urgent flag. Nothing is ever sent for a NoReply request. The handler's ctx is canceled
// when the connection ends; handlers must return then, because Done waits for them.
//
// # Bodies, memory and flow control
//
// Outgoing bodies are sent straight from Message.Body (not copied). Incoming bodies are
// kept as the frames that carried them until read. The receiver acknowledges bytes (ACK
// frames, every 50,000 bytes of a message) as they are read, or at once while less than
// 256 KiB of the message waits unread; a sender pauses a message once 128,000 of its bytes
// are unacknowledged. So a slow reader slows the sender of that message down, without
// blocking other messages and without buffering the whole body: a 100 MB message read
// through BodyReader needs a few hundred KB. As a last resort against peers that ignore
// ACKs (or send extremely compressible data), the connection stops reading the socket while
// it holds more than Config.MaxBufferedBytes (default 16 MiB) of incoming data: messages
// arriving or unread, and the bodies ReadBody handed to request handlers still running,
// plus 4 KiB per running handler (so tiny requests whose handlers wait cannot start
// goroutines without limit). If
// only incomplete messages whose readers wait for more hold it, one may go on alone and the
// newer ones are refused (HTTP/503). Read (or let the handler return without reading) every
// body: an unread reply body stalls that reply's sender.
//
// Compressed frames are inflated in 64 KiB pieces straight into their message, never whole
// into one buffer. ReadBody is capped by Config.MaxBodySize (default 256 MiB; the rest is
// discarded and ErrTooLarge returned). Config.MaxMessageSize (default 1 GiB) caps any
// incoming message, streamed or not: one passing it is refused, its rest dropped as it
// arrives (inflated only to keep the deflate stream, never kept), a request answered
// HTTP/413 once it has fully arrived, and the reader of a reply gets ErrTooLarge; the
// connection goes on. Stats.PeakBufferedBytes and Stats.MessagesRefused show both limits at
// work.
//
// # Compression and checksums
//
// A message sent with Compressed set has its frames deflated (level Config.CompressionLevel,
// default 6, -1 never compresses) with one deflate stream per direction for the whole
// connection, sync-flushed after every frame with the 00 00 FF FF trailer removed, exactly as
// the reference peers do. Every MSG/RPY/ERR frame ends with the running CRC-32 of all
// uncompressed payload bytes sent in that direction; a mismatch closes the connection.
//
// Compression adapts to the data (unless Config.FixedCompression): a sample of 64 KiB of
// compressed frames is measured; when deflate shrank it by less than 10% (photographs,
// encrypted or random bytes) the next 1 MiB of such frames goes out uncompressed, then
// another sample is taken; otherwise level 1 is sampled too, and kept for the next 4 MiB
// when its output is at most 5% larger than the configured level's (data whose gain comes
// from its symbols rather than repeated strings, such as random identifiers or base64,
// where the match search costs time for nothing). This stays wire-compatible, because the
// compressed flag is per frame: the reference peers, like this package, inflate a frame
// only when its own flag is set, through the one context per direction that uncompressed
// frames do not touch; a deflater started at another level is seeded with the last 32 KiB
// deflated, the history the peer's inflater holds. With Config.UncompressedOnLoopback a
// connection between two loopback addresses (a peer on the same host) sends every frame
// uncompressed: there deflate saves nothing and costs both ends CPU.
//
// Memory per connection: a deflate writer holds about 1 MiB whatever its level, so a
// connection holds one only while it has frames to send back to back. When its writer finds
// nothing more to send it gives the writer back to a pool shared by all connections, with
// the history kept for it; the next compressed frame starts a writer without history. That
// continues the stream validly (a sync flush leaves the stream byte-aligned with no block
// open, and an encoder is free not to refer to earlier bytes), at the cost of not matching
// what was sent before the pause. The inflater keeps only its 32–64 KiB window between
// frames (its reader and buffers are pooled, as are the WebSocket write buffers), so an idle
// connection holds well under 100 KiB, mostly the WebSocket read buffer and that window
// (TestIdleConnectionMemory: about 150 KiB per connected pair, both ends), and thousands
// of mostly idle replicators can share one listener.
//
// # Ending
//
// Close sends what is already queued (within 5 s), runs the WebSocket close handshake and
// closes the socket. The connection also ends when the peer closes, when the TCP connection
// drops (code 1006), when the peer stays silent for Config.PongTimeout after a ping sent
// after Config.HeartbeatInterval of silence (code 1006, wrapping ErrTimeout), or when the
// peer breaks the protocol (the connection closes with 1002; Err wraps ErrProtocol, plus
// ErrTooLarge for size caps). Requests still waiting fail with ErrClosed wrapping the
// CloseError. Err returns the CloseError once the connection has ended.
//
// A passive peer that wants a Couchbase Lite client to come back later should close with
// CloseAppTransient (4001): CBL treats a clean close it did not initiate as permanent.
//
// # Bad input
//
// Every decoder is bounds-checked and size-capped: truncated or overlong varints, frames
// without flags or checksum, the reserved flag bit 0x80, properties over 100 KiB or not
// NUL-terminated or with a key and no value or duplicate keys, a message ending inside its
// properties, a new request whose number is not the next one, a reply to a request that is
// not waiting for one, a checksum mismatch, invalid deflate data, a frame inflating beyond
// 17 MiB (inflation stops there), a WebSocket message beyond 1 MiB, a text
// message — each closes the connection with 1002 and a reason. Frames of unknown type
// (3, 6, 7) are ignored, as LiteCore does. Fuzz targets: FuzzDecodeFrame,
// FuzzDecodeProperties, FuzzInflate (go test -fuzz; their seeds run in go test).
//
// # Thread safety
//
// All Conn methods are safe for concurrent use. A Message must not be modified after it is
// passed to Send or returned from a Handler. An incoming Message's body may be read by one
// goroutine at a time.
//
// # Goroutines and ownership
//
// A started Conn runs a reader goroutine (conn_read.go: the only one reading the socket
// and decoding frames; it also runs shutdown when reading ends), a writer goroutine
// (conn_write.go: the only one writing message and ACK frames, with the deflate encoder),
// an optional heartbeat goroutine (conn_heartbeat.go), and one goroutine per incoming
// request running its Handler (conn_dispatch.go). Callers send from their own goroutines
// (conn_send.go) and close from theirs (conn.go, which holds the lifecycle). State they
// share is under one mutex (Conn.mu: outbox, live messages, ACKs to send, waiting
// requests, closing state); the handler tables are under another (Conn.hmu). Each
// channel has one closer or one receiver; the comments on the Conn fields name who
// writes each atomic (most have one writer; inflightBytes is added to by the receiver
// and taken from by whoever releases held bytes).
//
// # Protocol notes
//
// Points PROTOCOL.md §11 lists as unconfirmed, checked against the public LiteCore
// (Networking/BLIP, LiteCore/Support/Codec.cc) and go-blip (receiver.go, sender.go) sources:
//
//   - ACK byte counts: both current implementations count the frame bytes after the header
//     as transmitted (compressed size, checksum included). They differ only in timing:
//     LiteCore ACKs when 50,000 bytes have arrived since its last ACK; go-blip when the total
//     crosses a multiple of 50,000 (and not after the first frame). Only early go-blip, before
//     compression and checksums existed, counted decoded bytes. This package counts like
//     LiteCore, ACKs like LiteCore, and never ACKs a message's last frame (neither do they).
//     Senders on both sides pause while sent - acknowledged > 128,000.
//   - A LiteCore sender fills 16 KiB frames with compressed output, so one compressed frame
//     can carry far more than 16 KiB of data; the per-frame inflate cap allows for that.
//   - LiteCore treats a reply it is not waiting for as a fatal error ("Bad incoming RES"),
//     and an out-of-sequence request likewise; so does this package.
//   - LiteCore closes with 1011 on a protocol error and ignores malformed ACKs; this package
//     closes with 1002 and treats a malformed ACK as a protocol error.
//   - The urgent-message placement in the outbox follows LiteCore's: after the last urgent
//     message with one normal message in between, or right behind the head; a request that
//     has not started never passes an earlier unstarted request (LiteCore numbers requests
//     when their first frame goes out, which has the same effect).
package blip
