package outbox

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	db         *store.DB
	keys       *keyring.Keyring
	o          *Outbox
	a, b       string // workspaces
	contact    string // in a
	otherInB   string // a contact of b
	clock      time.Time
	clockSteps int
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	wa, err := workspace.Create(ctx, db.W, "a", "A", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wb, err := workspace.Create(ctx, db.W, "b", "B", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(db, bytes.Repeat([]byte{9}, keyring.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, keys: keys, a: wa.ID, b: wb.ID, contact: id.New(), otherInB: id.New(),
		clock: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	if err := keys.CreateKey(ctx, f.a, f.contact); err != nil {
		t.Fatal(err)
	}
	if err := keys.CreateKey(ctx, f.b, f.otherInB); err != nil {
		t.Fatal(err)
	}
	// Every Put happens a second after the previous one.
	f.o = NewOutbox(db, keys, func() time.Time {
		f.clockSteps++
		return f.clock.Add(time.Duration(f.clockSteps) * time.Second)
	})
	return f
}

func (f *fixture) put(t *testing.T, it Item) string {
	t.Helper()
	var itemID string
	err := f.db.Tx(context.Background(), func(tx store.Tx) error {
		var err error
		itemID, err = f.o.Put(context.Background(), tx, f.a, it)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return itemID
}

func count(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.R.QueryRow(`SELECT count(*) FROM outbox_messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPutGetList(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		raw, err := mail.Compose(mail.Message{From: "news@shop.example", To: "Jürgen Groß <juergen@example.de>",
			Subject: "Bitte bestätigen", Text: "https://shop.example/p/doi/t0k", Date: f.clock, MessageID: "<1@shop.example>"})
		if err != nil {
			t.Fatal(err)
		}
		mailID := f.put(t, Item{Channel: Email, ContactID: f.contact, To: "juergen@example.de", Subject: "Bitte bestätigen", Body: string(raw)})
		smsID := f.put(t, Item{Channel: SMS, ContactID: f.contact, To: "+4915112345678", Body: "Ihr Code: 123456"})

		got, err := f.o.Get(ctx, f.a, mailID)
		if err != nil {
			t.Fatal(err)
		}
		want := Item{ID: mailID, Channel: Email, ContactID: f.contact, To: "juergen@example.de", Subject: "Bitte bestätigen",
			Body: string(raw), CreatedAt: f.clock.Add(time.Second)}
		if got != want {
			t.Errorf("Get:\n got %+v\nwant %+v", got, want)
		}

		// Nothing personal is stored in clear.
		rows, err := db.R.Query(`SELECT recipient, subject, body FROM outbox_messages`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var r, s, b []byte
			rows.Scan(&r, &s, &b)
			for _, col := range [][]byte{r, s, b} {
				for _, clear := range []string{"juergen", "4915112345678", "123456", "bestätigen", "doi"} {
					if bytes.Contains(col, []byte(clear)) {
						t.Errorf("%q stored in clear", clear)
					}
				}
			}
		}
		rows.Close()

		list, err := f.o.List(ctx, f.a, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != smsID || list[1].ID != mailID || list[0].Body != "Ihr Code: 123456" || list[0].To != "+4915112345678" {
			t.Fatalf("List newest first: %+v", list)
		}
		page, err := f.o.List(ctx, f.a, 1, "")
		if err != nil || len(page) != 1 || page[0].ID != smsID {
			t.Fatalf("first page: %+v %v", page, err)
		}
		page, err = f.o.List(ctx, f.a, 1, page[0].ID)
		if err != nil || len(page) != 1 || page[0].ID != mailID {
			t.Fatalf("second page: %+v %v", page, err)
		}
		page, err = f.o.List(ctx, f.a, 1, page[0].ID)
		if err != nil || len(page) != 0 {
			t.Fatalf("third page: %+v %v", page, err)
		}
	})
}

func TestWorkspaceBCannotReadA(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		itemID := f.put(t, Item{Channel: SMS, ContactID: f.contact, To: "+4915112345678", Body: "Code 1"})
		if _, err := f.o.Get(ctx, f.b, itemID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get from B: %v, want ErrNotFound", err)
		}
		if list, err := f.o.List(ctx, f.b, 0, ""); err != nil || len(list) != 0 {
			t.Errorf("List from B: %d items (%v)", len(list), err)
		}
		// A's item as cursor in B yields nothing of A either.
		if list, err := f.o.List(ctx, f.b, 0, itemID); err != nil || len(list) != 0 {
			t.Errorf("List from B before A's item: %d items (%v)", len(list), err)
		}
		// B cannot file an item under A's contact, nor A under B's.
		if _, err := f.o.Put(ctx, nil, f.b, Item{Channel: SMS, ContactID: f.contact, To: "+4915112345678", Body: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Put in B for A's contact: %v", err)
		}
		if _, err := f.o.Put(ctx, nil, f.a, Item{Channel: SMS, ContactID: f.otherInB, To: "+4915112345678", Body: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Put in A for B's contact: %v", err)
		}
		for _, bad := range []string{"", "not-a-uuid", strings.ToUpper(itemID)} {
			if _, err := f.o.Get(ctx, f.a, bad); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get %q: %v", bad, err)
			}
		}
		if n := count(t, db); n != 1 {
			t.Errorf("%d rows", n)
		}
	})
}

func TestErasureMakesItemsUnreadable(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		itemID := f.put(t, Item{Channel: Email, ContactID: f.contact, To: "juergen@example.de", Subject: "s", Body: "raw"})
		other := id.New()
		if err := f.keys.CreateKey(ctx, f.a, other); err != nil {
			t.Fatal(err)
		}
		keptID := f.put(t, Item{Channel: SMS, ContactID: other, To: "+4915112345678", Body: "kept"})
		if err := f.db.Tx(ctx, func(tx store.Tx) error { return f.keys.Shred(ctx, tx, f.a, f.contact) }); err != nil {
			t.Fatal(err)
		}
		got, err := f.o.Get(ctx, f.a, itemID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Unreadable || got.To != "" || got.Subject != "" || got.Body != "" || got.Channel != Email || got.ContactID != f.contact {
			t.Errorf("after erasure: %+v", got)
		}
		list, err := f.o.List(ctx, f.a, 0, "")
		if err != nil || len(list) != 2 || list[0].ID != keptID || list[0].Unreadable || list[0].Body != "kept" || !list[1].Unreadable {
			t.Errorf("list after erasure: %+v %v", list, err)
		}
		// Nothing new is filed for an erased contact.
		if _, err := f.o.Put(ctx, nil, f.a, Item{Channel: SMS, ContactID: f.contact, To: "+4915112345678", Body: "x"}); !errors.Is(err, keyring.ErrShredded) {
			t.Errorf("Put for an erased contact: %v", err)
		}
	})
}

func TestPutRefusesBadInputAndFollowsTheTransaction(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		for _, c := range []struct {
			it    Item
			field string
		}{
			{Item{Channel: "fax", ContactID: f.contact, To: "x", Body: "x"}, "channel"},
			{Item{Channel: SMS, To: "+4915112345678", Body: "x"}, "contact_id"},
			{Item{Channel: SMS, ContactID: "C0FFEE", To: "+4915112345678", Body: "x"}, "contact_id"},
			{Item{Channel: SMS, ContactID: f.contact, Body: "x"}, "to"},
			{Item{Channel: SMS, ContactID: f.contact, To: "+4915112345678"}, "body"},
		} {
			_, err := f.o.Put(ctx, nil, f.a, c.it)
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Field != c.field {
				t.Errorf("%+v: got %v, want an error on %s", c.it, err, c.field)
			}
		}
		rollback := errors.New("rolled back")
		err := f.db.Tx(ctx, func(tx store.Tx) error {
			if _, err := f.o.Put(ctx, tx, f.a, Item{Channel: SMS, ContactID: f.contact, To: "+4915112345678", Body: "x"}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if _, err := f.o.List(ctx, f.a, MaxLimit+1, ""); err == nil {
			t.Error("limit above MaxLimit accepted")
		}
		if _, err := f.o.List(ctx, f.a, 0, "nope"); err == nil {
			t.Error("malformed cursor accepted")
		}
		if n := count(t, db); n != 0 {
			t.Errorf("%d rows after refused and rolled-back puts", n)
		}
	})
}

func TestMailerAndTexterFileIntoTheOutbox(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := setup(t, db)
		m := mail.Message{From: "Shop <news@shop.example>", To: "Jürgen <juergen@example.de>", Subject: "Grüße aus dem Shop", Text: "Hallo"}
		raw, err := mail.Compose(m)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := m.Envelope()
		var s mail.Sender = f.o.Mailer(f.a, f.contact)
		if err := s.Send(ctx, env, raw); err != nil {
			t.Fatal(err)
		}
		if err := f.o.Texter(f.a, f.contact).Send(ctx, "+4915112345678", "Code 42"); err != nil {
			t.Fatal(err)
		}
		list, err := f.o.List(ctx, f.a, 0, "")
		if err != nil || len(list) != 2 {
			t.Fatalf("%+v %v", list, err)
		}
		if it := list[1]; it.Channel != Email || it.To != "juergen@example.de" || it.Subject != "Grüße aus dem Shop" || it.Body != string(raw) {
			t.Errorf("e-mail item %+v", it)
		}
		if it := list[0]; it.Channel != SMS || it.To != "+4915112345678" || it.Body != "Code 42" {
			t.Errorf("SMS item %+v", it)
		}
	})
}
