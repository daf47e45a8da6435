package app

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/importer"
)

// TestProgressiveProfilingOfImportedContact: a contact an import created
// (its first values in one bundle row) and a later form submission that
// changes its first name: the API's value history shows the imported name
// superseded when the form's began, and the address once.
func TestProgressiveProfilingOfImportedContact(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		rep, err := h.importer().Import(context.Background(), h.ws.ID, strings.NewReader("email,first_name,last_name\nmax@example.de,Max,Muster\n"),
			importer.Options{Source: "Messe", DataSource: "self_provided"})
		if err != nil || rep.Created != 1 {
			t.Fatalf("import: %+v %v", rep, err)
		}
		if p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"MAX@example.de"}, "first_name": {"Maximilian"}, "newsletter_email": {"1"}}); p.Status != 303 {
			t.Fatalf("submit: %d %s", p.Status, p.Body)
		}
		cid := h.contactByEmail("max@example.de")
		var vals struct {
			Values []struct {
				Name, Value, Source string
				RecordedAt          time.Time  `json:"recorded_at"`
				SupersededAt        *time.Time `json:"superseded_at"`
			} `json:"values"`
		}
		if err := json.Unmarshal(h.do("GET", "/api/v1/contacts/"+cid+"/values", h.tokens[auth.RoleAdmin], nil).Body, &vals); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range vals.Values {
			src := strings.SplitN(v.Source, ":", 2)[0]
			cur := "current"
			if v.SupersededAt != nil {
				cur = "superseded"
			}
			got = append(got, v.Name+"="+v.Value+" "+src+" "+cur)
		}
		want := "email=max@example.de import current|first_name=Max import superseded|first_name=Maximilian form current|last_name=Muster import current"
		if strings.Join(got, "|") != want {
			t.Fatalf("history\n%s\nwant\n%s", strings.Join(got, "|"), want)
		}
		if vals.Values[1].SupersededAt == nil || !vals.Values[1].SupersededAt.Equal(vals.Values[2].RecordedAt) {
			t.Errorf("imported first name ends at %v, the form's begins at %v", vals.Values[1].SupersededAt, vals.Values[2].RecordedAt)
		}
	})
}
