package store

import (
	"context"
	"errors"
	"math"
	"time"
)

// expiryLoop purges expired documents every interval until Close. Once a pass finds
// that no document has an expiration at all, it reads nothing more until a commit
// gives one an expiration (expirySet changes): a database that uses no expirations
// is not queried every second for ever.
func (db *Database) expiryLoop(interval time.Duration) {
	defer close(db.expiryDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	none, noneAt := false, uint64(0) // no document had an expiration as of expirySet == noneAt
	for {
		select {
		case <-db.stopExpiry:
			return
		case <-ticker.C:
			set := db.expirySet.Load() // before reading: a later commit is seen next time
			if none && set == noneAt {
				continue
			}
			db.expiryRuns.Add(1)
			for db.purgeExpired() {
				// a full page was purged; look for more before sleeping
				select {
				case <-db.stopExpiry:
					return
				default:
				}
			}
			none, noneAt = !db.anyExpiration(), set
		}
	}
}

// openCollections returns the database's open collections, in no particular order.
func (db *Database) openCollections() []*Collection {
	db.mu.Lock()
	defer db.mu.Unlock()
	colls := make([]*Collection, 0, len(db.byID))
	for _, c := range db.byID {
		colls = append(colls, c)
	}
	return colls
}

// anyExpiration reports whether a document of any collection has an expiration (true
// when that cannot be read: the loop keeps looking).
func (db *Database) anyExpiration() bool {
	if err := db.enter(); err != nil {
		return true
	}
	defer db.leave()
	colls := db.openCollections()
	for _, c := range colls {
		ids, err := c.expiredIDs(context.Background(), time.UnixMilli(math.MaxInt64), 1)
		if err != nil || len(ids) > 0 {
			return true
		}
	}
	return false
}

// purgeExpired purges up to one page of expired documents in one
// transaction and reports whether the page was full.
func (db *Database) purgeExpired() (more bool) {
	if err := db.enter(); err != nil {
		return false
	}
	defer db.leave()
	// Close cancels nothing here: it waits for this call, which is bounded.
	ctx := context.Background()
	now := time.Now()
	type victim struct {
		c  *Collection
		id string
	}
	var victims []victim
	colls := db.openCollections()
	for _, c := range colls {
		ids, err := c.expiredIDs(ctx, now, expiryPage-len(victims))
		if err != nil {
			db.log.Error("store: look for expired documents", "collection", c.FullName(), "err", err)
			continue
		}
		for _, id := range ids {
			victims = append(victims, victim{c, id})
		}
		if len(victims) >= expiryPage {
			break
		}
	}
	if len(victims) == 0 {
		return false
	}
	b, err := db.begin(ctx, false)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			db.log.Error("store: purge expired documents", "err", err)
		}
		return false
	}
	for _, v := range victims {
		if err := b.purge(v.c, v.id, now); err != nil && !errors.Is(err, ErrNotFound) {
			b.Rollback()
			db.log.Error("store: purge expired document", "doc", v.id, "err", err)
			return false
		}
	}
	if err := b.Commit(); err != nil {
		db.log.Error("store: purge expired documents", "err", err)
		return false
	}
	db.log.Debug("store: purged expired documents", "count", len(victims))
	return len(victims) >= expiryPage
}

// expiredIDs lists up to max documents of c whose expiration is at or before now.
func (c *Collection) expiredIDs(ctx context.Context, now time.Time, max int) ([]string, error) {
	if c.dropped.Load() || max <= 0 {
		return nil, nil
	}
	r, err := c.readers(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.expired.QueryContext(ctx, now.UnixMilli())
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() && len(ids) < max {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, classify(err)
		}
		ids = append(ids, id)
	}
	return ids, classify(rows.Err())
}
