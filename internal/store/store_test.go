package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
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

// TestPermissionStateCarriedOver runs migrations 0008, 0009 and 0020 over
// a permission state in 0004's tables: every grant and mark must arrive, a
// mark with a recheck time either exactly (PostgreSQL) or as stale
// (SQLite), each grant with its contact's profile, packed into blocks and
// listed in its contact's mark.
func TestPermissionStateCarriedOver(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sqlOf := func(v int) string { return testdb.MigrationSQL(t, db, v) }
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.W.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		ws, c1, c2 := id.New(), id.New(), id.New()
		exec(`INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, ws, "carry", "Carry", time.Now().UTC())
		// Back to 0004's tables, with a state in them.
		for _, tbl := range []string{"permission_blocks", "permission_checks", "permission_slots", "permission_spaces"} {
			exec(`DROP TABLE ` + tbl)
		}
		exec(sqlOf(4))
		for _, g := range [][3]string{{"newsletter", "email", c1}, {"newsletter", "email", c2}, {"newsletter", "post", c2}} {
			exec(`INSERT INTO permission_allowed (workspace_id, purpose_key, channel, contact_id) VALUES ($1, $2, $3, $4)`, ws, g[0], g[1], g[2])
		}
		recheck := time.Date(2027, 3, 1, 12, 30, 0, 123456000, time.UTC)
		exec(`INSERT INTO permission_marks (workspace_id, contact_id, computed_at, recheck_at, catalog) VALUES ($1, $2, $3, NULL, 2), ($1, $4, $3, $5, 2)`, ws, c1, time.Now().UTC(), c2, recheck)
		exec(sqlOf(8))
		// 0009 gives each grant its contact's profile.
		exec(`INSERT INTO contacts (id, workspace_id, audience, relationship, data_source, sealed, created_at, updated_at) VALUES ($1, $2, 'b2b', 'customer', 'self_provided', $3, $4, $4), ($5, $2, 'b2c', 'prospect', 'third_party', $3, $4, $4)`,
			c1, ws, []byte{1}, time.Now().UTC(), c2)
		exec(sqlOf(9))
		exec(sqlOf(20))

		rows, err := db.R.QueryContext(ctx, `SELECT s.purpose_key, s.channel, b.lo, b.entries FROM permission_blocks b JOIN permission_slots s ON s.slot = b.slot
			WHERE s.workspace_id = $1 ORDER BY s.purpose_key, s.channel, b.lo`, ws)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var p, ch string
			var lo, e []byte
			if err := rows.Scan(&p, &ch, &lo, &e); err != nil {
				t.Fatal(err)
			}
			n := len(e) / 17
			if len(e) != n*17 || !bytes.Equal(lo, e[:16]) {
				t.Fatalf("block %x of %d bytes", lo, len(e))
			}
			for i := 0; i < n; i++ {
				got = append(got, fmt.Sprintf("%s/%s/%s/%d", p, ch, key(e[i*16:(i+1)*16]), e[n*16+i]))
			}
		}
		rows.Close()
		plain := func(s string) string { return strings.ReplaceAll(s, "-", "") }
		// c1 is b2b (2), customer (8), self-provided (32); c2 b2c (1), prospect (4), third party (64).
		prof := map[string]int{c1: 42, c2: 69}
		first, second := min(c1, c2), max(c1, c2)
		want := []string{fmt.Sprintf("newsletter/email/%s/%d", plain(first), prof[first]), fmt.Sprintf("newsletter/email/%s/%d", plain(second), prof[second]), fmt.Sprintf("newsletter/post/%s/69", plain(c2))}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("grants after 0005:\n got %v\nwant %v", got, want)
		}

		marks := map[string][2]any{}
		granted := map[string]string{}
		rows, err = db.R.QueryContext(ctx, `SELECT m.contact_id, m.catalog, m.recheck_at, coalesce(m.granted, ''), m.profile FROM permission_checks m JOIN permission_spaces p ON p.space = m.space WHERE p.workspace_id = $1`, ws)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c []byte
			var catalog int
			var at *int64
			var g string
			var profile int
			if err := rows.Scan(&c, &catalog, &at, &g, &profile); err != nil {
				t.Fatal(err)
			}
			granted[key(c)] = fmt.Sprintf("%d slots, profile %d", len(strings.Split(g, ",")), profile)
			var v any
			if at != nil {
				v = *at
			}
			marks[key(c)] = [2]any{catalog, v}
		}
		rows.Close()
		wantC2 := [2]any{-1, nil}
		if db.Dialect == store.Postgres {
			wantC2 = [2]any{2, recheck.UnixMicro()}
		}
		if len(marks) != 2 || marks[plain(c1)] != [2]any{2, nil} || marks[plain(c2)] != wantC2 {
			t.Fatalf("marks after 0005: %v (want c1 %v, c2 %v)", marks, [2]any{2, nil}, wantC2)
		}
		if granted[plain(c1)] != "1 slots, profile 42" || granted[plain(c2)] != "2 slots, profile 69" {
			t.Fatalf("marks' grants after 0020: %v", granted)
		}
	})
}

// key is a contact key as read back: 16 bytes on SQLite, UUID text on
// PostgreSQL; both as 32 hex digits.
func key(b []byte) string {
	if len(b) == 16 {
		return hex.EncodeToString(b)
	}
	return strings.ReplaceAll(string(b), "-", "")
}
