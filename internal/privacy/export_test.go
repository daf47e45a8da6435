package privacy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

type recipients []Recipient

func (r recipients) Recipients(ctx context.Context, ws, contactID string) ([]Recipient, error) {
	return r, nil
}

// leaves lists every string and number of a JSON document.
func leaves(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			leaves(e, out)
		}
	case []any:
		for _, e := range x {
			leaves(e, out)
		}
	case string:
		*out = append(*out, x)
	case json.Number:
		*out = append(*out, x.String())
	}
}

var valueSpan = regexp.MustCompile(`(?s)<(?:span|pre) class="v">(.*?)</(?:span|pre)>`)

// sameFacts checks that the page carries exactly the document's values.
func sameFacts(t *testing.T, doc []byte, page string) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var tree any
	if err := d.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	var want []string
	leaves(tree, &want)
	var got []string
	for _, m := range valueSpan.FindAllStringSubmatch(page, -1) {
		got = append(got, html.UnescapeString(m[1]))
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(want, "\x00") != strings.Join(got, "\x00") {
		missing := map[string]int{}
		for _, w := range want {
			missing[w]++
		}
		for _, g := range got {
			missing[g]--
		}
		for k, n := range missing {
			if n != 0 {
				t.Errorf("value %q: %d more in JSON than in HTML", k, n)
			}
		}
		t.Fatalf("JSON has %d values, HTML %d", len(want), len(got))
	}
}

func TestExportJSONAndHTMLCarryTheSameFacts(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		last := time.Now().UTC()
		f.svc.Recipients = recipients{{ID: id.New(), Name: "Shop <Kasse>", DataCategories: []string{"email", "name"}, EventTypes: []string{"contact.erased"}, Deliveries: 3, LastSentAt: &last}}
		c := f.contact(contact.Input{Email: "export.me@example.org", FirstName: "Änne & \"Co\"", Phone: "+49 171 5550199",
			Address: &contact.Address{Street: "Weg 1", PostalCode: "10115", City: "Berlin", Country: "DE"}})
		f.spreadSealed(c, "export.me@example.org")
		if _, err := f.svc.Open(ctx, f.ws, OpenCase{ContactID: c.ID, RequestType: "access", Note: "per Brief"}, dpo); err != nil {
			t.Fatal(err)
		}
		x, err := f.svc.AccessExport(ctx, f.ws, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != "active" || x.Contact == nil || len(x.Values) != 1 || len(x.Messages) != 1 || len(x.DOIRequests) != 1 || len(x.Jobs) == 0 ||
			len(x.Recipients) != 1 || len(x.Cases) != 1 || len(x.Ledger) < 4 {
			t.Fatalf("export incomplete: status %s values %d messages %d doi %d jobs %d recipients %d cases %d ledger %d",
				x.Status, len(x.Values), len(x.Messages), len(x.DOIRequests), len(x.Jobs), len(x.Recipients), len(x.Cases), len(x.Ledger))
		}
		if x.Ledger[0].Evidence.Personal == nil || x.Ledger[0].Evidence.Personal.IPAddress != "203.0.113.9" {
			t.Fatalf("the person's own evidence must be in their export: %+v", x.Ledger[0].Evidence)
		}
		doc, err := x.JSON()
		if err != nil {
			t.Fatal(err)
		}
		for _, lang := range []string{"de", "en"} {
			var b strings.Builder
			if err := x.WriteHTML(&b, lang); err != nil {
				t.Fatal(err)
			}
			sameFacts(t, doc, b.String())
		}
		var b strings.Builder
		_ = x.WriteHTML(&b, "en")
		for _, s := range []string{"Record", "Consent and event ledger", "Recipients (connected systems)", "Shop &lt;Kasse&gt;"} {
			if !strings.Contains(b.String(), s) {
				t.Errorf("English page lacks %q", s)
			}
		}
		b.Reset()
		_ = x.WriteHTML(&b, "de")
		if !strings.Contains(b.String(), "Stammdaten") || !strings.Contains(b.String(), `lang="de"`) {
			t.Error("German page lacks its labels")
		}
	})
}

func TestExportOfAnErasedPersonSaysWhatRemains(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		if _, err := f.svc.AccessExport(ctx, f.ws, id.New()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown contact: %v", err)
		}
		c := f.contact(contact.Input{Email: "gone@example.org", FirstName: "Weg"})
		f.spread(c, "gone@example.org")
		if _, err := f.svc.Erase(ctx, f.ws, c.ID, dpo); err != nil {
			t.Fatal(err)
		}
		x, err := f.svc.AccessExport(ctx, f.ws, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != "erased" || x.Contact != nil || x.Erasure == nil || x.Erasure.Status != "executed" || len(x.Values) != 0 || len(x.Messages) != 0 ||
			len(x.Suppressions) != 1 || len(x.Remaining) == 0 {
			t.Fatalf("erased export: %+v", x)
		}
		doc, _ := x.JSON()
		if bytes.Contains(doc, []byte("gone@example.org")) || bytes.Contains(doc, []byte("Weg")) {
			t.Fatal("the export of an erased person shows personal data")
		}
		var b strings.Builder
		if err := x.WriteHTML(&b, "de"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "wurden gelöscht") {
			t.Fatal("the page must say the data were erased")
		}
		sameFacts(t, doc, b.String())
	})
}
