package keyring

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

var (
	k1 = bytes.Repeat([]byte{1}, KeySize)
	k2 = bytes.Repeat([]byte{2}, KeySize)
	k3 = bytes.Repeat([]byte{3}, KeySize)
)

// fingerprint is what must never change across a rotation: the blind
// index, a link MAC and a sealed workspace secret.
func fingerprint(t *testing.T, k *Keyring, sealedSecret []byte) string {
	t.Helper()
	const ws = "01900000-0000-7000-8000-000000000001"
	pt, err := k.OpenSecret(ws, "smtp_url", sealedSecret)
	if err != nil {
		t.Fatalf("open secret: %v", err)
	}
	return k.Index("email", "anna@example.com") + " " + string(k.MAC("doi", []byte("x"))) + " " + string(pt)
}

// TestDerivedKeysAreStoredAndSurviveRotation: the derived keys are those of
// the pure derivation on first use, stay the same under a new master key,
// and a rotation leaves nothing under the old one.
func TestDerivedKeysAreStoredAndSurviveRotation(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, _ := workspace.Create(ctx, db.W, "a", "A", time.Now())
		pure, _ := New(nil, k1, nil)
		a, err := New(db, k1, nil)
		if err != nil {
			t.Fatal(err)
		}
		secret, _ := a.SealSecret("01900000-0000-7000-8000-000000000001", "smtp_url", []byte("smtp://u:p@h"))
		want := fingerprint(t, pure, secret)
		if got := fingerprint(t, a, secret); got != want {
			t.Fatal("stored keys differ from the derivation used before they were stored")
		}
		var ids []string
		sealed := map[string][]byte{}
		for i := 0; i < 7; i++ {
			c := id.New()
			if err := a.CreateKey(ctx, ws.ID, c); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c)
			sealed[c] = mustSeal(t, a, ws.ID, c)
		}
		// One erased person; one key written before key IDs were recorded.
		if err := a.Shred(ctx, db.W, ws.ID, ids[0]); err != nil {
			t.Fatal(err)
		}
		forgetKeyID := func(c string) {
			if _, err := db.W.ExecContext(ctx, `UPDATE contact_keys SET key_id = NULL WHERE workspace_id = $1 AND contact_id = $2`, ws.ID, c); err != nil {
				t.Fatal(err)
			}
		}
		forgetKeyID(ids[1])

		// K2 current, K1 previous: everything still opens, nothing changes.
		b, err := Open(ctx, db, Options{Master: k2, Previous: k1})
		if err != nil {
			t.Fatal(err)
		}
		if got := fingerprint(t, b, secret); got != want {
			t.Fatal("derived keys changed with the master key")
		}
		// A contact created during the rotation is wrapped under K2 already.
		fresh := id.New()
		if err := b.CreateKey(ctx, ws.ID, fresh); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fresh)
		sealed[fresh] = mustSeal(t, b, ws.ID, fresh)
		forgetKeyID(fresh)
		for _, c := range ids[1:] {
			if _, err := b.Open(ctx, ws.ID, c, sealed[c]); err != nil {
				t.Fatalf("open %s during rotation: %v", c, err)
			}
		}

		var batches int
		rep, err := b.Rotate(ctx, 2, func(RotateReport) { batches++ })
		if err != nil {
			t.Fatal(err)
		}
		// Six under K1 (one without a recorded key ID), one under K2
		// without one: seven rows to look at, in batches of two.
		wantRep := RotateReport{Rewrapped: 6, Current: 1, Shredded: 1, Derived: 3}
		if rep != wantRep || batches != 4 {
			t.Fatalf("rotate: %+v in %d batches, want %+v in 4", rep, batches, wantRep)
		}
		// Idempotent: a second run finds nothing left.
		if rep, err := b.Rotate(ctx, 2, nil); err != nil || rep != (RotateReport{Current: 7, Shredded: 1}) {
			t.Fatalf("second rotate: %+v %v", rep, err)
		}

		// K2 alone reads everything.
		c2, err := Open(ctx, db, Options{Master: k2})
		if err != nil {
			t.Fatal(err)
		}
		if got := fingerprint(t, c2, secret); got != want {
			t.Fatal("derived keys changed after the rotation")
		}
		for _, c := range ids[1:] {
			if _, err := c2.Open(ctx, ws.ID, c, sealed[c]); err != nil {
				t.Fatalf("open %s with K2 alone: %v", c, err)
			}
		}
		if _, err := c2.Open(ctx, ws.ID, ids[0], sealed[ids[0]]); !errors.Is(err, ErrShredded) {
			t.Fatalf("shredded key after rotation: %v", err)
		}
		// K1 alone opens nothing: the keys were rewrapped, not copied.
		if _, err := Open(ctx, db, Options{Master: k1}); err == nil || !strings.Contains(err.Error(), "does not open") {
			t.Fatalf("K1 alone: %v", err)
		}
		old := *c2
		old.wraps = []wrapKey{mustWrapKey(t, k1)}
		for _, c := range ids[1:] {
			if _, err := old.Open(ctx, ws.ID, c, sealed[c]); err == nil {
				t.Fatalf("contact key %s still opens under K1", c)
			}
		}
	})
}

// TestFirstDerivationUsesTheKeyOfTheData: an installation that never stored
// its derived keys and starts straight into a rotation derives them from the
// previous key (the one its data was written with); a wrong key is refused
// instead of deriving keys that would invalidate every index.
func TestFirstDerivationUsesTheKeyOfTheData(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, _ := workspace.Create(ctx, db.W, "a", "A", time.Now())
		a, err := New(db, k1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.CreateKey(ctx, ws.ID, id.New()); err != nil {
			t.Fatal(err)
		}
		// As if written by a release that derived on every start.
		if _, err := db.W.ExecContext(ctx, `DELETE FROM keyring_keys`); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, db, Options{Master: k3}); err == nil || !strings.Contains(err.Error(), "another master key") {
			t.Fatalf("wrong key: %v", err)
		}
		var n int
		db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM keyring_keys`).Scan(&n)
		if n != 0 {
			t.Fatalf("a refused key stored %d derived keys", n)
		}
		b, err := Open(ctx, db, Options{Master: k2, Previous: k1})
		if err != nil {
			t.Fatal(err)
		}
		pure, _ := New(nil, k1, nil)
		if b.Index("email", "x@example.com") != pure.Index("email", "x@example.com") {
			t.Fatal("derived from the new key, not from the key of the data")
		}
		if b.KeyID() != KeyID(k2) || KeyID(k1) == KeyID(k2) || len(KeyID(k1)) != 16 {
			t.Fatalf("key IDs: %s %s %s", b.KeyID(), KeyID(k1), KeyID(k2))
		}
	})
}
