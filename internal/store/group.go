package store

import (
	"context"
	"fmt"
	"sync"
)

// maxGroup bounds the writes one grouped transaction takes: enough to
// spread a commit over every client of a busy endpoint, few enough that
// the first of them does not wait long for the last.
const maxGroup = 64

// txGroup queues the calls of TxGrouped. One caller at a time leads: it
// writes the queued calls in one transaction, then hands the lead to the
// first call that queued meanwhile, so nobody waits for more than the
// batch in front of it and no goroutine outlives its caller.
type txGroup struct {
	mu      sync.Mutex
	queue   []*groupCall
	leading bool
	// ran, when set (tests), is told the size of every batch written.
	ran func(n int)
}

type groupCall struct {
	ctx context.Context
	fn  func(q Querier) error
	err error
	// wake gets true when the call is to lead, false when it is done.
	wake chan bool
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
// is idle runs alone, as TxCached, with no wait added.
func (db *DB) TxGrouped(ctx context.Context, fn func(q Querier) error) error {
	g := &db.group
	c := &groupCall{ctx: context.WithoutCancel(ctx), fn: fn, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.leading {
		g.mu.Unlock()
		if !<-c.wake {
			return c.err
		}
	} else {
		g.leading = true
		g.mu.Unlock()
	}
	// Leading: c is the head of the queue.
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := make([]*groupCall, n)
	copy(batch, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	ran := g.ran
	g.mu.Unlock()

	db.writeGroup(batch)
	if ran != nil {
		ran(len(batch))
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		g.mu.Unlock()
		next.wake <- true
	} else {
		g.leading = false
		g.mu.Unlock()
	}
	for _, o := range batch[1:] {
		o.wake <- false
	}
	return c.err
}

func (db *DB) writeGroup(batch []*groupCall) {
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
		for _, c := range batch {
			if c.err == nil {
				c.err = err
			}
		}
	}
}
