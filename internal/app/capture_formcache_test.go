package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/capture/form"
)

// The hosted form and its workspace's settings are kept by the server for
// up to a second: a form saved or settings changed through the server are
// in force at the next request, a form saved by another process (here a
// second capture service on the same database, as the CLI would) within
// the second — and, read again within it, the kept version is what is
// served (the cache is used at all).
func TestPublicFormKeptAndRetired(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		mkt, admin := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleAdmin]
		retitle := func(title string) map[string]any {
			def := h.do("GET", "/api/v1/forms/demo-newsletter", mkt, nil).json(t)["definition"].(map[string]any)
			def["title"].(map[string]any)["de"] = title
			return def
		}
		show := func() string {
			p := h.page("GET", "/p/forms/demo-newsletter?lang=de", nil)
			if p.Status != 200 {
				t.Fatalf("form page: %d", p.Status)
			}
			return p.Body
		}
		show() // kept from here on

		if r := h.do("PUT", "/api/v1/forms/demo-newsletter", mkt, retitle("Titel eins")); r.Status != 200 && r.Status != 201 {
			t.Fatalf("save form: %d %s", r.Status, r.Body)
		}
		if !strings.Contains(show(), "Titel eins") {
			t.Fatal("a form saved through the server is not served at the next request")
		}

		if r := h.do("PATCH", "/api/v1/settings", admin, map[string]any{"doi_days": 2}); r.Status != 200 {
			t.Fatalf("settings: %d %s", r.Status, r.Body)
		}
		p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"kept@example.com"}, "newsletter_email": {"1"}, "lang": {"de"}})
		if p.Status != 303 {
			t.Fatalf("submit: %d %s", p.Status, p.Body)
		}
		var created, expires time.Time
		if err := h.db.R.QueryRowContext(ctx, `SELECT created_at, expires_at FROM doi_requests WHERE workspace_id = $1 AND contact_id = $2`,
			h.ws.ID, h.contactByEmail("kept@example.com")).Scan(&created, &expires); err != nil {
			t.Fatal(err)
		}
		if got := expires.Sub(created); got != 48*time.Hour {
			t.Fatalf("confirmation link lifetime after doi_days 2 = %v: the settings read before the change were used", got)
		}

		// Another process saves the form; this server learns of it only
		// from the database.
		other := h.capture()
		d := retitle("Titel zwei")
		js, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		def, err := form.Decode(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		filled := time.Now()
		show()
		if _, _, err := other.SaveForm(ctx, h.ws.ID, "test", def); err != nil {
			t.Fatal(err)
		}
		body := show()
		if time.Since(filled) < 900*time.Millisecond {
			if strings.Contains(body, "Titel zwei") || !strings.Contains(body, "Titel eins") {
				t.Fatal("within the second the form kept was not served: PublicForm read the database again")
			}
		} else {
			t.Logf("the machine took %v for the save; the kept version was not checked", time.Since(filled))
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(show(), "Titel zwei"); {
			if time.Now().After(deadline) {
				t.Fatal("a form saved by another process is still not served after 10 s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
