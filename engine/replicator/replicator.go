package replicator

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/p2psync/libp2psync/engine/logging"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// Replicator replicates a local database with one remote endpoint.
type Replicator struct {
	cfg       Config
	url       string      // …/<db>/_blipsync
	tlsConf   *tls.Config // wss:// only: the trust policy (tls.go)
	remoteID  string      // identity of the remote for checkpoints and remote ancestors
	log       *slog.Logger
	colls     []CollectionConfig
	clientIDs []string

	lmu       sync.Mutex
	nextID    uint64
	statusFns map[uint64]func(Status)
	docFns    map[uint64]func(DocumentReplication)

	mu      sync.Mutex
	status  Status
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	disp    *dispatcher
	conn    *connState // current connection, nil when not connected
	wire    TransferStats
	revs    syncproto.Stats // of finished connections
	counted Counters

	// stopWaitingForChanges lets a Stop made from inside a collection change listener of
	// the database end the run without waiting for that listener's own goroutine (mu).
	stopWaitingForChanges context.CancelFunc

	certMu     sync.Mutex        // guards serverCert (taken in the TLS handshake)
	serverCert *x509.Certificate // see ServerCertificate
}

// Stats counts the revisions this replicator sent and received since New, over every
// connection: how many, how many as deltas, and their body bytes against the bytes the
// full bodies take (see syncproto.Stats).
type Stats = syncproto.Stats

// Stats returns the revision counts since New, including the current connection.
func (r *Replicator) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.revs
	if r.conn != nil {
		st = st.Add(r.conn.sess.Stats())
	}
	return st
}

// Counters are what a replicator counts beside revisions and bytes, since New over every
// run: retries after transient errors, conflicts resolved (by the resolver or the default
// rule) and the last error it met (a retry's reason or the error that stopped a run; nil
// if none yet).
type Counters struct {
	Retries           uint64
	ConflictsResolved uint64
	LastError         error
}

// Counters returns the counters since New.
func (r *Replicator) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counted
}

// count updates the counters under r.mu.
func (r *Replicator) count(update func(c *Counters)) {
	r.mu.Lock()
	update(&r.counted)
	r.mu.Unlock()
}

// TransferStats counts bytes on the wire (WebSocket payloads including BLIP framing).
type TransferStats struct {
	BytesSent     uint64
	BytesReceived uint64
}

// TransferStats returns the bytes sent and received since New, over every connection.
func (r *Replicator) TransferStats() TransferStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.wire
	if r.conn != nil {
		st := r.conn.sess.ConnStats()
		ts.BytesSent += st.BytesSent
		ts.BytesReceived += st.BytesReceived
	}
	return ts
}

// New validates cfg and returns a stopped replicator. Configuration errors wrap
// ErrInvalidConfig (and, for the TLS settings, a tlsid sentinel) and say what to change.
func New(cfg Config) (*Replicator, error) {
	if cfg.Database == nil {
		return nil, fmt.Errorf("%w: no database", ErrInvalidConfig)
	}
	full, remoteID, err := endpointURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	colls := cfg.Collections
	if len(colls) == 0 {
		colls = []CollectionConfig{{Collection: cfg.Database.DefaultCollection()}}
	}
	if len(colls) > wire.MaxCollections {
		return nil, fmt.Errorf("%w: %d collections; at most %d replicate in one replicator", ErrInvalidConfig, len(colls), wire.MaxCollections)
	}
	seen := map[string]bool{}
	for i, c := range colls {
		if c.Collection == nil {
			return nil, fmt.Errorf("%w: collection %d is nil", ErrInvalidConfig, i)
		}
		if c.Collection.Database() != cfg.Database {
			return nil, fmt.Errorf("%w: collection %s belongs to another database", ErrInvalidConfig, c.Collection.FullName())
		}
		if seen[c.Collection.FullName()] {
			return nil, fmt.Errorf("%w: collection %s listed twice", ErrInvalidConfig, c.Collection.FullName())
		}
		if len(c.DocumentIDs) > wire.MaxDocIDs {
			// A listener (ours, and any that bounds the filter the same way) refuses a
			// longer subChanges filter with HTTP/413: say so before connecting.
			return nil, fmt.Errorf("%w: document ID filter of %s has %d IDs; at most %d are sent", ErrInvalidConfig, c.Collection.FullName(), len(c.DocumentIDs), wire.MaxDocIDs)
		}
		for _, id := range c.DocumentIDs {
			if err := store.ValidateDocID(id); err != nil {
				return nil, fmt.Errorf("%w: document ID filter of %s: %w", ErrInvalidConfig, c.Collection.FullName(), err)
			}
		}
		seen[c.Collection.FullName()] = true
	}
	if cfg.Type < PushAndPull || cfg.Type > Pull {
		return nil, fmt.Errorf("%w: unknown replicator type %d", ErrInvalidConfig, cfg.Type)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	log := cfg.Logger
	if log == nil {
		log = logging.Logger(logging.Replicator)
	}
	r := &Replicator{cfg: cfg, url: full, remoteID: remoteID, log: log, colls: colls,
		statusFns: map[uint64]func(Status){}, docFns: map[uint64]func(DocumentReplication){}}
	if r.tlsConf, err = r.clientTLS(cfg); err != nil {
		return nil, err
	}
	for _, c := range colls {
		r.clientIDs = append(r.clientIDs, checkpointID(cfg.Database.UUID(), remoteID, c, cfg.Type))
	}
	return r, nil
}

// endpointURL applies Couchbase Lite's rule: ws[s]://host:port/<db> gets "/_blipsync".
func endpointURL(raw string) (full, remoteID string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: endpoint URL: %v", ErrInvalidConfig, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return "", "", fmt.Errorf("%w: endpoint URL scheme must be ws or wss, not %q", ErrInvalidConfig, u.Scheme)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("%w: endpoint URL has no host", ErrInvalidConfig)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/_blipsync") {
		if path == "" {
			return "", "", fmt.Errorf("%w: endpoint URL has no database name", ErrInvalidConfig)
		}
		path += "/_blipsync"
	}
	u.Path = path
	u.RawPath = ""
	remote := *u
	remote.User = nil
	remote.RawQuery = ""
	remote.Path = strings.TrimSuffix(path, "/_blipsync")
	return u.String(), remote.String(), nil
}

// checkpointID is stable per (local database, remote, collection, direction, filters).
func checkpointID(uuid, remote string, c CollectionConfig, t Type) string {
	h := sha256.New()
	ids := append([]string(nil), c.DocumentIDs...)
	sort.Strings(ids)
	chans := append([]string(nil), c.Channels...)
	sort.Strings(chans)
	for _, part := range []string{uuid, remote, c.Collection.FullName(), t.String(), strings.Join(ids, "\x1f"), strings.Join(chans, "\x1f")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "cp-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// URL returns the WebSocket URL the replicator connects to.
func (r *Replicator) URL() string { return r.url }

// Config returns the configuration (as normalized by New).
func (r *Replicator) Config() Config { return r.cfg }

// Status returns a snapshot. It reads Stopped only once the run has delivered everything
// (see Stop), so polling it until Stopped waits as Wait does.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// AddChangeListener registers fn for status changes. Calls come from one library
// goroutine, in order; fn should return quickly.
func (r *Replicator) AddChangeListener(fn func(Status)) *ListenerToken {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	r.nextID++
	r.statusFns[r.nextID] = fn
	return &ListenerToken{r: r, id: r.nextID}
}

// AddDocumentListener registers fn for replicated-document batches (same threading as
// AddChangeListener).
func (r *Replicator) AddDocumentListener(fn func(DocumentReplication)) *ListenerToken {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	r.nextID++
	r.docFns[r.nextID] = fn
	return &ListenerToken{r: r, id: r.nextID}
}

// hasDocumentListeners reports whether a document listener is registered.
func (r *Replicator) hasDocumentListeners() bool {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	return len(r.docFns) > 0
}

// removeListener unregisters a listener: no call starts after it returns. A call in
// progress on the dispatcher goroutine is not waited for.
func (r *Replicator) removeListener(id uint64) {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	delete(r.statusFns, id)
	delete(r.docFns, id)
}

func (r *Replicator) callStatus(s Status) {
	r.lmu.Lock()
	fns := make([]func(Status), 0, len(r.statusFns))
	ids := make([]uint64, 0, len(r.statusFns))
	for id := range r.statusFns {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fns = append(fns, r.statusFns[id])
	}
	r.lmu.Unlock()
	for _, fn := range fns {
		safeCall(func() { fn(s) })
	}
}

func (r *Replicator) callDocs(d DocumentReplication) {
	r.lmu.Lock()
	ids := make([]uint64, 0, len(r.docFns))
	for id := range r.docFns {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	fns := make([]func(DocumentReplication), 0, len(ids))
	for _, id := range ids {
		fns = append(fns, r.docFns[id])
	}
	r.lmu.Unlock()
	for _, fn := range fns {
		safeCall(func() { fn(d) })
	}
}

// safeCall keeps a panicking listener from killing the library goroutine.
func safeCall(fn func()) {
	defer func() { _ = recover() }()
	fn()
}

func (r *Replicator) docEvent(dir Direction, d ReplicatedDocument) {
	r.lmu.Lock()
	listening := len(r.docFns) > 0
	r.lmu.Unlock()
	if !listening {
		return // nobody to tell: spare the dispatcher a wake-up per document
	}
	r.mu.Lock()
	disp := r.disp
	r.mu.Unlock()
	if disp != nil {
		disp.post(event{dir: dir, doc: d})
	}
}

// setStatus records a status and queues the listeners' notification when it changed.
func (r *Replicator) setStatus(mutate func(s *Status)) {
	r.mu.Lock()
	old := r.status
	mutate(&r.status)
	s := r.status
	disp := r.disp
	r.mu.Unlock()
	if old.Activity != s.Activity {
		r.logActivity(old.Activity, s)
	}
	if disp != nil && (old.Activity != s.Activity || old.Error != s.Error || old.Progress != s.Progress) {
		disp.post(event{status: &s})
	}
}

// Start begins replicating in the background. resetCheckpoint ignores saved checkpoints
// and starts from the beginning (they are overwritten at the next save).
func (r *Replicator) Start(resetCheckpoint bool) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.noteServerCertificate(nil) // a new run: no handshake seen yet
	ctx, cancel := context.WithCancel(context.Background())
	changesCtx, stopWaitingForChanges := context.WithCancel(context.Background())
	r.running, r.cancel, r.done = true, cancel, make(chan struct{})
	r.stopWaitingForChanges = stopWaitingForChanges
	r.disp = newDispatcher(r)
	old := r.status.Activity
	r.status = Status{Activity: Connecting}
	s := r.status
	disp, done := r.disp, r.done
	r.mu.Unlock()
	r.logActivity(old, s)
	disp.post(event{status: &s})
	go r.run(ctx, changesCtx, resetCheckpoint, done, disp)
	return nil
}

// Stop stops replicating: the checkpoint is saved, the connection closed with 1000, and
// Stop returns once the replicator is Stopped and every listener call for the work done
// has returned: status and document listeners, and the database's collection change
// listeners for the revisions it saved. No listener of the run is called afterwards.
// Stopping a stopped replicator does nothing; a Stop made while a finished run is still
// delivering its last events waits for them too.
//
// Called from inside one of the replicator's own status or document listeners, Stop
// cannot wait for itself: it asks the run to end and returns at once. Called from inside
// a collection change listener of the database, it waits for the run but not for the
// change listeners.
func (r *Replicator) Stop() {
	r.mu.Lock()
	cancel, done, disp, stopWaiting := r.cancel, r.done, r.disp, r.stopWaitingForChanges
	r.mu.Unlock()
	if cancel == nil {
		return // not running, and nothing left to deliver
	}
	cancel()
	if disp.onDispatcher() {
		return
	}
	if r.cfg.Database.InChangeListener() {
		stopWaiting()
	}
	<-done
}

// Wait blocks until the replicator is stopped (or ctx ends) and returns its final status.
// When it returns the final status, every listener call for the work done has returned
// (as for Stop).
func (r *Replicator) Wait(ctx context.Context) (Status, error) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return r.Status(), nil
	}
	select {
	case <-done:
		return r.Status(), nil
	case <-ctx.Done():
		return r.Status(), ctx.Err()
	}
}

func (r *Replicator) maxAttempts() int {
	switch {
	case r.cfg.MaxAttempts > 0:
		return r.cfg.MaxAttempts
	case r.cfg.MaxAttempts < 0 || r.cfg.Continuous:
		return 0 // unlimited
	default:
		return defaultOneShotAttempts
	}
}

// backoff returns the wait before retry k (k = 1, 2, …): base·2^k capped at the maximum.
func (r *Replicator) backoff(k int) time.Duration {
	base := r.cfg.RetryBase
	if base <= 0 {
		base = defaultRetryBase
	}
	maxWait := r.cfg.MaxAttemptWait
	if maxWait <= 0 {
		maxWait = defaultMaxAttemptWait
	}
	d := base
	for i := 0; i < k && d < maxWait; i++ {
		d *= 2
	}
	if d > maxWait {
		d = maxWait
	}
	return d
}

// run replicates until stopped, then finishes the run: every source of events has ended
// when loop returns (runOnce waits for the session, the connection's handlers and the
// resolver), so the collection change listeners are waited for, the final status is
// queued behind every document event, the dispatcher delivers all of it, and only then
// does the status read Stopped and done close. Pollers of Status, Wait and Stop are all
// released after the last listener call.
func (r *Replicator) run(ctx, changesCtx context.Context, reset bool, done chan struct{}, disp *dispatcher) {
	final := r.loop(ctx, reset)
	_ = r.cfg.Database.WaitChangesDelivered(changesCtx)
	disp.post(event{status: &final})
	disp.close()
	r.mu.Lock()
	old := r.status.Activity
	r.status = final
	r.running, r.cancel, r.disp, r.stopWaitingForChanges = false, nil, nil, nil
	r.mu.Unlock()
	if old != final.Activity {
		r.logActivity(old, final)
	}
	close(done)
}

// loop connects and retries until the run is over, and returns the final status (not yet
// published: see run).
func (r *Replicator) loop(ctx context.Context, reset bool) Status {
	final := func(mutate func(s *Status)) Status {
		st := r.Status()
		mutate(&st)
		return st
	}
	failures := 0
	var base Progress
	for {
		r.setStatus(func(s *Status) { s.Activity = Connecting })
		connected, prog, err := r.runOnce(ctx, reset, base)
		base = prog
		if connected {
			failures = 0
			reset = false
		}
		if ctx.Err() != nil || err == nil {
			return final(func(s *Status) {
				s.Activity, s.Progress = Stopped, prog
				if err == nil || ctx.Err() != nil {
					s.Error = nil
				}
			})
		}
		r.noteRefusedCertificate(err)
		err = classify(err)
		r.count(func(c *Counters) { c.LastError = err })
		if !IsTransient(err) {
			r.log.Error("replication stopped by a permanent error", "url", r.cfg.URL, "err", err)
			return final(func(s *Status) { s.Activity, s.Error = Stopped, err })
		}
		failures++
		if max := r.maxAttempts(); max > 0 && failures >= max {
			r.log.Error("replication gave up after max attempts", "url", r.cfg.URL, "attempts", failures, "err", err)
			return final(func(s *Status) { s.Activity, s.Error = Stopped, err })
		}
		wait := r.backoff(failures)
		r.count(func(c *Counters) { c.Retries++ })
		r.log.Warn("replication offline; retrying", "url", r.cfg.URL, "attempt", failures+1, "delay", wait, "reason", err)
		r.setStatus(func(s *Status) { s.Activity, s.Error = Offline, err })
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return final(func(s *Status) { s.Activity = Stopped })
		case <-t.C:
		}
	}
}

// logActivity logs a change of activity (Info; with the error when there is one).
func (r *Replicator) logActivity(from ActivityLevel, st Status) {
	if st.Error != nil {
		r.log.Info("replicator state changed", "from", from.String(), "to", st.Activity.String(), "url", r.cfg.URL, "err", st.Error)
		return
	}
	r.log.Info("replicator state changed", "from", from.String(), "to", st.Activity.String(), "url", r.cfg.URL)
}

// localCheckpointID is the local document holding the checkpoint for a client ID.
func localCheckpointID(clientID string) string { return "checkpoint/" + clientID }

func (r *Replicator) collectionIndex(c *store.Collection) (int, error) {
	for i, cc := range r.colls {
		if cc.Collection == c {
			return i, nil
		}
	}
	if c != nil && c.Database() == r.cfg.Database {
		for i, cc := range r.colls {
			if cc.Collection.FullName() == c.FullName() {
				return i, nil
			}
		}
	}
	return 0, ErrUnknownCollection
}

// PendingDocumentIDs returns the IDs of documents in c with local changes not yet pushed.
func (r *Replicator) PendingDocumentIDs(ctx context.Context, c *store.Collection) ([]string, error) {
	return r.pending(ctx, c, "")
}

// IsDocumentPending reports whether docID in c has local changes not yet pushed.
func (r *Replicator) IsDocumentPending(ctx context.Context, c *store.Collection, docID string) (bool, error) {
	if err := store.ValidateDocID(docID); err != nil {
		return false, fmt.Errorf("is document pending: %w", err)
	}
	ids, err := r.pending(ctx, c, docID)
	return len(ids) > 0, err
}

func (r *Replicator) pending(ctx context.Context, c *store.Collection, only string) ([]string, error) {
	if !r.cfg.Type.pushes() {
		return nil, ErrNotPushing
	}
	idx, err := r.collectionIndex(c)
	if err != nil {
		return nil, err
	}
	cc := r.colls[idx]
	since, err := r.pushCheckpoint(ctx, idx)
	if err != nil {
		return nil, err
	}
	changes, err := cc.Collection.ChangesSince(ctx, since, 0)
	if err != nil {
		return nil, fmt.Errorf("pending documents: %w", err)
	}
	var ids map[string]bool
	if len(cc.DocumentIDs) > 0 {
		ids = map[string]bool{}
		for _, id := range cc.DocumentIDs {
			ids[id] = true
		}
	}
	var out []string
	for _, ch := range changes {
		if only != "" && ch.DocID != only {
			continue
		}
		if ids != nil && !ids[ch.DocID] {
			continue
		}
		anc, err := cc.Collection.RemoteAncestor(ctx, r.remoteID, ch.DocID)
		if err == nil && (anc == ch.RevID || r.isCurrentVersion(ctx, cc.Collection, ch, anc)) {
			continue
		}
		if cc.PushFilter != nil {
			doc, err := cc.Collection.GetWithDeleted(ctx, ch.DocID)
			if err != nil {
				continue
			}
			if !cc.PushFilter(Document{Collection: cc.Collection.FullName(), ID: doc.ID, RevID: doc.RevID, Deleted: doc.Deleted, Body: doc.Body}) {
				continue
			}
		}
		out = append(out, ch.DocID)
	}
	return out, nil
}

// pushCheckpoint is the live pusher position, or the saved local checkpoint.
func (r *Replicator) pushCheckpoint(ctx context.Context, idx int) (uint64, error) {
	r.mu.Lock()
	cs := r.conn
	r.mu.Unlock()
	if cs != nil {
		if p := cs.pusher(idx); p != nil {
			return p.Checkpoint(), nil
		}
	}
	body, _, err := r.cfg.Database.GetLocal(ctx, localCheckpointID(r.clientIDs[idx]))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := wire.DecodeCheckpoint(body)
	if err != nil {
		return 0, nil
	}
	return cp.Local, nil
}
