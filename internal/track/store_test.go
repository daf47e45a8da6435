package track

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newWorkspace(t testing.TB, db *store.DB) string {
	t.Helper()
	ws := id.New()
	if _, err := db.W.ExecContext(context.Background(), `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`,
		ws, "ws-"+ws, "Workspace", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	return ws
}

func count(t *testing.T, db *store.DB, ws string) int {
	t.Helper()
	var n int
	if err := db.R.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM track_events WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordAndRead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		s := NewStore(db, func() time.Time { return now })
		ws, other := newWorkspace(t, db), newWorkspace(t, db)
		a, b := id.New(), id.New()
		var hooked []Event
		s.OnRecord(func(ctx context.Context, q store.Querier, ws string, evs []Event) error {
			hooked = append(hooked, evs...)
			return nil
		})
		evs := []Event{
			{ContactID: a, Type: "download", Name: "whitepaper", At: now.Add(-48 * time.Hour)},
			{ContactID: a, Type: "email_open", Ref: "campaign:c1:1", At: now.Add(-time.Hour)},
			{ContactID: a, Type: "email_open", Ref: "campaign:c1:2", At: now.Add(-time.Minute)},
			{ContactID: b, Type: "email_open", Ref: "campaign:c1:1", Props: map[string]string{"client": "web"}},
			{ContactID: b, Type: "email_click", Ref: "campaign:c2:1", At: now.Add(time.Hour)}, // future: clamped to now
		}
		if err := s.Record(ctx, nil, ws, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(ctx, nil, other, []Event{{ContactID: a, Type: "page_view", Name: "/"}}); err != nil {
			t.Fatal(err)
		}
		if len(hooked) != 6 {
			t.Fatalf("hook saw %d events, want 6", len(hooked))
		}
		got, err := s.ForContact(ctx, ws, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Type != "email_click" || !got[0].At.Equal(now) || got[1].Props["client"] != "web" {
			t.Fatalf("ForContact = %+v", got)
		}
		counts, err := s.CountByRef(ctx, ws, "campaign:c1:")
		if err != nil {
			t.Fatal(err)
		}
		// a opened two steps of c1: a report counts people, not opens.
		if counts["email_open"] != 2 || counts["email_click"] != 0 {
			t.Fatalf("CountByRef = %v", counts)
		}
		for _, tc := range []struct {
			typ, name string
			since     time.Time
			want      bool
		}{
			{"download", "", now.Add(-72 * time.Hour), true},
			{"download", "whitepaper", now.Add(-72 * time.Hour), true},
			{"download", "price-list", now.Add(-72 * time.Hour), false},
			{"download", "", now.Add(-24 * time.Hour), false},
			{"page_view", "", time.Time{}, false}, // that one is in the other workspace
		} {
			h, err := s.Happened(ctx, ws, a, tc.typ, tc.name, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.want {
				t.Errorf("Happened(%s, %q, %v) = %v, want %v", tc.typ, tc.name, tc.since, h, tc.want)
			}
		}
		n, err := s.DeleteContact(ctx, nil, ws, a)
		if err != nil || n != 3 {
			t.Fatalf("DeleteContact = %d, %v; want 3", n, err)
		}
		if c := count(t, db, other); c != 1 {
			t.Fatalf("the other workspace lost its event: %d left", c)
		}
	})
}

func TestRecordRefusesBadBatchWhole(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewStore(db, nil)
		ws := newWorkspace(t, db)
		for _, tc := range []struct {
			ev    Event
			field string
		}{
			{Event{ContactID: id.New(), Type: "hover"}, "events[1].type"},
			{Event{ContactID: "me", Type: "page_view"}, "events[1].contact_id"},
			{Event{ContactID: id.New(), Type: "custom"}, "events[1].name"},
		} {
			err := s.Record(ctx, nil, ws, []Event{{ContactID: id.New(), Type: "page_view"}, tc.ev})
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("%+v: got %v, want an error on %s", tc.ev, err, tc.field)
			}
		}
		// A hook failing rolls the whole batch back.
		s.OnRecord(func(context.Context, store.Querier, string, []Event) error { return errors.New("score store down") })
		if err := s.Record(ctx, nil, ws, []Event{{ContactID: id.New(), Type: "page_view"}}); err == nil {
			t.Fatal("a failing hook did not fail Record")
		}
		if c := count(t, db, ws); c != 0 {
			t.Fatalf("%d events stored from refused batches", c)
		}
	})
}

func TestEachPagesInOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old := eachPage
		eachPage = 7
		t.Cleanup(func() { eachPage = old })
		s := NewStore(db, nil)
		ws := newWorkspace(t, db)
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		var evs []Event
		contacts := []string{id.New(), id.New(), id.New()}
		for i := range 450 { // more than one insert chunk, many pages
			evs = append(evs, Event{ContactID: contacts[i%3], Type: "page_view", Name: fmt.Sprint("/p", i), At: at.Add(time.Duration(i%50) * time.Second)})
		}
		if err := s.Record(ctx, nil, ws, evs); err != nil {
			t.Fatal(err)
		}
		var seen int
		var prev Event
		err := s.Each(ctx, ws, func(e Event) error {
			if seen > 0 && (e.ContactID < prev.ContactID || e.ContactID == prev.ContactID && e.At.Before(prev.At)) {
				t.Fatalf("out of order: %+v after %+v", e, prev)
			}
			prev = e
			seen++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen != 450 {
			t.Fatalf("Each saw %d events, want 450", seen)
		}
	})
}

// TestRangeReadsOneContactRange: Range returns exactly the events of the
// contacts from first to last, in contact and time order, with their type,
// name and time, and nothing of another workspace.
func TestRangeReadsOneContactRange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewStore(db, nil)
		ws, other := newWorkspace(t, db), newWorkspace(t, db)
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		contacts := []string{id.New(), id.New(), id.New(), id.New()} // ascending: IDs are time-ordered
		var evs []Event
		for i := range 40 {
			evs = append(evs, Event{ContactID: contacts[i%4], Type: "download", Name: fmt.Sprint("a", i), At: at.Add(time.Duration(i%5) * time.Minute)})
		}
		if err := s.Record(ctx, nil, ws, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(ctx, nil, other, []Event{{ContactID: contacts[1], Type: "download", Name: "x"}}); err != nil {
			t.Fatal(err)
		}
		var got []Event
		if err := s.Range(ctx, ws, contacts[1], contacts[2], func(e Event) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 20 {
			t.Fatalf("Range saw %d events, want 20", len(got))
		}
		names := map[string]bool{}
		for i, e := range got {
			n, err := strconv.Atoi(strings.TrimPrefix(e.Name, "a"))
			if err != nil || e.Type != "download" || !e.At.Equal(at.Add(time.Duration(n%5)*time.Minute)) || e.ContactID != contacts[n%4] {
				t.Fatalf("event %+v", e)
			}
			names[e.Name] = true
			if e.ContactID != contacts[1] && e.ContactID != contacts[2] {
				t.Fatalf("event of contact %s outside the range", e.ContactID)
			}
			if i > 0 {
				p := got[i-1]
				if e.ContactID < p.ContactID || e.ContactID == p.ContactID && e.At.Before(p.At) {
					t.Fatalf("out of order: %+v after %+v", e, p)
				}
			}
		}
		if len(names) != 20 {
			t.Fatalf("%d distinct events, want 20", len(names))
		}
		// On SQLite the index covers the read, in its order: no lookup of
		// each event's row, no sort.
		if db.Dialect == store.SQLite {
			plan := testdb.QueryPlan(t, db, rangeQuery(db.Dialect), ws, contacts[1], contacts[2])
			if !strings.Contains(plan, "COVERING INDEX track_events_contact") || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan of the range read: %s", plan)
			}
		}
	})
}

// TestParseStored: the digit-by-digit reading of the stored timestamp
// text gives what time.Parse gives, for every length of the fraction, and
// hands anything else to time.Parse.
func TestParseStored(t *testing.T) {
	for _, s := range []string{
		"2026-11-02 09:30:15+00:00", "2026-11-02 09:30:15.1+00:00", "2026-11-02 09:30:15.123456+00:00",
		"2026-11-02 09:30:15.123456789+00:00", "2024-02-29 23:59:59.05+00:00", "2026-11-02 10:30:15.5+01:00",
	} {
		want, err := time.Parse(storedLayout, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseStored(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseStored(%q) = %v, %v; want %v", s, got, err, want.UTC())
		}
	}
	for _, s := range []string{"2026-11-02 09:30:15.+00:00", "2026-13-02 09:30:15+00:00", "2026-11-02T09:30:15Z", "junk"} {
		if _, err := parseStored(s); err == nil {
			t.Errorf("parseStored(%q) gave no error", s)
		}
	}
}
