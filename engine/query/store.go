package query

import (
	"context"

	"github.com/p2psync/libp2psync/engine/store"
)

// StoreSource runs queries on an engine/store database.
type StoreSource struct{ DB *store.Database }

// QueryTable implements Source.
func (s StoreSource) QueryTable(ctx context.Context, scope, collection string) (string, error) {
	return s.DB.QueryTable(ctx, scope, collection)
}

// Query implements Source.
func (s StoreSource) Query(ctx context.Context, sqlText string, args ...any) (Rows, error) {
	r, err := s.DB.Query(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// CreateValueIndex implements Source.
func (s StoreSource) CreateValueIndex(ctx context.Context, scope, collection, name string, exprs []string) error {
	return s.DB.CreateValueIndex(ctx, scope, collection, name, exprs)
}

// DeleteValueIndex implements Source.
func (s StoreSource) DeleteValueIndex(ctx context.Context, scope, collection, name string) error {
	return s.DB.DeleteValueIndex(ctx, scope, collection, name)
}

// CreateFullTextIndex implements Source.
func (s StoreSource) CreateFullTextIndex(ctx context.Context, scope, collection, name string, exprs []string, opts store.FullTextOptions) error {
	return s.DB.CreateFullTextIndex(ctx, scope, collection, name, exprs, opts)
}

// DeleteFullTextIndex implements Source.
func (s StoreSource) DeleteFullTextIndex(ctx context.Context, scope, collection, name string) error {
	return s.DB.DeleteFullTextIndex(ctx, scope, collection, name)
}

// FullTextTable implements Source.
func (s StoreSource) FullTextTable(ctx context.Context, scope, collection, name string) (string, error) {
	return s.DB.FullTextTable(ctx, scope, collection, name)
}

// Watch implements Source with a collection change listener.
func (s StoreSource) Watch(ctx context.Context, scope, collection string, fn func()) (func(), error) {
	c, err := s.DB.Collection(ctx, scope, collection)
	if err != nil {
		return nil, err
	}
	t := c.AddChangeListener(func(store.CollectionChange) { fn() })
	return t.Remove, nil
}
