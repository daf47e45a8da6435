package capture

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
)

// submissionWork is a submission's writes in the transaction q. Ledger
// events of contacts it creates go through b (consent.Batch), which writes
// the batch's events, chain heads and permission states at the end.
type submissionWork func(ctx context.Context, q store.Querier, b *consent.Batch) error

// commitSubmission runs a submission's writes in a transaction shared
// with the submissions waiting at that moment (group commit, on both
// engines): every submission of a workspace serializes on its chain head
// (and on SQLite on the one write connection), and a batch takes the head
// once, writes its events in one INSERT and its new contacts' grants
// together, and commits once.
func (s *Service) commitSubmission(ctx context.Context, fn submissionWork) error {
	return s.submissions.do(ctx, s.DB, s.Ledger, fn)
}

// groupCommit gathers concurrent submissions into one transaction
// (store.Batcher: up to 64, no background goroutine, the lead handed to
// the next waiting caller). All submissions of a workspace serialize on
// its ledger chain head anyway; taking it once per batch instead of once
// per submission is what lets them through.
//
// Every caller is acknowledged only after its batch has committed, and
// each piece of work runs in a savepoint of its own, so a failing one
// undoes only its own writes. If the commit itself fails, the work of the
// batch is run again, one transaction each, so that one bad submission
// cannot sink the others.
type groupCommit struct {
	store.Batcher[*pendingWork]
	// batches counts the transactions run, for tests.
	batches atomic.Int64
}

type pendingWork struct {
	ctx context.Context
	fn  submissionWork
	err error
}

// do runs fn in a write transaction shared with other callers and returns
// once that transaction has committed (or fn failed). fn may run more
// than once, each time in a fresh transaction or savepoint: it must only
// write through q and set its results anew each time. It must use the
// context it is given, not the caller's: on SQLite a statement
// interrupted by a cancelled context rolls back the whole transaction,
// which would take the other callers' work with it.
func (g *groupCommit) do(ctx context.Context, db *store.DB, l *consent.Ledger, fn submissionWork) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingWork{ctx: ctx, fn: fn}
	g.Do(p, func(batch []*pendingWork) {
		g.batches.Add(1)
		runBatch(db, l, batch)
	})
	return p.err
}

// runBatch runs the batch and sets each piece's error. The transaction
// does not follow any one caller's context: a client that goes away must
// not roll back the others; work whose caller has gone is skipped.
//
// Each piece runs in the savepoint "submission": a failing one is rolled
// back to it (its ledger events dropped from the batch with it) and the
// savepoint serves the next piece; a piece that succeeded releases it and
// the next takes a new one — on PostgreSQL in one round trip.
func runBatch(db *store.DB, l *consent.Ledger, batch []*pendingWork) {
	ctx := context.WithoutCancel(batch[0].ctx)
	newBatch := func() *consent.Batch {
		if l == nil {
			return nil
		}
		return l.NewBatch()
	}
	flush := func(q store.Querier, b *consent.Batch) error {
		if b == nil {
			return nil
		}
		return b.Flush(ctx, q)
	}
	alone := func(p *pendingWork) error {
		return db.TxCached(ctx, func(q store.Querier) error {
			b := newBatch()
			if err := p.fn(ctx, q, b); err != nil {
				return err
			}
			return flush(q, b)
		})
	}
	if len(batch) == 1 {
		batch[0].err = alone(batch[0])
		return
	}
	err := db.TxCached(ctx, func(q store.Querier) error {
		b := newBatch()
		open := false
		next := func() error {
			switch {
			case !open:
				_, err := q.ExecContext(ctx, "SAVEPOINT submission")
				return err
			case db.Dialect == store.Postgres:
				// Without parameters pgx sends this as one simple query.
				_, err := q.ExecContext(ctx, "RELEASE SAVEPOINT submission; SAVEPOINT submission")
				return err
			}
			if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT submission"); err != nil {
				return err
			}
			_, err := q.ExecContext(ctx, "SAVEPOINT submission")
			return err
		}
		clean := false // the open savepoint holds nothing (rolled back to)
		for _, p := range batch {
			if p.err = p.ctx.Err(); p.err != nil {
				continue
			}
			if !clean {
				if err := next(); err != nil {
					return fmt.Errorf("savepoint: %w", err)
				}
				open = true
			}
			n := 0
			if b != nil {
				n = b.Len()
			}
			if p.err = p.fn(ctx, q, b); p.err == nil {
				clean = false
				continue
			}
			if b != nil {
				b.Truncate(n)
			}
			if _, err := q.ExecContext(ctx, "ROLLBACK TO SAVEPOINT submission"); err != nil {
				return fmt.Errorf("%w (and rolling back to the savepoint failed: %v)", p.err, err)
			}
			clean = true
		}
		if open {
			if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT submission"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		return flush(q, b)
	})
	if err == nil {
		return
	}
	// The flush or the commit failed: nothing of the batch was written.
	// Each piece that had succeeded gets a transaction of its own.
	for _, p := range batch {
		if p.err == nil {
			p.err = alone(p)
		}
	}
}
