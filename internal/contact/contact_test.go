package contact

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestContactStore(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, _ := workspace.Create(ctx, db.W, "a", "A", time.Now())
		other, _ := workspace.Create(ctx, db.W, "b", "B", time.Now())
		keys, _ := keyring.New(db, bytes.Repeat([]byte{5}, keyring.KeySize), nil)
		s := NewStore(db, keys, nil)
		c, err := s.Create(ctx, ws.ID, Input{FirstName: " Anna ", Email: "Anna@Example.com", Phone: "+49 171 1234567", Audience: "b2c", Relationship: "prospect",
			Address: &Address{Street: "Hauptstr. 1", PostalCode: "10115", City: "Berlin", Country: "de"}})
		if err != nil {
			t.Fatal(err)
		}
		if c.FirstName != "Anna" || c.Email != "anna@example.com" || c.Phone != "+491711234567" || c.Address.Country != "DE" || c.DataSource != "self_provided" {
			t.Fatalf("normalisation: %+v", c)
		}
		var sealed []byte
		db.R.QueryRow(`SELECT sealed FROM contacts WHERE id = $1`, c.ID).Scan(&sealed)
		if bytes.Contains(sealed, []byte("Anna")) || bytes.Contains(sealed, []byte("anna")) || len(sealed) > 300 {
			t.Fatalf("sealed row holds clear text or is large (%d bytes)", len(sealed))
		}
		got, err := s.Get(ctx, ws.ID, c.ID)
		if err != nil || got.Email != c.Email || got.Address.City != "Berlin" {
			t.Fatalf("get: %+v %v", got, err)
		}
		// Dedupe by e-mail within the workspace only.
		_, err = s.Create(ctx, ws.ID, Input{Email: " ANNA@example.com", Audience: "b2c", Relationship: "prospect"})
		var dup *DuplicateError
		if !errors.As(err, &dup) || dup.Field != "email" || dup.ContactID != c.ID || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: %v", err)
		}
		if _, err := s.Create(ctx, other.ID, Input{Email: "anna@example.com", Audience: "b2c", Relationship: "prospect"}); err != nil {
			t.Fatalf("same address in another workspace: %v", err)
		}
		// Rectification changes the index; removing the e-mail frees it.
		e := "anna@new.example"
		up, err := s.Update(ctx, ws.ID, c.ID, Update{Email: &e})
		if err != nil || up.Email != e || up.FirstName != "Anna" {
			t.Fatalf("update: %+v %v", up, err)
		}
		p1, _ := s.Points(ctx, ws.ID, c.ID)
		if p1.EmailIndex != keys.Index(IndexEmail, e) {
			t.Fatal("e-mail index not updated")
		}
		if list, _ := s.List(ctx, ws.ID, ListParams{Email: "anna@example.com"}); len(list) != 0 {
			t.Fatal("old address still finds the contact")
		}
		if list, _ := s.List(ctx, ws.ID, ListParams{Email: "ANNA@new.example"}); len(list) != 1 {
			t.Fatal("new address does not find the contact")
		}
		bad := "b2x"
		var ve *validate.Error
		if _, err := s.Update(ctx, ws.ID, c.ID, Update{Audience: &bad}); !errors.As(err, &ve) || ve.Field != "audience" {
			t.Fatalf("bad audience: %v", err)
		}
		if _, err := s.Create(ctx, ws.ID, Input{Audience: "b2c", Relationship: "prospect"}); !errors.As(err, &ve) {
			t.Fatalf("empty contact: %v", err)
		}
		// Paging.
		for i := 0; i < 5; i++ {
			if _, err := s.Create(ctx, ws.ID, Input{LastName: "P" + strings.Repeat("x", i), Audience: "b2b", Relationship: "supplier"}); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := s.List(ctx, ws.ID, ListParams{Limit: 4})
		b, _ := s.List(ctx, ws.ID, ListParams{Limit: 4, After: a[3].ID})
		if len(a) != 4 || len(b) != 2 || a[0].ID != c.ID || b[0].ID <= a[3].ID {
			t.Fatalf("paging: %d %d", len(a), len(b))
		}
		// Batch points skip foreign and malformed IDs.
		m, _ := s.PointsFor(ctx, other.ID, []string{c.ID, "junk", id.New()})
		if len(m) != 0 {
			t.Fatalf("points of another workspace: %v", m)
		}
		// After crypto-shredding, the contact reads as erased.
		db.Tx(ctx, func(tx store.Tx) error { return keys.Shred(ctx, tx, ws.ID, c.ID) })
		got, err = s.Get(ctx, ws.ID, c.ID)
		if err != nil || !got.Erased || got.Email != "" || got.FirstName != "" {
			t.Fatalf("after shred: %+v %v", got, err)
		}
		if _, err := s.Update(ctx, ws.ID, c.ID, Update{Email: &e}); !errors.As(err, &ve) {
			t.Fatalf("update of an erased contact: %v", err)
		}
	})
}
