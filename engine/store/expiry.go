package store

import (
	"context"
	"errors"
	"time"
)

// expiryLoop purges expired documents every interval until Close.
func (db *Database) expiryLoop(interval time.Duration) {
	defer close(db.expiryDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-db.stopExpiry:
			return
		case <-ticker.C:
			for db.purgeExpired() {
				// a full page was purged; look for more before sleeping
				select {
				case <-db.stopExpiry:
					return
				default:
				}
			}
		}
	}
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
		coll int64
		id   string
	}
	rows, err := db.rstmts.expired.QueryContext(ctx, now.UnixMilli())
	if err != nil {
		db.log.Error("store: look for expired documents", "err", classify(err))
		return false
	}
	var victims []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.coll, &v.id); err != nil {
			rows.Close()
			db.log.Error("store: look for expired documents", "err", classify(err))
			return false
		}
		victims = append(victims, v)
	}
	rows.Close()
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
		c := db.collectionByID(v.coll)
		if c == nil {
			continue
		}
		if err := b.purge(c, v.id, now); err != nil && !errors.Is(err, ErrNotFound) {
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
	return len(victims) == 256
}
