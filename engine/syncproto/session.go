package syncproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Role says which side of the connection the local peer is.
type Role int

const (
	// RoleActive is the peer that opened the connection (a replicator).
	RoleActive Role = iota
	// RolePassive is the peer that accepted it (a listener).
	RolePassive
)

// Direction of a replicated document.
type Direction int

const (
	// DirectionPush: the local peer sent the document.
	DirectionPush Direction = iota + 1
	// DirectionPull: the local peer received the document.
	DirectionPull
)

func (d Direction) String() string {
	switch d {
	case DirectionPush:
		return "push"
	case DirectionPull:
		return "pull"
	}
	return "unknown"
}

// DocumentEvent reports one document replicated, or failed, by a session.
type DocumentEvent struct {
	CollectionIndex int
	Collection      *store.Collection
	DocID           string
	RevID           string
	Deleted         bool
	// AccessRemoved: the remote revoked this side's access to the document (a changes row
	// flagged revoked or removed, or a "_removed" revision). The local copy was purged,
	// unless auto-purge is off (PullOptions.AutoPurge) or the pull filter kept it.
	AccessRemoved bool
	Direction     Direction
	Err           error // nil on success; a *DocError otherwise
}

// DocError is a per-document failure. Domain/Code follow the peer's error (for example
// HTTP/409 for a conflict, HTTP/403 for a rejection). A failure found on this side
// before anything was sent carries its local cause in Err (errors.Is/As see it).
type DocError struct {
	Domain  string
	Code    int
	Message string
	Err     error // the local cause, if any
}

func (e *DocError) Unwrap() error { return e.Err }

func (e *DocError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("document error %s/%d", e.Domain, e.Code)
	}
	return fmt.Sprintf("document error %s/%d: %s", e.Domain, e.Code, e.Message)
}

// ConflictEvent tells an active puller's owner that a pulled revision created a conflict
// with the local revision LocalRevID.
type ConflictEvent struct {
	CollectionIndex int
	Collection      *store.Collection
	DocID           string
	LocalRevID      string
	RemoteRevID     string
}

// DocumentInfo is what push and pull filters see.
type DocumentInfo struct {
	Collection *store.Collection
	DocID      string
	RevID      string
	Deleted    bool
	Body       []byte
	// AccessRemoved (pull filters only): the remote revoked access to the document and
	// the puller is about to purge it; Body is "{}". Returning false keeps the local copy.
	AccessRemoved bool
}

// Limits bound the work in flight on one session. Zero values mean defaults.
type Limits struct {
	ChangesBatch        int   // rows per changes/proposeChanges message; 0 => 200; at most wire.MaxListRows
	MaxChangesInFlight  int   // outstanding changes/proposeChanges messages; 0 => 4
	MaxRevsInFlight     int   // rev messages awaiting a reply; 0 => 256
	MaxRevBytesInFlight int64 // body bytes awaiting a reply; 0 => DefaultMaxRevBytesInFlight (4 MiB)
	InsertBatch         int   // received revisions saved per transaction; 0 => 200
	// CompressionLevel is the deflate level of the messages this end compresses (rev
	// bodies, changes lists): 0 => the BLIP default (6, as Couchbase Lite), except on a
	// connection between two loopback addresses (a peer on the same host), which then
	// sends uncompressed (blip.Config.UncompressedOnLoopback); 1 (fastest) .. 9
	// (smallest) compress on any connection; -1 => send uncompressed. Every level is
	// understood by every peer. The connection adapts below it: frames deflate does not shrink by 10% go
	// uncompressed, and level 1 is used when it does as well (engine/blip, "Compression
	// and checksums"). The session does not use it itself: the caller passes it to the BLIP
	// connection (blip.Config.CompressionLevel), as engine/replicator and
	// engine/listener do.
	CompressionLevel int
	// MaxMessageSize caps the inflated size (properties + body) of each incoming message:
	// a larger one is refused (a rev is answered HTTP/413 and the document fails, the
	// connection goes on). 0 => DefaultMaxMessageSize (20 MiB), which leaves room for the
	// largest document the store accepts (store.MaxDocumentSize) and its revision history.
	// Like CompressionLevel it is for the BLIP connection (blip.Config.MaxMessageSize; see
	// BlipConfig).
	MaxMessageSize int64
	// MaxBufferedBytes caps the incoming bytes one connection holds at once: messages
	// arriving or unread, and request bodies whose handling has not finished
	// (blip.Config.MaxBufferedBytes). Past it the connection stops reading until bytes
	// are released. 0 => DefaultMaxBufferedBytes (8 MiB).
	MaxBufferedBytes int64
	// MaxBlobSize caps the length of a blob this end fetches from its peer with
	// getAttachment (streamed to disk, so the cap is on disk use, not memory). A received
	// revision referring to a longer blob — by its announced length, checked before
	// asking, or by what arrives when no length is announced — is not saved: its rev is
	// answered HTTP/413, a document error is reported, and the checkpoint stays before it,
	// so that a replication with a higher cap gets it. 0 => DefaultMaxBlobSize (1 GiB);
	// negative => no cap for blobs with an announced length (one without a length is then
	// capped by MaxMessageSize).
	MaxBlobSize int64
	// MaxCheckpointSize caps the body of a setCheckpoint this end stores for a peer (the
	// passive side): a larger one is answered HTTP/413 and not stored. A checkpoint is a
	// small JSON object (Couchbase Lite's and ours are under 200 bytes). 0 =>
	// DefaultMaxCheckpointSize (16 KiB); negative => only MaxMessageSize caps it.
	MaxCheckpointSize int
	// MaxPeerCheckpoints caps how many checkpoints the passive side keeps for peers in
	// its database (one per client ID a peer names, whoever the peer is). Storing a
	// checkpoint under a new client ID when the cap is reached deletes the least recently
	// written other one: the peer that wrote it loses no data, its next replication just
	// starts from the beginning and re-compares every document. 0 =>
	// DefaultMaxPeerCheckpoints (10,000); negative => no cap.
	MaxPeerCheckpoints int
}

// Default resource limits of a connection (see Limits).
const (
	DefaultMaxMessageSize   = 20 << 20
	DefaultMaxBufferedBytes = 8 << 20
	// DefaultMaxRevBytesInFlight is half of DefaultMaxBufferedBytes: a peer at the
	// defaults holds every revision this end has sent and not seen answered, with its
	// properties and a per-handler charge, below its incoming buffer cap. At 8 MiB (the
	// cap itself) many large revisions sent interleaved filled a busy receiver's buffer
	// with incomplete messages, it refused the newest with HTTP/503, and the push
	// reconnected (W4: 1,000 revisions of 100 KB, in 4 of 8 loaded runs). Couchbase Lite
	// keeps 2 MiB of revisions awaiting a reply.
	DefaultMaxRevBytesInFlight = 4 << 20
	DefaultMaxBlobSize         = 1 << 30
	DefaultMaxCheckpointSize   = 16 << 10
	DefaultMaxPeerCheckpoints  = 10000
)

// BlipConfig returns cfg with the connection settings of l (compression level, message
// size and buffer caps, defaults applied) filled in: what engine/listener and
// engine/replicator pass to their BLIP connections.
func (l Limits) BlipConfig(cfg blip.Config) blip.Config {
	cfg.CompressionLevel = l.CompressionLevel
	cfg.UncompressedOnLoopback = l.CompressionLevel == 0
	cfg.MaxMessageSize = l.MaxMessageSize
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	cfg.MaxBodySize = cfg.MaxMessageSize
	cfg.MaxBufferedBytes = l.MaxBufferedBytes
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	return cfg
}

// Validate reports a setting no session can use (a compression level outside -1..9);
// the other fields accept any value (zero or negative = default).
func (l Limits) Validate() error {
	if l.CompressionLevel < -1 || l.CompressionLevel > 9 {
		return fmt.Errorf("compression level %d is not in -1..9", l.CompressionLevel)
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	if l.ChangesBatch <= 0 {
		l.ChangesBatch = 200
	}
	if l.ChangesBatch > wire.MaxListRows { // a peer of this library refuses longer lists
		l.ChangesBatch = wire.MaxListRows
	}
	if l.MaxChangesInFlight <= 0 {
		l.MaxChangesInFlight = 4
	}
	if l.MaxRevsInFlight <= 0 {
		l.MaxRevsInFlight = 256
	}
	if l.MaxRevBytesInFlight <= 0 {
		l.MaxRevBytesInFlight = DefaultMaxRevBytesInFlight
	}
	if l.InsertBatch <= 0 {
		l.InsertBatch = 200
	}
	if l.MaxBlobSize == 0 {
		l.MaxBlobSize = DefaultMaxBlobSize
	}
	if l.MaxCheckpointSize == 0 {
		l.MaxCheckpointSize = DefaultMaxCheckpointSize
	}
	if l.MaxPeerCheckpoints == 0 {
		l.MaxPeerCheckpoints = DefaultMaxPeerCheckpoints
	}
	return l
}

// SessionConfig configures a Session. Callbacks are called on session goroutines,
// never while a session lock is held; they must return quickly.
type SessionConfig struct {
	Role     Role
	Database *store.Database
	// RemoteID names the remote for remote-ancestor tracking (PROTOCOL §4.6); "" disables it.
	RemoteID string
	Limits   Limits
	Logger   *slog.Logger
	// DeltaSync lets this end use delta sync (PROTOCOL §6): its puller advertises
	// deltas=true and its pushers send deltas to a peer that advertised them. It takes
	// effect only if Database permits it too (store.Database.DeltaSyncEnabled).
	DeltaSync bool
	// DisableCBMobile4 offers (active) or accepts (passive) only CBMobile_3 and
	// CBMobile_2: revision trees only, as before version vectors (tests, interop).
	DisableCBMobile4 bool
	// ResolveVersion decides a conflict between a pulled version and the local one, under
	// CBMobile_4 (active puller only). nil applies Couchbase Lite 4's default rule
	// (hlv.LocalWins). It runs on the goroutine that received the revision, before the
	// revision is answered; it may block briefly.
	ResolveVersion func(ctx context.Context, c VersionConflict) (store.VersionResolution, error)
	// OnResolved is told of each version conflict resolution saved: the conflict and the
	// stored outcome (whose sequence a one-shot push must include).
	OnResolved func(c VersionConflict, outcome *store.Document)

	OnDocument func(DocumentEvent) // a document was pushed or pulled, or failed
	OnConflict func(ConflictEvent) // active puller: a pulled revision created a conflict; active pusher: a change not sent because it conflicts with the peer's revision
	OnProgress func()              // something moved (a revision done, a feed caught up)
}

// Session runs the CBMobile protocol over one BLIP connection: it owns the pushers and
// pullers of every collection replicated on it, and the revision inserter.
type Session struct {
	cfg    SessionConfig
	limits Limits
	conn   *blip.Conn
	log    *slog.Logger
	ins    *inserter
	anc    *ancestorCache
	grants blobGrants // blobs the peer may fetch now (see blobs.go)
	deltas bool       // delta sync permitted at this end (config and database)
	v4     bool       // CBMobile_4: version vectors
	stats  sessionStats

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	aware    bool // collection-aware mode (getCollections happened)
	modeSet  bool
	colls    []*sessionCollection
	failErr  error
	failed   chan struct{}
	closed   bool
	passive  *passiveState
	inFlight atomic.Int64
	// quiescing: finish what was promised, start nothing new (see Quiesce).
	quiescing atomic.Bool
	quiesceCh chan struct{}
	quiesce1  sync.Once
}

type sessionCollection struct {
	coll   *store.Collection
	puller *Puller
	pusher *Pusher
}

// NewSession wraps conn (not yet started). Register collections and handlers, then call
// conn.Start(). The session ends when Close is called or the connection ends.
func NewSession(conn *blip.Conn, cfg SessionConfig) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		cfg:       cfg,
		limits:    cfg.Limits.withDefaults(),
		conn:      conn,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		failed:    make(chan struct{}),
		quiesceCh: make(chan struct{}),
		deltas:    cfg.DeltaSync && cfg.Database != nil && cfg.Database.DeltaSyncEnabled(),
		v4:        conn.Subprotocol() == SubprotocolCBMobile4,
	}
	s.ins = newInserter(s.cfg.Database, s.limits.InsertBatch)
	if cfg.RemoteID != "" {
		s.anc = newAncestorCache(cfg.RemoteID)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.ins.run(ctx)
	}()
	if s.anc != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.anc.run(ctx)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-conn.Done():
			s.fail(fmt.Errorf("%w: %w", ErrSessionClosed, conn.Err()))
			s.cancel()
		case <-ctx.Done():
		}
	}()
	conn.OnArrival(wire.ProfileChanges, s.changesArrived)
	conn.Handle(wire.ProfileChanges, s.counted(s.handleChanges))
	conn.Handle(wire.ProfileProposeChanges, s.counted(s.handleProposeChanges))
	conn.Handle(wire.ProfileRev, s.counted(s.handleRev))
	conn.Handle(wire.ProfileNoRev, s.handleNoRev)
	conn.Handle(wire.ProfileGetAttachment, s.counted(s.handleGetAttachment))
	conn.Handle(wire.ProfileProveAttach, s.counted(s.handleProveAttachment))
	return s
}

// Conn returns the underlying connection.
func (s *Session) Conn() *blip.Conn { return s.conn }

// RemoteRevision returns the latest revision of a document known to be on the peer (its
// remote ancestor, PROTOCOL §4.6): this session's record if it has one (pulled,
// acknowledged, or listed by the peer as one this side already has), which may not be
// persisted yet, else the stored one; "" if none or without remote-ancestor tracking.
func (s *Session) RemoteRevision(ctx context.Context, coll *store.Collection, docID string) (string, error) {
	if s.anc == nil {
		return "", nil
	}
	if rev, ok := s.anc.get(coll, docID); ok {
		return rev, nil
	}
	return coll.RemoteAncestor(ctx, s.anc.remote, docID)
}

// Context is cancelled when the session ends.
func (s *Session) Context() context.Context { return s.ctx }

// SetCollections fixes the collections of an active session: index i of the list is
// collection index i on the wire. aware=false selects legacy mode (one default collection,
// no "collection" property on messages).
func (s *Session) SetCollections(colls []*store.Collection, aware bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.colls = make([]*sessionCollection, len(colls))
	for i, c := range colls {
		s.colls[i] = &sessionCollection{coll: c}
	}
	s.aware, s.modeSet = aware, true
}

// Collections returns the "scope.name" of the session's collections in wire order,
// skipping those the peer asked for and this side does not have; nil before they are
// known (a passive session learns them from getCollections or the first legacy request).
func (s *Session) Collections() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.colls {
		if c != nil && c.coll != nil {
			out = append(out, c.coll.FullName())
		}
	}
	return out
}

// Failed is closed when the session hit a fatal error (including the connection ending).
func (s *Session) Failed() <-chan struct{} { return s.failed }

// Err returns the fatal error, if any.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failErr
}

func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.failErr != nil {
		s.mu.Unlock()
		return
	}
	s.failErr = err
	close(s.failed)
	s.mu.Unlock()
	s.log.Debug("session failed", "err", err)
	s.progress()
}

// Close stops every pusher and puller, flushes pending remote-ancestor updates and waits
// for the session goroutines. It does not close the connection.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.anc != nil {
		s.anc.flush(context.Background(), s.cfg.Database)
	}
}

// Stats sums the revisions a session moved. Byte counts are rev message bodies as
// built (before BLIP compression): *BodyBytes is what was sent or received, *FullBytes
// what the full bodies of the same revisions take, so BodyBytes < FullBytes shows what
// delta sync saved.
type Stats struct {
	RevsSent      uint64 // revisions acknowledged by the peer
	DeltasSent    uint64 // of those, sent as deltas
	BytesSent     uint64 // rev bodies sent, as sent (deltas or full)
	FullBytesSent uint64 // full bodies of the same revisions
	// DeltaFallbacks counts deltas the peer refused (HTTP/422 and the like) that were
	// resent as full bodies (PROTOCOL §6.3).
	DeltaFallbacks uint64

	RevsReceived      uint64 // revisions saved
	DeltasReceived    uint64 // of those, received as deltas
	BytesReceived     uint64 // rev bodies received, as received
	FullBytesReceived uint64 // full bodies of the same revisions
	// DeltasRefused counts received deltas answered with HTTP/422 (base missing or a
	// delta that does not apply).
	DeltasRefused uint64
}

// Add returns the sum of two Stats.
func (a Stats) Add(b Stats) Stats {
	return Stats{
		RevsSent: a.RevsSent + b.RevsSent, DeltasSent: a.DeltasSent + b.DeltasSent,
		BytesSent: a.BytesSent + b.BytesSent, FullBytesSent: a.FullBytesSent + b.FullBytesSent,
		DeltaFallbacks: a.DeltaFallbacks + b.DeltaFallbacks,
		RevsReceived:   a.RevsReceived + b.RevsReceived, DeltasReceived: a.DeltasReceived + b.DeltasReceived,
		BytesReceived: a.BytesReceived + b.BytesReceived, FullBytesReceived: a.FullBytesReceived + b.FullBytesReceived,
		DeltasRefused: a.DeltasRefused + b.DeltasRefused,
	}
}

type sessionStats struct {
	revsSent, deltasSent, bytesSent, fullBytesSent, deltaFallbacks          atomic.Uint64
	revsReceived, deltasReceived, bytesReceived, fullBytesReceived, refused atomic.Uint64
}

func (st *sessionStats) sent(wire, full int, isDelta bool) {
	st.revsSent.Add(1)
	st.bytesSent.Add(uint64(wire))
	st.fullBytesSent.Add(uint64(full))
	if isDelta {
		st.deltasSent.Add(1)
	}
}

func (st *sessionStats) received(wire, full int, isDelta bool) {
	st.revsReceived.Add(1)
	st.bytesReceived.Add(uint64(wire))
	st.fullBytesReceived.Add(uint64(full))
	if isDelta {
		st.deltasReceived.Add(1)
	}
}

// Stats returns what the session moved so far. Safe to call at any time, also after Close.
func (s *Session) Stats() Stats {
	st := &s.stats
	return Stats{
		RevsSent: st.revsSent.Load(), DeltasSent: st.deltasSent.Load(), BytesSent: st.bytesSent.Load(),
		FullBytesSent: st.fullBytesSent.Load(), DeltaFallbacks: st.deltaFallbacks.Load(),
		RevsReceived: st.revsReceived.Load(), DeltasReceived: st.deltasReceived.Load(), BytesReceived: st.bytesReceived.Load(),
		FullBytesReceived: st.fullBytesReceived.Load(), DeltasRefused: st.refused.Load(),
	}
}

// DeltaSync reports whether this end uses delta sync (SessionConfig.DeltaSync and the
// database permits it).
func (s *Session) DeltaSync() bool { return s.deltas }

func (s *Session) progress() {
	if s.cfg.OnProgress != nil {
		s.cfg.OnProgress()
	}
}

func (s *Session) docEvent(ev DocumentEvent) {
	if s.cfg.OnDocument != nil {
		s.cfg.OnDocument(ev)
	}
}

// collection resolves the collection of an incoming message.
func (s *Session) collection(req *blip.Message) (int, *sessionCollection, error) {
	idx, present, err := wire.CollectionIndex(req.Properties)
	if err != nil {
		return 0, nil, &blip.Error{Domain: "BLIP", Code: 400, Message: err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.modeSet {
		// A passive session that saw no getCollections first runs in legacy mode.
		if s.passive != nil {
			s.passive.enterLegacyLocked(s)
		}
	}
	if s.aware && !present {
		return 0, nil, &blip.Error{Domain: "BLIP", Code: 400, Message: "missing collection property"}
	}
	if !s.aware && present {
		return 0, nil, &blip.Error{Domain: "BLIP", Code: 400, Message: "collection property without getCollections"}
	}
	if idx >= len(s.colls) || s.colls[idx] == nil {
		return 0, nil, &blip.Error{Domain: "BLIP", Code: 404, Message: "unknown collection " + strconv.Itoa(idx)}
	}
	return idx, s.colls[idx], nil
}

// newRequest builds a collection-scoped request.
func (s *Session) newRequest(profile string, idx int, props []wire.Prop) *blip.Message {
	m := blip.NewRequest(profile)
	m.Properties = slices.Grow(m.Properties, len(props)+1) // + collection
	for _, p := range props {
		m.Properties = append(m.Properties, blip.Property{Key: p.Key, Value: p.Value})
	}
	s.mu.Lock()
	aware := s.aware
	s.mu.Unlock()
	if aware {
		m.Properties = append(m.Properties, blip.Property{Key: "collection", Value: strconv.Itoa(idx)})
	}
	return m
}

// blipErrorFor converts a local failure into the reply the peer should see.
func blipErrorFor(err error) error {
	var be *blip.Error
	switch {
	case errors.As(err, &be):
		return be
	case errors.Is(err, store.ErrConflict):
		return &blip.Error{Domain: "HTTP", Code: 409, Message: "conflict"}
	case errors.Is(err, store.ErrInvalidRevID), errors.Is(err, store.ErrInvalidID), errors.Is(err, store.ErrInvalidJSON), errors.Is(err, ErrBadMessage),
		errors.Is(err, store.ErrReservedProperty):
		return &blip.Error{Domain: "HTTP", Code: 400, Message: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return &blip.Error{Domain: "HTTP", Code: 404, Message: "missing"}
	case errors.Is(err, context.Canceled), errors.Is(err, store.ErrClosed):
		return &blip.Error{Domain: "HTTP", Code: 503, Message: "shutting down"}
	default:
		return &blip.Error{Domain: "HTTP", Code: 500, Message: err.Error()}
	}
}

// docErrorFrom turns a reply error into a DocError.
func docErrorFrom(err error) *DocError {
	var be *blip.Error
	if errors.As(err, &be) {
		return &DocError{Domain: be.Domain, Code: be.Code, Message: be.Message}
	}
	var de *DocError
	if errors.As(err, &de) {
		return de
	}
	return &DocError{Domain: "LiteCore", Code: 26, Message: err.Error()}
}

// isConnectionGone reports errors meaning the connection (not the request) failed.
func isConnectionGone(err error) bool {
	var be *blip.Error
	if errors.As(err, &be) {
		return false
	}
	return err != nil
}

// Busy reports that documents are being transferred: a feed not caught up, or requests
// being handled.
func (s *Session) Busy() bool {
	if s.inFlight.Load() > 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.colls {
		if c != nil && c.pusher != nil && !c.pusher.CaughtUp() {
			select {
			case <-c.pusher.finished:
			default:
				return true
			}
		}
	}
	return false
}

func (s *Session) counted(h blip.Handler) blip.Handler {
	return func(ctx context.Context, req *blip.Message) (*blip.Message, error) {
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		return h(ctx, req)
	}
}

// Quiesce prepares a clean stop: pushers start no new batch but finish sending the
// revisions already accepted by the peer, and pullers stop asking for revisions while the
// ones already requested arrive. It returns when that work is done or ctx ends, so a
// checkpoint saved afterwards is as far along as possible.
func (s *Session) Quiesce(ctx context.Context) {
	s.quiescing.Store(true)
	s.quiesce1.Do(func() { close(s.quiesceCh) })
	s.mu.Lock()
	var pushers []*Pusher
	var pullers []*Puller
	for _, c := range s.colls {
		if c == nil {
			continue
		}
		if c.pusher != nil {
			pushers = append(pushers, c.pusher)
		}
		if c.puller != nil {
			pullers = append(pullers, c.puller)
		}
	}
	s.mu.Unlock()
	for _, p := range pushers {
		select {
		case <-p.quiet:
		case <-p.finished:
		case <-ctx.Done():
			return
		}
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for _, p := range pullers {
		for p.waiting() > 0 {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			case <-s.failed:
				return
			}
		}
	}
}
