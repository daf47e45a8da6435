package capture

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/store"
)

// combinedInserts is a PostgreSQL transaction's Querier that sends a run
// of INSERTs as one statement: each INSERT whose result nobody reads waits
// and goes out, as a data-modifying CTE, in front of the next INSERT (or
// alone before any other statement). A new contact's data key, record,
// values, double opt-in request and mail job are written by four packages'
// code, five statements one after the other on the connection; combined
// they are one round trip while the submission's batch holds the ledger.
//
// The CTEs of one statement run on one snapshot, so a statement that must
// see an earlier INSERT's row (other than through a foreign key, which is
// checked at the statement's end) must not be combined with it; the
// INSERTs of a new contact's sign-up read nothing back. An error of a
// combined statement is the error of the INSERT that carried it, and of
// everything queued before; Err reports one that no caller saw.
type combinedInserts struct {
	q       store.Querier
	pending []string
	args    []any
	err     error
}

// insertResult is what a deferred INSERT returns: its rows are not counted.
type insertResult struct{}

func (insertResult) LastInsertId() (int64, error) {
	return 0, errors.New("capture: a combined INSERT has no insert ID")
}
func (insertResult) RowsAffected() (int64, error) {
	return 0, errors.New("capture: a combined INSERT does not count its rows")
}

func combinable(query string) bool {
	return strings.HasPrefix(query, "INSERT INTO ")
}

// with is query prefixed with the pending INSERTs, and the arguments of
// all; query's parameters are numbered after theirs.
func (c *combinedInserts) with(query string, args []any) (string, []any) {
	if len(c.pending) == 0 {
		return query, args
	}
	query = renumber(query, len(c.args))
	all := append(c.args, args...)
	return c.prefix() + query, all
}

// prefix is the WITH clause of the pending INSERTs, which it clears.
func (c *combinedInserts) prefix() string {
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

func (c *combinedInserts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if combinable(query) && !strings.Contains(query, "RETURNING") {
		c.pending = append(c.pending, renumber(query, len(c.args)))
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

func (c *combinedInserts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if !combinable(query) {
		if err := c.Flush(ctx); err != nil {
			return nil, err
		}
	}
	query, args = c.with(query, args)
	return c.q.QueryContext(ctx, query, args...)
}

func (c *combinedInserts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if !combinable(query) {
		// A *sql.Row cannot carry the error: the aborted transaction fails
		// the query, and Err keeps the cause.
		_ = c.Flush(ctx)
	}
	query, args = c.with(query, args)
	return c.q.QueryRowContext(ctx, query, args...)
}

// Flush sends the pending INSERTs.
func (c *combinedInserts) Flush(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	// The last INSERT carries the others; its parameters are numbered
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
func (c *combinedInserts) Err() error { return c.err }

// renumber shifts the $n parameters of query by off.
func renumber(query string, off int) string {
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
