package store

import (
	"context"
	"fmt"
)

// txGroup is the queue of TxGrouped calls.
type txGroup struct {
	Batcher[*groupCall]
	// ran, when set (tests), is told the size of every batch written.
	ran func(n int)
}

type groupCall struct {
	ctx context.Context
	fn  func(q Querier) error
	err error
}

// TxGrouped is TxCached for writes that many clients make at once: the
// calls waiting for the writer are committed together in one transaction,
// each under its own savepoint, so one commit (with its page writes) serves
// all of them and a failing call is undone alone, its error returned to its
// own caller while the others commit. A call returns only after the commit
// that holds it: what returned nil is durable as with TxCached.
//
// fn runs with ctx's values but without its cancellation: a client that
// goes away while its write is in a shared transaction must not break the
// connection the others' writes are on. A call that comes when the writer
// is idle runs alone, as TxCached, with no wait added. If the shared
// transaction fails as a whole, each call is run again in a transaction of
// its own: fn may run twice and must set its results anew each time.
//
// On PostgreSQL it is TxCached: there concurrent transactions run side by
// side on the pool's connections and the server groups their WAL flushes
// itself, where a shared transaction would run every call's statements
// one after the other on one connection.
func (db *DB) TxGrouped(ctx context.Context, fn func(q Querier) error) error {
	if db.Dialect != SQLite {
		return db.TxCached(ctx, fn)
	}
	c := &groupCall{ctx: context.WithoutCancel(ctx), fn: fn}
	db.group.Do(c, db.writeGroup)
	return c.err
}

func (db *DB) writeGroup(batch []*groupCall) {
	if db.group.ran != nil {
		defer db.group.ran(len(batch))
	}
	if len(batch) == 1 {
		c := batch[0]
		c.err = db.TxCached(c.ctx, c.fn)
		return
	}
	err := db.TxCached(batch[0].ctx, func(q Querier) error {
		for _, c := range batch {
			if _, err := q.ExecContext(c.ctx, "SAVEPOINT grouped"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			if c.err = c.fn(q); c.err != nil {
				// A savepoint that cannot be rolled back leaves the
				// transaction in doubt: then nobody's write commits.
				if _, err := q.ExecContext(c.ctx, "ROLLBACK TO SAVEPOINT grouped"); err != nil {
					return fmt.Errorf("roll back to savepoint: %w", err)
				}
			}
			// SQLite keeps a rolled-back savepoint open until released.
			if _, err := q.ExecContext(c.ctx, "RELEASE SAVEPOINT grouped"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		// The shared transaction failed as a whole (its commit, or a
		// savepoint in doubt): each call again alone, so that one bad
		// call cannot sink the others.
		for _, c := range batch {
			c.err = db.TxCached(c.ctx, c.fn)
		}
	}
}
