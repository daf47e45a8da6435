// Package testdb gives tests real, migrated, throwaway databases: a fresh
// SQLite file per test, and a fresh PostgreSQL database per test copied from a
// migrated template on a PostgreSQL server that this package starts itself
// (initdb + pg_ctl into a temp dir, listening on a free loopback port).
//
// Packages that use it call testdb.Main from TestMain so the server is
// stopped when the package's tests end.
package testdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/store"
)

// Main runs the tests of a package and stops the PostgreSQL server if one
// was started. Use it as: func TestMain(m *testing.M) { testdb.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	stopServer()
	os.Exit(code)
}

// Backends lists the engines every store test runs against.
var Backends = []store.Dialect{store.SQLite, store.Postgres}

// Each runs fn as a subtest once per backend, each with its own fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Backends {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a migrated database of dialect d that is dropped when t ends.
// PostgreSQL tests are skipped when no PostgreSQL binaries exist, except in
// CI (CI=true), where that is a failure: the PostgreSQL half must not vanish
// silently.
func Open(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	ctx := context.Background()
	var o store.Options
	switch d {
	case store.SQLite:
		o.DataDir = t.TempDir()
	case store.Postgres:
		o.URL = NewPostgresURL(t)
		o.MaxConns = 8
	default:
		t.Fatalf("unknown dialect %q", d)
	}
	db, err := store.Open(ctx, o)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if d == store.SQLite {
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	return db
}

var dbSeq atomic.Int64

// mayskip says whether a test may skip its PostgreSQL half after err: only
// when the machine has no server to start and none is required. A server
// that started but failed the migrations is a broken schema, which a skip
// would report as a pass.
func mayskip(err error, required bool) bool {
	var se *schemaError
	return !required && !errors.As(err, &se)
}

// NewPostgresURL creates a fresh, migrated PostgreSQL database and returns
// its URL (for tests that start fairlead processes against it).
func NewPostgresURL(t testing.TB) string {
	t.Helper()
	srv, err := server()
	if err != nil {
		if !mayskip(err, os.Getenv("CI") == "true" || os.Getenv("FAIRLEAD_REQUIRE_POSTGRES") == "1") {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL not available (install Debian's postgresql package): %v", err)
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := srv.createDB(name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { srv.dropDB(name) })
	return srv.url(name)
}

var (
	srvOnce sync.Once
	srv     *pgServer
	srvErr  error
)

func server() (*pgServer, error) {
	srvOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, srvErr = startServer(ctx)
	})
	return srv, srvErr
}

func stopServer() {
	if srv != nil {
		srv.stop()
	}
}

// MigrationSQL is the text of migration version v for db's dialect, for
// tests that build an older schema step by step and fill it before the
// migration under test runs.
func MigrationSQL(t testing.TB, db *store.DB, v int) string {
	t.Helper()
	ms, err := store.Migrations(db.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version == v {
			return m.SQL
		}
	}
	t.Fatalf("no migration %d", v)
	return ""
}

// Rows are the rows the queries return (each run with args), each as one
// line of its columns and values (store.RowMaps: text as text, times in
// UTC), in query order: tests compare what two ways of writing, or a write
// and its refusal, left stored, or look for what must not be stored.
func Rows(t testing.TB, db *store.DB, args []any, queries ...string) []string {
	t.Helper()
	var out []string
	for _, query := range queries {
		ms, err := store.RowMaps(context.Background(), db.R, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out = append(out, fmt.Sprint(m))
		}
	}
	return out
}

// QueryPlan is SQLite's EXPLAIN QUERY PLAN of q with args, its steps
// joined by " | ": tests check that a query reads the index it was built
// for.
func QueryPlan(t testing.TB, db *store.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.R.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var a, b, c int
		var detail string
		if err := rows.Scan(&a, &b, &c, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(steps, " | ")
}

// HoldWriter takes db's grouped writer (TxGrouped) and keeps it until the
// returned func is called, so the writes a test starts meanwhile queue
// behind it; the func returns the held call's error.
func HoldWriter(t testing.TB, db *store.DB) (release func() error) {
	t.Helper()
	rel, started, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- db.TxGrouped(context.Background(), func(store.Querier) error { close(started); <-rel; return nil })
	}()
	<-started
	return func() error { close(rel); return <-held }
}
