package store

import (
	"context"
	"fmt"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// SaveItem is one document of a SaveMany call.
type SaveItem struct {
	ID   string
	Body []byte // JSON object, as for Save
	// ParentRevID replaces SaveOptions.ParentRevID for this document.
	ParentRevID string
}

// manyRows is how many new documents one statement of SaveMany inserts (insMany).
const manyRows = 32

// SaveMany saves items in order, as one Save per item with opts (each item's ParentRevID
// in place of opts.ParentRevID) would, and returns their documents in the same order.
// What is stored, returned and notified is what those saves would store, return and
// notify; only the cost differs: documents that do not exist yet are inserted manyRows to
// a statement, which costs SQLite much less per document than a statement each. If an
// item fails (a bad ID or body, a lost FailOnConflict), SaveMany returns the documents
// saved before it, which stay in the batch (so the failing item's index is their number),
// and the error Save would return for that item; the batch stays usable as after a
// failed Save.
func (b *Batch) SaveMany(c *Collection, items []SaveItem, opts SaveOptions) ([]*Document, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if err := b.start(); err != nil {
		return nil, fmt.Errorf("save document %q: %w", items[0].ID, err)
	}
	defer b.end()
	if err := b.checkColl(c); err != nil {
		return nil, fmt.Errorf("save document %q: %w", items[0].ID, err)
	}
	docs := make([]*Document, 0, len(items))
	var win [manyRows]manyItem
	for i := 0; i < len(items); {
		// Check up to manyRows items; a window of manyRows new-document candidates goes
		// in one statement, anything else one item at a time.
		n, all := 0, true
		var err error
		for n < manyRows && i+n < len(items) {
			it := &items[i+n]
			o := opts
			o.ParentRevID = it.ParentRevID
			if err = validateDocID(it.ID); err != nil {
				break
			}
			var sb savedBody
			if sb, err = b.saveBody(it.Body, false); err != nil {
				break
			}
			win[n] = manyItem{id: it.ID, sb: sb, opts: o}
			n++
			if !insertFirst(sb, false, o) {
				all = false
				break
			}
		}
		done := false
		if all && n == manyRows {
			var ierr error
			if done, ierr = b.insertMany(c, win[:n], &docs); ierr != nil {
				return docs, fmt.Errorf("save document %q: %w", items[i].ID, ierr)
			}
		}
		if !done {
			for k := 0; k < n; k++ {
				w := &win[k]
				doc, serr := b.saveChecked(c, w.id, w.sb, false, w.opts)
				if serr != nil {
					return docs, fmt.Errorf("save document %q: %w", w.id, serr)
				}
				docs = append(docs, doc)
			}
		}
		clear(win[:n]) // keep nothing of the caller's bodies
		i += n
		if err != nil {
			return docs, fmt.Errorf("save document %q: %w", items[i].ID, err)
		}
	}
	return docs, nil
}

// manyItem is an item of SaveMany once checked.
type manyItem struct {
	id   string
	sb   savedBody
	opts SaveOptions
	rev  string
	vec  hlv.Vector
	text string // vec's text
}

// insertMany stores the items of win (checked, insertFirst true) as new documents of one
// revision each, under the next len(win) sequences, in one statement (insMany). It reports
// false, having written no document, if any of them exists (or an ID repeats): the caller
// then saves them one by one.
func (b *Batch) insertMany(c *Collection, win []manyItem, docs *[]*Document) (bool, error) {
	seq0 := c.seq
	args := b.manyArgs[:0]
	for k := range win {
		w := &win[k]
		w.rev = newRevID(0, "", false, w.sb.data)
		vec, err := b.newFirstVersion()
		if err != nil {
			return false, err
		}
		w.vec, w.text = vec, b.db.vectorText(vec)
		// int64: database/sql would convert (and box again) a uint64.
		args = append(args, int64(seq0+uint64(k)+1), w.id, w.rev, w.sb.data, w.text)
	}
	res, err := c.w.insMany.ExecContext(b.ctx, args...)
	clear(args)
	b.manyArgs = args[:0]
	if err != nil {
		return false, b.fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, b.fail(err)
	}
	if n != int64(len(win)) {
		// Some document existed: take back the rows inserted, which are exactly those
		// above seq0 (every row already there has a lower sequence).
		if n > 0 {
			if _, err := b.db.wconn.ExecContext(context.Background(),
				`DELETE FROM `+docsTable(c.id)+` WHERE seq > ? AND seq <= ?`, int64(seq0), int64(seq0)+int64(len(win))); err != nil {
				return false, b.fail(err)
			}
		}
		return false, nil
	}
	for k := range win {
		w := &win[k]
		seq := seq0 + uint64(k) + 1
		b.stored(c, w.id, seq, w.rev, false, false, len(w.sb.data))
		doc := &Document{ID: w.id, RevID: w.rev, Sequence: seq}
		if !w.opts.NoBody {
			doc.Body = w.sb.owned()
		}
		doc.setNewVector(w.vec, w.text)
		b.notifyDoc(c, doc, w.sb.data)
		*docs = append(*docs, doc)
	}
	return true, nil
}

// SaveMany saves items in its own transaction (see Batch.SaveMany); on an error nothing
// is saved.
func (c *Collection) SaveMany(ctx context.Context, items []SaveItem, opts SaveOptions) ([]*Document, error) {
	var docs []*Document
	err := c.write(ctx, "save documents", func(b *Batch) (err error) {
		docs, err = b.SaveMany(c, items, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}
