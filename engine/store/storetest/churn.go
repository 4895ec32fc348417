package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
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

	mu  sync.Mutex
	ops int
	own map[string]ChurnState // last committed state of each own document
	// shared names the shared documents this writer wrote, true once it deleted one.
	// Their bodies are not kept: each names its writer and write (see sharedBody), so
	// CheckChurn recognises a body a writer wrote without remembering them, and a long
	// run keeps one entry per document ID, not one per write.
	shared map[string]bool
}

// ChurnState is the last committed state of a document.
type ChurnState struct {
	Deleted bool
	Body    []byte
}

// NewChurn writes into c with a writer seeded by seed.
func NewChurn(c *store.Collection, side string, seed int64) *Churn {
	return &Churn{Side: side, Own: 150, Shared: 20, c: c, rng: rand.New(rand.NewSource(seed)),
		own: map[string]ChurnState{}, shared: map[string]bool{}}
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
	body := churnBody(ch.Side, id, n, 8+r.Intn(120))
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
	ch.shared[id] = ch.shared[id] || st.Deleted
}

// churnBody is the body writer side gives document id at its write number op: the
// padding, of length padLen, is derived from the three, so that a body can be checked
// against its writer and write without remembering it (see writtenBy).
func churnBody(side, id string, op, padLen int) string {
	return fmt.Sprintf(`{"by":%q,"op":%d,"pad":%q}`, side, op, churnPad(side, id, op, padLen))
}

func churnPad(side, id string, op, n int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", side, id, op)
	r := rand.New(rand.NewSource(int64(h.Sum64())))
	pad := make([]byte, n)
	for i := range pad {
		pad[i] = "0123456789abcdef"[r.Intn(16)]
	}
	return string(pad)
}

// writtenBy reports whether body is one that some writer committed to document id: it
// names one of the writers and one of that writer's writes (numbered below its count),
// and is exactly the body churnBody makes for them. Anything else (an invented or merged
// body, another document's body, a body of a write not made yet) is not.
func writtenBy(id string, body []byte, writers []*Churn) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || len(fields) != 3 {
		return false
	}
	var b struct {
		By  string `json:"by"`
		Op  int    `json:"op"`
		Pad string `json:"pad"`
	}
	if json.Unmarshal(body, &b) != nil || len(b.Pad) < 8 || len(b.Pad) >= 128 || b.Op < 0 {
		return false
	}
	for _, w := range writers {
		if w.Side != b.By {
			continue
		}
		w.mu.Lock()
		ops := w.ops
		w.mu.Unlock()
		return b.Op < ops && b.Pad == churnPad(b.By, id, b.Op, len(b.Pad))
	}
	return false
}

// CheckChurn verifies a converged replica c against every writer: each own document in
// its last committed state (see CheckOwn), each shared document deleted or holding a body
// some writer wrote (and deleted only if some writer deleted it). It returns one line per
// problem.
func CheckChurn(ctx context.Context, c *store.Collection, writers ...*Churn) ([]string, error) {
	var out []string
	deletedBy := map[string]bool{} // shared document ID => some writer deleted it
	for _, w := range writers {
		lines, err := w.CheckOwn(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
		w.mu.Lock()
		for id, deleted := range w.shared {
			deletedBy[id] = deletedBy[id] || deleted
		}
		w.mu.Unlock()
	}
	ids := make([]string, 0, len(deletedBy))
	for id := range deletedBy {
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
		if d.Deleted && !deletedBy[id] || !d.Deleted && !writtenBy(id, d.Body, writers) {
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
