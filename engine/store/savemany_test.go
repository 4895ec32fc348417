package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
)

// saveManyOps are the items of a SaveMany test, saved into a collection that already
// holds the documents named in existing.
type saveManyCase struct {
	name     string
	existing []string
	items    []store.SaveItem
	opts     store.SaveOptions
}

// sameDatabases checks that a and b hold the same documents (ID, revision, sequence,
// deletion, body, a version) and the same changes.
func sameDatabases(t *testing.T, a, b *store.Collection) {
	t.Helper()
	ctx := context.Background()
	ca, err := a.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ca) != len(cb) {
		t.Fatalf("%d changes one by one, %d with SaveMany", len(ca), len(cb))
	}
	for i := range ca {
		x, y := ca[i], cb[i]
		if x.Sequence != y.Sequence || x.DocID != y.DocID || x.RevID != y.RevID || x.Deleted != y.Deleted || x.BodySize != y.BodySize {
			t.Fatalf("change %d: one by one %+v, SaveMany %+v", i, x, y)
		}
		da, err := a.Get(ctx, x.DocID)
		if err != nil {
			t.Fatal(err)
		}
		db, err := b.Get(ctx, y.DocID)
		if err != nil {
			t.Fatal(err)
		}
		if da.RevID != db.RevID || da.Sequence != db.Sequence || string(da.Body) != string(db.Body) || (da.Version == "") != (db.Version == "") ||
			strings.Count(da.Vector, ";")+strings.Count(da.Vector, ",") != strings.Count(db.Vector, ";")+strings.Count(db.Vector, ",") {
			t.Fatalf("%s: one by one %+v, SaveMany %+v", x.DocID, *da, *db)
		}
	}
	na, _ := a.Count(ctx)
	nb, _ := b.Count(ctx)
	if na != nb {
		t.Fatalf("count %d one by one, %d with SaveMany", na, nb)
	}
}

func docItems(prefix string, from, to int) []store.SaveItem {
	var items []store.SaveItem
	for i := from; i < to; i++ {
		items = append(items, store.SaveItem{ID: fmt.Sprintf("%s%03d", prefix, i), Body: []byte(fmt.Sprintf(`{"i":%d, "s":"x"}`, i))})
	}
	return items
}

// SaveMany stores, returns and numbers exactly what one Save per item does: new documents
// (windows of several per statement and a tail), existing ones among them (the window
// falls back to one save at a time, with no gap in the sequences), an ID given twice, and
// a body that cannot take the single-statement insert.
func TestSaveManyIsSaveOneByOne(t *testing.T) {
	ctx := context.Background()
	mixed := docItems("d", 0, 100)
	mixed[37].ID = "d010" // an ID repeated, in another window
	mixed[40].ID = "d041" // an ID repeated inside one window
	mixed[70].Body = []byte(`{"big":"` + strings.Repeat("y", 17<<10) + `"}`)
	cases := []saveManyCase{
		{name: "new", items: docItems("d", 0, 100)},
		{name: "some exist", existing: []string{"d005", "d050", "d099"}, items: docItems("d", 0, 100)},
		{name: "repeats and a large body", items: mixed},
		{name: "all exist", existing: []string{"d000", "d001", "d002", "d003", "d004", "d005", "d006", "d007", "d008", "d009", "d010", "d011", "d012", "d013", "d014", "d015", "d016", "d017", "d018", "d019", "d020", "d021", "d022", "d023", "d024", "d025", "d026", "d027", "d028", "d029", "d030", "d031"}, items: docItems("d", 0, 32)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			one, many := openTempDB(t).DefaultCollection(), openTempDB(t).DefaultCollection()
			for _, c := range []*store.Collection{one, many} {
				for _, id := range tc.existing {
					if _, err := c.Save(ctx, id, []byte(`{"old":true}`), store.SaveOptions{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			var want []*store.Document
			for _, it := range tc.items {
				o := tc.opts
				o.ParentRevID = it.ParentRevID
				d, err := one.Save(ctx, it.ID, it.Body, o)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, d)
			}
			got, err := many.SaveMany(ctx, tc.items, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d documents returned, want %d", len(got), len(want))
			}
			for i := range want {
				w, g := want[i], got[i]
				if w.ID != g.ID || w.RevID != g.RevID || w.Sequence != g.Sequence || string(w.Body) != string(g.Body) || g.Version == "" || g.Vector == "" {
					t.Fatalf("item %d: Save returned %+v, SaveMany %+v", i, *w, *g)
				}
				if rd, err := many.Get(ctx, g.ID); err != nil || (rd.Sequence == g.Sequence && (rd.Version != g.Version || rd.Vector != g.Vector)) {
					t.Fatalf("item %d: returned %+v, read %+v (%v)", i, *g, rd, err)
				}
			}
			sameDatabases(t, one, many)
		})
	}
}

// A failing item ends SaveMany: the documents before it are returned and stay in the
// batch, which remains usable; FailOnConflict is applied per item with its ParentRevID.
func TestSaveManyStopsAtTheFailingItem(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	first, err := c.Save(ctx, "d050", []byte(`{}`), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items := docItems("d", 0, 80)
	items[45].Body = []byte(`{"bad":}`)
	err = db.InBatch(ctx, func(b *store.Batch) error {
		docs, err := b.SaveMany(c, items, store.SaveOptions{})
		if !errors.Is(err, store.ErrInvalidJSON) || !strings.HasPrefix(err.Error(), `save document "d045": `) || len(docs) != 45 {
			t.Fatalf("SaveMany with a bad body at 45: %d documents, %v", len(docs), err)
		}
		// FailOnConflict: d050 exists, so a parent of "" loses; with its revision it saves.
		docs, err = b.SaveMany(c, items[46:60], store.SaveOptions{Concurrency: store.FailOnConflict})
		if !errors.Is(err, store.ErrConflict) || len(docs) != 4 {
			t.Fatalf("FailOnConflict over an existing document: %d documents, %v", len(docs), err)
		}
		items[50].ParentRevID = first.RevID
		docs, err = b.SaveMany(c, items[50:60], store.SaveOptions{Concurrency: store.FailOnConflict})
		if err != nil || len(docs) != 10 || !strings.HasPrefix(docs[0].RevID, "2-") {
			t.Fatalf("FailOnConflict with the right parent: %v, %v", docs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Count(ctx)
	if err != nil || n != 59 { // 0–59 but 45
		t.Fatalf("count %d (%v), want 59", n, err)
	}
	// Collection.SaveMany is all or nothing.
	if _, err := c.SaveMany(ctx, []store.SaveItem{{ID: "z1", Body: []byte(`{}`)}, {ID: "", Body: []byte(`{}`)}}, store.SaveOptions{}); !errors.Is(err, store.ErrInvalidID) {
		t.Fatalf("bad ID: %v", err)
	}
	if _, err := c.Get(ctx, "z1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("z1 after a failed Collection.SaveMany: %v", err)
	}
}

// A listener hears SaveMany's changes in order, each carrying its document with a body of
// its own; NoBody leaves the returned bodies out only.
func TestSaveManyNotifies(t *testing.T) {
	ctx := context.Background()
	db := openTempDB(t)
	c := db.DefaultCollection()
	var (
		mu    sync.Mutex
		heard []store.Change
	)
	tok := c.AddChangeListener(func(ev store.CollectionChange) {
		mu.Lock()
		heard = append(heard, ev.Changes...)
		mu.Unlock()
	})
	defer tok.Remove()
	items := docItems("d", 0, 40)
	docs, err := c.SaveMany(ctx, items, store.SaveOptions{NoBody: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		copy(items[i].Body, "{}           ")
	}
	if err := db.WaitChangesDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 40 || len(docs) != 40 {
		t.Fatalf("%d changes, %d documents", len(heard), len(docs))
	}
	for i, ch := range heard {
		want := fmt.Sprintf(`{"i":%d,"s":"x"}`, i)
		if docs[i].Body != nil || ch.Doc == nil || string(ch.Doc.Body) != want || ch.Sequence != docs[i].Sequence || ch.Doc.Version != docs[i].Version {
			t.Fatalf("change %d: %+v (doc %v), returned %+v", i, ch, ch.Doc, *docs[i])
		}
	}
}
