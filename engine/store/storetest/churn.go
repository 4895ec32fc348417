package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"

	"github.com/p2psync/libp2psync/engine/store"
)

// Churn writes a random mix of inserts, updates and deletions (and re-creations of
// deleted documents) into one collection, as one replica of a replication test, and
// records what it committed so that the test can check, once the replicas converged,
// that nothing was lost:
//
//   - own documents ("<Side>-NNN") are written by this replica only: after convergence
//     every replica must hold exactly the last state Churn committed for each of them;
//   - shared documents ("shared-NN") are written by every replica, so concurrent edits
//     conflict: after convergence the current body must be one some replica wrote
//     (a resolution picks a side; it never invents a body).
//
// A Churn is safe for concurrent use, but Step is meant to be called from one goroutine.
type Churn struct {
	Side   string // names this replica's own documents; must differ between replicas
	Own    int    // number of own document IDs (default 150)
	Shared int    // number of shared document IDs (default 20)

	c   *store.Collection
	rng *rand.Rand

	mu      sync.Mutex
	ops     int
	own     map[string]ChurnState // last committed state of each own document
	written map[string]map[string]bool
}

// ChurnState is the last committed state of a document.
type ChurnState struct {
	Deleted bool
	Body    []byte
}

// NewChurn writes into c with a writer seeded by seed.
func NewChurn(c *store.Collection, side string, seed int64) *Churn {
	return &Churn{Side: side, Own: 150, Shared: 20, c: c, rng: rand.New(rand.NewSource(seed)),
		own: map[string]ChurnState{}, written: map[string]map[string]bool{}}
}

// Ops is the number of writes committed so far.
func (ch *Churn) Ops() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.ops
}

// Step commits one random write: a third of them to shared documents (a fifth of those
// deletions), the rest to own documents (a quarter of those deletions). Deleting a
// document that is absent or already deleted is skipped and is not an error.
func (ch *Churn) Step(ctx context.Context) error {
	r := ch.rng
	shared := r.Intn(3) == 0
	var id string
	del := false
	if shared {
		id = fmt.Sprintf("shared-%02d", r.Intn(ch.Shared))
		del = r.Intn(5) == 0
	} else {
		id = fmt.Sprintf("%s-%03d", ch.Side, r.Intn(ch.Own))
		del = r.Intn(4) == 0
	}
	ch.mu.Lock()
	n := ch.ops
	ch.mu.Unlock()
	if del {
		if _, err := ch.c.Delete(ctx, id, store.SaveOptions{}); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return fmt.Errorf("churn %s: delete %s: %w", ch.Side, id, err)
		}
		ch.record(id, shared, ChurnState{Deleted: true})
		return nil
	}
	pad := make([]byte, 8+r.Intn(120))
	for i := range pad {
		pad[i] = "0123456789abcdef"[r.Intn(16)]
	}
	body := fmt.Sprintf(`{"by":%q,"op":%d,"pad":%q}`, ch.Side, n, pad)
	d, err := ch.c.Save(ctx, id, []byte(body), store.SaveOptions{})
	if err != nil {
		return fmt.Errorf("churn %s: save %s: %w", ch.Side, id, err)
	}
	ch.record(id, shared, ChurnState{Body: d.Body})
	return nil
}

func (ch *Churn) record(id string, shared bool, st ChurnState) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.ops++
	if !shared {
		ch.own[id] = st
		return
	}
	if ch.written[id] == nil {
		ch.written[id] = map[string]bool{}
	}
	if st.Deleted {
		ch.written[id]["<deleted>"] = true
	} else {
		ch.written[id][string(st.Body)] = true
	}
}

// CheckChurn verifies a converged replica c against every writer: each own document in
// its last committed state (see CheckOwn), each shared document deleted or holding a body
// some writer wrote (and deleted only if some writer deleted it). It returns one line per
// problem.
func CheckChurn(ctx context.Context, c *store.Collection, writers ...*Churn) ([]string, error) {
	var out []string
	sharedBodies := map[string]map[string]bool{}
	for _, w := range writers {
		lines, err := w.CheckOwn(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
		w.mu.Lock()
		for id, set := range w.written {
			if sharedBodies[id] == nil {
				sharedBodies[id] = map[string]bool{}
			}
			for b := range set {
				sharedBodies[id][b] = true
			}
		}
		w.mu.Unlock()
	}
	ids := make([]string, 0, len(sharedBodies))
	for id := range sharedBodies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d, err := c.GetWithDeleted(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			out = append(out, fmt.Sprintf("%q: shared document lost", id))
			continue
		}
		if err != nil {
			return nil, err
		}
		key := string(d.Body)
		if d.Deleted {
			key = "<deleted>"
		}
		if !sharedBodies[id][key] {
			out = append(out, fmt.Sprintf("%q: current revision %s deleted=%v %s was written by no one", id, d.RevID, d.Deleted, clip(d.Body)))
		}
	}
	return out, nil
}

// CheckOwn verifies that replica c holds each of this writer's own documents in the last
// state it committed. It returns one line per problem.
func (ch *Churn) CheckOwn(ctx context.Context, c *store.Collection) ([]string, error) {
	ch.mu.Lock()
	ids := make([]string, 0, len(ch.own))
	own := make(map[string]ChurnState, len(ch.own))
	for id, st := range ch.own {
		ids = append(ids, id)
		own[id] = st
	}
	ch.mu.Unlock()
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		want := own[id]
		d, err := c.GetWithDeleted(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			out = append(out, fmt.Sprintf("%q: lost (writer %s committed deleted=%v %s)", id, ch.Side, want.Deleted, clip(want.Body)))
			continue
		}
		if err != nil {
			return nil, err
		}
		switch {
		case want.Deleted != d.Deleted:
			out = append(out, fmt.Sprintf("%q: deleted=%v, but writer %s last committed deleted=%v %s", id, d.Deleted, ch.Side, want.Deleted, clip(want.Body)))
		case !want.Deleted && !bytes.Equal(want.Body, d.Body):
			out = append(out, fmt.Sprintf("%q: body %s, but writer %s last committed %s", id, clip(d.Body), ch.Side, clip(want.Body)))
		}
	}
	return out, nil
}
