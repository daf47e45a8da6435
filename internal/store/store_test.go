package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestMigrationsInStep(t *testing.T) {
	t.Parallel()
	a, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Migrations(store.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Version != b[i].Version || a[i].Name != b[i].Name {
			t.Errorf("step %d: sqlite %04d_%s, postgres %04d_%s", i, a[i].Version, a[i].Name, b[i].Version, b[i].Name)
		}
		if a[i].Version != i+1 {
			t.Errorf("step %d has version %d: versions must be 1..n without gaps", i, a[i].Version)
		}
	}
}

func TestRoundTripAndErrors(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Migrating again is a no-op.
		n, err := db.Migrate(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second migrate: applied %d, err %v", n, err)
		}
		ws := id.New()
		now := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
		if _, err := db.W.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, ws, "acme", "ACME", now); err != nil {
			t.Fatal(err)
		}
		var gotID, slug string
		var created time.Time
		if err := db.R.QueryRowContext(ctx, `SELECT id, slug, created_at FROM workspaces WHERE id = $1`, ws).Scan(&gotID, &slug, &created); err != nil {
			t.Fatal(err)
		}
		if gotID != ws || slug != "acme" || !created.Equal(now) {
			t.Fatalf("read back %s %s %s, want %s acme %s", gotID, slug, created, ws, now)
		}
		_, err = db.W.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, id.New(), "acme", "dup", now)
		if !errors.Is(store.MapError(err), store.ErrConflict) {
			t.Fatalf("duplicate slug: got %v, want ErrConflict", err)
		}
		err = db.R.QueryRowContext(ctx, `SELECT id FROM workspaces WHERE slug = $1`, "nope").Scan(&gotID)
		if !errors.Is(store.MapError(err), store.ErrNotFound) {
			t.Fatalf("missing row: got %v, want ErrNotFound", err)
		}
		// A failed transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, id.New(), "rolled", "x", now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v", err)
		}
		var c int
		db.R.QueryRowContext(ctx, `SELECT count(*) FROM workspaces WHERE slug = 'rolled'`).Scan(&c)
		if c != 0 {
			t.Fatal("rolled-back insert is visible")
		}
	})
}

func TestOpenErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := store.Open(ctx, store.Options{URL: "mysql://x"})
	if err == nil || !contains(err.Error(), "FAIRLEAD_DATABASE_URL") {
		t.Fatalf("bad URL: %v", err)
	}
	_, err = store.Open(ctx, store.Options{URL: "postgres://nobody:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})
	if err == nil || !contains(err.Error(), "FAIRLEAD_DATABASE_URL") || contains(err.Error(), "secret") {
		t.Fatalf("unreachable PostgreSQL: %v", err)
	}
	_, err = store.Open(ctx, store.Options{DataDir: "/proc/fairlead-cannot-create"})
	if err == nil || !contains(err.Error(), "FAIRLEAD_DATA_DIR") {
		t.Fatalf("bad data dir: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
