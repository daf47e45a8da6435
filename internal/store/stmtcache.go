package store

import (
	"context"
	"database/sql"
	"errors"
)

// StmtCache is a Querier over one transaction that prepares each distinct
// SQL text once and reuses it. Bulk writers (imports, generated data) run
// the same dozen statements for thousands of rows; on SQLite preparing
// them anew each time costs more than running them.
type StmtCache struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// shared is the write connection's cache (SQLite; nil: none): a text
	// prepared there is not prepared again for every transaction, and a
	// new one is prepared there after the transaction.
	shared *stmtCache
}

// maxCached bounds the cache: texts built with IN lists of varying length
// are run unprepared once it is full.
const maxCached = 128

// NewStmtCache wraps tx. Close it before the transaction ends.
func NewStmtCache(tx *sql.Tx) *StmtCache {
	return &StmtCache{tx: tx, stmts: map[string]*sql.Stmt{}}
}

// StmtCache is NewStmtCache for a transaction of db.Tx that reuses the
// statements db keeps prepared on its write connection (SQLite) across
// transactions: an import writes a segment of a thousand lines per
// transaction, and preparing its dozen multi-row statements anew for each
// was about a tenth of its CPU. A text is prepared there after the second
// transaction that runs it.
func (db *DB) StmtCache(tx *sql.Tx) *StmtCache {
	c := NewStmtCache(tx)
	c.shared = db.stmts
	return c
}

// Tx is the wrapped transaction.
func (c *StmtCache) Tx() *sql.Tx { return c.tx }

func (c *StmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	if c.shared != nil {
		if s := c.shared.reuse(query); s != nil {
			ts := c.tx.StmtContext(ctx, s)
			c.stmts[query] = ts
			return ts, nil
		}
	}
	if len(c.stmts) >= maxCached {
		return nil, nil
	}
	s, err := c.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

// ExecContext runs query as a prepared statement.
func (c *StmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.tx.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

// QueryContext runs query as a prepared statement.
func (c *StmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.tx.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

// QueryRowContext runs query as a prepared statement. A failed prepare
// surfaces from Scan, as with *sql.Tx.
func (c *StmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(ctx, query)
	if err != nil || s == nil {
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// Close closes the prepared statements (the transaction stays open).
func (c *StmtCache) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.Close())
		delete(c.stmts, q)
	}
	return errors.Join(errs...)
}
