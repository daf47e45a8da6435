package capture

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
)

// Columns of the rows a new contact's sign-up inserts besides its record.
const (
	valueCols   = 7  // contact_values
	requestCols = 10 // doi_requests
)

// newRows are the rows of a batch's new contacts, written together at the
// batch's end (Service.writeRows).
type newRows struct {
	contacts []contact.Prepared
	values   []any // contact_values rows, valueCols each
	requests []any // doi_requests rows, requestCols each
	jobs     []jobs.EnqueueParams
}

// rowsMark is how much newRows held at some point.
type rowsMark [4]int

func (r *newRows) mark() rowsMark {
	if r == nil {
		return rowsMark{}
	}
	return rowsMark{len(r.contacts), len(r.values), len(r.requests), len(r.jobs)}
}

// truncate drops what was added after m: the piece that added it failed.
func (r *newRows) truncate(m rowsMark) {
	if r == nil {
		return
	}
	clear(r.contacts[m[0]:])
	r.contacts = r.contacts[:m[0]]
	clear(r.values[m[1]:])
	r.values = r.values[:m[1]]
	clear(r.requests[m[2]:])
	r.requests = r.requests[:m[2]]
	clear(r.jobs[m[3]:])
	r.jobs = r.jobs[:m[3]]
}

func (r *newRows) empty() bool {
	return len(r.contacts) == 0 && len(r.values) == 0 && len(r.requests) == 0 && len(r.jobs) == 0
}

// newEnqueuer inserts jobs that are new by construction in few statements
// (jobs.Queue.EnqueueNew).
type newEnqueuer interface {
	EnqueueNew(ctx context.Context, tx store.Querier, ps []jobs.EnqueueParams) ([]string, error)
}

// writeRows writes a batch's new rows, one multi-row INSERT per table (on
// PostgreSQL all of them one statement, as data-modifying CTEs). Any
// failure, e.g. an address two of the pieces signed up, fails the batch,
// whose pieces then run one by one and each meet their own error.
func (s *Service) writeRows(ctx context.Context, tx store.Querier, r *newRows) error {
	if _, held := tx.(*store.Combined); held {
		// The caller sends them.
		return s.insertRows(ctx, tx, r)
	}
	q := tx
	var c *store.Combined
	if s.DB.Dialect == store.Postgres {
		c = store.Combine(tx)
		q = c
	}
	err := s.insertRows(ctx, q, r)
	if c != nil {
		if err == nil {
			err = c.Flush(ctx)
		}
		if cerr := c.Err(); cerr != nil {
			err = store.MapError(cerr)
		}
	}
	return err
}

func (s *Service) insertRows(ctx context.Context, q store.Querier, r *newRows) error {
	cs := s.Contacts.WithTx(q)
	// The ledger writes the new contacts' first permission states.
	cs.OnChange(nil)
	if err := cs.InsertPrepared(ctx, r.contacts); err != nil {
		return err
	}
	if err := insertMany(ctx, q, s.DB.Dialect, `INSERT INTO contact_values (id, workspace_id, contact_id, name, sealed, source, recorded_at) VALUES `, valueCols, r.values); err != nil {
		return fmt.Errorf("record values: %w", err)
	}
	if err := insertMany(ctx, q, s.DB.Dialect, `INSERT INTO doi_requests (id, workspace_id, contact_id, channel, form_key, form_version, lang, consents, created_at, expires_at) VALUES `, requestCols, r.requests); err != nil {
		return fmt.Errorf("double opt-in requests: %w", err)
	}
	if len(r.jobs) == 0 {
		return nil
	}
	if e, ok := s.Jobs.(newEnqueuer); ok {
		_, err := e.EnqueueNew(ctx, q, r.jobs)
		return err
	}
	for _, p := range r.jobs {
		if _, err := s.Jobs.Enqueue(ctx, q, p); err != nil {
			return fmt.Errorf("enqueue %s: %w", p.Kind, err)
		}
	}
	return nil
}

// insertMany inserts rows of cols values each with the INSERT head, a few
// hundred rows a statement.
func insertMany(ctx context.Context, q store.Querier, d store.Dialect, head string, cols int, vals []any) error {
	per := 4000 / cols
	for len(vals) > 0 {
		n := min(per, len(vals)/cols)
		if _, err := q.ExecContext(ctx, head+store.Values(d, n, cols), vals[:n*cols]...); err != nil {
			return store.MapError(err)
		}
		vals = vals[n*cols:]
	}
	return nil
}
