package capture

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

// The decoded settings are kept, but the row is read every time: a
// change made elsewhere (another process, here another store on the same
// database) is in force at the next read, secrets included.
func TestSettingsChangedElsewhereAreSeenAtOnce(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := id.New()
		if _, err := db.W.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, ws, "acme", "Acme", time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		keys, err := keyring.New(db, bytes.Repeat([]byte{5}, keyring.KeySize), nil)
		if err != nil {
			t.Fatal(err)
		}
		here := NewSettingsStore(db, keys, Defaults{PublicURL: "https://default.example"}, nil)
		there := NewSettingsStore(db, keys, Defaults{}, nil)
		e, err := here.Effective(ctx, ws)
		if err != nil || e.DOIDays != defaultDOIDays || e.PublicURL != "https://default.example" {
			t.Fatalf("defaults: %+v %v", e, err)
		}
		for i, up := range []SettingsUpdate{
			{DOIDays: new(3), RecordIP: new(true), Imprint: map[string]string{"de": "Acme GmbH"}},
			{DOIDays: new(9), SMTPURL: new("smtp://u:p@mail.example:587")},
			{RecordIP: new(false), SMTPURL: new("")},
		} {
			if _, err := there.Update(ctx, ws, up, nil); err != nil {
				t.Fatal(err)
			}
			want, err := there.Effective(ctx, ws)
			if err != nil {
				t.Fatal(err)
			}
			got, err := here.Effective(ctx, ws)
			if err != nil {
				t.Fatal(err)
			}
			if got.DOIDays != want.DOIDays || got.RecordIP != want.RecordIP || got.SMTPURL != want.SMTPURL || got.Imprint["de"] != "Acme GmbH" {
				t.Fatalf("change %d: kept settings %+v, in force %+v", i, got, want)
			}
			// A caller changing what it got changes nothing kept.
			got.Imprint["de"] = "changed"
			if again, _ := here.Effective(ctx, ws); again.Imprint["de"] != "Acme GmbH" {
				t.Fatalf("change %d: the kept imprint was changed through a copy", i)
			}
		}
	})
}
