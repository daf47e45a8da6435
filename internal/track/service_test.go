package track

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

func testService(t *testing.T, db *store.DB, now *time.Time) *Service {
	t.Helper()
	keys, err := keyring.New(db, bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return *now }
	return &Service{DB: db, Store: NewStore(db, clock), Pseudonyms: NewPseudonyms(db, keys, clock), Signer: keys, Now: clock}
}

func pseudonymsOf(t *testing.T, db *store.DB, ws string) map[string]int64 {
	t.Helper()
	rows, err := db.R.Query(`SELECT pseudonym, period FROM track_pseudonymous WHERE workspace_id = $1`, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		out[p] = n
	}
	return out
}

func periodKeyRow(t *testing.T, db *store.DB, ws string) (int64, []byte) {
	t.Helper()
	var period int64
	var sealed []byte
	if err := db.R.QueryRow(`SELECT period, sealed FROM track_period_keys WHERE workspace_id = $1`, ws).Scan(&period, &sealed); err != nil {
		t.Fatal(err)
	}
	return period, sealed
}

// TestPseudonymRotation: within a period one visitor has one pseudonym; the
// next period gives another, the old key is gone from the table, and rows
// older than the previous period are deleted.
func TestPseudonymRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		s := testService(t, db, &now)
		ws := newWorkspace(t, db)
		on, days := true, 7
		if _, err := s.Pseudonyms.UpdateSettings(ctx, ws, SettingsUpdate{Pseudonymous: &on, RotationDays: &days}); err != nil {
			t.Fatal(err)
		}
		ev := func(name string) []Incoming {
			return []Incoming{{Type: "page_view", Name: name, Signal: "203.0.113.9\x00agent"}}
		}
		for _, n := range []string{"/a", "/b"} {
			out, err := s.Ingest(ctx, ws, ev(n))
			if err != nil || out.Pseudonymous != 1 {
				t.Fatalf("ingest: %+v %v", out, err)
			}
		}
		first := pseudonymsOf(t, db, ws)
		if len(first) != 1 {
			t.Fatalf("one visitor, one period: %v", first)
		}
		p1, sealed1 := periodKeyRow(t, db, ws)
		if p1 != Period(now, days) {
			t.Fatalf("period %d, want %d", p1, Period(now, days))
		}

		now = now.Add(7 * 24 * time.Hour)
		if _, err := s.Ingest(ctx, ws, ev("/c")); err != nil {
			t.Fatal(err)
		}
		second := pseudonymsOf(t, db, ws)
		if len(second) != 2 {
			t.Fatalf("a new period must give a new pseudonym: %v", second)
		}
		p2, sealed2 := periodKeyRow(t, db, ws)
		if p2 != p1+1 || bytes.Equal(sealed1, sealed2) {
			t.Fatalf("the period key did not rotate: %d -> %d", p1, p2)
		}
		var keys int
		if err := db.R.QueryRow(`SELECT count(*) FROM track_period_keys WHERE workspace_id = $1`, ws).Scan(&keys); err != nil || keys != 1 {
			t.Fatalf("period keys kept: %d %v", keys, err)
		}
		// Forgetting the signal now reaches only the current period: the
		// old pseudonym cannot be computed any more.
		n, err := s.Pseudonyms.Forget(ctx, nil, ws, "203.0.113.9\x00agent")
		if err != nil || n != 1 {
			t.Fatalf("forget: %d %v", n, err)
		}
		if left := pseudonymsOf(t, db, ws); len(left) != 1 {
			t.Fatalf("left after forgetting: %v", left)
		}

		// Two periods on, the oldest rows go with the rotation. The first
		// event of the period is a GPC one: the rotation it causes runs
		// before the batch's transaction (on SQLite, inside it would wait
		// for the one writer it holds).
		now = now.Add(7 * 24 * time.Hour)
		out, err := s.Ingest(ctx, ws, []Incoming{{Type: "page_view", Name: "/gpc", Signal: "203.0.113.9\x00agent", GPC: true}})
		if err != nil || out.Anonymous != 1 || out.Pseudonymous != 0 {
			t.Fatalf("gpc event: %+v %v", out, err)
		}
		if p3, _ := periodKeyRow(t, db, ws); p3 != p2+1 {
			t.Fatalf("the GPC event did not rotate the key: %d", p3)
		}
		if _, err := s.Ingest(ctx, ws, ev("/d")); err != nil {
			t.Fatal(err)
		}
		for p, period := range pseudonymsOf(t, db, ws) {
			if period < p2 {
				t.Fatalf("row of period %d kept (%s)", period, p)
			}
		}
	})
}

func TestVisitorToken(t *testing.T) {
	keys, err := keyring.New(nil, bytes.Repeat([]byte{9}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, c := id.New(), id.New()
	now := time.Now()
	tok, err := SignVisitor(keys, ws, c, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	gw, gc, err := ParseVisitor(keys, tok, now)
	if err != nil || gw != ws || gc != c {
		t.Fatalf("parse: %s %s %v", gw, gc, err)
	}
	if _, _, err := ParseVisitor(keys, tok, now.Add(2*time.Hour)); err != ErrVisitorToken {
		t.Fatalf("expired token: %v", err)
	}
	forged := []byte(tok)
	forged[5] ^= 1
	if _, _, err := ParseVisitor(keys, string(forged), now); err != ErrVisitorToken {
		t.Fatalf("forged token: %v", err)
	}
	other, _ := keyring.New(nil, bytes.Repeat([]byte{8}, 32), nil)
	if _, _, err := ParseVisitor(other, tok, now); err != ErrVisitorToken {
		t.Fatalf("token under another master key: %v", err)
	}
}
