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
