package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// maxCachedStmts bounds the statement cache: SQL texts are constants or
// built from a few fixed pieces, so a handful of hundreds covers them all,
// and a text built from data must not grow the cache without end.
const maxCachedStmts = 512

// stmtCache keeps statements prepared on the SQLite write connection.
// modernc.org/sqlite parses a statement on every Exec and Query, which is
// a quarter of the CPU of a form submission; pgx caches prepared
// statements per connection by itself, so PostgreSQL needs none of this.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	// want are texts seen inside a transaction but not yet prepared: the
	// only write connection is busy then, so they are prepared after it.
	want map[string]bool
	// failed are texts that could not be prepared alone; they run unprepared.
	failed map[string]bool
	// seen are texts bulk writers' transactions ran (StmtCache) that are
	// not prepared here: a text is wanted once a second transaction runs
	// it, so the one-off texts of a bulk (the last, shorter part of a
	// multi-row INSERT) do not fill the cache and take the write
	// connection's time to prepare.
	seen map[string]bool
}

// maxSeen bounds seen; when it is full it starts over.
const maxSeen = 256

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[string]*sql.Stmt{}, want: map[string]bool{}, failed: map[string]bool{}, seen: map[string]bool{}}
}

// reuse returns the statement prepared for query, if there is one; a text
// a bulk writer runs in a second transaction is prepared after it.
func (c *stmtCache) reuse(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if c.failed[query] || c.want[query] || len(c.stmts)+len(c.want) >= maxCachedStmts {
		return nil
	}
	if c.seen[query] {
		delete(c.seen, query)
		c.want[query] = true
		return nil
	}
	if len(c.seen) >= maxSeen {
		clear(c.seen)
	}
	c.seen[query] = true
	return nil
}

func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.stmts[query]
	if !ok && !c.failed[query] && len(c.stmts)+len(c.want) < maxCachedStmts {
		c.want[query] = true
	}
	return s
}

// prepareWanted prepares the texts seen since the last call; it runs
// outside any transaction, when the write connection is free.
func (c *stmtCache) prepareWanted(ctx context.Context, w *sql.DB) {
	c.mu.Lock()
	if len(c.want) == 0 {
		c.mu.Unlock()
		return
	}
	want := c.want
	c.want = map[string]bool{}
	c.mu.Unlock()
	for q := range want {
		s, err := w.PrepareContext(ctx, q)
		c.mu.Lock()
		switch {
		case err != nil:
			c.failed[q] = true
		case c.stmts[q] != nil:
			s.Close()
		default:
			c.stmts[q] = s
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}

// cachedTx runs a transaction's statements through the cache.
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.c.get(query); s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.c.get(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.c.get(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// TxCached is Tx for hot write paths: fn gets a Querier that reuses
// statements prepared once on SQLite's write connection (on PostgreSQL it
// is the plain transaction). Everything fn does must go through q.
func (db *DB) TxCached(ctx context.Context, fn func(q Querier) error) error {
	if db.stmts == nil {
		return db.Tx(ctx, func(tx Tx) error { return fn(db.traced(tx)) })
	}
	return db.Tx(ctx, func(tx Tx) error { return fn(db.traced(cachedTx{tx: tx, c: db.stmts})) })
}

// Savepoint runs fn inside a savepoint of the transaction q, so that its
// failure undoes only its own writes and the transaction goes on.
func Savepoint(ctx context.Context, q Querier, name string, fn func() error) error {
	if _, err := q.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := q.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint failed: %v)", err, rerr)
		}
		// SQLite keeps a rolled-back savepoint open until it is released.
		_, _ = q.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
		return err
	}
	if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// SetTrace has fn told of every statement that later TxCached
// transactions run (nil: none): benchmarks and tests count the statements
// of a hot path with it.
func (db *DB) SetTrace(fn func(query string)) {
	if fn == nil {
		db.trace.Store(nil)
		return
	}
	db.trace.Store(&fn)
}

func (db *DB) traced(q Querier) Querier {
	fn := db.trace.Load()
	if fn == nil {
		return q
	}
	return tracedQuerier{q: q, trace: *fn}
}

type tracedQuerier struct {
	q     Querier
	trace func(string)
}

func (t tracedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.trace(query)
	return t.q.ExecContext(ctx, query, args...)
}

func (t tracedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.trace(query)
	return t.q.QueryContext(ctx, query, args...)
}

func (t tracedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	t.trace(query)
	return t.q.QueryRowContext(ctx, query, args...)
}

// readCache keeps statements prepared on SQLite's read pool: a hot read
// whose text repeats (IN lists padded to a few lengths) is parsed once per
// reader instead of on every call.
type readCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// QueryRead runs a read on the read pool, on SQLite as a statement
// prepared once (up to maxCachedStmts texts; past that, unprepared). Use
// it for texts built from a few fixed pieces, never from data.
func (db *DB) QueryRead(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if db.reads == nil {
		return db.R.QueryContext(ctx, query, args...)
	}
	c := db.reads
	c.mu.Lock()
	s, ok := c.stmts[query]
	c.mu.Unlock()
	if !ok {
		c.mu.Lock()
		full := len(c.stmts) >= maxCachedStmts
		c.mu.Unlock()
		if full {
			return db.R.QueryContext(ctx, query, args...)
		}
		p, err := db.R.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if s = c.stmts[query]; s == nil {
			c.stmts[query], s = p, p
		} else {
			p.Close()
		}
		c.mu.Unlock()
	}
	return s.QueryContext(ctx, args...)
}

func (c *readCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}
