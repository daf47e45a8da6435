package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// TxChain runs write transactions one after the other, as TxCached does,
// except that on PostgreSQL a transaction that knows another one is
// waiting to follow it ends with "COMMIT; BEGIN" in one round trip and
// leaves its connection, in the begun transaction, to that one. A writer
// that serializes its transactions anyway (a group commit holding a chain
// head) thereby saves the round trip of every BEGIN but the first, which
// on a busy machine costs as much as one of its statements.
//
// A begun transaction that no statement has used yet holds no snapshot
// and no lock. A TxChain is not safe for concurrent use: its caller
// serializes the transactions (store.Batcher's leaders, one at a time).
type TxChain struct {
	db   *DB
	conn *sql.Conn // in a begun transaction, for the next Tx; nil: none
}

// NewTxChain is a TxChain on db's write pool.
func (db *DB) NewTxChain() *TxChain { return &TxChain{db: db} }

// Tx runs fn in a transaction and commits it. If next (asked when fn has
// returned) reports another transaction waiting, on PostgreSQL the commit
// also begins that one's: the caller must then call Tx again (or Close).
func (c *TxChain) Tx(ctx context.Context, fn func(q Querier) error, next func() bool) error {
	if c.db.Dialect != Postgres {
		return c.db.TxCached(ctx, fn)
	}
	conn := c.conn
	c.conn = nil
	if conn == nil {
		var err error
		if conn, err = c.db.W.Conn(ctx); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			conn.Close()
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	if err := c.run(conn, func() error { return fn(c.db.traced(conn)) }); err != nil {
		rollback(ctx, conn)
		return err
	}
	end, more := "COMMIT", next()
	if more {
		// Without parameters pgx sends both as one simple query, and the
		// server runs nothing after a commit that failed. (A BEGIN that
		// fails after its commit succeeded would need the connection to
		// break in between, which leaves any commit in doubt.)
		end = "COMMIT; BEGIN"
	}
	if _, err := conn.ExecContext(ctx, end); err != nil {
		rollback(ctx, conn)
		return fmt.Errorf("commit: %w", err)
	}
	if more {
		c.conn = conn
		return nil
	}
	return conn.Close()
}

// run is fn on conn; a panic leaves the connection rolled back and closed
// before it goes on (the pool must not get it back in a transaction).
func (c *TxChain) run(conn *sql.Conn, fn func() error) (err error) {
	done := false
	defer func() {
		if !done {
			rollback(context.Background(), conn)
		}
	}()
	err = fn()
	done = true
	return err
}

// Close ends a transaction begun for a Tx that did not come.
func (c *TxChain) Close() {
	if c.conn != nil {
		rollback(context.Background(), c.conn)
		c.conn = nil
	}
}

// rollback ends conn's transaction and gives the connection back; one
// that cannot be rolled back is not given back to the pool.
func rollback(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = conn.Close()
}
