package replicator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// connState is one connection's replication.
type connState struct {
	r        *Replicator
	sess     *syncproto.Session
	pushers  []*syncproto.Pusher
	pullers  []*syncproto.Puller
	resolver *resolverQueue
	kick     chan struct{}

	cpMu      sync.Mutex
	remoteRev []string          // checkpoint revision on the peer, per collection
	saved     []wire.Checkpoint // last saved, per collection
	start     []wire.Checkpoint

	targetMu sync.Mutex
	target   []uint64 // one-shot push: local sequence that must be reached

	docsDone atomic.Uint64
}

func (cs *connState) pusher(idx int) *syncproto.Pusher {
	if cs == nil || idx >= len(cs.pushers) {
		return nil
	}
	return cs.pushers[idx]
}

func (cs *connState) signal() {
	select {
	case cs.kick <- struct{}{}:
	default:
	}
}

func (r *Replicator) dialOptions() syncproto.DialOptions {
	h := http.Header{}
	for k, v := range r.cfg.Headers {
		h.Set(k, v)
	}
	if r.cfg.Authenticator != nil {
		r.cfg.Authenticator.Authorize(h)
	}
	hb := r.cfg.Heartbeat
	if hb <= 0 {
		hb = defaultHeartbeat
	}
	return syncproto.DialOptions{
		Heartbeat: hb,
		Header:    h,
		TLSConfig: r.tlsConf,
	}
}

// runOnce connects and replicates until done (nil), stopped (ctx), or an error.
// connected reports that the connection and handshake succeeded (resets the retry count).
func (r *Replicator) runOnce(ctx context.Context, reset bool, base Progress) (connected bool, prog Progress, err error) {
	prog = base
	cs, err := r.connect(ctx)
	if err != nil {
		return false, prog, err
	}
	cs.sess.Start()
	resolverCtx, stopResolver := context.WithCancel(context.Background())
	go cs.resolver.run(resolverCtx, cs.signal)
	defer func() {
		stopResolver()
		cs.finish()
		if connected {
			// Count every document the connection reported, also those reported after
			// the last evaluation (a failed connection returns the progress it had when
			// it failed, and replies still in flight land after that).
			prog.Completed = base.Completed + cs.docsDone.Load()
			prog.Total = max(prog.Total, prog.Completed)
		}
	}()

	if err := cs.handshake(ctx, reset); err != nil {
		cs.sess.Disconnect(syncproto.CloseNormal, "")
		if ctx.Err() != nil {
			return false, prog, nil
		}
		return false, prog, err
	}
	r.mu.Lock()
	r.conn = cs
	r.mu.Unlock()
	// Conflicts an earlier connection did not get to resolve are resolved now.
	cs.requeueConflicts(ctx)
	prog, err = cs.run(ctx, base)
	return true, prog, err
}

// connect dials the peer and sets up a session with its collections and pullers, not
// started yet.
func (r *Replicator) connect(ctx context.Context) (*connState, error) {
	cs := r.newConnState()
	sess, err := syncproto.Dial(ctx, r.url, r.dialOptions(), cs.sessionConfig())
	if err != nil {
		var he *syncproto.HTTPError
		if errors.As(err, &he) {
			return nil, fmt.Errorf("connect to %s: %w", r.url, err)
		}
		if isTLSFailure(err) {
			return nil, fmt.Errorf("%w: connect to %s: %w", ErrTLS, r.url, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", r.url, err)
	}
	legacy := sess.Legacy()
	if legacy && (len(r.colls) != 1 || r.colls[0].Collection.FullName() != "_default._default") {
		sess.Disconnect(syncproto.CloseNormal, "collections need CBMobile_3")
		sess.Close()
		return nil, fmt.Errorf("%w: the peer only speaks %s, which cannot replicate named collections", syncproto.ErrPeerIncompatible, syncproto.SubprotocolCBMobile2)
	}
	cs.sess = sess
	cs.resolver.remoteRev = sess.RemoteRevision
	colls := make([]*store.Collection, len(r.colls))
	for i, c := range r.colls {
		colls[i] = c.Collection
	}
	sess.SetCollections(colls, !legacy)
	if r.cfg.Type.pulls() {
		for i, c := range r.colls {
			p, err := sess.AddPuller(i, syncproto.PullOptions{Active: true, DocIDs: c.DocumentIDs, Filter: wrapFilter(c.PullFilter),
				AutoPurge: !r.cfg.DisableAutoPurge})
			if err != nil {
				sess.Disconnect(syncproto.CloseInternal, "setup failed")
				sess.Close()
				return nil, err
			}
			cs.pullers[i] = p
		}
	}
	return cs, nil
}

func (r *Replicator) newConnState() *connState {
	cs := &connState{r: r, kick: make(chan struct{}, 1),
		pushers: make([]*syncproto.Pusher, len(r.colls)), pullers: make([]*syncproto.Puller, len(r.colls)),
		remoteRev: make([]string, len(r.colls)), saved: make([]wire.Checkpoint, len(r.colls)),
		start: make([]wire.Checkpoint, len(r.colls)), target: make([]uint64, len(r.colls))}
	cs.resolver = newResolverQueue(r, cs.noteResolved)
	return cs
}

// sessionConfig is the configuration of the connection's session: its events go to the
// replicator's listeners, its conflicts to the resolver.
func (cs *connState) sessionConfig() syncproto.SessionConfig {
	r := cs.r
	return syncproto.SessionConfig{
		Role: syncproto.RoleActive, Database: r.cfg.Database, RemoteID: r.remoteID, Limits: r.cfg.Limits, Logger: r.log,
		DeltaSync: r.cfg.EnableDeltaSync, DisableCBMobile4: r.cfg.DisableCBMobile4,
		ResolveVersion: r.resolveVersion, OnResolved: cs.versionResolved,
		OnDocument: func(ev syncproto.DocumentEvent) {
			cs.docsDone.Add(1)
			var e error
			if ev.Err != nil {
				e = ev.Err
			}
			r.docEvent(ev.Direction, ReplicatedDocument{Collection: ev.Collection.FullName(), ID: ev.DocID, RevID: ev.RevID,
				Deleted: ev.Deleted, AccessRemoved: ev.AccessRemoved, Error: e})
		},
		OnConflict: cs.resolver.add,
		OnProgress: cs.signal,
	}
}

// finish ends the connection's session once the connection is closed, and adds its
// traffic to the replicator's totals.
func (cs *connState) finish() {
	r, sess := cs.r, cs.sess
	cs.resolver.close()
	sess.Close()
	<-sess.Done()
	st := sess.ConnStats()
	r.mu.Lock()
	r.conn = nil
	r.wire.BytesSent += st.BytesSent
	r.wire.BytesReceived += st.BytesReceived
	r.revs = r.revs.Add(sess.Stats())
	r.mu.Unlock()
}

// run replicates over a connection after its handshake until the one-shot replication is
// complete, ctx is done (both return nil) or the session fails; it saves checkpoints
// periodically and keeps the status up to date.
func (cs *connState) run(ctx context.Context, base Progress) (prog Progress, err error) {
	r, sess := cs.r, cs.sess
	interval := r.cfg.CheckpointInterval
	if interval <= 0 {
		interval = defaultCheckpointInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	lastStatus := time.Time{}
	for {
		activity, p, complete := cs.evaluate(base)
		prog = p
		if complete && !r.cfg.Continuous {
			r.log.Debug("replication complete", "progress", p)
			cs.saveCheckpoints(ctx)
			sess.Disconnect(syncproto.CloseNormal, "replication complete")
			return prog, nil
		}
		if now := time.Now(); now.Sub(lastStatus) >= 50*time.Millisecond || activity != r.Status().Activity {
			lastStatus = now
			r.setStatus(func(s *Status) { s.Activity, s.Progress, s.Error = activity, prog, nil })
		}
		select {
		case <-ctx.Done():
			return cs.stop(base), nil
		case <-sess.Failed():
			return prog, cs.failed()
		case <-ticker.C:
			cs.saveCheckpoints(ctx)
		case <-cs.kick:
		}
	}
}

// stop ends the connection when the replicator is stopped, after letting what is already
// in flight land, so the checkpoint is as fresh as possible.
func (cs *connState) stop(base Progress) Progress {
	cs.quiesce()
	cs.saveCheckpoints(context.Background())
	cs.sess.Disconnect(syncproto.CloseNormal, "stopped")
	_, prog, _ := cs.evaluate(base)
	return prog
}

// quiesce lets the replies to what is in flight land (at most 5 s): nothing new is sent.
func (cs *connState) quiesce() {
	qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cs.sess.Quiesce(qctx)
}

// failed ends the connection after its session failed and returns the reason.
func (cs *connState) failed() error {
	err := cs.sess.Err()
	if ce, ok := syncproto.RemoteClose(err); ok {
		err = fmt.Errorf("%w (close code %d): %w", ErrPeerClosed, ce.Code, err)
	}
	if errors.Is(err, syncproto.ErrRetryLater) {
		// The peer refused one request for now (HTTP/503 and the like) over a connection
		// that works: let the replies to what is in flight land before closing, as stop
		// does. Closing at once lost them: revisions the peer had saved were neither
		// counted (Stats, document events, progress) nor checkpointed, and the next
		// connection found them on the peer and did not count them either.
		cs.quiesce()
	}
	// Local progress is kept: whatever was fully handled stays checkpointed.
	cs.saveLocalOnly()
	cs.sess.Disconnect(syncproto.CloseInternal, "replication error")
	return err
}

func wrapFilter(f Filter) func(syncproto.DocumentInfo) bool {
	if f == nil {
		return nil
	}
	return func(d syncproto.DocumentInfo) bool {
		ok := false
		safeCall(func() {
			ok = f(Document{Collection: d.Collection.FullName(), ID: d.DocID, RevID: d.RevID, Deleted: d.Deleted, Body: d.Body,
				AccessRemoved: d.AccessRemoved})
		})
		return ok
	}
}

func (cs *connState) noteResolved(idx int, seq uint64) {
	cs.targetMu.Lock()
	if seq > cs.target[idx] {
		cs.target[idx] = seq
	}
	cs.targetMu.Unlock()
}

// handshake exchanges collections and checkpoints, then starts the feeds.
func (cs *connState) handshake(ctx context.Context, reset bool) error {
	r := cs.r
	peer, err := cs.sess.Handshake(ctx, r.clientIDs)
	if err != nil {
		return err
	}
	for i := range r.colls {
		cs.remoteRev[i] = peer[i].Rev
		var start wire.Checkpoint
		if !reset {
			start = mergeCheckpoints(cs.localCheckpoint(ctx, i), peer[i].Checkpoint, peer[i].Found)
		}
		cs.start[i], cs.saved[i] = start, start
		r.log.Debug("checkpoint", "collection", r.colls[i].Collection.FullName(), "local", cs.localCheckpoint(ctx, i), "remote", peer[i].Checkpoint, "remoteFound", peer[i].Found, "start", start)
	}
	for i := range r.colls {
		if r.cfg.Type.pulls() {
			if err := cs.subscribe(ctx, i); err != nil {
				return err
			}
		}
		if r.cfg.Type.pushes() {
			if err := cs.startPusher(ctx, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// subscribe starts the puller of collection i from its checkpoint and asks the peer for
// its changes (subChanges).
func (cs *connState) subscribe(ctx context.Context, i int) error {
	r, c := cs.r, cs.r.colls[i]
	cs.pullers[i].SetStart(cs.start[i].Remote)
	// Tombstones are only useless when pulling from scratch into an empty collection.
	activeOnly := false
	if cs.start[i].Remote == "" {
		last, err := c.Collection.LastSequence(ctx)
		if err != nil {
			return fmt.Errorf("read last sequence: %w", err)
		}
		activeOnly = last == 0
	}
	// The properties CBL sends (docs/protocol-notes.md): the versioning in use, a
	// newer revision instead of norev when a requested one is gone, and revocation
	// rows when they would be acted on or reported (CBL: auto-purge on or a
	// document listener registered).
	sub := wire.SubChanges{Since: cs.start[i].Remote, Continuous: r.cfg.Continuous, Batch: 200,
		ActiveOnly: activeOnly, DocIDs: c.DocumentIDs, Versioning: wire.VersioningRevTrees,
		SendReplacementRevs: true, Revocations: !r.cfg.DisableAutoPurge || r.hasDocumentListeners()}
	if len(c.Channels) > 0 {
		sub.Filter, sub.Channels = "sync_gateway/bychannel", c.Channels
	}
	r.log.Debug("subscribing", "collection", c.Collection.FullName(), "since", string(sub.Since), "continuous", sub.Continuous, "activeOnly", activeOnly)
	return cs.sess.SubChanges(ctx, i, sub)
}

// startPusher starts pushing collection i from its checkpoint; a one-shot push is over
// once the collection's current last sequence is settled.
func (cs *connState) startPusher(ctx context.Context, i int) error {
	r, c := cs.r, cs.r.colls[i]
	last, err := c.Collection.LastSequence(ctx)
	if err != nil {
		return fmt.Errorf("read last sequence: %w", err)
	}
	cs.targetMu.Lock()
	cs.target[i] = last
	cs.targetMu.Unlock()
	p, err := cs.sess.StartPusher(i, syncproto.PushOptions{Propose: true, Since: cs.start[i].Local,
		Continuous: true, DocIDs: c.DocumentIDs, Filter: wrapFilter(c.PushFilter), PullResolvesConflicts: r.cfg.Type.pulls()})
	if err != nil {
		return err
	}
	cs.pushers[i] = p
	return nil
}

// mergeCheckpoints keeps the safer (older) position of the two copies (PROTOCOL §7.1).
// A missing remote copy means the peer does not know us (it may have been reset): start over.
func mergeCheckpoints(local, remote wire.Checkpoint, remoteFound bool) wire.Checkpoint {
	if !remoteFound {
		return wire.Checkpoint{}
	}
	out := wire.Checkpoint{Local: min(local.Local, remote.Local)}
	switch {
	case local.Remote == remote.Remote:
		out.Remote = local.Remote
	case local.Remote == "" || remote.Remote == "":
		out.Remote = ""
	default:
		a, okA := local.Remote.Uint()
		b, okB := remote.Remote.Uint()
		if okA && okB {
			if a <= b {
				out.Remote = local.Remote
			} else {
				out.Remote = remote.Remote
			}
		}
	}
	return out
}

func (cs *connState) localCheckpoint(ctx context.Context, idx int) wire.Checkpoint {
	body, _, err := cs.r.cfg.Database.GetLocal(ctx, localCheckpointID(cs.r.clientIDs[idx]))
	if err != nil {
		return wire.Checkpoint{}
	}
	cp, err := wire.DecodeCheckpoint(body)
	if err != nil {
		return wire.Checkpoint{}
	}
	return cp
}

// current returns the checkpoint to save now for collection idx.
func (cs *connState) current(idx int) wire.Checkpoint {
	cp := cs.start[idx]
	if p := cs.pushers[idx]; p != nil {
		cp.Local = p.Checkpoint()
	}
	if p := cs.pullers[idx]; p != nil {
		if s, ok := p.Checkpoint(); ok {
			cp.Remote = s
		}
	}
	return cp
}

// saveCheckpoints writes changed checkpoints to the peer, then locally (CBL order).
func (cs *connState) saveCheckpoints(ctx context.Context) {
	cs.cpMu.Lock()
	defer cs.cpMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i := range cs.r.colls {
		cp := cs.current(i)
		if cp.Local == cs.saved[i].Local && cp.Remote == cs.saved[i].Remote {
			continue
		}
		cp.Time = time.Now().Unix()
		rev, err := cs.sess.SetCheckpoint(ctx, i, cs.r.clientIDs[i], cs.remoteRev[i], cp)
		if errors.Is(err, syncproto.ErrCheckpointConflict) {
			_, cur, gerr := cs.sess.GetCheckpoint(ctx, i, cs.r.clientIDs[i])
			if gerr == nil || errors.Is(gerr, syncproto.ErrNoCheckpoint) {
				rev, err = cs.sess.SetCheckpoint(ctx, i, cs.r.clientIDs[i], cur, cp)
			}
		}
		if err != nil {
			var be *syncproto.ErrorReply
			if errors.As(err, &be) {
				// The peer answered and refused it (one over its checkpoint size limit:
				// HTTP/413). Nothing is lost, but the local checkpoint is not advanced
				// either (it is saved only after the peer's), so the next replication starts
				// from the last checkpoint both stored: from the beginning if none.
				cs.r.log.Warn("remote checkpoint refused by the peer: progress is not checkpointed, the next replication starts from the last saved checkpoint (or from the beginning)",
					"collection", cs.r.colls[i].Collection.FullName(), "status", be.Domain+"/"+strconv.Itoa(be.Code), "err", be.Message)
			} else {
				cs.r.log.Debug("save remote checkpoint failed", "err", err)
			}
			continue
		}
		cs.remoteRev[i] = rev
		if err := cs.saveLocal(i, cp); err != nil {
			cs.r.log.Warn("save local checkpoint failed", "err", err)
			continue
		}
		cs.saved[i] = cp
	}
}

func (cs *connState) saveLocal(i int, cp wire.Checkpoint) error {
	_, err := cs.r.cfg.Database.PutLocal(context.Background(), localCheckpointID(cs.r.clientIDs[i]), cp.Encode(), store.AnyRev)
	return err
}

// saveLocalOnly keeps progress when the connection failed. The remote copy is behind,
// and the merge at the next start picks the older one, so nothing is skipped.
func (cs *connState) saveLocalOnly() {
	cs.cpMu.Lock()
	defer cs.cpMu.Unlock()
	for i := range cs.r.colls {
		cp := cs.current(i)
		if cp.Local == cs.saved[i].Local && cp.Remote == cs.saved[i].Remote {
			continue
		}
		cp.Time = time.Now().Unix()
		if cs.saveLocal(i, cp) == nil {
			cs.saved[i] = cp
		}
	}
}

// evaluate computes the activity and progress; complete reports a finished one-shot run.
func (cs *connState) evaluate(base Progress) (ActivityLevel, Progress, bool) {
	caughtUp := true
	var pending uint64
	for i := range cs.r.colls {
		if p := cs.pullers[i]; p != nil {
			pending += uint64(p.Pending())
			if !p.CaughtUp() {
				caughtUp = false
			}
		}
		if p := cs.pushers[i]; p != nil {
			pending += uint64(p.Pending())
			cs.targetMu.Lock()
			target := cs.target[i]
			cs.targetMu.Unlock()
			if !p.CaughtUp() || p.Settled() < target {
				caughtUp = false
			}
		}
	}
	if !cs.resolver.idle() {
		caughtUp = false
	}
	done := cs.docsDone.Load()
	prog := Progress{Completed: base.Completed + done, Total: base.Completed + done + pending}
	if caughtUp {
		// Nothing is pending. pending was read before CaughtUp, and a document's event
		// is counted in done before its row leaves the tracker, so the sum above can
		// count rows finished in between twice (a one-shot push of 20 documents ended
		// with Completed 19 of Total 32, now and then under the race detector).
		prog.Total = prog.Completed
		return Idle, prog, true
	}
	return Busy, prog, false
}
