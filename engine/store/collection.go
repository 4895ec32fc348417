package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

const defaultName = "_default"

// Collection is a named set of documents inside a scope. Values are shared:
// the Database hands out one *Collection per live collection. After
// DeleteCollection every call on it returns ErrNotFound.
type Collection struct {
	db    *Database
	id    int64
	scope string
	name  string

	// Writer state, guarded by Database.writeSem: values inside the current
	// write transaction.
	seq   uint64
	count int64

	// Committed state, readable without locks.
	committedSeq   atomic.Uint64
	committedCount atomic.Int64
	dropped        atomic.Bool

	w collWriterStmts // prepared on the writer connection; used under writeSem

	rmu sync.Mutex                      // serialises preparing and closing r
	r   atomic.Pointer[collReaderStmts] // prepared on first read
}

// readers returns the collection's reader statements, preparing them on
// first use (a new collection's table is only visible to readers once its
// creation has committed).
func (c *Collection) readers(ctx context.Context) (*collReaderStmts, error) {
	if r := c.r.Load(); r != nil {
		return r, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if r := c.r.Load(); r != nil {
		return r, nil
	}
	r := &collReaderStmts{}
	if err := prepareAll(ctx, c.db.rdb, r.specs(c.id)); err != nil {
		return nil, err
	}
	c.r.Store(r)
	return r, nil
}

func (c *Collection) closeStmts() {
	closeAll(c.w.specs(c.id))
	c.rmu.Lock()
	if r := c.r.Swap(nil); r != nil {
		closeAll(r.specs(c.id))
	}
	c.rmu.Unlock()
}

func newCollection(db *Database, id int64, scope, name string, seq uint64, count int64) *Collection {
	c := &Collection{db: db, id: id, scope: scope, name: name, seq: seq, count: count}
	c.committedSeq.Store(seq)
	c.committedCount.Store(count)
	return c
}

// Scope returns the scope name.
func (c *Collection) Scope() string { return c.scope }

// Name returns the collection name.
func (c *Collection) Name() string { return c.name }

// FullName returns "scope.name".
func (c *Collection) FullName() string { return c.scope + "." + c.name }

// Database returns the database the collection belongs to.
func (c *Collection) Database() *Database { return c.db }

// Count returns the number of live (non-deleted) documents.
func (c *Collection) Count(ctx context.Context) (uint64, error) {
	if err := c.usable(); err != nil {
		return 0, fmt.Errorf("count %s: %w", c.FullName(), err)
	}
	defer c.db.leave()
	return uint64(c.committedCount.Load()), nil
}

// LastSequence returns the highest sequence committed in the collection
// (0 for a collection never written).
func (c *Collection) LastSequence(ctx context.Context) (uint64, error) {
	if err := c.usable(); err != nil {
		return 0, fmt.Errorf("last sequence of %s: %w", c.FullName(), err)
	}
	defer c.db.leave()
	return c.committedSeq.Load(), nil
}

// usable enters the database (caller must leave) and checks the collection
// still exists.
func (c *Collection) usable() error {
	if c == nil {
		return fmt.Errorf("%w: nil collection", ErrNotFound)
	}
	if err := c.db.enter(); err != nil {
		return err
	}
	if c.dropped.Load() {
		c.db.leave()
		return fmt.Errorf("%w: collection %s was deleted", ErrNotFound, c.FullName())
	}
	return nil
}

// validateName applies the Couchbase Lite rules to a scope or collection
// name: 1–251 characters of A-Z a-z 0-9 _ - %, not starting with _ or %,
// except the reserved name "_default".
func validateName(kind, name string) error {
	if name == defaultName {
		return nil
	}
	if len(name) == 0 || len(name) > 251 {
		return fmt.Errorf("%w: %s name %q must be 1-251 characters", ErrInvalidName, kind, name)
	}
	if name[0] == '_' || name[0] == '%' {
		return fmt.Errorf("%w: %s name %q must not start with _ or %%", ErrInvalidName, kind, name)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || ch == '%') {
			return fmt.Errorf("%w: %s name %q may only contain A-Z a-z 0-9 _ - %%", ErrInvalidName, kind, name)
		}
	}
	return nil
}

// normalizeNames maps scope "" to "_default" and validates both names.
func normalizeNames(scope, name string) (string, string, error) {
	if scope == "" {
		scope = defaultName
	}
	if err := validateName("scope", scope); err != nil {
		return "", "", err
	}
	if err := validateName("collection", name); err != nil {
		return "", "", err
	}
	if name == defaultName && scope != defaultName {
		return "", "", fmt.Errorf("%w: collection name _default is only valid in scope _default", ErrInvalidName)
	}
	return scope, name, nil
}

// DefaultCollection returns _default._default, which always exists.
func (db *Database) DefaultCollection() *Collection {
	return db.lookup(defaultName, defaultName)
}

// CreateCollection creates scope.name (scope "" = "_default") or returns
// the existing one.
func (db *Database) CreateCollection(ctx context.Context, scope, name string) (*Collection, error) {
	scope, name, err := normalizeNames(scope, name)
	if err != nil {
		return nil, fmt.Errorf("create collection: %w", err)
	}
	if c := db.lookup(scope, name); c != nil {
		if err := db.enter(); err != nil {
			return nil, fmt.Errorf("create collection %s.%s: %w", scope, name, err)
		}
		db.leave()
		return c, nil
	}
	var created *Collection
	err = db.write(ctx, func(b *Batch) error {
		if c := db.lookup(scope, name); c != nil { // created while we waited
			created = c
			return nil
		}
		res, err := db.wconn.ExecContext(b.ctx, `INSERT INTO collections (scope, name) VALUES (?, ?)`, scope, name)
		if err != nil {
			return b.fail(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return b.fail(err)
		}
		for _, stmt := range docsSchema(id) {
			if _, err := db.wconn.ExecContext(b.ctx, stmt); err != nil {
				return b.fail(err)
			}
		}
		created = newCollection(db, id, scope, name, 0, 0)
		if err := prepareAll(b.ctx, db.wconn, created.w.specs(id)); err != nil {
			return b.fail(err)
		}
		b.onRollback = append(b.onRollback, created.closeStmts)
		b.onCommit = append(b.onCommit, func() {
			db.mu.Lock()
			db.colls[collKey{scope, name}] = created
			db.byID[id] = created
			db.mu.Unlock()
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create collection %s.%s: %w", scope, name, err)
	}
	return created, nil
}

// Collection returns an existing collection (scope "" = "_default"), or ErrNotFound.
func (db *Database) Collection(ctx context.Context, scope, name string) (*Collection, error) {
	scope, name, err := normalizeNames(scope, name)
	if err != nil {
		return nil, fmt.Errorf("get collection: %w", err)
	}
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("get collection %s.%s: %w", scope, name, err)
	}
	defer db.leave()
	c := db.lookup(scope, name)
	if c == nil {
		return nil, fmt.Errorf("get collection %s.%s: %w", scope, name, ErrNotFound)
	}
	return c, nil
}

// DeleteCollection deletes a collection with all its documents. The default
// collection cannot be deleted (ErrInvalidName); a missing one is ErrNotFound.
func (db *Database) DeleteCollection(ctx context.Context, scope, name string) error {
	scope, name, err := normalizeNames(scope, name)
	if err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	if scope == defaultName && name == defaultName {
		return fmt.Errorf("delete collection: %w: the default collection cannot be deleted", ErrInvalidName)
	}
	err = db.write(ctx, func(b *Batch) error {
		c := db.lookup(scope, name)
		if c == nil {
			return ErrNotFound
		}
		for _, q := range []string{
			`DELETE FROM remote_ancestors WHERE coll = ?`,
			`DELETE FROM kept_versions WHERE coll = ?`,
			`DELETE FROM collections WHERE id = ?`,
		} {
			if _, err := db.wconn.ExecContext(b.ctx, q, c.id); err != nil {
				return b.fail(err)
			}
		}
		if err := db.dropAllFullText(b, c.id); err != nil {
			return err
		}
		for _, t := range []string{docsTable(c.id), keptTable(c.id)} {
			if _, err := db.wconn.ExecContext(b.ctx, `DROP TABLE `+t); err != nil {
				return b.fail(err)
			}
		}
		b.onCommit = append(b.onCommit, func() {
			c.dropped.Store(true)
			c.closeStmts()
			db.mu.Lock()
			delete(db.colls, collKey{scope, name})
			delete(db.byID, c.id)
			db.mu.Unlock()
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete collection %s.%s: %w", scope, name, err)
	}
	return nil
}

// Collections returns the names of the collections in scope ("" =
// "_default"), sorted. An unknown scope has no collections.
func (db *Database) Collections(ctx context.Context, scope string) ([]string, error) {
	if scope == "" {
		scope = defaultName
	}
	if err := validateName("scope", scope); err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("list collections of %s: %w", scope, err)
	}
	defer db.leave()
	db.mu.Lock()
	out := []string{}
	for k := range db.colls {
		if k.scope == scope {
			out = append(out, k.name)
		}
	}
	db.mu.Unlock()
	sort.Strings(out)
	return out, nil
}

// Scopes returns the scopes holding at least one collection, sorted; it
// always includes "_default".
func (db *Database) Scopes(ctx context.Context) ([]string, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("list scopes: %w", err)
	}
	defer db.leave()
	set := map[string]struct{}{}
	db.mu.Lock()
	for k := range db.colls {
		set[k.scope] = struct{}{}
	}
	db.mu.Unlock()
	return sortedKeys(set), nil
}
