// Package store opens fairlead's database — embedded SQLite by default,
// PostgreSQL when FAIRLEAD_DATABASE_URL says so — applies the embedded
// migrations and hides the few dialect differences. Everything else in
// fairlead writes one SQL text with $n placeholders that both engines accept.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier is what both *sql.DB and *sql.Tx offer. Functions that must run
// inside the caller's transaction (the transactional outbox) take a Querier.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open fairlead database.
//
// On SQLite, writes go through a pool of exactly one connection and reads
// through a separate pool: with WAL this removes "database is locked" errors
// between writers while readers never wait for the writer.
// On PostgreSQL both fields are the same pool.
type DB struct {
	Dialect Dialect
	// W is for writes and read-modify-write transactions.
	W *sql.DB
	// R is for reads that need no transaction with a write.
	R *sql.DB

	trace  atomic.Pointer[func(query string)] // SetTrace
	pgPool *pgxpool.Pool
	path   string     // SQLite file, for backups
	stmts  *stmtCache // SQLite: statements prepared on W (TxCached)
	group  txGroup    // TxGrouped
	reads  *readCache // SQLite: statements prepared on R (QueryRead)
	ckpt   *checkpointer
}

// Options say where the database is.
type Options struct {
	// URL is a postgres:// or postgresql:// URL. Empty means SQLite.
	URL string
	// DataDir holds fairlead.db when URL is empty.
	DataDir string
	// MaxConns caps the PostgreSQL pool (default 10).
	MaxConns int32
}

// Open opens (and for SQLite creates) the database. It does not migrate.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.URL == "" {
		return openSQLite(ctx, o.DataDir)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("FAIRLEAD_DATABASE_URL must be a postgres:// URL (or empty for SQLite)")
	}
	return openPostgres(ctx, o)
}

func sqliteDSN(path string, readOnly bool) string {
	// busy_timeout must come first so the other pragmas already wait for locks.
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "synchronous(NORMAL)")
	v.Add("_pragma", "foreign_keys(ON)")
	v.Add("_pragma", "temp_store(MEMORY)")
	// Deleted rows are overwritten with zeros instead of lingering in free
	// pages, so an erased person's rows cannot be read back from the file.
	v.Add("_pragma", "secure_delete(ON)")
	v.Add("_time_format", "sqlite")
	if readOnly {
		v.Add("_pragma", "query_only(ON)")
		// 16 MiB of page cache per reader instead of SQLite's 2 MiB: an
		// audience of 450,000 contacts reads about 9 MB of permission
		// blocks, which then stay in the reader between resolutions
		// instead of coming back from the operating system page by page.
		// Four readers bound it to 64 MiB.
		v.Add("_pragma", "cache_size(-16384)")
	} else {
		// Deferred transactions that later write fail with SQLITE_BUSY
		// under concurrency; immediate ones queue on busy_timeout instead.
		v.Add("_txlock", "immediate")
	}
	return "file:" + path + "?" + v.Encode()
}

func openSQLite(ctx context.Context, dir string) (*DB, error) {
	if dir == "" {
		dir = "fairlead-data"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %q (set --data-dir or FAIRLEAD_DATA_DIR): %w", dir, err)
	}
	path := filepath.Join(dir, "fairlead.db")
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open SQLite %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open SQLite database %q (set --data-dir or FAIRLEAD_DATA_DIR): %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open SQLite %q: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	// As many idle as open: with more readers than two at once, every
	// query past the second opened a connection (and ran the pragmas) anew.
	r.SetMaxIdleConns(4)
	r.SetConnMaxIdleTime(5 * time.Minute)
	ckpt, err := startCheckpointer(ctx, w, r)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open SQLite %q: %w", path, err)
	}
	return &DB{Dialect: SQLite, W: w, R: r, path: path, stmts: newStmtCache(), reads: &readCache{stmts: map[string]*sql.Stmt{}}, ckpt: ckpt}, nil
}

func openPostgres(ctx context.Context, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("parse FAIRLEAD_DATABASE_URL: %s", redactPGError(err))
	}
	cfg.MaxConns = 10
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	// Every session works in UTC so timestamps read back the same on both engines.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (check FAIRLEAD_DATABASE_URL): %s", redactPGError(err))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s (check FAIRLEAD_DATABASE_URL): %s", cfg.ConnConfig.Host, redactPGError(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	return &DB{Dialect: Postgres, W: db, R: db, pgPool: pool}, nil
}

// redactPGError keeps passwords out of messages; pgx can echo the DSN.
func redactPGError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "password="); i >= 0 {
		j := strings.IndexAny(s[i:], " )")
		if j < 0 {
			j = len(s) - i
		}
		s = s[:i] + "password=xxxxx" + s[i+j:]
	}
	// pgx lists one line per address tried; operators get one line.
	s = strings.ReplaceAll(s, "\n\t", "; ")
	return strings.ReplaceAll(s, "\n", "; ")
}

// Close closes all pools.
func (db *DB) Close() error {
	var errs []error
	db.ckpt.stop()
	if db.stmts != nil {
		db.stmts.close()
	}
	if db.reads != nil {
		db.reads.close()
	}
	if db.R != nil && db.R != db.W {
		errs = append(errs, db.R.Close())
	}
	if db.W != nil {
		errs = append(errs, db.W.Close())
	}
	if db.pgPool != nil {
		db.pgPool.Close()
	}
	return errors.Join(errs...)
}

// Path is the SQLite file ("" on PostgreSQL).
func (db *DB) Path() string { return db.path }

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.R.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx is the transaction handed to the function given to DB.Tx.
type Tx = *sql.Tx

// Tx runs fn in a write transaction and commits if fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(tx Tx) error) error {
	if db.stmts != nil {
		// What the transaction's StmtCache (or TxCached) asked for is
		// prepared once the write connection is free again.
		defer db.stmts.prepareWanted(context.WithoutCancel(ctx), db.W)
	}
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Also when fn panics (or a test's Fatal ends its goroutine): the
	// write connection must be free before the statements above are
	// prepared on it. After a commit it does nothing.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.ckpt.request()
	return nil
}

// Backup writes a consistent copy of the SQLite database to path (which
// must not exist) while others keep writing. VACUUM INTO reads one snapshot
// in a read transaction; it runs on a connection of its own because the
// read pool is query-only and the write pool must stay free for writers.
//
// Each scrub function then runs, in one transaction, on the copy (to take
// out what must not be in a backup), and the copy is vacuumed again, so no
// free page keeps what they removed. The copy is built beside path and
// renamed into place only when complete: a file at path is always a whole
// backup.
func (db *DB) Backup(ctx context.Context, path string, scrub ...func(ctx context.Context, q Querier) error) error {
	if db.Dialect != SQLite {
		return errors.New("backup copies the embedded SQLite database; use pg_dump for PostgreSQL")
	}
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	c, err := sql.Open("sqlite", "file:"+db.path+"?"+v.Encode())
	if err != nil {
		return err
	}
	defer c.Close()
	// Reserve the name exclusively, then build the copy beside it. Files are
	// created owner-only first: VACUUM INTO would make them world-readable,
	// and the copy holds everything the database does.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	f.Close()
	partial := path + ".partial"
	fail := func(err error) error {
		os.Remove(partial)
		os.Remove(path)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	os.Remove(partial)
	pf, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(err)
	}
	pf.Close()
	if _, err := c.ExecContext(ctx, `VACUUM INTO $1`, partial); err != nil {
		return fail(err)
	}
	if len(scrub) > 0 {
		if err := scrubCopy(ctx, partial, scrub); err != nil {
			return fail(err)
		}
	}
	if err := syncFile(partial); err != nil {
		return fail(err)
	}
	if err := os.Rename(partial, path); err != nil {
		return fail(err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// scrubCopy runs the scrub functions on a backup copy and vacuums it. The
// rollback journal stays in memory and temporary tables too, so what the
// scrub removes never reaches another file on disk.
func scrubCopy(ctx context.Context, path string, scrub []func(ctx context.Context, q Querier) error) error {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "journal_mode(MEMORY)")
	v.Add("_pragma", "temp_store(MEMORY)")
	v.Add("_pragma", "secure_delete(ON)")
	v.Add("_pragma", "foreign_keys(ON)")
	v.Add("_time_format", "sqlite")
	c, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, fn := range scrub {
		if err := fn(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum the copy: %w", err)
	}
	return c.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// PoolStats reports connection pool figures for /metrics.
func (db *DB) PoolStats() (write, read sql.DBStats) {
	return db.W.Stats(), db.R.Stats()
}

// ErrNotFound means no row matched (in this workspace).
var ErrNotFound = errors.New("not found")

// ErrConflict means a uniqueness rule rejected the write.
var ErrConflict = errors.New("conflict")

// MapError turns driver errors into fairlead's sentinels at the boundary, so
// domain packages never look at SQLite or PostgreSQL error codes.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// Strings runs a query that returns one text column (IDs, mostly) and
// collects it.
func Strings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Values is the VALUES list of a multi-row INSERT: rows groups of cols
// parameters. SQLite gets anonymous ? parameters, because the driver looks
// every $n up by name in a list, which makes binding a statement of
// thousands of parameters quadratic; PostgreSQL gets $1, $2, ….
func Values(d Dialect, rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * cols * 5)
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := 0; j < cols; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			if d == SQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(i*cols + j + 1))
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}
