package contact

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

// Recipients opens what GetMany opens and reads what PointsFor reads, in
// one statement; an erased contact keeps its points, and contacts of
// another workspace or unknown IDs are left out.
func TestRecipientsAreGetManyWithPoints(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, _ := workspace.Create(ctx, db.W, "a", "A", time.Now())
		other, _ := workspace.Create(ctx, db.W, "b", "B", time.Now())
		keys, _ := keyring.New(db, bytes.Repeat([]byte{5}, keyring.KeySize), nil)
		s := NewStore(db, keys, nil)
		var ids []string
		for _, in := range []Input{
			{FirstName: "Anna", Email: "anna@example.com", Audience: "b2c", Relationship: "prospect"},
			{LastName: "Berg", Phone: "+49 171 1234567", Audience: "b2b", Relationship: "customer", DataSource: "third_party"},
			{Organization: "Cäsar GmbH", Email: "info@caesar.example", Audience: "b2b", Relationship: "supplier"},
		} {
			c, err := s.Create(ctx, ws.ID, in)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		if err := keys.Shred(ctx, db.W, ws.ID, ids[2]); err != nil {
			t.Fatal(err)
		}
		foreign, err := s.Create(ctx, other.ID, Input{Email: "anna@example.com", Audience: "b2c", Relationship: "prospect"})
		if err != nil {
			t.Fatal(err)
		}
		ask := append(append([]string{}, ids...), foreign.ID, id.New(), "not-an-id")
		got, err := s.Recipients(ctx, ws.ID, ask)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := s.GetMany(ctx, ws.ID, ask)
		if err != nil {
			t.Fatal(err)
		}
		pts, err := s.PointsFor(ctx, ws.ID, ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || len(cs) != 3 || len(pts) != 3 {
			t.Fatalf("recipients %d, contacts %d, points %d, want 3", len(got), len(cs), len(pts))
		}
		for _, cid := range ids {
			r := got[cid]
			c := cs[cid]
			if r.FirstName != c.FirstName || r.LastName != c.LastName || r.Organization != c.Organization || r.Email != c.Email || r.Phone != c.Phone ||
				r.Erased != c.Erased || r.Audience != c.Audience || r.Relationship != c.Relationship || r.DataSource != c.DataSource || r.Points != pts[cid] {
				t.Errorf("%s: recipient %+v, contact %+v, points %+v", cid, r, c, pts[cid])
			}
		}
		if !got[ids[2]].Erased || got[ids[2]].Organization != "" || got[ids[2]].Points.EmailIndex == "" {
			t.Errorf("erased recipient: %+v", got[ids[2]])
		}
		if got[ids[0]].Email != "anna@example.com" || got[ids[0]].Points.EmailIndex == "" {
			t.Errorf("opened recipient: %+v", got[ids[0]])
		}
	})
}
