package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Combined is a PostgreSQL transaction's Querier that sends a run of
// writes as one statement: each INSERT whose result nobody reads (and each
// write handed to Defer) waits and goes out, as a data-modifying CTE, in
// front of the next INSERT (or alone before any other statement, or in
// front of a statement handed to Carry). A new contact's data key, record,
// values, double opt-in request and mail job are written by four packages'
// code, five statements one after the other on the connection; combined
// they are one round trip while the submission's batch holds the ledger.
//
// The CTEs of one statement run on one snapshot, so a statement that must
// see an earlier write's row (other than through a foreign key, which is
// checked at the statement's end) must not be combined with it, and no two
// of them may change one row; the INSERTs of a new contact's sign-up read
// nothing back. An error of a combined statement is the error of the
// statement that carried it, and of everything queued before; Err reports
// one that no caller saw.
type Combined struct {
	q       Querier
	pending []string
	args    []any
	err     error
}

// Combine is a Combined writing through q, which must be a PostgreSQL
// transaction's.
func Combine(q Querier) *Combined { return &Combined{q: q} }

// Defer queues a write (INSERT, UPDATE or DELETE, without RETURNING) to go
// out with the next statement.
func (c *Combined) Defer(query string, args ...any) {
	c.pending = append(c.pending, Renumber(query, len(c.args)))
	c.args = append(c.args, args...)
}

// Carry is the Querier to run a statement on, the statement and its
// arguments, with the writes q holds back (q a *Combined) as CTEs in front
// of it: one round trip for all. The statement must read nothing those
// writes write and must not begin with WITH. For any other q it is q and
// the statement as they are.
func Carry(q Querier, query string, args []any) (Querier, string, []any) {
	c, ok := q.(*Combined)
	if !ok {
		return q, query, args
	}
	query, args = c.with(query, args)
	return c.q, query, args
}

// insertResult is what a deferred INSERT returns: its rows are not counted.
type insertResult struct{}

func (insertResult) LastInsertId() (int64, error) {
	return 0, errors.New("store: a combined INSERT has no insert ID")
}
func (insertResult) RowsAffected() (int64, error) {
	return 0, errors.New("store: a combined INSERT does not count its rows")
}

func combinable(query string) bool {
	return strings.HasPrefix(query, "INSERT INTO ")
}

// with is query prefixed with the pending INSERTs, and the arguments of
// all; query's parameters are numbered after theirs.
func (c *Combined) with(query string, args []any) (string, []any) {
	if len(c.pending) == 0 {
		return query, args
	}
	query = Renumber(query, len(c.args))
	all := append(c.args, args...)
	return c.prefix() + query, all
}

// prefix is the WITH clause of the pending INSERTs, which it clears.
func (c *Combined) prefix() string {
	var b strings.Builder
	b.WriteString("WITH ")
	for i, p := range c.pending {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("w")
		b.WriteString(strconv.Itoa(i))
		b.WriteString(" AS (")
		b.WriteString(p)
		b.WriteString(" RETURNING 1)")
	}
	b.WriteByte(' ')
	c.pending, c.args = nil, nil
	return b.String()
}

func (c *Combined) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if combinable(query) && !strings.Contains(query, "RETURNING") {
		c.pending = append(c.pending, Renumber(query, len(c.args)))
		c.args = append(c.args, args...)
		return insertResult{}, nil
	}
	if !combinable(query) {
		if err := c.Flush(ctx); err != nil {
			return nil, err
		}
	}
	query, args = c.with(query, args)
	return c.q.ExecContext(ctx, query, args...)
}

func (c *Combined) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if !combinable(query) {
		if err := c.Flush(ctx); err != nil {
			return nil, err
		}
	}
	query, args = c.with(query, args)
	return c.q.QueryContext(ctx, query, args...)
}

func (c *Combined) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if !combinable(query) {
		// A *sql.Row cannot carry the error: the aborted transaction fails
		// the query, and Err keeps the cause.
		_ = c.Flush(ctx)
	}
	query, args = c.with(query, args)
	return c.q.QueryRowContext(ctx, query, args...)
}

// Flush sends the pending INSERTs.
func (c *Combined) Flush(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	// The last write carries the others; its parameters are numbered
	// after theirs already.
	last := c.pending[len(c.pending)-1]
	c.pending = c.pending[:len(c.pending)-1]
	args := c.args
	query := last
	if len(c.pending) > 0 {
		query = c.prefix() + last
	}
	c.pending, c.args = nil, nil
	if _, err := c.q.ExecContext(ctx, query, args...); err != nil {
		if c.err == nil {
			c.err = err
		}
		return err
	}
	return nil
}

// Err is the first error of a flush that no statement's caller saw.
func (c *Combined) Err() error { return c.err }

// Renumber shifts the $n parameters of query by off.
func Renumber(query string, off int) string {
	if off == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + len(query)/8)
	for i := 0; i < len(query); i++ {
		ch := query[i]
		if ch != '$' || i+1 >= len(query) || query[i+1] < '0' || query[i+1] > '9' {
			b.WriteByte(ch)
			continue
		}
		j := i + 1
		n := 0
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			n = n*10 + int(query[j]-'0')
			j++
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n + off))
		i = j - 1
	}
	return b.String()
}
